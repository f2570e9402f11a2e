/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's attestation hot path: store_nonce_consume and store_audit_add
 * per second, with 1 and 4 threads on one store, p50/p99 latency, beside
 * the SQLite floor measured in the same run: one connection inserting the
 * same rows with a cached prepared statement and the same pragmas (WAL,
 * synchronous=NORMAL), no store around it.
 *
 * The database lives in a temporary directory under $TMPDIR (default /tmp);
 * the figures depend on that file system (a tmpfs hides fsync costs).
 *
 * Usage: bench_store [SECONDS per measurement, default 1]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "hgsd/store.h"

#define BENCH_MAX_THREADS 4
#define BENCH_MAX_SAMPLES (4u << 20) /* latencies kept per thread */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static atomic_uint nonce_seq;

static void rm_db(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		char p[4300];

		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
}

enum op { OP_NONCE, OP_AUDIT };

struct run {
	struct store *s;
	enum op op;
	double secs;
	double *lat;  /* samples, seconds */
	size_t n;
	int failed;
};

static int one_op(struct store *s, enum op op, struct err *e)
{
	int64_t t = time(NULL);

	if (op == OP_NONCE) {
		uint8_t n[32] = { 0 };
		unsigned k = atomic_fetch_add(&nonce_seq, 1);

		memcpy(n, &k, sizeof(k));
		n[31] = 0xb5;
		return store_nonce_consume(s, n, t + 300, t, e);
	}
	struct store_audit a = { .time = t };

	snprintf(a.host, sizeof(a.host), "host-%04u",
		 atomic_fetch_add(&nonce_seq, 1) % 1000);
	snprintf(a.action, sizeof(a.action), "attest");
	snprintf(a.result, sizeof(a.result), "pass");
	a.details = "{\"policy\":\"default\",\"failed\":[]}";
	return store_audit_add(s, &a, e);
}

static void *worker(void *arg)
{
	struct run *r = arg;
	double t0 = now(), t = t0;

	while (t - t0 < r->secs && r->n < BENCH_MAX_SAMPLES) {
		struct err e = { 0 };
		double a = now();

		if (one_op(r->s, r->op, &e) < 0) {
			fprintf(stderr, "bench_store: %s\n", err_str(&e));
			r->failed = 1;
			break;
		}
		t = now();
		r->lat[r->n++] = t - a;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int measure(struct store *s, enum op op, unsigned threads, double secs)
{
	struct run runs[BENCH_MAX_THREADS] = { 0 };
	pthread_t t[BENCH_MAX_THREADS];
	double t0, c0, elapsed, cpu, *all;
	size_t total = 0, k = 0;
	int failed = 0;

	for (unsigned i = 0; i < threads; i++) {
		runs[i] = (struct run){ .s = s, .op = op, .secs = secs };
		runs[i].lat = malloc(BENCH_MAX_SAMPLES * sizeof(double));
		if (!runs[i].lat)
			return -1;
	}
	t0 = now();
	c0 = cpu_now();
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, &runs[i]);
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		total += runs[i].n;
		failed |= runs[i].failed;
	}
	elapsed = now() - t0;
	cpu = cpu_now() - c0; /* includes the checkpointer thread */
	all = malloc((total ? total : 1) * sizeof(double));
	if (!all)
		return -1;
	for (unsigned i = 0; i < threads; i++) {
		memcpy(all + k, runs[i].lat, runs[i].n * sizeof(double));
		k += runs[i].n;
		free(runs[i].lat);
	}
	qsort(all, total, sizeof(double), cmp_double);
	printf("%-20s %u thr %7.0f ops/s  cpu %5.1f us/op  p50 %6.1f us  "
	       "p99 %7.1f us  max %8.1f us\n",
	       op == OP_NONCE ? "store_nonce_consume" : "store_audit_add",
	       threads, (double)total / elapsed,
	       total ? cpu * 1e6 / (double)total : 0,
	       total ? all[total / 2] * 1e6 : 0,
	       total ? all[total * 99 / 100] * 1e6 : 0,
	       total ? all[total - 1] * 1e6 : 0);
	free(all);
	return failed ? -1 : 0;
}

/* The floor: raw SQLite, one connection, the same table and pragmas. */
static int floor_rate(const char *dir, double secs)
{
	char path[4200];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	double t0, t;
	unsigned n = 0;

	snprintf(path, sizeof(path), "%s/floor.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db,
			 "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			 "CREATE TABLE nonce (sha256 BLOB PRIMARY KEY, "
			 "expires INTEGER NOT NULL) WITHOUT ROWID;"
			 "CREATE INDEX nonce_expires ON nonce(expires);",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO nonce VALUES (?1, ?2)", -1, &st,
			       NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_store: floor: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	double c0 = cpu_now();

	t0 = t = now();
	while (t - t0 < secs) {
		for (unsigned i = 0; i < 64; i++, n++) {
			uint8_t h[32] = { 0 };

			memcpy(h, &n, sizeof(n));
			sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, (int64_t)time(NULL) + 300);
			if (sqlite3_step(st) != SQLITE_DONE) {
				fprintf(stderr, "bench_store: floor: %s\n",
					sqlite3_errmsg(db));
				return -1;
			}
			sqlite3_reset(st);
		}
		t = now();
	}
	printf("%-20s 1 thr %7.0f ops/s  cpu %5.1f us/op  (raw SQLite INSERT "
	       "of a nonce row, same schema and pragmas)\n",
	       "floor", n / (t - t0), (cpu_now() - c0) * 1e6 / n);
	sqlite3_finalize(st);
	sqlite3_close(db);
	rm_db(path);
	return 0;
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], path[4200];
	struct store *s = NULL;
	struct err e = { 0 };
	double secs = 1;
	int rc = 0;

	if (argc > 1) {
		char *end;

		secs = strtod(argv[1], &end);
		if (*end || secs <= 0 || secs > 600) {
			fprintf(stderr, "usage: bench_store [SECONDS]\n");
			return 2;
		}
	}
	snprintf(dir, sizeof(dir), "%s/bench-store-XXXXXX",
		 tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("bench_store: mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/hgsd.db", dir);
	printf("bench_store: SQLite %s, database in %s, %.1f s per figure\n"
	       "(ops/s and latency suffer from anything else running; cpu "
	       "us/op is the store's own cost)\n",
	       sqlite3_libversion(), dir, secs);

	if (floor_rate(dir, secs) < 0)
		rc = 1;
	if (store_open(path, &s, &e) < 0) {
		fprintf(stderr, "bench_store: %s\n", err_str(&e));
		rc = 1;
	} else {
		if (measure(s, OP_NONCE, 1, secs) < 0 ||
		    measure(s, OP_AUDIT, 1, secs) < 0 ||
		    measure(s, OP_NONCE, 4, secs) < 0 ||
		    measure(s, OP_AUDIT, 4, secs) < 0)
			rc = 1;
		store_close(s);
	}
	rm_db(path);
	rmdir(dir);
	return rc;
}
