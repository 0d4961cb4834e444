#!/usr/bin/env bash
# Build the shunt node image from docker/Dockerfile.
#
#   scripts/build-image.sh [--check] [TAG]   (default TAG: shunt:<chart appVersion>)
#
# With a working Docker engine this is `docker build`. Without one (CI
# machines and this project's development VMs have only the docker client),
# it builds the same Dockerfile with buildah (chroot isolation, host network);
# when no registry is reachable for the base image, the base is made with
# debootstrap (minbase bookworm from the configured Debian mirror) and
# imported as localhost/debian:bookworm-slim. Then it smoke-tests the image:
# every binary starts and has its libraries. --check (root, buildah) also runs
# the image's own shuntd and shuntctl (chroot into the image's root file system,
# private mount namespace) on two simulated pods of tests/harness and checks
# that 1 MB sent between them arrives intact and was redirected socket to socket.
#
# Env: SHUNT_IMAGE_TOOL=docker|buildah (default: docker if `docker info`
# works, else buildah), DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$here/helm/Chart.yaml")
check=0
if [[ ${1:-} == --check ]]; then
	check=1
	shift
fi
tag=${1:-shunt:${app_version:-dev}}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=localhost/debian:bookworm-slim

die() {
	echo "build-image: $*" >&2
	exit 1
}

tool=${SHUNT_IMAGE_TOOL:-}
if [[ -z $tool ]]; then
	if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
		tool=docker
	else
		tool=buildah
	fi
fi

smoke() { # run: a command prefix that runs argv inside the image
	local -a run=("$@")
	# shellcheck disable=SC2016 # expanded inside the image
	"${run[@]}" sh -c 'for b in shuntd shuntctl shunt-proxy shunt-cni; do
		command -v "$b" >/dev/null || { echo "missing $b"; exit 1; }
		if ldd "$(command -v "$b")" | grep -q "not found"; then
			ldd "$(command -v "$b")"; exit 1
		fi
	done
	shuntd --help >/dev/null && shuntctl --help >/dev/null &&
	shunt-proxy --help >/dev/null && CNI_COMMAND=VERSION shunt-cni </dev/null >/dev/null' ||
		die "smoke test of $tag failed"
	echo "build-image: $tag built; binaries start and find their libraries"
}

case $tool in
docker)
	docker build -f "$here/docker/Dockerfile" -t "$tag" "$here"
	smoke docker run --rm --entrypoint "" "$tag"
	;;
buildah)
	if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
		[[ $(id -u) -eq 0 ]] || die "buildah and debootstrap are missing; run as root to install them"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			buildah debootstrap crun >/dev/null
	fi
	if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
		work=$(mktemp -d /var/tmp/shunt-base.XXXXXX)
		trap 'rm -rf "$work"' EXIT
		echo "build-image: making $base with debootstrap from $mirror"
		debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
			die "debootstrap failed: see $work/debootstrap.log"
		rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
		ctr=$(buildah from scratch)
		mnt=$(buildah mount "$ctr")
		cp -a "$work/rootfs/." "$mnt/"
		buildah umount "$ctr" >/dev/null
		buildah config --cmd /bin/bash "$ctr"
		buildah commit -q "$ctr" "$base" >/dev/null
		buildah rm "$ctr" >/dev/null
		rm -rf "$work"
		trap - EXIT
	fi
	buildah bud --isolation chroot --network host --layers \
		--build-arg DEBIAN_IMAGE="$base" -f "$here/docker/Dockerfile" -t "$tag" "$here"
	ctr=$(buildah from "$tag")
	trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
	smoke buildah run --isolation chroot "$ctr" --
	;;
*) die "SHUNT_IMAGE_TOOL must be docker or buildah, not '$tool'" ;;
esac

if ((check)); then
	[[ $tool == buildah ]] || die "--check needs buildah (it runs the image with chroot)"
	SHUNT_IMAGE=$tag "$here/tests/harness/with-pods.sh" --pod 1:a --pod 1:b -- \
		"$here/scripts/image-check.sh" || die "--check failed"
fi
