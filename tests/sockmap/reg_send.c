// SPDX-License-Identifier: Apache-2.0
/*
 * reg_send SOCKET: one request of the pod registry protocol (cni/registry.h)
 * from stdin (one JSON line) to SOCKET; prints the answer line. Exit 0 when
 * an answer came back (whatever it says), 1 otherwise. A test helper: it
 * sends what the test wrote, bytes unchanged (shunt-cni can only send
 * annotations it read from the Kubernetes API).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static char req[131072], ans[4096];
	size_t n = 0, m = 0;
	ssize_t r;
	int fd = -1, ret = 1;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: reg_send SOCKET < request.json\n");
		return 2;
	}
	n = fread(req, 1, sizeof(req) - 2, stdin);
	while (n && (req[n - 1] == '\n' || req[n - 1] == '\r'))
		n--;
	req[n++] = '\n';
	memcpy(sa.sun_path, argv[1], strlen(argv[1]));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "reg_send: %s: %s\n", argv[1], strerror(errno));
		goto cleanup;
	}
	for (size_t off = 0; off < n; off += (size_t)r) {
		r = write(fd, req + off, n - off);
		if (r <= 0) {
			fprintf(stderr, "reg_send: write: %s\n", strerror(errno));
			goto cleanup;
		}
	}
	while (m < sizeof(ans) - 1 && (r = read(fd, ans + m, sizeof(ans) - 1 - m)) > 0)
		m += (size_t)r;
	ans[m] = '\0';
	if (m) {
		fputs(ans, stdout);
		ret = 0;
	}
cleanup:
	if (fd >= 0)
		close(fd);
	return ret;
}
