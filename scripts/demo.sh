#!/usr/bin/env bash
# The README's demo command: install dependencies, build, then run shunt's main
# job on one simulated node: three pods (app1, app2, app3), shuntd accelerating
# every same-node TCP connection, and shunt-proxy as app1's sidecar enforcing
# config/demo.json (app1 reachable only from app2, GET /public/* allowed,
# /restricted denied). Everything it creates is removed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
exec tests/harness/with-pods.sh --pod 1:app1 --pod 1:app2 --pod 1:app3 -- bash scripts/demo-run.sh
