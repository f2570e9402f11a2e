/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Corpus replay driver: runs a libFuzzer harness's LLVMFuzzerTestOneInput
 * over every file named on the command line, or found (recursively, in
 * sorted order) in a directory named there. Linked with each harness into an
 * ordinary executable, so the corpora run as tests in every build, including
 * gcc and ASan/UBSan builds that have no libFuzzer.
 *
 * Each input is copied into a buffer of exactly its size, so a sanitizer
 * sees a read one byte past the end. Exit 0 when every input ran; 1 on a
 * usage or I/O error or when no input was found (an empty corpus is a
 * mistake, not a pass). A crash is the harness's report.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STANDALONE_MAX_INPUT (64u * 1024 * 1024)
#define STANDALONE_MAX_DEPTH 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned long n_inputs;

static int read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > STANDALONE_MAX_INPUT) {
		fprintf(stderr, "%s: not a regular file of at most %u bytes\n",
			path, STANDALONE_MAX_INPUT);
		close(fd);
		return -1;
	}
	/* malloc(0) may return NULL: keep one byte, pass size 0. */
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "%s: short read\n", path);
			free(buf);
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	*ret = buf;
	*ret_len = off;
	return 0;
}

static int run_file(const char *path)
{
	uint8_t *buf;
	size_t len;

	if (read_all(path, &buf, &len) < 0)
		return -1;
	printf("%s (%zu bytes)\n", path, len);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	n_inputs++;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path, int depth);

static int run_dir(const char *path, int depth)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int r = 0;
	DIR *d;

	if (depth > STANDALONE_MAX_DEPTH) {
		fprintf(stderr, "%s: directories nested too deep\n", path);
		return -1;
	}
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue; /* ., .., hidden files */
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **p = realloc(names, ncap * sizeof(*names));

			if (!p) {
				r = -1;
				break;
			}
			names = p;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (names)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(path) + 1 + strlen(names[i]) + 1;
		char *child = malloc(len);

		if (r == 0 && child) {
			snprintf(child, len, "%s/%s", path, names[i]);
			r = run_path(child, depth + 1);
		} else if (!child) {
			r = -1;
		}
		free(child);
		free(names[i]);
	}
	free(names);
	return r;
}

static int run_path(const char *path, int depth)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return run_dir(path, depth);
	return run_file(path);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr,
			"usage: %s FILE|DIR...\n"
			"Runs the fuzz harness once over every input.\n",
			argv[0]);
		return 1;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		if (run_path(argv[i], 0) < 0)
			return 1;
	}
	if (n_inputs == 0) {
		fprintf(stderr, "no inputs found\n");
		return 1;
	}
	printf("%lu inputs ran\n", n_inputs);
	return 0;
}
