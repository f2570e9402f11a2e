/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite store (docs/store.md).
 *
 * Threading: a small pool of connections guarded by a mutex. A call leases
 * one connection for its duration (opening a new one lazily, up to
 * STORE_SQLITE_POOL_MAX, waiting when all are leased), so no connection is
 * ever used by two threads at once and SQLite runs in multi-thread mode
 * (SQLITE_OPEN_NOMUTEX). Each connection caches its prepared statements.
 * A pool rather than one connection per thread: store_close can close every
 * connection deterministically, the number of open files is bounded
 * whatever the size of the caller's thread pool, and a thread that leaves
 * takes nothing with it.
 *
 * Writes: SQLite allows one writer per database file at a time. Writers in
 * this process take s->write_lock (after leasing a connection, never
 * before, so the lock holder can always run), so they queue on a mutex
 * instead of polling SQLite's lock. Writers in other processes (a second
 * hgsd node on the same file) are arbitrated by SQLite's file locks; the
 * busy handler below waits for them with short sleeps, up to
 * STORE_SQLITE_BUSY_TIMEOUT_MS, after which the call fails with -EBUSY.
 * Multi-statement writes run in BEGIN IMMEDIATE transactions, so they take
 * the write lock up front and the busy handler applies to them too.
 *
 * Checkpoints: SQLite's automatic checkpoint runs inside the commit that
 * crosses the threshold and fsyncs the WAL and the database there, a stall
 * of many milliseconds for one unlucky request while it holds the write
 * lock. Here every connection's WAL hook only wakes a checkpointer thread
 * (one per store, with its own connection), which runs PASSIVE checkpoints:
 * they never block writers or readers, so the fsyncs leave the hot path.
 *
 * Errors: every SQLite result is mapped to an errno in one place
 * (sqlite_errno) and reported once with sqlite3_errmsg's text.
 */
#include "hgsd/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "common/limits.h"
#include "common/util.h"
#include "hgsd/store_sqlite_schema.h"

/* ---- limits of this backend ---- */

#define STORE_SQLITE_POOL_MAX 16          /* connections per store */
#define STORE_SQLITE_BUSY_TIMEOUT_MS 5000 /* wait for another process */
#define STORE_SQLITE_BUSY_SLEEP_MIN_US 50 /* first sleep in the busy handler */
#define STORE_SQLITE_BUSY_SLEEP_MAX_US 2000 /* longest single sleep */
#define STORE_SQLITE_MIN_VERSION 3035000  /* DELETE ... RETURNING: 3.35 */
#define STORE_SQLITE_CHECKPOINT_PAGES 4000 /* WAL pages that wake the checkpointer */
#define STORE_SQLITE_CHECKPOINT_IDLE_S 5  /* checkpoint at least this often */
#define STORE_SQLITE_WAL_SIZE_LIMIT 67108864 /* bytes of WAL kept after a reset (64 MiB) */
/* How long store_open retries switching a new file to WAL. */
#define STORE_SQLITE_OPEN_RETRY_MS 5000u

/* Expired nonce records are purged every STORE_NONCE_PURGE_EVERY calls or
 * STORE_NONCE_PURGE_INTERVAL seconds, whichever comes first, at most
 * STORE_NONCE_PURGE_BATCH rows at a time (twice the call interval, so the
 * purge outpaces the inserts while no single call stalls on a big DELETE). */
#define STORE_NONCE_PURGE_EVERY 1000u
#define STORE_NONCE_PURGE_INTERVAL 60
#define STORE_NONCE_PURGE_BATCH 2000

/* Sizes of what callers store (bounds, not parsers: a bug upstream must
 * not fill the disk). Text limits count bytes without the NUL. */
#define STORE_NAME_MAX 127u               /* host, baseline names */
#define STORE_ID_MAX 64u                  /* enrollment ids, rule ids, settings keys */
#define STORE_KID_MAX 63u                 /* signing key ids */
#define STORE_PEM_MAX (16u * 1024)        /* one PEM key */
#define STORE_SETTING_MAX (64u * 1024)    /* one setting value */
#define STORE_AUDIT_DETAILS_MAX (1024u * 1024)
#define STORE_TPM_NAME_MAX 66u            /* nameAlg || digest (SHA-512) */

/* ---- prepared statements, cached per connection ---- */

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_VERSION_HAS_TABLE,
	ST_VERSION_FOREIGN,
	ST_VERSION_GET,
	ST_VERSION_ADD,
	ST_HOST_ADD,
	ST_HOST_GET,
	ST_HOST_GET_ID,
	ST_HOST_GET_EK,
	ST_HOST_LIST,
	ST_HOST_SET_ENABLED,
	ST_HOST_REMOVE,
	ST_AK_ADD,
	ST_AK_GET,
	ST_ENROLL_PURGE,
	ST_ENROLL_PUT,
	ST_ENROLL_TAKE,
	ST_NONCE_ADD,
	ST_NONCE_PURGE,
	ST_BASELINE_PUT,
	ST_BASELINE_GET,
	ST_BASELINE_LIST,
	ST_BASELINE_REMOVE,
	ST_RULE_SET,
	ST_RULE_LIST,
	ST_SETTING_GET,
	ST_SETTING_PUT,
	ST_SETTING_GET_OR_CREATE,
	ST_GUARDIAN_ADD,
	ST_GUARDIAN_LIST,
	ST_GUARDIAN_LIST_PUBLIC,
	ST_GUARDIAN_GET,
	ST_GUARDIAN_UNSET_PRIMARY,
	ST_GUARDIAN_SET_PRIMARY,
	ST_GUARDIAN_SET_ENABLED,
	ST_GUARDIAN_REMOVE,
	ST_GUARDIAN_SET_PRIVATE,
	ST_VM_GET,
	ST_VM_PUT,
	ST_KEY_ADD,
	ST_KEY_LIST,
	ST_KEY_UNSET_PRIMARY,
	ST_KEY_SET_PRIMARY,
	ST_KEY_SET_ENABLED,
	ST_KEY_SET_PRIVATE,
	ST_AUDIT_ADD,
	ST_AUDIT_LAST,
	ST_AUDIT_CHAIN_WALK,
	ST_AUDIT_LIST,
	ST_AUDIT_LIST_HOST,
	ST__MAX
};

#define STORE_SQLITE_STR_(x) #x
#define STORE_SQLITE_STR(x) STORE_SQLITE_STR_(x)

#define HOST_COLUMNS                                                           \
	"SELECT id, name, modes, enabled, created, ek_name, ek_pub, ek_cert, " \
	"host_key_pem FROM host "
#define GUARDIAN_COLUMNS                                                       \
	"SELECT id, name, algorithm, private_json, is_primary, enabled, "     \
	"created FROM guardian_key "
#define AUDIT_COLUMNS                                                          \
	"SELECT id, time, host, action, result, details FROM audit "

static const char *const stmt_sql[ST__MAX] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_VERSION_HAS_TABLE] =
		"SELECT count(*) FROM sqlite_master "
		"WHERE type = 'table' AND name = 'schema_version'",
	[ST_VERSION_FOREIGN] =
		"SELECT count(*) FROM sqlite_master "
		"WHERE name NOT LIKE 'sqlite!_%' ESCAPE '!'",
	[ST_VERSION_GET] = "SELECT coalesce(max(version), 0) FROM schema_version",
	[ST_VERSION_ADD] = "INSERT INTO schema_version(version, applied, "
			   "description) VALUES (?1, ?2, ?3)",
	[ST_HOST_ADD] = "INSERT INTO host(name, modes, enabled, created, "
			"ek_name, ek_pub, ek_cert, host_key_pem) "
			"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
	[ST_HOST_GET] = HOST_COLUMNS "WHERE name = ?1",
	[ST_HOST_GET_ID] = HOST_COLUMNS "WHERE id = ?1",
	[ST_HOST_GET_EK] = HOST_COLUMNS "WHERE ek_name = ?1",
	[ST_HOST_LIST] = HOST_COLUMNS "ORDER BY name",
	[ST_HOST_SET_ENABLED] = "UPDATE host SET enabled = ?2 WHERE name = ?1",
	[ST_HOST_REMOVE] = "DELETE FROM host WHERE name = ?1",
	[ST_AK_ADD] = "INSERT INTO ak(name, host_id, pub, created) "
		      "VALUES (?1, ?2, ?3, ?4)",
	[ST_AK_GET] = "SELECT host_id, pub FROM ak WHERE name = ?1",
	[ST_ENROLL_PURGE] = "DELETE FROM enrollment WHERE expires < ?1",
	[ST_ENROLL_PUT] = "INSERT INTO enrollment(id, host_id, ak_pub, "
			  "secret_sha256, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_ENROLL_TAKE] = "DELETE FROM enrollment WHERE id = ?1 "
			   "RETURNING host_id, ak_pub, secret_sha256, expires",
	[ST_NONCE_ADD] = "INSERT INTO nonce(sha256, expires) VALUES (?1, ?2)",
	[ST_NONCE_PURGE] = "DELETE FROM nonce WHERE sha256 IN (SELECT sha256 "
			   "FROM nonce WHERE expires < ?1 LIMIT ?2)",
	[ST_BASELINE_PUT] = "INSERT INTO baseline(name, json, created) "
			    "VALUES (?1, ?2, ?3)",
	[ST_BASELINE_GET] = "SELECT json FROM baseline WHERE name = ?1",
	[ST_BASELINE_LIST] = "SELECT name FROM baseline ORDER BY name",
	[ST_BASELINE_REMOVE] = "DELETE FROM baseline WHERE name = ?1",
	[ST_RULE_SET] = "INSERT INTO rule(id, enabled) VALUES (?1, ?2) "
			"ON CONFLICT(id) DO UPDATE SET enabled = excluded.enabled",
	[ST_RULE_LIST] = "SELECT id, enabled FROM rule ORDER BY id",
	[ST_SETTING_GET] = "SELECT value FROM setting WHERE key = ?1",
	[ST_SETTING_PUT] = "INSERT INTO setting(key, value) VALUES (?1, ?2) "
			   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	/* the no-op update makes RETURNING yield the row that was there */
	[ST_SETTING_GET_OR_CREATE] =
		"INSERT INTO setting(key, value) VALUES (?1, ?2) "
		"ON CONFLICT(key) DO UPDATE SET value = value RETURNING value",
	[ST_GUARDIAN_ADD] = "INSERT INTO guardian_key(id, name, algorithm, "
			    "private_json, is_primary, enabled, created) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_GUARDIAN_LIST] = GUARDIAN_COLUMNS "ORDER BY created, id",
	[ST_GUARDIAN_LIST_PUBLIC] =
		"SELECT id, name, algorithm, NULL, is_primary, enabled, created "
		"FROM guardian_key ORDER BY created, id",
	[ST_GUARDIAN_GET] = GUARDIAN_COLUMNS "WHERE id = ?1",
	[ST_GUARDIAN_UNSET_PRIMARY] = "UPDATE guardian_key SET is_primary = 0 "
				      "WHERE is_primary AND id <> ?1",
	[ST_GUARDIAN_SET_PRIMARY] = "UPDATE guardian_key SET is_primary = 1 "
				    "WHERE id = ?1",
	[ST_GUARDIAN_SET_ENABLED] = "UPDATE guardian_key SET enabled = ?2 "
				    "WHERE id = ?1",
	[ST_GUARDIAN_REMOVE] = "DELETE FROM guardian_key WHERE id = ?1 "
			       "AND NOT enabled AND NOT is_primary",
	[ST_GUARDIAN_SET_PRIVATE] = "UPDATE guardian_key SET private_json = ?3 "
				    "WHERE id = ?1 AND private_json = ?2",
	[ST_VM_GET] = "SELECT generation, digest, updated FROM vm_rollback "
		      "WHERE owner = ?1 AND vm_id = ?2",
	[ST_VM_PUT] = "INSERT INTO vm_rollback(owner, vm_id, generation, "
		      "digest, updated) VALUES (?1, ?2, ?3, ?4, ?5) "
		      "ON CONFLICT(owner, vm_id) DO UPDATE SET "
		      "generation = excluded.generation, "
		      "digest = excluded.digest, updated = excluded.updated",
	[ST_KEY_ADD] = "INSERT INTO signing_key(kid, private_pem, is_primary, "
		       "enabled, created) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_KEY_LIST] = "SELECT kid, private_pem, is_primary, enabled, created "
			"FROM signing_key ORDER BY created, kid",
	[ST_KEY_UNSET_PRIMARY] = "UPDATE signing_key SET is_primary = 0 "
				 "WHERE is_primary AND kid <> ?1",
	[ST_KEY_SET_PRIMARY] = "UPDATE signing_key SET is_primary = 1 "
			       "WHERE kid = ?1",
	[ST_KEY_SET_ENABLED] = "UPDATE signing_key SET enabled = ?2 "
			       "WHERE kid = ?1",
	[ST_KEY_SET_PRIVATE] = "UPDATE signing_key SET private_pem = ?3 "
			       "WHERE kid = ?1 AND private_pem = ?2",
	[ST_AUDIT_ADD] = "INSERT INTO audit(id, time, host, action, result, "
			 "details, chain) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_AUDIT_LAST] = "SELECT id, chain FROM audit ORDER BY id DESC LIMIT 1",
	[ST_AUDIT_CHAIN_WALK] = "SELECT id, time, host, action, result, details, "
				"chain FROM audit ORDER BY id",
	[ST_AUDIT_LIST] = AUDIT_COLUMNS "WHERE time >= ?1 "
					"ORDER BY time DESC, id DESC LIMIT ?2",
	[ST_AUDIT_LIST_HOST] = AUDIT_COLUMNS
		"WHERE host = ?3 AND time >= ?1 "
		"ORDER BY time DESC, id DESC LIMIT ?2",
};

/* ---- connections and the pool ---- */

struct conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST__MAX];
	struct timespec busy_since; /* first busy-handler call of this wait */
	struct conn *next_free;
};

struct gc_op;

struct store {
	char *path;
	/* checkpointer thread (see the top of this file) */
	pthread_t ckpt_thread;
	bool ckpt_started;
	pthread_mutex_t ckpt_lock;
	pthread_cond_t ckpt_cond;
	bool ckpt_wanted;          /* under ckpt_lock */
	bool ckpt_stop;            /* under ckpt_lock */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct conn *free_list;    /* under pool_lock */
	size_t n_conns;            /* open or being opened, under pool_lock */
	pthread_mutex_t write_lock;
	/* group commit of the hot-path writes (see "group commit" below) */
	pthread_mutex_t gc_lock;
	pthread_cond_t gc_cond;
	struct gc_op *gc_head, *gc_tail; /* queued, under gc_lock */
	bool gc_leader;            /* a batch is running, under gc_lock */
	unsigned nonce_calls;      /* under write_lock */
	int64_t nonce_last_purge;  /* under write_lock */
};

/* A connection leased for one call; released by lease_release (cleanup). */
struct lease {
	struct store *s;
	struct conn *c;
	sqlite3_stmt *st; /* statement in use: reset when done */
	bool writing;     /* holds s->write_lock */
};

/* The one place where SQLite's result codes become errno values. */
static int sqlite_errno(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY: /* the row referred to is missing */
		return ENOENT;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		return EINVAL;
	default:
		break;
	}
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EBUSY;
	case SQLITE_NOMEM:
		return ENOMEM;
	case SQLITE_FULL:
		return ENOSPC;
	default:
		return EIO;
	}
}

/* Report the connection's last error: "store: WHAT: SQLite's message". */
_printf_(3, 4) static int db_fail(sqlite3 *db, struct err *e, const char *fmt,
				  ...)
{
	char what[ERR_MSG_MAX];
	int rc = sqlite3_extended_errcode(db);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return err_set(e, sqlite_errno(rc), "store: %s: %s", what,
		       sqlite3_errmsg(db));
}

/* Busy handler: another process holds the write lock (or is checkpointing).
 * SQLite's own sqlite3_busy_timeout sleeps 1, 2, 5, ... 100 ms, far longer
 * than a commit takes here; poll with short, growing sleeps instead. */
static int busy_wait(void *arg, int count)
{
	struct conn *c = arg;
	struct timespec now;
	int64_t waited_us;
	long sleep_us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (count == 0)
		c->busy_since = now;
	waited_us = (int64_t)(now.tv_sec - c->busy_since.tv_sec) * 1000000 +
		    (now.tv_nsec - c->busy_since.tv_nsec) / 1000;
	if (waited_us >= (int64_t)STORE_SQLITE_BUSY_TIMEOUT_MS * 1000)
		return 0; /* give up: the call fails with SQLITE_BUSY */
	sleep_us = STORE_SQLITE_BUSY_SLEEP_MIN_US << (count < 6 ? count : 6);
	if (sleep_us > STORE_SQLITE_BUSY_SLEEP_MAX_US)
		sleep_us = STORE_SQLITE_BUSY_SLEEP_MAX_US;
	nanosleep(&(struct timespec){ .tv_nsec = sleep_us * 1000 }, NULL);
	return 1;
}

/* After every commit of this process's connections: wake the
 * checkpointer once the WAL holds enough pages. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store *s = arg;

	if (pages >= STORE_SQLITE_CHECKPOINT_PAGES) {
		pthread_mutex_lock(&s->ckpt_lock);
		if (!s->ckpt_wanted) {
			s->ckpt_wanted = true;
			pthread_cond_signal(&s->ckpt_cond);
		}
		pthread_mutex_unlock(&s->ckpt_lock);
	}
	return SQLITE_OK;
}

static void conn_close(struct conn *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < ST__MAX; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close_v2(c->db);
	free(c);
}
DEFINE_CLEANUP_FUNC(struct conn, conn_close)

static int conn_open(struct store *s, struct conn **ret, struct err *e)
{
	const char *path = s->path;
	_cleanup_(conn_closep) struct conn *c = calloc(1, sizeof(*c));
	sqlite3_stmt *st = NULL;
	const char *mode;
	int rc;

	if (!c)
		return err_set(e, ENOMEM, "store: out of memory");
	/* No SQLITE_OPEN_CREATE: store_open created the file with mode 0600
	 * (SQLite would create it with 0644 minus the umask). */
	rc = sqlite3_open_v2(path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_PRIVATECACHE,
			     NULL);
	if (rc != SQLITE_OK) {
		if (!c->db)
			return err_set(e, ENOMEM, "store: %s: %s", path,
				       sqlite3_errstr(rc));
		return db_fail(c->db, e, "opening %s", path);
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_handler(c->db, busy_wait, c);
	/* no SQL may corrupt the file (writable_schema and the like) */
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

	/*
	 * synchronous=NORMAL: in WAL mode a commit appends to the WAL without
	 * an fsync; the WAL is synced at checkpoints. The database stays
	 * consistent after any crash, and committed transactions survive an
	 * application crash; only a power loss or OS crash can undo the last
	 * commits before the latest checkpoint. FULL would fsync every commit,
	 * which on these disks caps the hot path (nonce_consume, audit_add) at
	 * a few hundred commits per second, far below the 5,000 attestations/s
	 * goal. What a power loss can lose: recently used nonce records (a
	 * quote could be replayed within its nonce's lifetime, yielding a token
	 * the host was already given), and the latest audit records.
	 */
	rc = sqlite3_exec(c->db,
			  "PRAGMA foreign_keys = ON;"
			  "PRAGMA synchronous = NORMAL;"
			  /* the store holds secrets: what is deleted or
			   * replaced is overwritten, not left in free space */
			  "PRAGMA secure_delete = ON;"
			  "PRAGMA journal_size_limit = "
			  STORE_SQLITE_STR(STORE_SQLITE_WAL_SIZE_LIMIT) ";",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(c->db, e, "configuring %s", path);
	/* replaces SQLite's automatic checkpoint (see the top of this file) */
	sqlite3_wal_hook(c->db, wal_hook, s);

	/* WAL: readers never block the writer nor the writer readers; the
	 * mode is persistent in the file, setting it again is a no-op. */
	rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st,
				NULL);
	/* Switching a new file to WAL needs an exclusive lock, and SQLite
	 * answers SQLITE_BUSY at once (no busy handler: it could deadlock)
	 * while another node does the same: retry for the busy timeout. */
	for (unsigned waited_ms = 0; rc == SQLITE_OK;) {
		rc = sqlite3_step(st);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		if (waited_ms >= STORE_SQLITE_OPEN_RETRY_MS)
			break;
		sqlite3_reset(st);
		rc = SQLITE_OK;
		usleep(2000);
		waited_ms += 2;
	}
	if (rc != SQLITE_ROW) {
		int r = db_fail(c->db, e, "setting WAL mode on %s", path);

		sqlite3_finalize(st);
		return r;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || strcmp(mode, "wal") != 0) {
		int r = err_set(e, EIO,
				"store: %s: journal mode is '%s', not 'wal' "
				"(is the file on a file system without "
				"shared memory?)",
				path, mode ? mode : "?");

		sqlite3_finalize(st);
		return r;
	}
	sqlite3_finalize(st);
	*ret = TAKE_PTR(c);
	return 0;
}

static void lease_release(struct lease *l)
{
	struct store *s = l->s;
	struct conn *c = l->c;

	if (!c)
		return;
	if (l->st) {
		sqlite3_reset(l->st);
		sqlite3_clear_bindings(l->st);
		l->st = NULL;
	}
	/* a call that failed inside a transaction leaves it open */
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	if (l->writing)
		pthread_mutex_unlock(&s->write_lock);
	pthread_mutex_lock(&s->pool_lock);
	c->next_free = s->free_list;
	s->free_list = c;
	pthread_cond_signal(&s->pool_cond);
	pthread_mutex_unlock(&s->pool_lock);
	l->c = NULL;
}
#define _cleanup_lease_ _cleanup_(lease_release)

static int lease_get(struct store *s, bool write, struct lease *l,
		     struct err *e)
{
	struct conn *c = NULL;
	bool open_new = false;

	if (!s)
		return err_set(e, EINVAL, "store: not open");
	pthread_mutex_lock(&s->pool_lock);
	for (;;) {
		if (s->free_list) {
			c = s->free_list;
			s->free_list = c->next_free;
			break;
		}
		if (s->n_conns < STORE_SQLITE_POOL_MAX) {
			s->n_conns++;
			open_new = true;
			break;
		}
		pthread_cond_wait(&s->pool_cond, &s->pool_lock);
	}
	pthread_mutex_unlock(&s->pool_lock);

	if (open_new) {
		int r = conn_open(s, &c, e);

		if (r < 0) {
			pthread_mutex_lock(&s->pool_lock);
			s->n_conns--;
			pthread_cond_signal(&s->pool_cond);
			pthread_mutex_unlock(&s->pool_lock);
			return r;
		}
	}
	*l = (struct lease){ .s = s, .c = c };
	if (write) {
		pthread_mutex_lock(&s->write_lock);
		l->writing = true;
	}
	return 0;
}

/* The connection's cached statement id, ready to bind (the previous one of
 * this lease is reset). */
static int lease_stmt(struct lease *l, enum stmt_id id, sqlite3_stmt **ret,
		      struct err *e)
{
	struct conn *c = l->c;

	if (l->st) {
		sqlite3_reset(l->st);
		sqlite3_clear_bindings(l->st);
		l->st = NULL;
	}
	if (!c->stmt[id]) {
		int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1,
					    SQLITE_PREPARE_PERSISTENT,
					    &c->stmt[id], NULL);

		if (rc != SQLITE_OK)
			return db_fail(c->db, e, "preparing statement %d", id);
	}
	l->st = c->stmt[id];
	*ret = l->st;
	return 0;
}

/* Run a statement without parameters or rows (BEGIN, COMMIT, ...). */
static int lease_exec(struct lease *l, enum stmt_id id, struct err *e)
{
	sqlite3_stmt *st;
	int r = lease_stmt(l, id, &st, e);

	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l->c->db, e, "%s", stmt_sql[id]);
	sqlite3_reset(st);
	l->st = NULL;
	return 0;
}

/* Step a statement that must finish without (more) rows. */
static int step_done(struct lease *l, sqlite3_stmt *st, struct err *e,
		     const char *what)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l->c->db, e, "%s", what);
	return 0;
}

/* ---- binding and reading values ---- */

/* len 0 binds SQL NULL (optional blobs). */
static int bind_blob_or_null(sqlite3_stmt *st, int i, const void *p, size_t len)
{
	if (!p || len == 0)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_blob64(st, i, p, len, SQLITE_STATIC);
}

/* len 0 binds an empty blob (values that must not be NULL). */
static int bind_blob(sqlite3_stmt *st, int i, const void *p, size_t len)
{
	if (len == 0)
		return sqlite3_bind_zeroblob(st, i, 0);
	return sqlite3_bind_blob64(st, i, p, len, SQLITE_STATIC);
}

static int bind_text_or_null(sqlite3_stmt *st, int i, const char *t)
{
	if (!t)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, t, -1, SQLITE_STATIC);
}

/* Copy a BLOB or TEXT column out; SQL NULL gives NULL, 0. The copy is
 * NUL-terminated (not counted in *ret_len). */
static int col_blob(sqlite3_stmt *st, int i, uint8_t **ret, size_t *ret_len,
		    struct err *e)
{
	const void *p;
	uint8_t *b;
	int n;

	if (sqlite3_column_type(st, i) == SQLITE_NULL) {
		*ret = NULL;
		*ret_len = 0;
		return 0;
	}
	p = sqlite3_column_blob(st, i);
	n = sqlite3_column_bytes(st, i);
	if (n < 0 || (!p && n > 0))
		return err_set(e, ENOMEM, "store: out of memory");
	b = malloc((size_t)n + 1);
	if (!b)
		return err_set(e, ENOMEM, "store: out of memory");
	if (n > 0)
		memcpy(b, p, (size_t)n);
	b[n] = '\0';
	*ret = b;
	*ret_len = (size_t)n;
	return 0;
}

static int col_text(sqlite3_stmt *st, int i, char **ret, struct err *e)
{
	size_t len;

	return col_blob(st, i, (uint8_t **)ret, &len, e);
}

/* Copy a TEXT column into a fixed buffer; a value that does not fit means
 * the row was not written by this store. */
static int col_text_fixed(sqlite3_stmt *st, int i, char *dst, size_t size,
			  struct err *e)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);

	if (!t)
		t = (const unsigned char *)"";
	if (n < 0 || (size_t)n >= size)
		return err_set(e, EIO,
			       "store: column %s holds %d bytes, at most %zu "
			       "expected",
			       sqlite3_column_name(st, i), n, size - 1);
	memcpy(dst, t, (size_t)n);
	dst[n] = '\0';
	return 0;
}

/* A string argument: present, not empty, at most max bytes. */
static int check_text(const char *t, size_t max, const char *what,
		      struct err *e)
{
	size_t n;

	if (!t || !t[0])
		return err_set(e, EINVAL, "store: %s is empty", what);
	n = strnlen(t, max + 1);
	if (n > max)
		return err_set(e, EINVAL, "store: %s is longer than %zu bytes",
			       what, max);
	return 0;
}

static int64_t now_or(int64_t t)
{
	return t ? t : (int64_t)time(NULL);
}

/* ---- open, schema and migrations ---- */

/* Create the database file 0600 if missing; refuse one that group or others
 * may access (it holds private keys), and the same for its WAL and
 * shared-memory files if they exist. */
static int db_file_check(const char *path, struct err *e)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return err_set(e, errno, "store: cannot open or create %s: %s",
			       path, strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		char p[PATH_MAX];
		int n = snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);

		if (n < 0 || (size_t)n >= sizeof(p))
			return err_set(e, ENAMETOOLONG,
				       "store: path too long: %s", path);
		if (i == 0 ? fstat(fd, &st) < 0 : stat(p, &st) < 0) {
			if (i > 0 && errno == ENOENT)
				continue;
			return err_set(e, errno, "store: %s: %s", p,
				       strerror(errno));
		}
		if (!S_ISREG(st.st_mode))
			return err_set(e, EINVAL,
				       "store: %s is not a regular file", p);
		if (st.st_mode & 077)
			return err_set(e, EPERM,
				       "store: %s has mode %04o: group or "
				       "others may access it, but it holds "
				       "private keys; chmod 600 it",
				       p, (unsigned)(st.st_mode & 07777));
	}
	return 0;
}

/* Current schema version, inside the caller's transaction. */
static int schema_version_read(struct lease *l, int *ret, struct err *e)
{
	sqlite3_stmt *st;
	int64_t v;
	int r;

	r = lease_stmt(l, ST_VERSION_HAS_TABLE, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_fail(l->c->db, e, "reading the schema version");
	if (sqlite3_column_int64(st, 0) == 0) {
		/* no schema_version: empty (new) or not ours */
		r = lease_stmt(l, ST_VERSION_FOREIGN, &st, e);
		if (r < 0)
			return r;
		if (sqlite3_step(st) != SQLITE_ROW)
			return db_fail(l->c->db, e, "reading the schema");
		if (sqlite3_column_int64(st, 0) != 0)
			return err_set(e, EINVAL,
				       "store: %s holds tables but no "
				       "schema_version: not a shieldvm store",
				       l->s->path);
		*ret = 0;
		return 0;
	}
	r = lease_stmt(l, ST_VERSION_GET, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_fail(l->c->db, e, "reading the schema version");
	v = sqlite3_column_int64(st, 0);
	if (v < 0 || v > INT_MAX)
		return err_set(e, EIO, "store: schema version %lld is invalid",
			       (long long)v);
	*ret = (int)v;
	return 0;
}

/* Apply every migration newer than the database, each in one transaction
 * with its schema_version row. BEGIN IMMEDIATE takes the write lock before
 * the version is read, so two nodes starting at once apply each migration
 * exactly once. */
static int migrate(struct lease *l, struct err *e)
{
	const int latest = store_migrations[ARRAY_SIZE(store_migrations) - 1].version;

	for (size_t i = 0; i < ARRAY_SIZE(store_migrations); i++) {
		const struct store_migration *m = &store_migrations[i];
		sqlite3_stmt *st;
		int v, r;

		r = lease_exec(l, ST_BEGIN, e);
		if (r < 0)
			return r;
		r = schema_version_read(l, &v, e);
		if (r < 0)
			return r; /* lease_release rolls back */
		if (v > latest)
			return err_set(e, EPROTONOSUPPORT,
				       "store: %s has schema version %d, this "
				       "shieldvm knows versions up to %d: it "
				       "was written by a newer shieldvm",
				       l->s->path, v, latest);
		if (v >= m->version) {
			r = lease_exec(l, ST_ROLLBACK, e);
			if (r < 0)
				return r;
			continue;
		}
		if (sqlite3_exec(l->c->db, m->sql, NULL, NULL, NULL) !=
		    SQLITE_OK)
			return db_fail(l->c->db, e,
				       "migration %d (%s) of %s", m->version,
				       m->description, l->s->path);
		r = lease_stmt(l, ST_VERSION_ADD, &st, e);
		if (r < 0)
			return r;
		if (sqlite3_bind_int(st, 1, m->version) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, (int64_t)time(NULL)) !=
			    SQLITE_OK ||
		    sqlite3_bind_text(st, 3, m->description, -1,
				      SQLITE_STATIC) != SQLITE_OK)
			return db_fail(l->c->db, e, "migration %d",
				       m->version);
		r = step_done(l, st, e, "recording the schema version");
		if (r < 0)
			return r;
		r = lease_exec(l, ST_COMMIT, e);
		if (r < 0)
			return r;
	}
	return 0;
}

static void *checkpointer(void *arg)
{
	struct store *s = arg;
	struct conn *c = NULL;

	if (conn_open(s, &c, NULL) < 0)
		return NULL; /* the commit hook's signals go unheard: SQLite
			      * checkpoints when the last connection closes */
	sqlite3_wal_hook(c->db, NULL, NULL);
	pthread_mutex_lock(&s->ckpt_lock);
	while (!s->ckpt_stop) {
		if (!s->ckpt_wanted) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += STORE_SQLITE_CHECKPOINT_IDLE_S;
			pthread_cond_timedwait(&s->ckpt_cond, &s->ckpt_lock,
					       &until);
			if (s->ckpt_stop)
				break;
		}
		s->ckpt_wanted = false;
		pthread_mutex_unlock(&s->ckpt_lock);
		/* PASSIVE: copies what it can without waiting for anyone;
		 * SQLITE_BUSY (another process checkpointing) is fine */
		sqlite3_wal_checkpoint_v2(c->db, NULL,
					  SQLITE_CHECKPOINT_PASSIVE, NULL,
					  NULL);
		pthread_mutex_lock(&s->ckpt_lock);
	}
	pthread_mutex_unlock(&s->ckpt_lock);
	conn_close(c);
	return NULL;
}

void store_close(struct store *s)
{
	struct conn *c;

	if (!s)
		return;
	if (s->ckpt_started) {
		pthread_mutex_lock(&s->ckpt_lock);
		s->ckpt_stop = true;
		pthread_cond_signal(&s->ckpt_cond);
		pthread_mutex_unlock(&s->ckpt_lock);
		pthread_join(s->ckpt_thread, NULL);
	}
	/* every lease has ended: the caller stopped using the store */
	while ((c = s->free_list)) {
		s->free_list = c->next_free;
		conn_close(c);
	}
	pthread_mutex_destroy(&s->pool_lock);
	pthread_cond_destroy(&s->pool_cond);
	pthread_mutex_destroy(&s->write_lock);
	pthread_mutex_destroy(&s->ckpt_lock);
	pthread_cond_destroy(&s->ckpt_cond);
	pthread_mutex_destroy(&s->gc_lock);
	pthread_cond_destroy(&s->gc_cond);
	free(s->path);
	free(s);
}
DEFINE_CLEANUP_FUNC(struct store, store_close)

int store_open(const char *uri, struct store **ret, struct err *e)
{
	_cleanup_(store_closep) struct store *s = NULL;
	const char *path;
	int r;

	if (!uri || !ret)
		return err_set(e, EINVAL, "store: no database given");
	if (strncmp(uri, "postgresql://", 13) == 0 ||
	    strncmp(uri, "postgres://", 11) == 0)
		return err_set(e, EPROTONOSUPPORT,
			       "store: %s: the PostgreSQL backend is not "
			       "built in",
			       uri);
	path = strncmp(uri, "sqlite:", 7) == 0 ? uri + 7 : uri;
	if (!path[0] || path[0] == ':')
		return err_set(e, EINVAL,
			       "store: '%s' is not a database file path", uri);
	if (sqlite3_libversion_number() < STORE_SQLITE_MIN_VERSION)
		return err_set(e, ENOTSUP,
			       "store: SQLite %s is too old, 3.35 or newer "
			       "needed",
			       sqlite3_libversion());
	if (!sqlite3_threadsafe())
		return err_set(e, ENOTSUP,
			       "store: SQLite was built without thread "
			       "support");

	r = db_file_check(path, e);
	if (r < 0)
		return r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(e, ENOMEM, "store: out of memory");
	s->path = strdup(path);
	if (!s->path) {
		free(TAKE_PTR(s));
		return err_set(e, ENOMEM, "store: out of memory");
	}
	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_cond_init(&s->pool_cond, NULL);
	pthread_mutex_init(&s->write_lock, NULL);
	pthread_mutex_init(&s->ckpt_lock, NULL);
	pthread_cond_init(&s->ckpt_cond, NULL);
	pthread_mutex_init(&s->gc_lock, NULL);
	pthread_cond_init(&s->gc_cond, NULL);

	{
		_cleanup_lease_ struct lease l = { 0 };

		r = lease_get(s, true, &l, e);
		if (r < 0)
			return r;
		r = migrate(&l, e);
		if (r < 0)
			return r;
	}
	r = -pthread_create(&s->ckpt_thread, NULL, checkpointer, s);
	if (r < 0)
		return err_set(e, -r, "store: cannot start the checkpointer: %s",
			       strerror(-r));
	s->ckpt_started = true;
	*ret = TAKE_PTR(s);
	return 0;
}

int store_schema_version(struct store *s, int *ret, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	int v, r;

	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = schema_version_read(&l, &v, e);
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}

/* ---- hosts ---- */

void store_host_clear(struct store_host *h)
{
	if (!h)
		return;
	free(h->ek_pub);
	free(h->ek_cert);
	free(h->host_key_pem);
	*h = (struct store_host){ 0 };
}

void store_hosts_free(struct store_host *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		store_host_clear(&v[i]);
	free(v);
}

static void store_host_clearp(struct store_host *h)
{
	store_host_clear(h);
}

static int host_check(const struct store_host *h, struct err *e)
{
	int r = check_text(h->name, STORE_NAME_MAX, "host name", e);

	if (r < 0)
		return r;
	if (h->modes == 0 ||
	    (h->modes & ~(unsigned)(STORE_MODE_TPM | STORE_MODE_HOST_KEY)))
		return err_set(e, EINVAL, "store: host '%s': modes 0x%x invalid",
			       h->name, h->modes);
	if (h->ek_name_len > sizeof(h->ek_name))
		return err_set(e, EINVAL, "store: host '%s': EK name of %zu bytes",
			       h->name, h->ek_name_len);
	if ((h->modes & STORE_MODE_TPM) && h->ek_name_len == 0)
		return err_set(e, EINVAL,
			       "store: host '%s': TPM mode needs the EK name",
			       h->name);
	if ((h->modes & STORE_MODE_HOST_KEY) &&
	    (!h->host_key_pem || !h->host_key_pem[0]))
		return err_set(e, EINVAL,
			       "store: host '%s': host-key mode needs the host "
			       "key",
			       h->name);
	if (h->ek_pub_len > TPM_MAX_PUBLIC_SIZE ||
	    h->ek_cert_len > EKCERT_MAX_SIZE ||
	    (h->host_key_pem && strnlen(h->host_key_pem, STORE_PEM_MAX + 1) >
					STORE_PEM_MAX))
		return err_set(e, EINVAL,
			       "store: host '%s': EK public, EK certificate or "
			       "host key too large",
			       h->name);
	return 0;
}

int store_host_add(struct store *s, const struct store_host *h, int64_t *ret_id,
		   struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int64_t id;
	int r;

	if (!h)
		return err_set(e, EINVAL, "store: no host given");
	r = host_check(h, e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_HOST_ADD, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, h->name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, (int)h->modes) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, h->enabled) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, now_or(h->created)) != SQLITE_OK ||
	    bind_blob_or_null(st, 5, h->ek_name, h->ek_name_len) != SQLITE_OK ||
	    bind_blob_or_null(st, 6, h->ek_pub, h->ek_pub_len) != SQLITE_OK ||
	    bind_blob_or_null(st, 7, h->ek_cert, h->ek_cert_len) != SQLITE_OK ||
	    bind_text_or_null(st, 8, h->host_key_pem) != SQLITE_OK)
		return db_fail(l.c->db, e, "host '%s'", h->name);
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_fail(l.c->db, e, "adding host '%s'", h->name);
	id = sqlite3_column_int64(st, 0);
	r = step_done(&l, st, e, "adding a host");
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = id;
	return 0;
}

static int host_from_row(sqlite3_stmt *st, struct store_host *ret,
			 struct err *e)
{
	_cleanup_(store_host_clearp) struct store_host h = { 0 };
	const void *ek_name;
	size_t len;
	int r;

	h.id = sqlite3_column_int64(st, 0);
	r = col_text_fixed(st, 1, h.name, sizeof(h.name), e);
	if (r < 0)
		return r;
	h.modes = (unsigned)sqlite3_column_int(st, 2);
	h.enabled = sqlite3_column_int(st, 3) != 0;
	h.created = sqlite3_column_int64(st, 4);
	ek_name = sqlite3_column_blob(st, 5);
	len = (size_t)sqlite3_column_bytes(st, 5);
	if (len > sizeof(h.ek_name))
		return err_set(e, EIO, "store: host '%s': EK name of %zu bytes",
			       h.name, len);
	if (ek_name && len)
		memcpy(h.ek_name, ek_name, len);
	h.ek_name_len = ek_name ? len : 0;
	r = col_blob(st, 6, &h.ek_pub, &h.ek_pub_len, e);
	if (r < 0)
		return r;
	r = col_blob(st, 7, &h.ek_cert, &h.ek_cert_len, e);
	if (r < 0)
		return r;
	r = col_text(st, 8, &h.host_key_pem, e);
	if (r < 0)
		return r;
	*ret = h;
	h = (struct store_host){ 0 };
	return 0;
}

/* Step a host query to its single row. */
static int host_fetch(struct lease *l, sqlite3_stmt *st, struct store_host *ret,
		      struct err *e, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return err_set(e, ENOENT, "store: no host %s", what);
	if (rc != SQLITE_ROW)
		return db_fail(l->c->db, e, "looking up host %s", what);
	return host_from_row(st, ret, e);
}

int store_host_get(struct store *s, const char *name, struct store_host *ret,
		   struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	char what[STORE_NAME_MAX + 16];
	sqlite3_stmt *st;
	int r;

	r = check_text(name, STORE_NAME_MAX, "host name", e);
	if (r < 0)
		return r;
	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_HOST_GET, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(l.c->db, e, "host '%s'", name);
	snprintf(what, sizeof(what), "named '%s'", name);
	return host_fetch(&l, st, ret, e, what);
}

int store_host_get_by_id(struct store *s, int64_t id, struct store_host *ret,
			 struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	char what[64];
	sqlite3_stmt *st;
	int r;

	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_HOST_GET_ID, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		return db_fail(l.c->db, e, "host id %lld", (long long)id);
	snprintf(what, sizeof(what), "with id %lld", (long long)id);
	return host_fetch(&l, st, ret, e, what);
}

int store_host_get_by_ek(struct store *s, const uint8_t *ek_name, size_t len,
			 struct store_host *ret, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int r;

	if (!ek_name || len == 0 || len > STORE_TPM_NAME_MAX)
		return err_set(e, EINVAL, "store: EK name of %zu bytes", len);
	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_HOST_GET_EK, &st, e);
	if (r < 0)
		return r;
	if (bind_blob(st, 1, ek_name, len) != SQLITE_OK)
		return db_fail(l.c->db, e, "EK name");
	return host_fetch(&l, st, ret, e, "with this EK (not registered)");
}

/* Make room for one more element in a list being read from a statement:
 * doubles the capacity (from 16). -ENOMEM leaves *v and *cap as they were. */
static int list_grow(void **v, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	nv = reallocarray(*v, ncap, elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

int store_host_list(struct store *s, struct store_host **ret, size_t *ret_n,
		    struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	struct store_host *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, r;

	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_HOST_LIST, &st, e);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (list_grow((void **)&v, &cap, n, sizeof(*v)) < 0) {
			store_hosts_free(v, n);
			return err_set(e, ENOMEM, "store: out of memory");
		}
		r = host_from_row(st, &v[n], e);
		if (r < 0) {
			store_hosts_free(v, n);
			return r;
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		store_hosts_free(v, n);
		return db_fail(l.c->db, e, "listing hosts");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Run a single-statement write keyed by one text value; -ENOENT when it
 * changed no row. */
static int write_by_name(struct store *s, enum stmt_id id, const char *name,
			 size_t max, bool has_flag, bool flag,
			 const char *what, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int r;

	r = check_text(name, max, what, e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, id, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    (has_flag && sqlite3_bind_int(st, 2, flag) != SQLITE_OK))
		return db_fail(l.c->db, e, "%s '%s'", what, name);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l.c->db, e, "%s '%s'", what, name);
	if (sqlite3_changes(l.c->db) == 0)
		return err_set(e, ENOENT, "store: no %s '%s'", what, name);
	return 0;
}

int store_host_set_enabled(struct store *s, const char *name, bool enabled,
			   struct err *e)
{
	return write_by_name(s, ST_HOST_SET_ENABLED, name, STORE_NAME_MAX, true,
			     enabled, "host", e);
}

int store_host_remove(struct store *s, const char *name, struct err *e)
{
	/* ON DELETE CASCADE removes its AKs and pending enrollments */
	return write_by_name(s, ST_HOST_REMOVE, name, STORE_NAME_MAX, false,
			     false, "host", e);
}

/* ---- attestation keys ---- */

int store_ak_add(struct store *s, int64_t host_id, const uint8_t *ak_name,
		 size_t name_len, const uint8_t *ak_pub, size_t pub_len,
		 struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int r;

	if (!ak_name || name_len == 0 || name_len > STORE_TPM_NAME_MAX)
		return err_set(e, EINVAL, "store: AK name of %zu bytes",
			       name_len);
	if (!ak_pub || pub_len == 0 || pub_len > TPM_MAX_PUBLIC_SIZE)
		return err_set(e, EINVAL, "store: AK public of %zu bytes",
			       pub_len);
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_AK_ADD, &st, e);
	if (r < 0)
		return r;
	if (bind_blob(st, 1, ak_name, name_len) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, host_id) != SQLITE_OK ||
	    bind_blob(st, 3, ak_pub, pub_len) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, (int64_t)time(NULL)) != SQLITE_OK)
		return db_fail(l.c->db, e, "AK");
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l.c->db, e, "enrolling an AK for host id %lld",
			       (long long)host_id);
	return 0;
}

int store_ak_get(struct store *s, const uint8_t *ak_name, size_t name_len,
		 int64_t *ret_host_id, uint8_t **ret_pub, size_t *ret_pub_len,
		 struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	uint8_t *pub;
	size_t len;
	int rc, r;

	if (!ak_name || name_len == 0 || name_len > STORE_TPM_NAME_MAX)
		return err_set(e, EINVAL, "store: AK name of %zu bytes",
			       name_len);
	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_AK_GET, &st, e);
	if (r < 0)
		return r;
	if (bind_blob(st, 1, ak_name, name_len) != SQLITE_OK)
		return db_fail(l.c->db, e, "AK");
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(e, ENOENT, "store: AK not enrolled");
	if (rc != SQLITE_ROW)
		return db_fail(l.c->db, e, "looking up an AK");
	r = col_blob(st, 1, &pub, &len, e);
	if (r < 0)
		return r;
	if (ret_host_id)
		*ret_host_id = sqlite3_column_int64(st, 0);
	if (ret_pub) {
		*ret_pub = pub;
		if (ret_pub_len)
			*ret_pub_len = len;
	} else {
		free(pub);
	}
	return 0;
}

/* ---- pending enrollments ---- */

int store_enrollment_put(struct store *s, const char *id, int64_t host_id,
			 const uint8_t *ak_pub, size_t ak_pub_len,
			 const uint8_t secret_sha256[32], int64_t expires,
			 struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int r;

	r = check_text(id, STORE_ID_MAX, "enrollment id", e);
	if (r < 0)
		return r;
	if (!ak_pub || ak_pub_len == 0 || ak_pub_len > TPM_MAX_PUBLIC_SIZE)
		return err_set(e, EINVAL, "store: AK public of %zu bytes",
			       ak_pub_len);
	if (!secret_sha256)
		return err_set(e, EINVAL, "store: no secret digest");
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	/* Forget enrollments that expired (by the system clock) and were never
	 * finished; enrollments are rare, the table small. */
	r = lease_stmt(&l, ST_ENROLL_PURGE, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, (int64_t)time(NULL)) != SQLITE_OK)
		return db_fail(l.c->db, e, "enrollment purge");
	r = step_done(&l, st, e, "purging expired enrollments");
	if (r < 0)
		return r;

	r = lease_stmt(&l, ST_ENROLL_PUT, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, host_id) != SQLITE_OK ||
	    bind_blob(st, 3, ak_pub, ak_pub_len) != SQLITE_OK ||
	    bind_blob(st, 4, secret_sha256, 32) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, expires) != SQLITE_OK)
		return db_fail(l.c->db, e, "enrollment '%s'", id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l.c->db, e, "enrollment '%s' for host id %lld",
			       id, (long long)host_id);
	return 0;
}

int store_enrollment_take(struct store *s, const char *id, int64_t now,
			  int64_t *ret_host_id, uint8_t **ret_ak_pub,
			  size_t *ret_ak_pub_len, uint8_t ret_secret_sha256[32],
			  struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	_cleanup_free_ uint8_t *pub = NULL;
	uint8_t secret[32];
	sqlite3_stmt *st;
	int64_t host_id, expires;
	size_t pub_len;
	const void *p;
	int rc, r;

	r = check_text(id, STORE_ID_MAX, "enrollment id", e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	/* one statement: of two concurrent takes, exactly one gets the row */
	r = lease_stmt(&l, ST_ENROLL_TAKE, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(l.c->db, e, "enrollment '%s'", id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(e, ENOENT,
			       "store: no pending enrollment '%s' (unknown or "
			       "already finished)",
			       id);
	if (rc != SQLITE_ROW)
		return db_fail(l.c->db, e, "taking enrollment '%s'", id);
	host_id = sqlite3_column_int64(st, 0);
	r = col_blob(st, 1, &pub, &pub_len, e);
	if (r < 0)
		return r;
	p = sqlite3_column_blob(st, 2);
	if (!p || sqlite3_column_bytes(st, 2) != 32)
		return err_set(e, EIO, "store: enrollment '%s': bad secret digest",
			       id);
	memcpy(secret, p, 32);
	expires = sqlite3_column_int64(st, 3);
	r = step_done(&l, st, e, "taking an enrollment"); /* commits */
	if (r < 0) {
		explicit_bzero(secret, sizeof(secret));
		return r;
	}
	if (expires < now) {
		explicit_bzero(secret, sizeof(secret));
		return err_set(e, ETIME,
			       "store: enrollment '%s' expired %lld s ago",
			       id, (long long)(now - expires));
	}
	if (ret_host_id)
		*ret_host_id = host_id;
	if (ret_ak_pub) {
		*ret_ak_pub = TAKE_PTR(pub);
		if (ret_ak_pub_len)
			*ret_ak_pub_len = pub_len;
	}
	if (ret_secret_sha256)
		memcpy(ret_secret_sha256, secret, 32);
	explicit_bzero(secret, sizeof(secret));
	return 0;
}

/* ---- group commit: nonces and audit records ---- */

/* What store_audit_add refuses before queueing anything. */
static int audit_check(const struct store_audit *a, struct err *e)
{
	int r;

	if (!a)
		return err_set(e, EINVAL, "store: no audit record given");
	if (strnlen(a->host, sizeof(a->host)) == sizeof(a->host))
		return err_set(e, EINVAL, "store: audit host not terminated");
	r = check_text(a->action, sizeof(a->action) - 1, "audit action", e);
	if (r < 0)
		return r;
	r = check_text(a->result, sizeof(a->result) - 1, "audit result", e);
	if (r < 0)
		return r;
	if (a->details &&
	    strnlen(a->details, STORE_AUDIT_DETAILS_MAX + 1) >
		    STORE_AUDIT_DETAILS_MAX)
		return err_set(e, EINVAL,
			       "store: audit details longer than %u bytes",
			       STORE_AUDIT_DETAILS_MAX);
	return 0;
}


/*
 * The hot path (a nonce and an audit record per attestation) is dominated
 * by the cost of a commit, not of an insert (bench/bench_store.c). Callers
 * queue their insert; the first to find no batch running becomes the
 * leader, takes the whole queue and runs it as one transaction, then wakes
 * the others, each with its own result. Alone, a caller commits at once;
 * under load, the commits of all threads waiting meanwhile are shared.
 * Every caller returns only after its transaction committed. A constraint
 * failure (a replayed nonce) ends only its statement; an error that ends
 * the transaction fails every insert of the batch that was not yet
 * committed.
 */
enum gc_kind { GC_NONCE, GC_AUDIT };

struct gc_op {
	enum gc_kind kind;
	const uint8_t *nonce;          /* GC_NONCE */
	int64_t expires, now;
	const struct store_audit *audit; /* GC_AUDIT */
	const struct gc_op *only_after; /* run only if this earlier op of the
					 * same batch succeeded */
	struct err *e;
	int result;
	bool done;                     /* under gc_lock */
	struct gc_op *next;
};

/*
 * The audit hash chain (docs/store.md): chain(n) = SHA-256 of a label, the
 * chain of the record before (32 zero bytes for the first record, or after
 * one without a chain), and record n's id, time, host, action, result and
 * details, each length-prefixed. Changing, removing or reordering a record
 * breaks the chain from there on; a rewrite of the whole tail is caught by
 * comparing with a head hgsd logged earlier (event audit_head).
 */
static int audit_chain(const uint8_t prev[STORE_AUDIT_CHAIN_SIZE], int64_t id, int64_t t,
		       const struct store_audit *a, uint8_t out[STORE_AUDIT_CHAIN_SIZE],
		       struct err *e)
{
	static const char label[] = "shieldvm audit chain v1";
	const char *parts[] = { a->host, a->action, a->result, a->details ? a->details : "" };
	uint8_t hdr[17];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(md, label, sizeof(label)) == 1 &&
		 EVP_DigestUpdate(md, prev, STORE_AUDIT_CHAIN_SIZE) == 1;

	for (int i = 0; i < 8; i++) {
		hdr[i] = (uint8_t)((uint64_t)id >> (56 - 8 * i));
		hdr[8 + i] = (uint8_t)((uint64_t)t >> (56 - 8 * i));
	}
	hdr[16] = a->details != NULL;
	ok = ok && EVP_DigestUpdate(md, hdr, sizeof(hdr)) == 1;
	for (size_t i = 0; ok && i < ARRAY_SIZE(parts); i++) {
		size_t n = strlen(parts[i]);
		uint8_t len[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
				   (uint8_t)n };

		ok = EVP_DigestUpdate(md, len, sizeof(len)) == 1 &&
		     EVP_DigestUpdate(md, parts[i], n) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(md, out, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : err_set(e, EIO, "store: SHA-256 of an audit record failed");
}

/* The audit record's chain in column i, or NULL: a record without one. */
static const uint8_t *col_chain(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) != SQLITE_BLOB ||
	    sqlite3_column_bytes(st, i) != STORE_AUDIT_CHAIN_SIZE)
		return NULL;
	return sqlite3_column_blob(st, i);
}

/* The newest record's id (0: none) and chain (zeros: none, or a record
 * without one). */
static int audit_last(struct lease *l, int64_t *ret_id, uint8_t chain[STORE_AUDIT_CHAIN_SIZE],
		      struct err *e)
{
	const uint8_t *have;
	sqlite3_stmt *st;
	int rc, r;

	memset(chain, 0, STORE_AUDIT_CHAIN_SIZE);
	*ret_id = 0;
	r = lease_stmt(l, ST_AUDIT_LAST, &st, e);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_fail(l->c->db, e, "reading the newest audit record");
	*ret_id = sqlite3_column_int64(st, 0);
	if ((have = col_chain(st, 1)))
		memcpy(chain, have, STORE_AUDIT_CHAIN_SIZE);
	return 0;
}

static int gc_exec(struct lease *l, struct gc_op *op)
{
	sqlite3_stmt *st;
	int rc, r;

	if (op->kind == GC_NONCE) {
		/* The PRIMARY KEY makes this atomic across connections and
		 * processes: of two inserts of one nonce, one fails. */
		r = lease_stmt(l, ST_NONCE_ADD, &st, op->e);
		if (r < 0)
			return r;
		if (bind_blob(st, 1, op->nonce, 32) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, op->expires) != SQLITE_OK)
			return db_fail(l->c->db, op->e, "nonce");
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			return 0;
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return err_set(op->e, EEXIST,
				       "store: nonce already used (replayed "
				       "evidence)");
		return db_fail(l->c->db, op->e, "recording a used nonce");
	}
	const struct store_audit *a = op->audit;
	uint8_t prev[STORE_AUDIT_CHAIN_SIZE], chain[STORE_AUDIT_CHAIN_SIZE];
	int64_t id, t = now_or(a->time);

	/* The chain links to the newest record, read in this write
	 * transaction: every writer, in any process, sees the same one. */
	r = audit_last(l, &id, prev, op->e);
	if (r < 0)
		return r;
	id++;
	r = audit_chain(prev, id, t, a, chain, op->e);
	if (r < 0)
		return r;
	r = lease_stmt(l, ST_AUDIT_ADD, &st, op->e);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, t) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, a->host, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 4, a->action, -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
	    sqlite3_bind_text(st, 5, a->result, -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
	    bind_text_or_null(st, 6, a->details) != SQLITE_OK ||
	    bind_blob(st, 7, chain, sizeof(chain)) != SQLITE_OK)
		return db_fail(l->c->db, op->e, "audit record");
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l->c->db, op->e,
			       "adding an audit record (%s, %s)", a->action,
			       a->result);
	return 0;
}

/* Opportunistic purge of expired nonce records, bounded per run; a failure
 * only delays it. Under write_lock. */
static void nonce_purge_maybe(struct lease *l, unsigned calls, int64_t now)
{
	struct store *s = l->s;
	sqlite3_stmt *st;

	s->nonce_calls += calls;
	if (s->nonce_calls < STORE_NONCE_PURGE_EVERY &&
	    now - s->nonce_last_purge < STORE_NONCE_PURGE_INTERVAL)
		return;
	s->nonce_calls = 0;
	s->nonce_last_purge = now;
	if (lease_stmt(l, ST_NONCE_PURGE, &st, NULL) == 0 &&
	    sqlite3_bind_int64(st, 1, now) == SQLITE_OK &&
	    sqlite3_bind_int(st, 2, STORE_NONCE_PURGE_BATCH) == SQLITE_OK)
		sqlite3_step(st);
}

static void gc_run_batch(struct store *s, struct gc_op *batch)
{
	_cleanup_lease_ struct lease l = { 0 };
	struct err fatal = { 0 };
	unsigned nonces = 0;
	int64_t now = INT64_MIN;
	int r;

	r = lease_get(s, true, &l, &fatal);
	if (r >= 0)
		r = lease_exec(&l, ST_BEGIN, &fatal);
	for (struct gc_op *op = batch; op && r >= 0; op = op->next) {
		if (op->only_after && op->only_after->result < 0) {
			op->result = err_set(op->e, ECANCELED,
					     "store: not recorded: the operation "
					     "it depends on failed");
			continue;
		}
		op->result = gc_exec(&l, op);
		if (op->result < 0 && sqlite3_get_autocommit(l.c->db)) {
			/* the error ended the transaction */
			r = op->result;
			snprintf(fatal.msg, sizeof(fatal.msg), "%s", op->e->msg);
		}
		if (op->kind == GC_NONCE) {
			nonces++;
			if (op->now > now)
				now = op->now;
		}
	}
	if (r >= 0 && nonces) {
		nonce_purge_maybe(&l, nonces, now);
		if (sqlite3_get_autocommit(l.c->db))
			r = err_set(&fatal, EIO,
				    "store: the nonce purge ended the "
				    "transaction");
	}
	if (r >= 0)
		r = lease_exec(&l, ST_COMMIT, &fatal);
	if (r < 0) /* nothing of this batch was committed */
		for (struct gc_op *op = batch; op; op = op->next)
			if (op->result >= 0)
				op->result = err_set(op->e, -r, "%s",
						     err_str(&fatal));
}

/* Queue n ops (together: they land in one batch, in this order) and wait
 * until all are done; returns the first one's result. */
static int gc_submit_n(struct store *s, struct gc_op *ops, size_t n)
{
	struct gc_op *op = &ops[n - 1];

	pthread_mutex_lock(&s->gc_lock);
	for (size_t i = 0; i < n; i++) {
		ops[i].next = NULL;
		if (s->gc_tail)
			s->gc_tail->next = &ops[i];
		else
			s->gc_head = &ops[i];
		s->gc_tail = &ops[i];
	}
	while (!op->done) {
		struct gc_op *batch, *next;

		if (s->gc_leader) {
			pthread_cond_wait(&s->gc_cond, &s->gc_lock);
			continue;
		}
		batch = s->gc_head;
		s->gc_head = s->gc_tail = NULL;
		s->gc_leader = true;
		pthread_mutex_unlock(&s->gc_lock);
		gc_run_batch(s, batch);
		pthread_mutex_lock(&s->gc_lock);
		for (struct gc_op *o = batch; o; o = next) {
			next = o->next; /* o may be gone once done is seen */
			o->done = true;
		}
		s->gc_leader = false;
		pthread_cond_broadcast(&s->gc_cond);
	}
	pthread_mutex_unlock(&s->gc_lock);
	return ops[0].result;
}

static int gc_submit(struct store *s, struct gc_op *op)
{
	return gc_submit_n(s, op, 1);
}

int store_nonce_consume(struct store *s, const uint8_t nonce_sha256[32],
			int64_t expires, int64_t now, struct err *e)
{
	struct err local = { 0 };
	struct gc_op op = { .kind = GC_NONCE, .nonce = nonce_sha256,
			    .expires = expires, .now = now,
			    .e = e ? e : &local };

	if (!s)
		return err_set(e, EINVAL, "store: not open");
	if (!nonce_sha256)
		return err_set(e, EINVAL, "store: no nonce digest");
	return gc_submit(s, &op);
}

int store_nonce_consume_audit(struct store *s, const uint8_t nonce_sha256[32],
			      int64_t expires, int64_t now,
			      const struct store_audit *a, int *ret_audit,
			      struct err *audit_e, struct err *e)
{
	struct err local = { 0 }, audit_local = { 0 };
	struct gc_op ops[2] = {
		{ .kind = GC_NONCE, .nonce = nonce_sha256, .expires = expires,
		  .now = now, .e = e ? e : &local },
		{ .kind = GC_AUDIT, .audit = a, .only_after = &ops[0],
		  .e = audit_e ? audit_e : &audit_local },
	};
	int r;

	*ret_audit = -ECANCELED;
	if (!s)
		return err_set(e, EINVAL, "store: not open");
	if (!nonce_sha256)
		return err_set(e, EINVAL, "store: no nonce digest");
	r = audit_check(a, audit_e);
	if (r < 0) {
		/* the record is refused, the nonce consumed all the same */
		*ret_audit = r;
		return gc_submit(s, &ops[0]);
	}
	r = gc_submit_n(s, ops, 2);
	*ret_audit = ops[1].result;
	return r;
}

/* ---- baselines ---- */

int store_baseline_put(struct store *s, const char *name, const char *json,
		       struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int r;

	r = check_text(name, STORE_NAME_MAX, "baseline name", e);
	if (r < 0)
		return r;
	r = check_text(json, POLICY_MAX_FILE_SIZE, "baseline JSON", e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_BASELINE_PUT, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, (int64_t)time(NULL)) != SQLITE_OK)
		return db_fail(l.c->db, e, "baseline '%s'", name);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l.c->db, e, "adding baseline '%s'", name);
	return 0;
}

int store_baseline_get(struct store *s, const char *name, char **ret_json,
		       struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int rc, r;

	r = check_text(name, STORE_NAME_MAX, "baseline name", e);
	if (r < 0)
		return r;
	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_BASELINE_GET, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(l.c->db, e, "baseline '%s'", name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(e, ENOENT, "store: no baseline '%s'", name);
	if (rc != SQLITE_ROW)
		return db_fail(l.c->db, e, "reading baseline '%s'", name);
	return col_text(st, 0, ret_json, e);
}

static void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int store_baseline_list(struct store *s, char ***ret_names, size_t *ret_n,
			struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	char **v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, r;

	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_BASELINE_LIST, &st, e);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (list_grow((void **)&v, &cap, n, sizeof(*v)) < 0) {
			strv_free(v, n);
			return err_set(e, ENOMEM, "store: out of memory");
		}
		r = col_text(st, 0, &v[n], e);
		if (r < 0) {
			strv_free(v, n);
			return r;
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		strv_free(v, n);
		return db_fail(l.c->db, e, "listing baselines");
	}
	*ret_names = v;
	*ret_n = n;
	return 0;
}

int store_baseline_remove(struct store *s, const char *name, struct err *e)
{
	return write_by_name(s, ST_BASELINE_REMOVE, name, STORE_NAME_MAX, false,
			     false, "baseline", e);
}

/* ---- rules ---- */

int store_rule_set(struct store *s, const char *rule, bool enabled,
		   struct err *e)
{
	return write_by_name(s, ST_RULE_SET, rule, STORE_ID_MAX, true, enabled,
			     "rule", e);
}

int store_rule_list(struct store *s,
		    int (*fn)(const char *rule, bool enabled, void *userdata),
		    void *userdata, struct err *e)
{
	char **ids = NULL;
	bool *on = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (!fn)
		return err_set(e, EINVAL, "store: no callback");
	/* Read all switches first (a few dozen at most) and call fn with no
	 * connection leased, so fn may use the store. */
	{
		_cleanup_lease_ struct lease l = { 0 };
		sqlite3_stmt *st;
		int rc;

		r = lease_get(s, false, &l, e);
		if (r < 0)
			return r;
		r = lease_stmt(&l, ST_RULE_LIST, &st, e);
		if (r < 0)
			return r;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				char **ni = reallocarray(ids, ncap, sizeof(*ids));
				bool *no;

				if (ni)
					ids = ni;
				no = ni ? reallocarray(on, ncap, sizeof(*on))
					: NULL;
				if (!no) {
					r = err_set(e, ENOMEM,
						    "store: out of memory");
					goto out;
				}
				on = no;
				cap = ncap;
			}
			r = col_text(st, 0, &ids[n], e);
			if (r < 0)
				goto out;
			on[n] = sqlite3_column_int(st, 1) != 0;
			n++;
		}
		if (rc != SQLITE_DONE) {
			r = db_fail(l.c->db, e, "listing rules");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		r = fn(ids[i], on[i], userdata);
		if (r != 0) {
			if (r < 0)
				err_set(e, -r, "store: rule list stopped by "
					       "the caller at '%s'",
					ids[i]);
			r = r < 0 ? r : 0;
			break;
		}
	}
out:
	strv_free(ids, n);
	free(on);
	return r;
}

/* ---- settings ---- */

static int setting_check(const char *key, const uint8_t *val, size_t len,
			 bool need_val, struct err *e)
{
	int r = check_text(key, STORE_ID_MAX, "setting name", e);

	if (r < 0)
		return r;
	if (need_val && ((!val && len) || len > STORE_SETTING_MAX))
		return err_set(e, EINVAL,
			       "store: setting '%s': value of %zu bytes", key,
			       len);
	return 0;
}

int store_setting_get(struct store *s, const char *key, uint8_t **ret,
		      size_t *ret_len, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	uint8_t *v;
	size_t len;
	int rc, r;

	r = setting_check(key, NULL, 0, false, e);
	if (r < 0)
		return r;
	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_SETTING_GET, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(l.c->db, e, "setting '%s'", key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(e, ENOENT, "store: no setting '%s'", key);
	if (rc != SQLITE_ROW)
		return db_fail(l.c->db, e, "reading setting '%s'", key);
	r = col_blob(st, 0, &v, &len, e);
	if (r < 0)
		return r;
	*ret = v;
	if (ret_len)
		*ret_len = len;
	return 0;
}

int store_setting_put(struct store *s, const char *key, const uint8_t *val,
		      size_t len, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int r;

	r = setting_check(key, val, len, true, e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_SETTING_PUT, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
	    bind_blob(st, 2, val, len) != SQLITE_OK)
		return db_fail(l.c->db, e, "setting '%s'", key);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l.c->db, e, "writing setting '%s'", key);
	return 0;
}

int store_setting_get_or_create(struct store *s, const char *key,
				const uint8_t *val, size_t len, uint8_t **ret,
				size_t *ret_len, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	_cleanup_free_ uint8_t *v = NULL;
	sqlite3_stmt *st;
	size_t vlen;
	int r;

	r = setting_check(key, val, len, true, e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	/* one statement: the first writer's value wins, atomically */
	r = lease_stmt(&l, ST_SETTING_GET_OR_CREATE, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
	    bind_blob(st, 2, val, len) != SQLITE_OK)
		return db_fail(l.c->db, e, "setting '%s'", key);
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_fail(l.c->db, e, "creating setting '%s'", key);
	r = col_blob(st, 0, &v, &vlen, e);
	if (r < 0)
		return r;
	r = step_done(&l, st, e, "creating a setting");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(v);
	if (ret_len)
		*ret_len = vlen;
	return 0;
}

/* ---- guardian keys ---- */

void store_guardian_clear(struct store_guardian *g)
{
	if (!g)
		return;
	if (g->private_json) {
		explicit_bzero(g->private_json, strlen(g->private_json));
		free(g->private_json);
	}
	*g = (struct store_guardian){ 0 };
}

void store_guardians_free(struct store_guardian *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		store_guardian_clear(&v[i]);
	free(v);
}

int store_guardian_add(struct store *s, const struct store_guardian *g,
		       struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int r;

	if (!g)
		return err_set(e, EINVAL, "store: no guardian key given");
	r = check_text(g->id, STORE_GUARDIAN_ID_MAX, "guardian key id", e);
	if (r < 0)
		return r;
	r = check_text(g->name, sizeof(g->name) - 1, "guardian key name", e);
	if (r < 0)
		return r;
	r = check_text(g->algorithm, STORE_GUARDIAN_ALG_MAX,
		       "guardian key algorithm", e);
	if (r < 0)
		return r;
	r = check_text(g->private_json, STORE_GUARDIAN_JSON_MAX,
		       "private guardian", e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_GUARDIAN_ADD, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, g->id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, g->name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, g->algorithm, -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
	    sqlite3_bind_text(st, 4, g->private_json, -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
	    sqlite3_bind_int(st, 5, g->primary) != SQLITE_OK ||
	    sqlite3_bind_int(st, 6, g->enabled) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 7, now_or(g->created)) != SQLITE_OK)
		return db_fail(l.c->db, e, "guardian key '%s'", g->id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l.c->db, e, "adding guardian key '%s'%s", g->id,
			       g->primary ? " as primary" : "");
	return 0;
}

static int guardian_from_row(sqlite3_stmt *st, struct store_guardian *g,
			     struct err *e)
{
	int r;

	*g = (struct store_guardian){ 0 };
	r = col_text_fixed(st, 0, g->id, sizeof(g->id), e);
	if (r >= 0)
		r = col_text_fixed(st, 1, g->name, sizeof(g->name), e);
	if (r >= 0)
		r = col_text_fixed(st, 2, g->algorithm, sizeof(g->algorithm), e);
	if (r >= 0)
		r = col_text(st, 3, &g->private_json, e);
	if (r < 0) {
		store_guardian_clear(g);
		return r;
	}
	g->primary = sqlite3_column_int(st, 4) != 0;
	g->enabled = sqlite3_column_int(st, 5) != 0;
	g->created = sqlite3_column_int64(st, 6);
	return 0;
}

int store_guardian_list(struct store *s, bool with_private,
			struct store_guardian **ret, size_t *ret_n,
			struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	struct store_guardian *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, r;

	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l,
		       with_private ? ST_GUARDIAN_LIST : ST_GUARDIAN_LIST_PUBLIC,
		       &st, e);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (list_grow((void **)&v, &cap, n, sizeof(*v)) < 0) {
			store_guardians_free(v, n);
			return err_set(e, ENOMEM, "store: out of memory");
		}
		r = guardian_from_row(st, &v[n], e);
		if (r < 0) {
			store_guardians_free(v, n);
			return r;
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		store_guardians_free(v, n);
		return db_fail(l.c->db, e, "listing guardian keys");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int store_guardian_get(struct store *s, const char *id,
		       struct store_guardian *ret, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int rc, r;

	r = check_text(id, STORE_GUARDIAN_ID_MAX, "guardian key id", e);
	if (r < 0)
		return r;
	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_GUARDIAN_GET, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(l.c->db, e, "guardian key '%s'", id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(e, ENOENT, "store: no guardian key '%s'", id);
	if (rc != SQLITE_ROW)
		return db_fail(l.c->db, e, "reading guardian key '%s'", id);
	return guardian_from_row(st, ret, e);
}

int store_guardian_set_primary(struct store *s, const char *id,
			       struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int r;

	r = check_text(id, STORE_GUARDIAN_ID_MAX, "guardian key id", e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	/* as store_key_set_primary: demote, then promote, one transaction */
	r = lease_exec(&l, ST_BEGIN, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_GUARDIAN_UNSET_PRIMARY, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(l.c->db, e, "guardian key '%s'", id);
	r = step_done(&l, st, e, "demoting the primary guardian key");
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_GUARDIAN_SET_PRIMARY, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(l.c->db, e, "guardian key '%s'", id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l.c->db, e,
			       "making guardian key '%s' primary (a disabled "
			       "key cannot be)",
			       id);
	if (sqlite3_changes(l.c->db) == 0)
		return err_set(e, ENOENT, "store: no guardian key '%s'", id);
	return lease_exec(&l, ST_COMMIT, e);
}

int store_guardian_set_enabled(struct store *s, const char *id, bool enabled,
			       struct err *e)
{
	int r = write_by_name(s, ST_GUARDIAN_SET_ENABLED, id,
			      STORE_GUARDIAN_ID_MAX, true, enabled,
			      "guardian key", e);

	if (r == -EINVAL && !enabled)
		err_prefix(e, "cannot disable the primary guardian key");
	return r;
}

int store_guardian_remove(struct store *s, const char *id, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int rc, r;

	r = check_text(id, STORE_GUARDIAN_ID_MAX, "guardian key id", e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	/* the DELETE and the look-up that explains a refusal see one state */
	r = lease_exec(&l, ST_BEGIN, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_GUARDIAN_REMOVE, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(l.c->db, e, "guardian key '%s'", id);
	r = step_done(&l, st, e, "removing a guardian key");
	if (r < 0)
		return r;
	if (sqlite3_changes(l.c->db) == 0) {
		r = lease_stmt(&l, ST_GUARDIAN_GET, &st, e);
		if (r < 0)
			return r;
		if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) !=
		    SQLITE_OK)
			return db_fail(l.c->db, e, "guardian key '%s'", id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			return err_set(e, ENOENT, "store: no guardian key '%s'",
				       id);
		if (rc != SQLITE_ROW)
			return db_fail(l.c->db, e, "reading guardian key '%s'",
				       id);
		return err_set(e, EINVAL,
			       "store: guardian key '%s' is %s: only a "
			       "disabled, non-primary key can be removed",
			       id,
			       sqlite3_column_int(st, 4) ? "the primary key"
							 : "enabled");
	}
	return lease_exec(&l, ST_COMMIT, e);
}

/* ---- rollback records ---- */

static int vm_key_check(const char *owner, const char *vm_id, struct err *e)
{
	int r = check_text(owner, STORE_GUARDIAN_ID_MAX, "owner guardian id", e);

	if (r < 0)
		return r;
	return check_text(vm_id, STORE_VM_ID_MAX, "VM id", e);
}

/* Read the record in the caller's lease: 0 found, 1 none. */
static int vm_read(struct lease *l, const char *owner, const char *vm_id,
		   struct store_vm_record *ret, struct err *e)
{
	sqlite3_stmt *st;
	const void *d;
	int64_t gen;
	int rc, r;

	r = lease_stmt(l, ST_VM_GET, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, vm_id, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(l->c->db, e, "VM '%s'", vm_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW)
		return db_fail(l->c->db, e, "reading the record of VM '%s'",
			       vm_id);
	gen = sqlite3_column_int64(st, 0);
	d = sqlite3_column_blob(st, 1);
	if (gen < 0 || (uint64_t)gen > STORE_VM_GENERATION_MAX || !d ||
	    sqlite3_column_bytes(st, 1) != 32)
		return err_set(e, EIO, "store: VM '%s': malformed record",
			       vm_id);
	ret->generation = (uint64_t)gen;
	memcpy(ret->digest, d, 32);
	ret->updated = sqlite3_column_int64(st, 2);
	return 0;
}

int store_vm_get(struct store *s, const char *owner, const char *vm_id,
		 struct store_vm_record *ret, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	struct store_vm_record rec = { 0 };
	int r;

	r = vm_key_check(owner, vm_id, e);
	if (r < 0)
		return r;
	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = vm_read(&l, owner, vm_id, &rec, e);
	if (r < 0)
		return r;
	if (r > 0)
		return err_set(e, ENOENT, "store: no record of VM '%s'", vm_id);
	*ret = rec;
	return 0;
}

int store_vm_commit(struct store *s, const char *owner, const char *vm_id,
		    uint64_t generation, const uint8_t digest[32], int64_t now,
		    struct store_vm_record *ret_cur, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	struct store_vm_record cur = { 0 };
	sqlite3_stmt *st;
	int r;

	r = vm_key_check(owner, vm_id, e);
	if (r < 0)
		return r;
	if (!digest || generation > STORE_VM_GENERATION_MAX)
		return err_set(e, EINVAL,
			       "store: VM '%s': no digest or generation %llu "
			       "out of range",
			       vm_id, (unsigned long long)generation);
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	/* Read and write in one BEGIN IMMEDIATE transaction: no other
	 * writer, in this process or another, runs in between. */
	r = lease_exec(&l, ST_BEGIN, e);
	if (r < 0)
		return r;
	r = vm_read(&l, owner, vm_id, &cur, e);
	if (r < 0)
		return r;
	if (r == 0 && generation <= cur.generation) {
		if (generation == cur.generation &&
		    memcmp(digest, cur.digest, 32) == 0) {
			if (ret_cur)
				*ret_cur = cur;
			return lease_exec(&l, ST_ROLLBACK, e);
		}
		if (ret_cur)
			*ret_cur = cur;
		/* lease_release rolls the transaction back */
		return err_set(e, ESTALE,
			       "store: VM '%s': generation %llu was committed "
			       "%s; generation %llu refused",
			       vm_id, (unsigned long long)cur.generation,
			       generation == cur.generation
				       ? "with another KP digest"
				       : "already",
			       (unsigned long long)generation);
	}
	r = lease_stmt(&l, ST_VM_PUT, &st, e);
	if (r < 0)
		return r;
	cur = (struct store_vm_record){ .generation = generation,
					.updated = now_or(now) };
	memcpy(cur.digest, digest, 32);
	if (sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, vm_id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, (int64_t)generation) != SQLITE_OK ||
	    bind_blob(st, 4, digest, 32) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, cur.updated) != SQLITE_OK)
		return db_fail(l.c->db, e, "VM '%s'", vm_id);
	r = step_done(&l, st, e, "recording a VM generation");
	if (r < 0)
		return r;
	r = lease_exec(&l, ST_COMMIT, e);
	if (r < 0)
		return r;
	if (ret_cur)
		*ret_cur = cur;
	return 0;
}

/* ---- token signing keys ---- */

void store_key_clear(struct store_key *k)
{
	if (!k)
		return;
	if (k->private_pem) {
		explicit_bzero(k->private_pem, strlen(k->private_pem));
		free(k->private_pem);
	}
	*k = (struct store_key){ 0 };
}

void store_keys_free(struct store_key *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		store_key_clear(&v[i]);
	free(v);
}

int store_key_add(struct store *s, const struct store_key *k, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int r;

	if (!k)
		return err_set(e, EINVAL, "store: no key given");
	r = check_text(k->kid, STORE_KID_MAX, "key id", e);
	if (r < 0)
		return r;
	r = check_text(k->private_pem, STORE_PEM_MAX, "private key", e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_KEY_ADD, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, k->kid, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, k->private_pem, -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
	    sqlite3_bind_int(st, 3, k->primary) != SQLITE_OK ||
	    sqlite3_bind_int(st, 4, k->enabled) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, now_or(k->created)) != SQLITE_OK)
		return db_fail(l.c->db, e, "key '%s'", k->kid);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l.c->db, e, "adding key '%s'%s", k->kid,
			       k->primary ? " as primary" : "");
	return 0;
}

int store_key_list(struct store *s, struct store_key **ret, size_t *ret_n,
		   struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	struct store_key *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, r;

	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_KEY_LIST, &st, e);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (list_grow((void **)&v, &cap, n, sizeof(*v)) < 0) {
			store_keys_free(v, n);
			return err_set(e, ENOMEM, "store: out of memory");
		}
		v[n] = (struct store_key){ 0 };
		r = col_text_fixed(st, 0, v[n].kid, sizeof(v[n].kid), e);
		if (r >= 0)
			r = col_text(st, 1, &v[n].private_pem, e);
		if (r < 0) {
			store_keys_free(v, n + 1);
			return r;
		}
		v[n].primary = sqlite3_column_int(st, 2) != 0;
		v[n].enabled = sqlite3_column_int(st, 3) != 0;
		v[n].created = sqlite3_column_int64(st, 4);
		n++;
	}
	if (rc != SQLITE_DONE) {
		store_keys_free(v, n);
		return db_fail(l.c->db, e, "listing keys");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int store_key_set_primary(struct store *s, const char *kid, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int r;

	r = check_text(kid, STORE_KID_MAX, "key id", e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	/* Two statements in one transaction: SQLite checks the "one primary"
	 * index row by row, so the old primary is demoted first. */
	r = lease_exec(&l, ST_BEGIN, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_KEY_UNSET_PRIMARY, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, kid, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(l.c->db, e, "key '%s'", kid);
	r = step_done(&l, st, e, "demoting the primary key");
	if (r < 0)
		return r;
	r = lease_stmt(&l, ST_KEY_SET_PRIMARY, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, kid, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(l.c->db, e, "key '%s'", kid);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l.c->db, e,
			       "making key '%s' primary (a disabled key "
			       "cannot be)",
			       kid);
	if (sqlite3_changes(l.c->db) == 0)
		return err_set(e, ENOENT, "store: no key '%s'", kid);
	return lease_exec(&l, ST_COMMIT, e);
}

int store_key_set_enabled(struct store *s, const char *kid, bool enabled,
			  struct err *e)
{
	int r = check_text(kid, STORE_KID_MAX, "key id", e);

	if (r < 0)
		return r;
	r = write_by_name(s, ST_KEY_SET_ENABLED, kid, STORE_KID_MAX, true,
			  enabled, "key", e);
	if (r == -EINVAL && !enabled)
		err_prefix(e, "cannot disable the primary key");
	return r;
}

int store_private_replace(struct store *s, enum store_private_kind kind, const char *id,
			  const char *old, const char *text, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	const char *what = kind == STORE_PRIVATE_TOKEN_KEY ? "key" : "guardian key";
	sqlite3_stmt *st;
	int r;

	r = check_text(id, kind == STORE_PRIVATE_TOKEN_KEY ? STORE_KID_MAX : STORE_GUARDIAN_ID_MAX,
		       what, e);
	if (r >= 0)
		r = check_text(old, STORE_GUARDIAN_JSON_MAX, "private key", e);
	if (r >= 0)
		r = check_text(text, kind == STORE_PRIVATE_TOKEN_KEY ? STORE_PEM_MAX
								     : STORE_GUARDIAN_JSON_MAX,
			       "private key", e);
	if (r < 0)
		return r;
	r = lease_get(s, true, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, kind == STORE_PRIVATE_TOKEN_KEY ? ST_KEY_SET_PRIVATE
							   : ST_GUARDIAN_SET_PRIVATE,
		       &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, old, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		return db_fail(l.c->db, e, "replacing the private part of %s '%s'", what, id);
	if (sqlite3_changes(l.c->db) == 0)
		return err_set(e, ESTALE, "store: %s '%s' is gone or was changed meanwhile", what,
			       id);
	return 0;
}

/* ---- audit ---- */

void store_audit_clear(struct store_audit *a)
{
	if (!a)
		return;
	free(a->details);
	*a = (struct store_audit){ 0 };
}

int store_audit_add(struct store *s, const struct store_audit *a,
		    struct err *e)
{
	struct err local = { 0 };
	struct gc_op op = { .kind = GC_AUDIT, .audit = a,
			    .e = e ? e : &local };
	int r;

	if (!s)
		return err_set(e, EINVAL, "store: not open");
	r = audit_check(a, e);
	if (r < 0)
		return r;
	return gc_submit(s, &op);
}

int store_audit_list(struct store *s, const char *host, int64_t since,
		     size_t limit,
		     int (*fn)(const struct store_audit *a, void *userdata),
		     void *userdata, struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	sqlite3_stmt *st;
	int rc, r;

	if (!fn)
		return err_set(e, EINVAL, "store: no callback");
	if (host && strnlen(host, STORE_NAME_MAX + 1) > STORE_NAME_MAX)
		return err_set(e, EINVAL, "store: host name too long");
	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	r = lease_stmt(&l, host ? ST_AUDIT_LIST_HOST : ST_AUDIT_LIST, &st, e);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, since) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2,
			       limit == 0 || limit > INT64_MAX ? -1
							      : (int64_t)limit) !=
		    SQLITE_OK ||
	    (host && sqlite3_bind_text(st, 3, host, -1, SQLITE_STATIC) !=
			     SQLITE_OK))
		return db_fail(l.c->db, e, "audit list");
	/* Rows are handed to fn as they are read (the log may be long); fn
	 * runs with this call's connection leased. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_audit a = { 0 };

		a.id = sqlite3_column_int64(st, 0);
		a.time = sqlite3_column_int64(st, 1);
		r = col_text_fixed(st, 2, a.host, sizeof(a.host), e);
		if (r >= 0)
			r = col_text_fixed(st, 3, a.action, sizeof(a.action), e);
		if (r >= 0)
			r = col_text_fixed(st, 4, a.result, sizeof(a.result), e);
		if (r < 0)
			return r;
		/* valid until the next step: fn must copy what it keeps */
		a.details = (char *)sqlite3_column_text(st, 5);
		r = fn(&a, userdata);
		if (r < 0)
			return err_set(e, -r, "store: audit list stopped by "
					      "the caller at record %lld",
				       (long long)a.id);
		if (r > 0)
			return 0;
	}
	if (rc != SQLITE_DONE)
		return db_fail(l.c->db, e, "listing audit records");
	return 0;
}

int store_audit_head(struct store *s, int64_t *ret_id, uint8_t chain[STORE_AUDIT_CHAIN_SIZE],
		     struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	int r = lease_get(s, false, &l, e);

	if (r < 0)
		return r;
	return audit_last(&l, ret_id, chain, e);
}

int store_audit_check(struct store *s, int64_t anchor_id,
		      const uint8_t anchor[STORE_AUDIT_CHAIN_SIZE], struct store_audit_check *ret,
		      struct err *e)
{
	_cleanup_lease_ struct lease l = { 0 };
	uint8_t prev[STORE_AUDIT_CHAIN_SIZE] = { 0 }, want[STORE_AUDIT_CHAIN_SIZE];
	sqlite3_stmt *st;
	int rc, r;

	*ret = (struct store_audit_check){ .anchor_given = anchor_id > 0 && anchor };
	r = lease_get(s, false, &l, e);
	if (r < 0)
		return r;
	/* one statement: one consistent snapshot of the table */
	r = lease_stmt(&l, ST_AUDIT_CHAIN_WALK, &st, e);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_audit a = { 0 };
		int64_t id = sqlite3_column_int64(st, 0);
		const uint8_t *have = col_chain(st, 6);

		ret->records++;
		ret->head_id = id;
		memset(ret->head, 0, sizeof(ret->head));
		if (ret->anchor_given && id == anchor_id) {
			ret->anchor_found = true;
			ret->anchor_matches = have && CRYPTO_memcmp(have, anchor, sizeof(want)) == 0;
		}
		if (!have) {
			/* the chain restarts after it */
			ret->unchained++;
			memset(prev, 0, sizeof(prev));
			continue;
		}
		if (!ret->first_chained)
			ret->first_chained = id;
		memcpy(ret->head, have, sizeof(ret->head));
		r = col_text_fixed(st, 2, a.host, sizeof(a.host), e);
		if (r >= 0)
			r = col_text_fixed(st, 3, a.action, sizeof(a.action), e);
		if (r >= 0)
			r = col_text_fixed(st, 4, a.result, sizeof(a.result), e);
		if (r < 0)
			return r;
		a.details = (char *)sqlite3_column_text(st, 5);
		r = audit_chain(prev, id, sqlite3_column_int64(st, 1), &a, want, e);
		if (r < 0)
			return r;
		if (!ret->broken_id && CRYPTO_memcmp(want, have, sizeof(want)) != 0)
			ret->broken_id = id;
		memcpy(prev, have, sizeof(prev));
	}
	if (rc != SQLITE_DONE)
		return db_fail(l.c->db, e, "walking the audit records");
	return 0;
}
