#!/usr/bin/env bash
# The README's test command: install dependencies, build, run every test
# (unit, kernel, e2e). Kernel tests skip (77) without BPF, but fail when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --no-tests=error "$@"
