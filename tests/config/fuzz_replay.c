// SPDX-License-Identifier: Apache-2.0
/*
 * Corpus replay: a main() for a libFuzzer target built WITHOUT libFuzzer (gcc,
 * normal and sanitizer builds). Feeds every file named on the command line,
 * and every regular file in every directory named, to LLVMFuzzerTestOneInput
 * once, in name order. The target aborts on a broken property, which fails
 * the test; a count of 0 inputs is a failure too (a missing corpus must not
 * pass silently). Files whose names end in ".dict" are skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int err = 0;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		err = -EIO;
		goto cleanup;
	}
	/* an exact-size copy, so ASan sees reads past the input */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (len && fread(buf, 1, (size_t)len, f) != (size_t)len) {
		err = -EIO;
		goto cleanup;
	}
	fprintf(stderr, "replay %s (%ld bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
cleanup:
	if (err)
		fprintf(stderr, "%s: cannot read\n", path);
	free(buf);
	fclose(f);
	return err;
}

static int skip(const char *name)
{
	size_t n = strlen(name);

	return name[0] == '.' || (n > 5 && !strcmp(name + n - 5, ".dict"));
}

static int replay_dir(const char *dir, unsigned *count)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	int err = 0;

	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		char *path = NULL;
		struct stat st;

		if (!err && !skip(names[i]->d_name) &&
		    asprintf(&path, "%s/%s", dir, names[i]->d_name) >= 0 && !stat(path, &st) &&
		    S_ISREG(st.st_mode)) {
			err = replay_file(path);
			(*count)++;
		}
		free(path);
		free(names[i]);
	}
	free(names);
	return err;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		int err;

		if (stat(argv[i], &st)) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			err = replay_dir(argv[i], &count);
		} else {
			err = replay_file(argv[i]);
			count++;
		}
		if (err)
			return 1;
	}
	printf("%u inputs replayed\n", count);
	return count ? 0 : 1;
}
