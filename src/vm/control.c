/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/control.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/util.h"
#include "vm/launch.h"
#include "vm/limits.h"

int vm_control_request(const char *rundir, const char *name, json_t **ret,
		       struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *msg = NULL;
	char buf[VM_CONTROL_MAX_MSG * 4];
	size_t len = 0;
	json_t *req, *ans;
	json_error_t je;
	int n;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", rundir,
		     VM_RUN_CONTROL);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return err_set(e, ENAMETOOLONG, "%s: path too long", rundir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return err_set(e, errno, "%s: %s", sa.sun_path,
			       strerror(errno));
	req = json_pack("{s:s}", "execute", name);
	msg = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!msg)
		return err_set(e, ENOMEM, "out of memory");
	if (send(fd, msg, strlen(msg), MSG_NOSIGNAL) < 0 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) < 0)
		return err_set(e, errno, "%s: send: %s", sa.sun_path,
			       strerror(errno));
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;
		int pr = poll(&p, 1, VM_CONTROL_TIMEOUT_MS * 3);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return err_set(e, ETIMEDOUT,
				       "%s: no answer from the supervisor",
				       sa.sun_path);
		got = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return err_set(e, errno, "%s: %s", sa.sun_path,
				       strerror(errno));
		if (got == 0)
			break;
		len += (size_t)got;
		if (memchr(buf, '\n', len) || len == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	ans = json_loads(buf, JSON_DISABLE_EOF_CHECK, &je);
	if (!json_is_object(ans)) {
		json_decref(ans);
		return err_set(e, EBADMSG,
			       "%s: the supervisor's answer is not "
			       "a JSON object",
			       sa.sun_path);
	}
	*ret = ans;
	return 0;
}
