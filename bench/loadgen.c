/* SPDX-License-Identifier: Apache-2.0 */
/* The load generator of bench_attest and bench_unwrap: see loadgen.h. */
#include "loadgen.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void loadgen_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

double loadgen_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- HTTP ---------------------------------------------------------------- */

/*
 * A minimal HTTP/1.1 client: one keep-alive connection, a request written
 * with one writev, the answer read until its Content-Length. It is what a
 * lean host agent would do, and it keeps the load generator's own cost low
 * on the cores it shares with the server (libcurl's per-request machinery
 * cost more than the two ECDSA signatures of an attestation).
 */

static int http_connect(struct loadgen_http *h)
{
	int fd, one = 1;
	struct timeval tv = { .tv_sec = LOADGEN_HTTP_TIMEOUT_S };

	fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (h->addr.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&h->addr, h->addr_len) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	h->fd = fd;
	return 0;
}

static void http_close(struct loadgen_http *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

void loadgen_http_init(struct loadgen_http *h, const char *base,
		       const char *unix_socket, bool fresh)
{
	const char *host = base, *colon;
	char name[256];

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	h->fresh = fresh;
	h->resp.buf = malloc(LOADGEN_RESP_MAX);
	if (!h->resp.buf)
		loadgen_die("out of memory");
	if (strncmp(host, "http://", 7) != 0)
		loadgen_die("%s: only http:// URLs", base);
	host += 7;
	colon = strchr(host, ':');
	snprintf(h->host, sizeof(h->host), "%.*s", (int)strcspn(host, "/"), host);
	if (unix_socket) {
		struct sockaddr_un *un = (struct sockaddr_un *)&h->addr;

		if (strlen(unix_socket) >= sizeof(un->sun_path))
			loadgen_die("%s: socket path too long", unix_socket);
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, unix_socket, strlen(unix_socket) + 1);
		h->addr_len = sizeof(*un);
	} else {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
		const char *port = colon ? colon + 1 : "80";
		int r;

		snprintf(name, sizeof(name), "%.*s", (int)(colon ? colon - host : (long)strcspn(host, "/")),
			 host);
		r = getaddrinfo(name, port, &hints, &ai);
		if (r != 0 || !ai || ai->ai_addrlen > sizeof(h->addr))
			loadgen_die("%s: %s", base, r ? gai_strerror(r) : "no address");
		memcpy(&h->addr, ai->ai_addr, ai->ai_addrlen);
		h->addr_len = ai->ai_addrlen;
		freeaddrinfo(ai);
	}
}

void loadgen_http_free(struct loadgen_http *h)
{
	http_close(h);
	free(h->resp.buf);
}

/* Read until the answer's head is complete; the body bytes read with it
 * go to h->resp. Its status and Content-Length, or an error text. */
static const char *read_head(struct loadgen_http *h, long *ret_status, size_t *ret_clen,
			     bool *ret_close)
{
	char head[8192], *end = NULL, *p;
	size_t have = 0, hlen, extra;

	while (!end) {
		ssize_t n;

		if (have == sizeof(head) - 1)
			return "answer head over 8 KB";
		n = recv(h->fd, head + have, sizeof(head) - 1 - have, 0);
		if (n == 0)
			return have ? "connection closed in the answer head" : "connection closed";
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? "timed out" : strerror(errno);
		}
		have += (size_t)n;
		head[have] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	hlen = (size_t)(end - head) + 4;
	if (sscanf(head, "HTTP/1.%*1[01] %ld", ret_status) != 1)
		return "not an HTTP/1.x answer";
	*ret_clen = SIZE_MAX;
	*ret_close = false;
	for (p = strstr(head, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;

		if (!strncasecmp(line, "Content-Length:", 15))
			*ret_clen = strtoul(line + 15, NULL, 10);
		else if (!strncasecmp(line, "Connection:", 11)) {
			const char *v = line + 11;

			v += strspn(v, " \t");
			*ret_close = !strncasecmp(v, "close", 5);
		}
		else if (!strncasecmp(line, "Transfer-Encoding:", 18))
			return "chunked answers are not supported";
	}
	if (*ret_clen == SIZE_MAX)
		return "answer without Content-Length";
	extra = have - hlen;
	if (extra > *ret_clen)
		return "more bytes than Content-Length";
	if (*ret_clen + 1 > LOADGEN_RESP_MAX) {
		h->resp.overflow = true;
		return "answer larger than the buffer";
	}
	memcpy(h->resp.buf, head + hlen, extra);
	h->resp.len = extra;
	return NULL;
}

/* One exchange on the open connection; NULL or an error text. */
static const char *exchange(struct loadgen_http *h, const char *path, const char *body,
			    size_t len, long *ret_status)
{
	char head[1024];
	struct iovec iov[2];
	size_t clen = 0, off = 0, total;
	bool close_after = false;
	const char *err;
	int n;

	if (body)
		n = snprintf(head, sizeof(head),
			     "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
			     "Content-Length: %zu\r\n%s\r\n",
			     path, h->host, len, h->fresh ? "Connection: close\r\n" : "");
	else
		n = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path,
			     h->host, h->fresh ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return "request head too long";
	iov[0] = (struct iovec){ head, (size_t)n };
	iov[1] = (struct iovec){ (void *)body, body ? len : 0 };
	total = (size_t)n + (body ? len : 0);
	while (off < total) {
		struct msghdr m = { 0 };
		struct iovec v[2];
		unsigned k = 0;
		ssize_t w;

		if (off < iov[0].iov_len)
			v[k++] = (struct iovec){ head + off, iov[0].iov_len - off };
		if (iov[1].iov_len) {
			size_t o = off > iov[0].iov_len ? off - iov[0].iov_len : 0;

			v[k++] = (struct iovec){ (char *)body + o, iov[1].iov_len - o };
		}
		m.msg_iov = v;
		m.msg_iovlen = k;
		w = sendmsg(h->fd, &m, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return strerror(errno);
		}
		off += (size_t)w;
	}
	err = read_head(h, ret_status, &clen, &close_after);
	if (err)
		return err;
	while (h->resp.len < clen) {
		ssize_t r = recv(h->fd, h->resp.buf + h->resp.len, clen - h->resp.len, 0);

		if (r == 0)
			return "connection closed in the answer body";
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? "timed out" : strerror(errno);
		}
		h->resp.len += (size_t)r;
	}
	h->resp.buf[h->resp.len] = '\0';
	if (close_after || h->fresh)
		http_close(h);
	return NULL;
}

long loadgen_http_req(struct loadgen_http *h, const char *path,
		      const char *body, size_t len)
{
	h->errbuf[0] = '\0';
	for (int attempt = 0; attempt < 2; attempt++) {
		bool reused = h->fd >= 0;
		const char *err;
		long st = 0;
		int r;

		h->resp.len = 0;
		h->resp.overflow = false;
		h->resp.buf[0] = '\0';
		if (!reused && (r = http_connect(h)) < 0) {
			snprintf(h->errbuf, sizeof(h->errbuf), "connect: %s", strerror(-r));
			return -1;
		}
		err = exchange(h, path, body, len, &st);
		if (!err)
			return st;
		http_close(h);
		/* a kept connection the server had closed: once more, on a new one */
		if (reused && !strcmp(err, "connection closed"))
			continue;
		snprintf(h->errbuf, sizeof(h->errbuf), "%s", err);
		return -1;
	}
	snprintf(h->errbuf, sizeof(h->errbuf), "connection closed");
	return -1;
}

/* ---- clients ------------------------------------------------------------- */

enum { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };
static atomic_int phase;

static void samples_add(struct loadgen_samples *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 4096;
		double *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			loadgen_die("out of memory");
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

void loadgen_client_error(struct loadgen_client *c, const char *fmt, ...)
{
	va_list ap;

	if (atomic_load(&phase) == PHASE_MEASURE)
		c->errors++;
	if (c->first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->first_error, sizeof(c->first_error), fmt, ap);
	va_end(ap);
}

static void *client_run(void *arg)
{
	struct loadgen_client *c = arg;
	const struct loadgen_level *lv = c->level;
	struct loadgen_http http;

	loadgen_http_init(&http, lv->url, NULL, lv->fresh);
	while (atomic_load(&phase) != PHASE_STOP) {
		double t0 = loadgen_now(), full, part;
		bool measured = atomic_load(&phase) == PHASE_MEASURE;

		if (lv->request(c, &http, t0, &full, &part) < 0)
			continue;
		if (measured && atomic_load(&phase) == PHASE_MEASURE) {
			c->ok++;
			samples_add(&c->full, full);
			samples_add(&c->part, part);
		}
	}
	loadgen_http_free(&http);
	return NULL;
}

/* ---- /proc --------------------------------------------------------------- */

/* utime + stime of pid (and of its reaped children), in seconds. */
static double proc_cpu(long pid, bool children)
{
	char path[64], buf[4096], *p;
	unsigned long ut = 0, st = 0;
	long cut = 0, cst = 0;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p || sscanf(p + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu "
			 "%ld %ld",
			 &ut, &st, &cut, &cst) != 4)
		return -1;
	return (double)(ut + st + (children ? (unsigned long)(cut + cst) : 0)) /
	       (double)sysconf(_SC_CLK_TCK);
}

long loadgen_proc_hwm_kb(long pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- levels -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const struct loadgen_samples *s, double q)
{
	size_t i;

	if (!s->n)
		return 0;
	i = (size_t)(q * (double)(s->n - 1) + 0.5);
	return s->v[i];
}

static void run_level(const struct loadgen_level *lv, unsigned k,
		      struct loadgen_result *res)
{
	struct loadgen_client *cl = calloc(k, sizeof(*cl));
	struct loadgen_samples full = { 0 }, part = { 0 };
	double c0, c1, s0, s1, t0, t1;
	pthread_attr_t attr;

	if (!cl)
		loadgen_die("out of memory");
	memset(res, 0, sizeof(*res));
	res->clients = k;
	atomic_store(&phase, PHASE_WARMUP);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (unsigned i = 0; i < k; i++) {
		cl[i].level = lv;
		cl[i].index = i;
		if (pthread_create(&cl[i].th, &attr, client_run, &cl[i]))
			loadgen_die("cannot start client thread %u of %u", i,
				    k);
	}
	pthread_attr_destroy(&attr);
	usleep((useconds_t)(lv->warmup * 1e6));
	c0 = proc_cpu(lv->pid, lv->pid_children);
	s0 = self_cpu();
	t0 = loadgen_now();
	atomic_store(&phase, PHASE_MEASURE);
	usleep((useconds_t)(lv->secs * 1e6));
	atomic_store(&phase, PHASE_STOP);
	t1 = loadgen_now();
	c1 = proc_cpu(lv->pid, lv->pid_children);
	s1 = self_cpu();
	for (unsigned i = 0; i < k; i++) {
		pthread_join(cl[i].th, NULL);
		res->ok += cl[i].ok;
		res->errors += cl[i].errors;
		if (!res->first_error[0] && cl[i].first_error[0])
			memcpy(res->first_error, cl[i].first_error,
			       sizeof(res->first_error));
		for (size_t j = 0; j < cl[i].full.n; j++) {
			samples_add(&full, cl[i].full.v[j]);
			samples_add(&part, cl[i].part.v[j]);
		}
		free(cl[i].full.v);
		free(cl[i].part.v);
		free(cl[i].priv);
	}
	free(cl);
	qsort(full.v, full.n, sizeof(double), cmp_double);
	qsort(part.v, part.n, sizeof(double), cmp_double);
	res->rate = (double)res->ok / (t1 - t0);
	res->full_p50 = pct(&full, 0.50) * 1e3;
	res->full_p99 = pct(&full, 0.99) * 1e3;
	res->part_p50 = pct(&part, 0.50) * 1e3;
	res->part_p99 = pct(&part, 0.99) * 1e3;
	res->server_cores = c0 >= 0 && c1 >= 0 ? (c1 - c0) / (t1 - t0) : -1;
	res->client_cores = (s1 - s0) / (t1 - t0);
	free(full.v);
	free(part.v);
}

void loadgen_run(const struct loadgen_level *lv, const unsigned *levels,
		 unsigned n, const char *label, struct loadgen_result *res)
{
	for (unsigned i = 0; i < n; i++) {
		run_level(lv, levels[i], &res[i]);
		fprintf(stderr, "  %s %u clients done: %.0f/s\n", label,
			levels[i], res[i].rate);
	}
}

void loadgen_print(const struct loadgen_result *res, unsigned n,
		   const char *const head[2][LOADGEN_COLUMNS])
{
	for (int r = 0; r < 2; r++)
		printf("%s%8s %10s %10s %10s %10s %10s %8s %7s %7s\n",
		       r ? "" : "\n", head[r][0], head[r][1], head[r][2],
		       head[r][3], head[r][4], head[r][5], head[r][6],
		       head[r][7], head[r][8]);
	for (unsigned i = 0; i < n; i++)
		printf("%8u %10.0f %10.2f %10.2f %10.2f %10.2f %8lu %7.2f "
		       "%7.2f\n",
		       res[i].clients, res[i].rate, res[i].full_p50,
		       res[i].full_p99, res[i].part_p50, res[i].part_p99,
		       res[i].errors, res[i].server_cores, res[i].client_cores);
	for (unsigned i = 0; i < n; i++)
		if (res[i].first_error[0])
			printf("  first error at %u clients: %s\n",
			       res[i].clients, res[i].first_error);
}

void loadgen_best(const struct loadgen_result *res, unsigned n,
		  double *ret_rate, unsigned *ret_clients, double *ret_p99_64)
{
	double best = 0, p99_64 = -1;
	unsigned best_k = 0;

	for (unsigned i = 0; i < n; i++) {
		if (res[i].rate > best) {
			best = res[i].rate;
			best_k = res[i].clients;
		}
		if (res[i].clients == 64)
			p99_64 = res[i].full_p99;
	}
	*ret_rate = best;
	*ret_clients = best_k;
	*ret_p99_64 = p99_64;
}

/* ---- options ------------------------------------------------------------- */

static double arg_double(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 3600)
		loadgen_die("bad %s '%s'", what, s);
	return v;
}

static unsigned long arg_ulong(const char *s, const char *what,
			       unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max)
		loadgen_die("bad %s '%s'", what, s);
	return v;
}

static void parse_levels(struct loadgen_opts *o, const char *v)
{
	char buf[128], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", v);
	o->n_levels = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o->n_levels == LOADGEN_MAX_LEVELS)
			loadgen_die("at most %d levels", LOADGEN_MAX_LEVELS);
		o->levels[o->n_levels++] =
			(unsigned)arg_ulong(tok, "level", 4096);
	}
	if (!o->n_levels)
		loadgen_die("no levels");
}

bool loadgen_opt(struct loadgen_opts *o, const char *name, const char *value)
{
	if (!strcmp(name, "--url"))
		o->url = value;
	else if (!strcmp(name, "--admin"))
		o->admin = value;
	else if (!strcmp(name, "--pid"))
		o->pid = (long)arg_ulong(value, "pid", LONG_MAX);
	else if (!strcmp(name, "--hosts"))
		o->hosts = (unsigned)arg_ulong(value, "host count", 100000);
	else if (!strcmp(name, "--seconds"))
		o->secs = arg_double(value, "duration");
	else if (!strcmp(name, "--warmup"))
		o->warmup = arg_double(value, "warm-up");
	else if (!strcmp(name, "--levels"))
		parse_levels(o, value);
	else
		return false;
	return true;
}

unsigned loadgen_hosts(const struct loadgen_opts *o)
{
	unsigned max_k = 0;

	if (o->hosts)
		return o->hosts;
	for (unsigned i = 0; i < o->n_levels; i++)
		if (o->levels[i] > max_k)
			max_k = o->levels[i];
	return max_k;
}
