#!/usr/bin/env bash
# Run by scripts/build-image.sh --check inside tests/harness/with-pods.sh (pods a and b):
# the image's shuntd accelerates pod a -> pod b, checked with the image's shuntctl.
set -euo pipefail
: "${SHUNT_IMAGE:?}" "${SHUNT_NODE1_CGROUP:?}" "${SHUNT_PIN_DIR:?}" "${SHUNT_POD_B_IP:?}"
work=$(mktemp -d)
ctr=$(buildah from "$SHUNT_IMAGE")
mnt=$(buildah mount "$ctr")
pid=
cleanup() {
	if [[ -n $pid ]]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" || true
	fi
	buildah umount "$ctr" >/dev/null || true
	buildah rm "$ctr" >/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
# the image's root file system and libraries, this host's kernel, /sys and /dev
inimg() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare -m sh -c 'r=$1; shift
		mount -t proc proc "$r/proc" && mount --rbind /sys "$r/sys" && mount --rbind /dev "$r/dev" &&
		exec chroot "$r" "$@"' sh "$mnt" "$@"
}
inimg shuntd --cgroup "$SHUNT_NODE1_CGROUP" --pin-dir "$SHUNT_PIN_DIR" --ready-fd 3 \
	3>"$work/ready" 2>"$work/shuntd.log" &
pid=$!
for _ in $(seq 200); do # --ready-fd writes a line once attached
	[[ -s $work/ready ]] && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/shuntd.log" >&2; exit 1; }
	sleep 0.05
done
[[ -s $work/ready ]] || { echo "image-check: shuntd never became ready" >&2; exit 1; }

head -c 1000000 /dev/urandom >"$work/send"
"$SHUNT_POD_EXEC" b timeout 20 python3 -c '
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9000)); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); h = hashlib.sha256()
while (b := c.recv(65536)):
    h.update(b)
print(h.hexdigest(), flush=True)' >"$work/recv" &
server=$!
for _ in $(seq 200); do
	grep -q ready "$work/recv" 2>/dev/null && break
	sleep 0.05
done
"$SHUNT_POD_EXEC" a timeout 20 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 9000)); s.sendall(open(sys.argv[2], "rb").read()); s.close()' \
	"$SHUNT_POD_B_IP" "$work/send"
wait "$server"
sent=$(sha256sum <"$work/send" | cut -d' ' -f1)
got=$(tail -1 "$work/recv")
[[ $sent == "$got" ]] || { echo "image-check: bytes differ ($sent vs $got)" >&2; exit 1; }
redirected=$(inimg shuntctl --pin-dir "$SHUNT_PIN_DIR" status --json | jq '.counters.bytes_redirected')
echo "image-check: 1000000 bytes intact; bytes_redirected=$redirected (image $SHUNT_IMAGE)"
((redirected >= 1000000)) || { echo "image-check: not redirected" >&2; exit 1; }
