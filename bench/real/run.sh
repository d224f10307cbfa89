#!/usr/bin/env bash
# Every bench/real benchmark in turn (run by `make bench` through bench/run_all.sh). Each skips
# with a message when scripts/bootstrap could not install its real model.
#   bash bench/real/run.sh [BUILD]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
status=0
for script in bench/real/*.sh; do
  case $(basename "$script") in run.sh | common.sh) continue ;; esac
  echo "== $script"
  bash "$script" "$BUILD" || status=1
done
exit $status
