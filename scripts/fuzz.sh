#!/usr/bin/env bash
# Build the libFuzzer targets (clang, -DSHUNT_FUZZ=ON, ASan + UBSan) into
# ${FUZZ_BUILD_DIR:-build-fuzz} and run them for a fixed time each.
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]      default: all, 60 s per target
#
# Targets: fuzz_reqp (HTTP request path: bytes -> strict parser -> framing ->
# normalize -> verdict -> forwarded bytes), fuzz_config (config parser,
# validator, compiler), fuzz_match (normalizer + matcher), fuzz_import
# (Istio / Cilium importers), fuzz_annotations (a pod's Istio capture
# annotations, as the pod registry reads them). Each run starts from a copy of the checked-in
# seeds (tests/*/corpus/TARGET, never written) in BUILD/fuzz-work/TARGET/,
# which keeps what it learns between local runs (delete it to start over).
# A crash, leak, timeout or out-of-memory fails the run: the reproducer's path
# is printed; replay it with `BUILD/tests/.../TARGET FILE`, fix the bug, and
# copy the file to tests/*/corpus/TARGET/regress-<what> so the unit suite
# replays it in every build (config_replay_* / proxy_replay_* tests).
# FUZZ_JOBS=N runs N fuzzing processes per target (libFuzzer -fork).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${1:-all}
SECONDS_EACH=${2:-60}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
ALL=(fuzz_reqp fuzz_config fuzz_match fuzz_import fuzz_annotations)

case "$SECONDS_EACH" in
'' | *[!0-9]*)
	echo "fuzz.sh: SECONDS must be a number" >&2
	exit 2
	;;
esac
if [ "$TARGET" = all ]; then
	targets=("${ALL[@]}")
else
	case " ${ALL[*]} " in
	*" $TARGET "*) targets=("$TARGET") ;;
	*)
		echo "fuzz.sh: unknown target '$TARGET' (one of: all ${ALL[*]})" >&2
		exit 2
		;;
	esac
fi

# the fuzzers only need config and proxy
CC=clang cmake -S . -B "$BUILD" -G Ninja -DSHUNT_FUZZ=ON -DSHUNT_COMPONENTS="config;proxy" \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" --target "${targets[@]}"

src_dir() {
	case "$1" in
	fuzz_reqp) echo tests/proxy ;;
	*) echo tests/config ;;
	esac
}

root=$(pwd)
failed=()
for t in "${targets[@]}"; do
	dir=$(src_dir "$t")
	bin="$root/$BUILD/$dir/$t"
	work="$root/$BUILD/fuzz-work/$t"
	mkdir -p "$work/corpus" "$work/artifacts"
	for f in "$root/$dir/corpus/$t"/*; do
		[ -e "$work/corpus/${f##*/}" ] || cp "$f" "$work/corpus/"
	done
	rm -f "$work/artifacts"/*
	echo "== $t: ${SECONDS_EACH} s from $(find "$work/corpus" -type f | wc -l) inputs"
	args=(-max_total_time="$SECONDS_EACH" -timeout=5 -rss_limit_mb=2048
		-artifact_prefix="$work/artifacts/" -print_final_stats=1)
	if [ -f "$root/$dir/corpus/$t.dict" ]; then
		args+=(-dict="$root/$dir/corpus/$t.dict")
	fi
	if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then
		args+=(-fork="$FUZZ_JOBS" -ignore_crashes=0)
	fi
	status=0
	(cd "$work" && "$bin" "${args[@]}" corpus >fuzz.log 2>&1) || status=$?
	grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$work/fuzz.log" || true
	repro=$(find "$work/artifacts" -type f | head -n 1)
	if [ "$status" -ne 0 ] || [ -n "$repro" ]; then
		echo "fuzz.sh: $t FAILED (exit $status); last lines of $work/fuzz.log:" >&2
		tail -n 40 "$work/fuzz.log" >&2
		if [ -n "$repro" ]; then
			echo "fuzz.sh: reproducer: $repro" >&2
			echo "fuzz.sh: replay: $bin $repro" >&2
			echo "fuzz.sh: after the fix: cp $repro $dir/corpus/$t/regress-<what>" >&2
		fi
		failed+=("$t")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz.sh: failed: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz.sh: ${targets[*]}: no crash, leak or timeout in ${SECONDS_EACH} s each"
