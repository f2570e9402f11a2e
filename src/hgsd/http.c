/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsd/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/rand.h>

#include "common/limits.h"
#include "common/util.h"
#include "hgsd/jsonload.h"
#include "hgsd/log.h"

struct http_server {
	struct MHD_Daemon *d;
	bool admin;
	const struct http_route *routes;
	size_t n_routes;
	struct http_options o;
	http_admin_check_fn check;
	void *app;
};

/* One request on a connection: created at the first callback, freed in the
 * completion callback. */
struct http_conn_state {
	struct http_server *srv;
	struct MHD_Connection *conn;
	struct http_request rq;
	char rid[24];
	char peer_text[64];
	char *param;
	char body_error[256]; /* HTTP_ROUTE_BODY_ERRORS */
	char *buf; /* body, at most max_body bytes */
	size_t len, cap;
	size_t announced; /* Content-Length (at most max_body), or 0 */
	size_t received; /* all body bytes seen, kept or not */
	bool too_large;
	bool queued;
	unsigned status;
	struct MHD_Response *resp; /* built by a handler, queued after it */
	struct timespec start;
};

/* ---- request ids ---- */

static uint32_t rid_prefix;
static uint64_t rid_counter;

static void rid_init_once(void)
{
	static int done;

	if (__atomic_exchange_n(&done, 1, __ATOMIC_SEQ_CST))
		return;
	if (RAND_bytes((unsigned char *)&rid_prefix, sizeof(rid_prefix)) != 1)
		rid_prefix = (uint32_t)getpid() ^ (uint32_t)time(NULL);
}

static void rid_new(char out[24])
{
	uint64_t n = __atomic_add_fetch(&rid_counter, 1, __ATOMIC_RELAXED);

	snprintf(out, 24, "%08" PRIx32 "%012" PRIx64, rid_prefix,
		 (uint64_t)(n & 0xffffffffffffULL));
}

/* ---- replies ---- */

const char *http_query(struct http_request *rq, const char *key)
{
	return MHD_lookup_connection_value(rq->state->conn, MHD_GET_ARGUMENT_KIND,
					   key);
}

static int set_response(struct http_conn_state *st, unsigned status,
			struct MHD_Response *resp)
{
	if (!resp)
		return -ENOMEM;
	if (MHD_add_response_header(resp, "X-Request-Id", st->rid) != MHD_YES ||
	    MHD_add_response_header(resp, "Cache-Control", "no-store") != MHD_YES ||
	    (!st->srv->o.keep_alive &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
		MHD_destroy_response(resp);
		return -ENOMEM;
	}
	if (st->resp) /* a second reply replaces the first */
		MHD_destroy_response(st->resp);
	st->resp = resp;
	st->status = status;
	return 0;
}

int http_reply_empty(struct http_request *rq, unsigned status)
{
	return set_response(rq->state, status,
			    MHD_create_response_from_buffer(0, (void *)"",
							    MHD_RESPMEM_PERSISTENT));
}

unsigned http_status(const struct http_request *rq)
{
	return rq->state->resp || rq->state->queued ? rq->state->status : 0;
}

int http_reply(struct http_request *rq, unsigned status, json_t *body)
{
	struct http_conn_state *st = rq->state;
	struct MHD_Response *resp;
	char *text;

	if (!body)
		return -ENOMEM;
	text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	if (!text)
		return -ENOMEM;
	resp = MHD_create_response_from_buffer(strlen(text), text,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return -ENOMEM;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "application/json") != MHD_YES) {
		MHD_destroy_response(resp);
		return -ENOMEM;
	}
	return set_response(st, status, resp);
}

static int error_v(struct http_request *rq, unsigned status, const char *code,
		   json_t *extra, const char *fmt, va_list ap)
{
	char msg[ERR_MSG_MAX];
	json_t *j;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	j = json_pack("{s:s, s:s}", "error", code, "message", msg);
	if (j && extra)
		json_object_update(j, extra);
	json_decref(extra);
	if (!j)
		return -ENOMEM;
	return http_reply(rq, status, j);
}

int http_error(struct http_request *rq, unsigned status, const char *code,
	       const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = error_v(rq, status, code, NULL, fmt, ap);
	va_end(ap);
	return r;
}

int http_error_json(struct http_request *rq, unsigned status, const char *code,
		    json_t *extra, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = error_v(rq, status, code, extra, fmt, ap);
	va_end(ap);
	return r;
}

/* Queue what a handler built; without one, a 500. */
static enum MHD_Result queue(struct http_conn_state *st)
{
	enum MHD_Result r;

	if (!st->resp) {
		http_error(&st->rq, 500, "internal",
			   "the server failed; nothing was decided");
		if (!st->resp)
			return MHD_NO; /* out of memory: drop the connection */
	}
	r = MHD_queue_response(st->conn, st->status, st->resp);
	MHD_destroy_response(st->resp);
	st->resp = NULL;
	st->queued = true;
	return r;
}

/* ---- JSON bodies ---- */

/* Parse the body of a route that needs one. 0: parsed; 1: not a JSON
 * object: a 400 reply was made, or with lax (HTTP_ROUTE_BODY_ERRORS) the
 * reason is in st->body_error for the handler; negative errno: failed
 * (500). */
static int parse_body(struct http_conn_state *st, bool lax)
{
	char *why = st->body_error;
	size_t size = sizeof(st->body_error);
	json_error_t jerr;
	json_t *j = NULL;
	int r;

	if (!st->len)
		snprintf(why, size, "the request needs a JSON object body");
	else if ((r = jsonload_body(st->buf, st->len, HGSD_JSON_MAX_DEPTH, &j,
				    &jerr)) == -E2BIG)
		snprintf(why, size, "JSON nested deeper than %u levels",
			 HGSD_JSON_MAX_DEPTH);
	else if (r == -ENOMEM)
		return r;
	else if (r < 0)
		snprintf(why, size, "body is not valid JSON: %s (line %d, column %d)",
			 jerr.text, jerr.line, jerr.column);
	else if (!json_is_object(j)) {
		json_decref(j);
		snprintf(why, size, "the body must be a JSON object");
	} else {
		st->rq.body = j;
		return 0;
	}
	if (lax) {
		st->rq.body_error = why;
		return 1;
	}
	if (http_error(&st->rq, 400, "bad_request", "%s", why) < 0)
		return -ENOMEM;
	return 1;
}

/* ---- routing ---- */

/* Match path against a pattern where '*' is one non-empty segment. */
static bool route_match(const char *pattern, const char *path,
			const char **ret_param, size_t *ret_len)
{
	const char *p = pattern, *s = path;

	*ret_param = NULL;
	*ret_len = 0;
	while (*p && *s) {
		if (*p == '*') {
			size_t n = strcspn(s, "/");

			if (!n)
				return false;
			*ret_param = s;
			*ret_len = n;
			s += n;
			p++;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	return !*p && !*s;
}

static int dispatch(struct http_conn_state *st)
{
	struct http_server *srv = st->srv;
	const struct http_route *found = NULL;
	char allow[64] = "";
	const char *param = NULL;
	size_t plen = 0;

	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct http_route *rt = &srv->routes[i];
		const char *pp;
		size_t pl;

		if (!route_match(rt->path, st->rq.path, &pp, &pl))
			continue;
		if (streq(rt->method, st->rq.method)) {
			found = rt;
			param = pp;
			plen = pl;
			break;
		}
		if (!strstr(allow, rt->method)) {
			size_t used = strlen(allow);

			snprintf(allow + used, sizeof(allow) - used, "%s%s",
				 used ? ", " : "", rt->method);
		}
	}
	if (!found) {
		if (!allow[0])
			return http_error(&st->rq, 404, "not_found",
					  "no such path: %s", st->rq.path);
		http_error(&st->rq, 405, "method_not_allowed",
			   "%s is not allowed on %s (allowed: %s)",
			   st->rq.method, st->rq.path, allow);
		if (st->resp)
			MHD_add_response_header(st->resp, MHD_HTTP_HEADER_ALLOW,
						allow);
		return 0;
	}
	if (param) {
		st->param = strndup(param, plen);
		if (!st->param)
			return -ENOMEM;
		st->rq.param = st->param;
	}
	if (found->flags & HTTP_ROUTE_BODY) {
		bool lax = found->flags & HTTP_ROUTE_BODY_ERRORS;
		int r = parse_body(st, lax);

		if (r < 0 || (r > 0 && !lax))
			return r < 0 ? r : 0;
	}
	return found->fn(&st->rq);
}

/* ---- admin peers ---- */

/* Supplementary groups from /proc/PID/status ("Groups:\t4 27 100"). */
static void peer_groups_proc(struct http_peer *p)
{
	char path[64], buf[4096];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	char *line, *s, *end;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)p->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return;
	buf[n] = '\0';
	line = strstr(buf, "\nGroups:");
	if (!line)
		return;
	s = line + strlen("\nGroups:");
	p->n_groups = 0;
	for (;;) {
		unsigned long g;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\n' || !*s)
			break;
		errno = 0;
		g = strtoul(s, &end, 10);
		if (errno || end == s || g > UINT32_MAX ||
		    p->n_groups == HTTP_PEER_MAX_GROUPS)
			return; /* unreadable: groups stay unknown */
		p->groups[p->n_groups++] = (gid_t)g;
		s = end;
	}
	/* The file is read whole only if the Groups line ended in it. */
	if (*s == '\n')
		p->groups_known = true;
}

static void peer_groups(int fd, struct http_peer *p)
{
	socklen_t len = sizeof(p->groups);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) == 0) {
		p->n_groups = len / sizeof(gid_t);
		p->groups_known = true;
		return;
	}
	peer_groups_proc(p);
}

static int peer_credentials(struct http_conn_state *st)
{
	const union MHD_ConnectionInfo *ci;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	ci = MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return -EIO;
	if (getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (len != sizeof(cred))
		return -EIO;
	st->rq.peer.known = true;
	st->rq.peer.pid = cred.pid;
	st->rq.peer.uid = cred.uid;
	st->rq.peer.gid = cred.gid;
	peer_groups(ci->connect_fd, &st->rq.peer);
	snprintf(st->peer_text, sizeof(st->peer_text), "uid=%u pid=%d",
		 (unsigned)cred.uid, (int)cred.pid);
	return 0;
}

static void peer_address(struct http_conn_state *st)
{
	const union MHD_ConnectionInfo *ci;
	char ip[INET6_ADDRSTRLEN] = "?";

	ci = MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	if (ci->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ci->client_addr;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(st->peer_text, sizeof(st->peer_text), "%s:%u", ip,
			 ntohs(a->sin_port));
	} else if (ci->client_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ci->client_addr;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(st->peer_text, sizeof(st->peer_text), "[%s]:%u", ip,
			 ntohs(a->sin6_port));
	}
}

/* ---- the access handler ---- */

/* First callback of a request: headers are in, no body yet. Returns true
 * when a reply was queued already (denied, or the body is too large). */
static bool request_begin(struct http_conn_state *st)
{
	struct http_server *srv = st->srv;
	const char *cl;

	if (srv->admin) {
		const char *why = "peer credentials unavailable";
		int r = peer_credentials(st);

		if (r == 0)
			r = srv->check(&st->rq, &why);
		if (r < 0) {
			http_error(&st->rq, 403, "forbidden",
				   "the admin API is for root and members of the admin group");
			log_event(LOG_LEVEL_WARNING, st->rid, "admin_denied",
				  "{s:s, s:s}", "peer", st->peer_text, "reason", why);
			return true;
		}
	} else {
		peer_address(st);
	}

	/* Refuse an announced oversize body before reading any of it. */
	cl = MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno || end == cl || *end || n > srv->o.max_body) {
			st->too_large = true;
			http_error(&st->rq, 413, "payload_too_large",
				   "request body over %zu bytes", srv->o.max_body);
			return true;
		}
		st->announced = (size_t)n;
	}
	return false;
}

/* Keep up to max_body bytes; beyond that, drop the buffer and discard. */
static enum MHD_Result request_data(struct http_conn_state *st,
				    const char *data, size_t n)
{
	size_t max = st->srv->o.max_body;

	st->received += n;
	if (st->too_large || st->queued) {
		/* Bounded: a client streaming on past twice the limit is cut
		 * off instead of being answered. */
		return st->received > 2 * max ? MHD_NO : MHD_YES;
	}
	if (st->len + n > max) {
		st->too_large = true;
		explicit_bzero(st->buf, st->len);
		free(st->buf);
		st->buf = NULL;
		st->len = st->cap = 0;
		return MHD_YES;
	}
	if (st->len + n > st->cap) {
		/* the announced length at once, not four doublings of 40 KB */
		size_t ncap = st->cap ? st->cap : st->announced > 4096 ? st->announced : 4096;
		char *nb;

		while (ncap < st->len + n)
			ncap *= 2;
		if (ncap > max)
			ncap = max;
		nb = realloc(st->buf, ncap + 1);
		if (!nb)
			return MHD_NO;
		st->buf = nb;
		st->cap = ncap;
	}
	memcpy(st->buf + st->len, data, n);
	st->len += n;
	return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_conn_state *st = *con_cls;
	int r;

	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		st->srv = srv;
		st->conn = conn;
		clock_gettime(CLOCK_MONOTONIC, &st->start);
		rid_new(st->rid);
		st->rq = (struct http_request){
			.method = method, .path = url, .rid = st->rid,
			.admin = srv->admin, .app = srv->app, .state = st,
		};
		*con_cls = st;
		if (request_begin(st))
			return queue(st);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		return request_data(st, upload_data, n);
	}
	if (st->queued)
		return MHD_YES;
	if (st->too_large) {
		http_error(&st->rq, 413, "payload_too_large",
			   "request body over %zu bytes", srv->o.max_body);
		return queue(st);
	}
	r = dispatch(st);
	if (r < 0 && st->resp && st->status >= 400)
		return queue(st); /* the handler answered with an error */
	if (r < 0) {
		/* Failed, maybe after building a success reply: fail closed. */
		if (st->resp) {
			MHD_destroy_response(st->resp);
			st->resp = NULL;
		}
		log_event(LOG_LEVEL_ERROR, st->rid, "handler_failed",
			  "{s:s, s:s, s:s}", "method", method, "path", url,
			  "error", strerror(-r));
	}
	return queue(st);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct http_conn_state *st = *con_cls;
	struct timespec now;
	int64_t us;

	if (!st)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (int64_t)(now.tv_sec - st->start.tv_sec) * 1000000 +
	     (now.tv_nsec - st->start.tv_nsec) / 1000;
	if (log_enabled(LOG_LEVEL_INFO)) {
		json_t *f = json_pack("{s:s, s:s, s:i, s:I, s:I, s:s, s:s}",
				      "method", st->rq.method, "path", st->rq.path,
				      "status", (int)st->status, "us", (json_int_t)us,
				      "body_bytes", (json_int_t)st->received,
				      "listener", st->srv->admin ? "admin" : "host",
				      "peer", st->peer_text);

		if (f && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
			json_object_set_new(f, "terminated",
					    json_string(toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout" :
							toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? "client-abort" :
							toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown" : "error"));
		log_event_json(LOG_LEVEL_INFO, st->rid, "request", f);
		json_decref(f);
	}
	if (st->resp)
		MHD_destroy_response(st->resp);
	json_decref(st->rq.body);
	if (st->buf) {
		explicit_bzero(st->buf, st->len);
		free(st->buf);
	}
	free(st->param);
	free(st);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_event(LOG_LEVEL_WARNING, NULL, "http_library", "{s:s}", "message", msg);
}

bool http_tls_supported(void)
{
	return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

int http_server_start(int fd, bool admin, const struct http_route *routes,
		      size_t n_routes, const struct http_options *o,
		      http_admin_check_fn check, void *app,
		      struct http_server **ret, struct err *e)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem opts[16];
	struct http_server *s;
	size_t n = 0;

	if (admin && !check) {
		close(fd);
		return err_set(e, EINVAL, "admin listener without a peer check");
	}
	rid_init_once();
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return err_set(e, ENOMEM, "out of memory");
	}
	*s = (struct http_server){ .admin = admin, .routes = routes,
				   .n_routes = n_routes, .o = *o,
				   .check = check, .app = app };

#define OPT(o_, v_, p_)                                                        \
	(opts[n++] = (struct MHD_OptionItem){ .option = (o_),                  \
					      .value = (intptr_t)(v_),         \
					      .ptr_value = (void *)(p_) })
	OPT(MHD_OPTION_LISTEN_SOCKET, fd, NULL);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, o->timeout, NULL);
	OPT(MHD_OPTION_CONNECTION_LIMIT, o->max_connections, NULL);
	if (o->threads > 1)
		OPT(MHD_OPTION_THREAD_POOL_SIZE, o->threads, NULL);
	if (o->tls_cert_pem) {
		flags |= MHD_USE_TLS;
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, o->tls_cert_pem);
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, o->tls_key_pem);
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, o->tls_priorities);
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s,
				MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!s->d) {
		close(fd);
		free(s);
		return err_set(e, EIO, "cannot start the %s HTTP server (libmicrohttpd refused the options; see its log line)",
			       admin ? "admin" : "host");
	}
	*ret = s;
	return 0;
}

void http_server_stop(struct http_server *s, unsigned grace)
{
	MHD_socket lfd;

	if (!s)
		return;
	lfd = MHD_quiesce_daemon(s->d);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	for (unsigned i = 0; i < grace * 10; i++) {
		const union MHD_DaemonInfo *di =
			MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

		if (!di || di->num_connections == 0)
			break;
		usleep(100 * 1000);
	}
	MHD_stop_daemon(s->d);
	free(s);
}
