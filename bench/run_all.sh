#!/usr/bin/env bash
# `make bench`: runs every bench/<area>/run.sh with the build folder as its argument.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
status=0
for script in bench/*/run.sh bench/server/hostile.sh; do
  [ -f "$script" ] || continue
  echo "== $script"
  bash "$script" "$BUILD" || status=1
done
exit $status
