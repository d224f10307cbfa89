#!/usr/bin/env bash
# The lifecycle benchmarks (see README.md here): swap under load, many models under one budget
# (against llama-server's router mode), cold start of an evicted model (same). Each prints a markdown
# table; run.sh prints all three. Models are generated once into BUILD/bench-lifecycle/models.
#   bash bench/lifecycle/run.sh [BUILD]      (make bench runs it with the others)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
status=0
for part in swap many_models cold_start; do
  bash "bench/lifecycle/$part.sh" "$BUILD" || { echo "bench/lifecycle/$part.sh failed" >&2; status=1; }
  echo
done
exit $status
