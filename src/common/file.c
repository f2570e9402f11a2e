/* SPDX-License-Identifier: Apache-2.0 */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

int file_read_fd(int fd, const char *label, size_t max, uint8_t **ret,
		 size_t *ret_len, struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		ssize_t n;

		if (cap - len < 2) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *nbuf;

			if (ncap > max + 2)
				ncap = max + 2;
			if (ncap <= cap)
				return err_set(e, EFBIG, "%s: larger than %zu bytes",
					       label, max);
			nbuf = realloc(buf, ncap);
			if (!nbuf)
				return err_set(e, ENOMEM, "%s: out of memory", label);
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set(e, errno, "%s: %s", label, strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return err_set(e, EFBIG, "%s: larger than %zu bytes", label,
				       max);
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return err_set(e, ENOMEM, "%s: out of memory", label);
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int file_read(const char *path, size_t max, uint8_t **ret, size_t *ret_len,
	      struct err *e)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (streq(path, "-"))
		fd = dup(STDIN_FILENO);
	else
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return err_set(e, EISDIR, "%s: is a directory", path);
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max)
		return err_set(e, EFBIG, "%s: %jd bytes, limit is %zu", path,
			       (intmax_t)st.st_size, max);
	return file_read_fd(fd, path, max, ret, ret_len, e);
}

int file_write(const char *path, const void *buf, size_t len, int mode,
	       struct err *e)
{
	_cleanup_close_ int fd = -1;
	const uint8_t *p = buf;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  mode);
	if (fd < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set(e, errno, "%s: %s", path, strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0 && errno != EINVAL)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	return 0;
}
