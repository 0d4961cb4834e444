#!/usr/bin/env bash
# shellcheck disable=SC2016 # literal ${DEBIAN_IMAGE} in grep patterns
# docker/Dockerfile without a docker engine: what can be checked statically.
#   - two stages, both Debian 12 (bookworm);
#   - build-stage packages are all in scripts/deps.sh (the project's one package list);
#   - every runtime-stage package exists in Debian 12 (apt-cache);
#   - the shared libraries of the binaries we ship (ldd on the built binaries given as
#     arguments) all come from packages the runtime stage installs (dpkg -S), so the
#     image cannot miss a library;
#   - every COPY source exists, every binary copied out of /build is a --target built;
#   - every command the chart runs exists in the image (our binaries/scripts or a
#     runtime package: socat, jq, pgrep/procps, sh);
#   - the image's shell scripts pass sh -n and shellcheck (when installed).
#
#   dockerfile_test.sh BINARY...
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DF=$ROOT/docker/Dockerfile
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# Joined RUN instructions (continuations folded) of stage N (0-based).
stage_text() {
	awk -v want="$1" '
		/^FROM / { s++ }
		s - 1 == want { print }' "$DF" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta'
}
# Packages of the apt-get install in a stage.
stage_pkgs() {
	stage_text "$1" | grep -o 'apt-get install[^&]*' | tr ' ' '\n' |
		grep -v -e '^$' -e '^-' -e '^apt-get$' -e '^install$' -e '^DEBIAN_FRONTEND' | sort -u
}

# ---- stages ----
nfrom=$(grep -c '^FROM ' "$DF")
base=$(sed -n 's/^ARG DEBIAN_IMAGE=//p' "$DF")
if [ "$nfrom" -eq 2 ] && grep -q '^FROM ${DEBIAN_IMAGE} AS build$' "$DF" && grep -q '^FROM ${DEBIAN_IMAGE}$' "$DF" &&
	[[ "$base" == debian:bookworm* ]]; then
	ok "multi-stage: build + runtime, both $base (Debian 12)"
else
	bad "expected 2 stages FROM \${DEBIAN_IMAGE} (debian:bookworm*), got $nfrom, base '$base'"
fi

# ---- build packages vs scripts/deps.sh ----
deps=$(sed -n '/^PKGS=(/,/^)/p' "$ROOT/scripts/deps.sh" | tr -s ' \t()' '\n' | grep -v -e '^PKGS=' -e '^$' | sort -u)
build_pkgs=$(stage_pkgs 0)
[ -n "$build_pkgs" ] || bad "no build packages found"
missing=$(comm -23 <(echo "$build_pkgs") <(echo "$deps"))
if [ -z "$missing" ]; then ok "build packages ($(echo "$build_pkgs" | wc -l)) are all in scripts/deps.sh"; else bad "build packages not in deps.sh: $missing"; fi

# ---- runtime packages exist in Debian 12 ----
rt_pkgs=$(stage_pkgs 1)
for p in $rt_pkgs; do
	cand=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
	if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then ok "runtime package $p exists ($cand)"; else bad "runtime package $p has no candidate in apt"; fi
done

# ---- shared libraries of the shipped binaries ----
for bin in "$@"; do
	[ -x "$bin" ] || { bad "binary $bin missing"; continue; }
	while read -r lib; do
		# merged /usr: dpkg knows one of the two spellings of the path
		pkg=$({ dpkg -S "$(readlink -f "$lib")" || dpkg -S "$lib" || dpkg -S "/usr$lib"; } 2>/dev/null | head -1 | cut -d: -f1)
		case "$pkg" in
		libc6 | libgcc-s1) continue ;; # in every Debian base image
		esac
		if [ -n "$pkg" ] && grep -qx -- "$pkg" <<<"$rt_pkgs"; then
			ok "$(basename "$bin"): $(basename "$lib") from $pkg (installed in the image)"
		else
			bad "$(basename "$bin"): $lib from '${pkg:-unknown}' is not installed by the runtime stage"
		fi
	done < <(ldd "$bin" | awk '/=> \// { print $3 }')
done

# ---- COPY sources and built targets ----
while read -r src; do
	if [ -e "$ROOT/$src" ]; then ok "COPY source $src exists"; else bad "COPY source $src missing"; fi
done < <(grep '^COPY ' "$DF" | grep -v -- '--from=' | awk '{ for (i = 2; i < NF; i++) print $i }')
targets=$(stage_text 0 | grep -o -- '--target [^&]*' | tr ' ' '\n' | grep -v -e '^--target$' -e '^$')
for out in $(stage_text 0 | grep -o '/build/[a-z]*/[a-z-]*' | sort -u); do
	if grep -qx -- "$(basename "$out")" <<<"$targets"; then ok "$out is a built target"; else bad "$out is copied but not built (--target)"; fi
done
for t in $targets; do
	if grep -Eqs "add_executable\($t( |$)" "$ROOT"/*/CMakeLists.txt; then ok "target $t is defined"; else bad "target $t not defined in any CMakeLists.txt"; fi
done

# ---- commands the chart runs ----
image_cmds="$targets shunt-cni-install shunt-reloader sh"
grep -q 'COPY docker/shunt-cni-install.sh /usr/local/bin/shunt-cni-install' "$DF" || bad "shunt-cni-install not installed"
grep -q 'COPY docker/shunt-reloader.sh /usr/local/bin/shunt-reloader' "$DF" || bad "shunt-reloader not installed"
declare -A pkg_of=([socat]=socat [jq]=jq [pgrep]=procps)
for cmd in $(grep -ho 'command: \[[a-z-]*' "$ROOT"/helm/templates/*.yaml | sed 's/command: \[//' | sort -u) \
	$(grep -ho '^\s*- sh$' "$ROOT"/helm/templates/*.yaml | tr -d ' -' | sort -u) shuntctl jq pgrep; do
	if grep -qx -- "$cmd" <<<"${image_cmds// /$'\n'}"; then
		ok "chart command $cmd is in the image"
	elif [ -n "${pkg_of[$cmd]:-}" ] && grep -qx -- "${pkg_of[$cmd]}" <<<"$rt_pkgs"; then
		ok "chart command $cmd comes from runtime package ${pkg_of[$cmd]}"
	else
		bad "chart command $cmd is not provided by the image"
	fi
done

# ---- scripts ----
for s in "$ROOT"/docker/*.sh; do
	if sh -n "$s"; then ok "sh -n $(basename "$s")"; else bad "sh -n $(basename "$s")"; fi
	if command -v shellcheck >/dev/null; then
		if shellcheck -s sh "$s"; then ok "shellcheck $(basename "$s")"; else bad "shellcheck $(basename "$s")"; fi
	fi
done

echo "dockerfile_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
