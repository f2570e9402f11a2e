/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP load generator bench_attest and bench_unwrap share: one
 * keep-alive HTTP/1.1 connection per client thread (a minimal client of
 * its own, so that its cost on the shared cores stays small), a warm-up and a measured
 * phase per level of concurrency, two latencies per request (the whole
 * request and a part of it the benchmark names), percentiles, the server's
 * CPU time and RSS from /proc, the result table, and the command-line
 * options both take. What a request is stays in each benchmark.
 */
#ifndef BENCH_LOADGEN_H
#define BENCH_LOADGEN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

#define LOADGEN_MAX_LEVELS 8
#define LOADGEN_RESP_MAX (256u * 1024u) /* answer bytes kept per request */
#define LOADGEN_ERROR_MAX 256		/* first error text kept per level */
#define LOADGEN_COLUMNS 9		/* columns of the result table */
#define LOADGEN_HTTP_TIMEOUT_S 30	/* per send or receive */

/* "PROGRAM: message" on stderr, exit 1. */
void loadgen_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* CLOCK_MONOTONIC in seconds. */
double loadgen_now(void);

/* ---- HTTP ---------------------------------------------------------------- */

struct loadgen_resp {
	char *buf; /* NUL-terminated, at most LOADGEN_RESP_MAX */
	size_t len;
	bool overflow;
};

struct loadgen_http {
	int fd; /* the kept connection, or -1 */
	bool fresh;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char host[256]; /* the Host header */
	struct loadgen_resp resp;
	char errbuf[256];
};

/* A JSON client for base ("http://HOST[:PORT]"; on unix_socket if not
 * NULL); fresh: a new connection per request. Dies when out of memory or
 * when base does not resolve. */
void loadgen_http_init(struct loadgen_http *h, const char *base,
		       const char *unix_socket, bool fresh);
void loadgen_http_free(struct loadgen_http *h);

/* POST body (len bytes) to path, or GET it when body is NULL. The status,
 * or -1 on a transport error (text in h->errbuf). A kept connection the
 * server closed is opened again once. Answers must carry Content-Length
 * (hgsd's do). */
long loadgen_http_req(struct loadgen_http *h, const char *path,
		      const char *body, size_t len);

/* ---- levels -------------------------------------------------------------- */

struct loadgen_client;

struct loadgen_samples {
	double *v; /* seconds */
	size_t n, cap;
};

/*
 * One request of a client, with the connection it keeps. t0 is when the
 * request began. On success 0, with the whole request's and the named
 * part's durations in seconds; on failure -1 after loadgen_client_error.
 */
typedef int loadgen_request_fn(struct loadgen_client *c,
			       struct loadgen_http *http, double t0,
			       double *ret_full, double *ret_part);

struct loadgen_level {
	const char *url;
	bool fresh; /* a new connection per request */
	loadgen_request_fn *request;
	void *ctx;	   /* the benchmark's, for request */
	long pid;	   /* the server, for its CPU time; 0: none */
	bool pid_children; /* count its reaped children's CPU time too */
	double warmup, secs;
};

struct loadgen_client {
	const struct loadgen_level *level;
	unsigned index; /* 0 .. clients - 1 */
	void *priv;	/* the request's own, free()d after the level */
	/* loadgen's */
	pthread_t th;
	struct loadgen_samples full, part;
	unsigned long ok, errors;
	char first_error[LOADGEN_ERROR_MAX];
};

/* Count an error of the measured phase; keep the first text. */
void loadgen_client_error(struct loadgen_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct loadgen_result {
	unsigned clients;
	double rate;		   /* requests/s */
	double full_p50, full_p99; /* ms */
	double part_p50, part_p99; /* ms */
	double server_cores;	   /* -1 when not measured */
	double client_cores;
	unsigned long ok, errors;
	char first_error[LOADGEN_ERROR_MAX];
};

/* Run each of the n levels (clients) in turn, "  LABEL K clients done:
 * R/s" on stderr after each. */
void loadgen_run(const struct loadgen_level *lv, const unsigned *levels,
		 unsigned n, const char *label, struct loadgen_result *res);

/* The table of n results under two header rows, then the first error of
 * each level that had one. */
void loadgen_print(const struct loadgen_result *res, unsigned n,
		   const char *const head[2][LOADGEN_COLUMNS]);

/* The highest rate, the level it was reached at, and the full p99 at 64
 * clients (-1: no such level). */
void loadgen_best(const struct loadgen_result *res, unsigned n,
		  double *ret_rate, unsigned *ret_clients, double *ret_p99_64);

/* VmHWM of pid in kB, -1 if unknown. */
long loadgen_proc_hwm_kb(long pid);

/* ---- options ------------------------------------------------------------- */

struct loadgen_opts {
	const char *url, *admin;
	long pid;
	unsigned hosts; /* 0: as many as the largest level */
	double secs, warmup;
	unsigned levels[LOADGEN_MAX_LEVELS], n_levels;
};

#define LOADGEN_OPTS_DEFAULT                                           \
	{                                                              \
		.secs = 10, .warmup = 1, .levels = { 1, 16, 64, 256 }, \
		.n_levels = 4                                          \
	}

/* Take --url, --admin, --pid, --hosts, --seconds, --warmup or --levels
 * with its value; false for any other name. Dies on a bad value. */
bool loadgen_opt(struct loadgen_opts *o, const char *name, const char *value);

/* The number of hosts: --hosts, or the largest level. */
unsigned loadgen_hosts(const struct loadgen_opts *o);

#endif
