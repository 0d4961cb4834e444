#!/usr/bin/env bash
# Idempotent: installs the Debian packages shunt builds, tests and benchmarks
# with, then makes sure bpffs is mounted. Shared by demo.sh, test.sh and .ci/run.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config git
  clang llvm libclang-rt-14-dev bpftool
  libbpf-dev libelf-dev zlib1g-dev libuv1-dev libjansson-dev node-llhttp
  libcurl4-openssl-dev openssl
  iproute2 iptables nftables procps psmisc util-linux curl
  haproxy nginx-light wrk sockperf iperf3 gnuplot-nox
  unzip jq shellcheck valgrind linux-perf
)
# Node.js + npm (helm/kubectl and Kubernetes schemas come from npm packages):
# the machine image ships Node 20 with npm; fall back to Debian's otherwise.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: must run as root (installs packages, mounts bpffs)" >&2
  exit 2
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Debian starts a freshly installed nginx/haproxy as a service; shunt runs
  # its own instances on private ports, so stop only what this install
  # started (an instance that was already running is not ours to touch).
  for svc in nginx haproxy; do
    case " ${missing[*]} " in
    *" $svc "* | *" $svc-"*) invoke-rc.d "$svc" stop >/dev/null 2>&1 || true ;;
    esac
  done
fi

if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi
