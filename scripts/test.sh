#!/usr/bin/env bash
# The README's test command: install dependencies, build, run every test
# (unit, kernel, e2e) twice: in the normal build, then in an ASan + UBSan
# (+ LeakSanitizer) build. Kernel tests skip (77) without BPF, but fail when
# CI=true. Extra arguments go to both ctest runs (e.g. -L unit).
# SHUNT_TEST_SANITIZE=0 skips the sanitizer pass.
# Last, every libFuzzer target runs for SHUNT_FUZZ_SECONDS (default 20) each
# from its seed corpus (scripts/fuzz.sh, build-fuzz/, clang); a crash or leak
# fails the run and prints the reproducer. SHUNT_TEST_FUZZ=0 skips it.
# Then, as root and without ctest arguments, the node image is built from
# docker/Dockerfile (docker, or buildah on a debootstrapped Debian 12 base) and
# its own shuntd is checked on two simulated pods (scripts/build-image.sh
# --check). SHUNT_TEST_IMAGE=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

BUILD_DIR=${BUILD_DIR:-build} bash scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --no-tests=error "$@")

if [ "${SHUNT_TEST_SANITIZE:-1}" != 0 ]; then
	echo "== the same tests under ASan + UBSan"
	BUILD_DIR=${SANITIZE_BUILD_DIR:-build-asan} bash scripts/build.sh -DSHUNT_SANITIZE=ON
	(cd "${SANITIZE_BUILD_DIR:-build-asan}" && ctest --output-on-failure --no-tests=error "$@")
fi

if [ "${SHUNT_TEST_FUZZ:-1}" != 0 ]; then
	echo "== fuzz targets, ${SHUNT_FUZZ_SECONDS:-20} s each (SHUNT_TEST_FUZZ=0 skips)"
	FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz} bash scripts/fuzz.sh all "${SHUNT_FUZZ_SECONDS:-20}"
fi

if [ "${SHUNT_TEST_IMAGE:-1}" != 0 ] && [ $# -eq 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "== node image: build and check (SHUNT_TEST_IMAGE=0 skips)"
		bash scripts/build-image.sh --check shunt:test
	else
		echo "== node image: skipped (needs root)"
	fi
fi
