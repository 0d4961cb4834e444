// SPDX-License-Identifier: Apache-2.0
#include "splice.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static int cookie_of(int fd, uint64_t *out)
{
	socklen_t len = sizeof(*out);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, out, &len))
		return -errno;
	return len == sizeof(*out) ? 0 : -EINVAL;
}

static int set_u64(int fd, int opt, uint64_t v)
{
	if (setsockopt(fd, SHUNT_SOL, opt, &v, sizeof(v)))
		return -errno;
	return 0;
}

int sp_splice_link(int down_fd, int up_fd)
{
	uint64_t down_ck, up_ck;
	int err;

	err = cookie_of(down_fd, &down_ck);
	if (!err)
		err = cookie_of(up_fd, &up_ck);
	/* the first call records a claim, the second (naming the first's
	 * socket, which claimed it back) links the pair */
	if (!err)
		err = set_u64(up_fd, SHUNT_SO_SPLICE, down_ck);
	if (!err)
		err = set_u64(down_fd, SHUNT_SO_SPLICE, up_ck);
	return err;
}

int sp_splice_fwd(int fd, uint64_t total)
{
	return set_u64(fd, SHUNT_SO_SPLICE_FWD, total);
}

int sp_splice_info(int fd, struct shunt_splice_info *out)
{
	socklen_t len = sizeof(*out);

	memset(out, 0, sizeof(*out));
	if (getsockopt(fd, SHUNT_SOL, SHUNT_SO_SPLICE_INFO, out, &len))
		return -errno;
	return len == sizeof(*out) ? 0 : -EINVAL;
}
