/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/util.h"
#include "vm/limits.h"

#define MAX_EVENTS 64

struct vm_qmp {
	int fd;
	char *buf; /* received, not yet consumed */
	size_t len;
	json_t *events[MAX_EVENTS];
	size_t n_events;
};

static void decref_(json_t **j)
{
	json_decref(*j);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vm_qmp_close(struct vm_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	for (size_t i = 0; i < q->n_events; i++)
		json_decref(q->events[i]);
	free(q->buf);
	free(q);
}

int vm_qmp_fd(const struct vm_qmp *q)
{
	return q->fd;
}

/* One message (a line) within the deadline. -ETIMEDOUT, -ECONNRESET. */
static int read_msg(struct vm_qmp *q, int64_t deadline, json_t **ret,
		    struct err *e)
{
	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		int64_t left;
		ssize_t n;
		int pr;

		if (nl) {
			size_t l = (size_t)(nl - q->buf) + 1;
			json_error_t je;
			json_t *j = json_loadb(q->buf, l, 0, &je);

			memmove(q->buf, q->buf + l, q->len - l);
			q->len -= l;
			if (!json_is_object(j)) {
				json_decref(j);
				return err_set(e, EBADMSG,
					       "QMP: not a JSON object: %s",
					       je.text);
			}
			*ret = j;
			return 0;
		}
		if (q->len >= VM_QMP_MAX_MSG)
			return err_set(e, EMSGSIZE,
				       "QMP: message over %d bytes",
				       VM_QMP_MAX_MSG);
		/* past the deadline: still take what is there (a timeout of
		 * 0 is "what is readable now"; returning without reading
		 * left a pending event readable, and the supervisor's poll
		 * loop spinning on it) */
		left = deadline - now_ms();
		if (deadline >= 0 && left < 0)
			left = 0;
		pr = poll(&pfd, 1, deadline < 0 ? -1 : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return err_set(e, errno, "QMP: poll: %s",
				       strerror(errno));
		if (pr == 0)
			return -ETIMEDOUT;
		if (!q->buf) {
			q->buf = malloc(VM_QMP_MAX_MSG);
			if (!q->buf)
				return err_set(e, ENOMEM, "out of memory");
		}
		n = read(q->fd, q->buf + q->len, VM_QMP_MAX_MSG - q->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_set(e, ECONNRESET,
				       "QMP: QEMU closed the "
				       "connection");
		q->len += (size_t)n;
	}
}

static int send_msg(struct vm_qmp *q, json_t *msg, struct err *e)
{
	_cleanup_free_ char *t = json_dumps(msg, JSON_COMPACT);
	size_t len, off = 0;

	if (!t)
		return err_set(e, ENOMEM, "out of memory");
	len = strlen(t);
	t[len] = '\n'; /* replaces the NUL; we send len + 1 bytes */
	while (off < len + 1) {
		ssize_t n = send(q->fd, t + off, len + 1 - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(e, errno == EPIPE ? ECONNRESET : errno,
				       "QMP: send: %s", strerror(errno));
		off += (size_t)n;
	}
	return 0;
}

static void queue_event(struct vm_qmp *q, json_t *ev)
{
	if (q->n_events == MAX_EVENTS) { /* drop the oldest */
		json_decref(q->events[0]);
		memmove(q->events, q->events + 1,
			(MAX_EVENTS - 1) * sizeof(q->events[0]));
		q->n_events--;
	}
	q->events[q->n_events++] = ev;
}

int vm_qmp_execute(struct vm_qmp *q, const char *cmd, json_t *args,
		   json_t **ret, struct err *e)
{
	json_t *msg __attribute__((cleanup(decref_))) = NULL;
	int64_t deadline = now_ms() + VM_QMP_TIMEOUT_MS;
	int r;

	msg = json_pack("{s:s}", "execute", cmd);
	if (!msg || (args && json_object_set(msg, "arguments", args) < 0))
		return err_set(e, ENOMEM, "out of memory");
	r = send_msg(q, msg, e);
	if (r < 0)
		return r;
	for (;;) {
		json_t *m = NULL, *v;

		r = read_msg(q, deadline, &m, e);
		if (r == -ETIMEDOUT)
			return err_set(e, ETIMEDOUT,
				       "QMP: no answer to '%s' in %d ms", cmd,
				       VM_QMP_TIMEOUT_MS);
		if (r < 0)
			return r;
		if (json_object_get(m, "event")) {
			queue_event(q, m);
			continue;
		}
		if ((v = json_object_get(m, "return"))) {
			if (ret)
				*ret = json_incref(v);
			json_decref(m);
			return 0;
		}
		v = json_object_get(m, "error");
		{
			const char *cls = json_string_value(
					   json_object_get(v, "class")),
				   *desc = json_string_value(
					   json_object_get(v, "desc"));

			r = err_set(e, EREMOTEIO, "QMP '%s': %s: %s", cmd,
				    cls ? cls : "error",
				    desc ? desc : "(no description)");
		}
		json_decref(m);
		return r;
	}
}

int vm_qmp_event(struct vm_qmp *q, int timeout_ms, json_t **ret, struct err *e)
{
	json_t *m = NULL;
	int r;

	for (;;) {
		if (q->n_events) {
			*ret = q->events[0];
			memmove(q->events, q->events + 1,
				(q->n_events - 1) * sizeof(q->events[0]));
			q->n_events--;
			return 0;
		}
		r = read_msg(q, now_ms() + timeout_ms, &m, e);
		if (r == -ETIMEDOUT)
			return -EAGAIN;
		if (r < 0)
			return r;
		if (json_object_get(m, "event"))
			queue_event(q, m);
		else
			json_decref(m); /* a stray answer */
	}
}

int vm_qmp_open(int fd, int timeout_ms, struct vm_qmp **ret, struct err *e)
{
	struct vm_qmp *q;
	int64_t deadline = now_ms() + timeout_ms;
	json_t *greeting = NULL;
	int r;

	if (fd < 0)
		return err_set(e, EBADF, "QMP: no socket");
	q = calloc(1, sizeof(*q));
	if (!q) {
		close(fd);
		return err_set(e, ENOMEM, "out of memory");
	}
	q->fd = fd;
	r = read_msg(q, deadline, &greeting, e);
	if (r == -ETIMEDOUT)
		r = err_set(e, ETIMEDOUT, "QMP: no greeting in %d ms",
			    timeout_ms);
	if (r < 0)
		goto fail;
	if (!json_object_get(greeting, "QMP")) {
		json_decref(greeting);
		r = err_set(e, EPROTO, "QMP: not a QMP greeting");
		goto fail;
	}
	json_decref(greeting);
	r = vm_qmp_execute(q, "qmp_capabilities", NULL, NULL, e);
	if (r < 0)
		goto fail;
	*ret = q;
	return 0;
fail:
	vm_qmp_close(q);
	return r;
}
