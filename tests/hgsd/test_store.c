/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite store: every function and every error path, schema migrations
 * (a real version-1 database upgraded), file modes, two stores on one file,
 * eight threads of one process and two processes racing on one file.
 * Each test runs in its own temporary directory.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/util.h"
#include "hgsd/store.h"
#include "hgsd/store_sqlite_schema.h"

#define LATEST_VERSION                                                         \
	(store_migrations[ARRAY_SIZE(store_migrations) - 1].version)

struct fx {
	char dir[256];
	char path[300];
	struct store *s;
};

/* ---- fixture ---- */

static int setup_dir(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/store-test-XXXXXX",
		 tmp && tmp[0] ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/hgsd.db", f->dir);
	*state = f;
	return 0;
}

static int setup_store(void **state)
{
	struct fx *f;
	struct err e = { 0 };

	setup_dir(state);
	f = *state;
	if (store_open(f->path, &f->s, &e) < 0)
		fail_msg("store_open: %s", err_str(&e));
	return 0;
}

static void rm_db(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };

	for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
		char p[400];

		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
}

static int teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	rm_db(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Run SQL on the file directly, as another program (or an older shieldvm)
 * would. */
static void raw_sql(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db,
					 SQLITE_OPEN_READWRITE |
						 SQLITE_OPEN_CREATE,
					 NULL),
			 SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static void make_file(const char *path, mode_t mode, const char *content)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

static void sha(uint8_t out[32], unsigned a, unsigned b)
{
	memset(out, 0, 32);
	memcpy(out, &a, sizeof(a));
	memcpy(out + 8, &b, sizeof(b));
	out[31] = 0x5a;
}

static int64_t add_host(struct store *s, const char *name, uint8_t ek_tag)
{
	struct store_host h = { 0 };
	struct err e = { 0 };
	uint8_t pub[4] = { 1, 2, 3, ek_tag };
	int64_t id = 0;

	snprintf(h.name, sizeof(h.name), "%s", name);
	h.modes = STORE_MODE_TPM;
	h.enabled = true;
	h.ek_name[0] = 0x00;
	h.ek_name[1] = 0x0b;
	memset(h.ek_name + 2, ek_tag, 32);
	h.ek_name_len = 34;
	h.ek_pub = pub;
	h.ek_pub_len = sizeof(pub);
	if (store_host_add(s, &h, &id, &e) < 0)
		fail_msg("host_add %s: %s", name, err_str(&e));
	return id;
}

/* ---- open, files, schema ---- */

static void test_open_creates_private_file(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct err e = { 0 };
	struct stat st;
	char wal[400];
	mode_t old = umask(0);
	int v = 0;

	assert_int_equal(store_open(f->path, &s, &e), 0);
	umask(old);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* a write creates the WAL, with the database file's mode */
	add_host(s, "h1", 1);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(store_schema_version(s, &v, &e), 0);
	assert_int_equal(v, LATEST_VERSION);
	store_close(s);

	/* reopening an up-to-date database migrates nothing */
	assert_int_equal(store_open(f->path, &s, &e), 0);
	assert_int_equal(store_schema_version(s, &v, &e), 0);
	assert_int_equal(v, LATEST_VERSION);
	store_close(s);
}

static void test_open_refuses_loose_modes(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct err e = { 0 };
	char wal[400];

	assert_int_equal(store_open(f->path, &s, &e), 0);
	store_close(s);
	s = NULL;

	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(store_open(f->path, &s, &e), -EPERM);
	assert_null(s);
	assert_non_null(strstr(e.msg, "0644"));
	assert_non_null(strstr(e.msg, "chmod 600"));

	e = (struct err){ 0 };
	assert_int_equal(chmod(f->path, 0620), 0); /* group-writable */
	assert_int_equal(store_open(f->path, &s, &e), -EPERM);

	/* a leftover WAL readable by others */
	assert_int_equal(chmod(f->path, 0600), 0);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	make_file(wal, 0604, "");
	e = (struct err){ 0 };
	assert_int_equal(store_open(f->path, &s, &e), -EPERM);
	assert_non_null(strstr(e.msg, "-wal"));
	unlink(wal);

	assert_int_equal(chmod(f->path, 0400), 0);
	e = (struct err){ 0 };
	if (geteuid() != 0) { /* root opens it read-write anyway */
		assert_int_equal(store_open(f->path, &s, &e), -EACCES);
		assert_null(s);
	}
	assert_int_equal(chmod(f->path, 0600), 0);
	assert_int_equal(store_open(f->path, &s, &e), 0);
	store_close(s);
}

static void test_open_uris(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct err e = { 0 };
	char uri[400], missing[400];

	snprintf(uri, sizeof(uri), "sqlite:%s", f->path);
	assert_int_equal(store_open(uri, &s, &e), 0);
	store_close(s);
	s = NULL;

	assert_int_equal(store_open("postgresql://db/hgs", &s, &e),
			 -EPROTONOSUPPORT);
	assert_null(s);
	e = (struct err){ 0 };
	assert_int_equal(store_open("", &s, &e), -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_open("sqlite:", &s, &e), -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_open(":memory:", &s, &e), -EINVAL);
	e = (struct err){ 0 };
	snprintf(missing, sizeof(missing), "%s/no/such/dir.db", f->dir);
	assert_int_equal(store_open(missing, &s, &e), -ENOENT);
	assert_non_null(strstr(e.msg, missing));
	e = (struct err){ 0 };
	assert_int_equal(store_open(f->dir, &s, &e), -EISDIR);
	assert_null(s);
}

static void test_newer_schema_refused(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct err e = { 0 };

	assert_int_equal(store_open(f->path, &s, &e), 0);
	store_close(s);
	s = NULL;
	raw_sql(f->path, "INSERT INTO schema_version VALUES (99, 0, 'future')");
	assert_int_equal(store_open(f->path, &s, &e), -EPROTONOSUPPORT);
	assert_null(s);
	assert_non_null(strstr(e.msg, "schema version 99"));
	assert_non_null(strstr(e.msg, "newer shieldvm"));
}

static void test_foreign_database_refused(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct err e = { 0 };

	make_file(f->path, 0600, "");
	raw_sql(f->path, "CREATE TABLE photos (id INTEGER PRIMARY KEY)");
	assert_int_equal(store_open(f->path, &s, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not a shieldvm store"));
	assert_null(s);
}

static void test_not_a_database(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct err e = { 0 };
	char junk[4096];

	memset(junk, 'x', sizeof(junk) - 1);
	junk[sizeof(junk) - 1] = '\0';
	make_file(f->path, 0600, junk);
	assert_int_equal(store_open(f->path, &s, &e), -EIO);
	assert_non_null(strstr(e.msg, "not a database"));
	assert_null(s);
}

static void test_migrations_ordered(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(store_migrations); i++) {
		assert_int_equal(store_migrations[i].version, (int)i + 1);
		assert_non_null(store_migrations[i].sql);
		assert_true(strlen(store_migrations[i].description) > 0);
	}
	assert_true(LATEST_VERSION >= 2);
}

static int count_audit(const struct store_audit *a, void *userdata)
{
	(*(size_t *)userdata)++;
	(void)a;
	return 0;
}

static void test_upgrade_from_v1(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct store_host h = { 0 };
	struct err e = { 0 };
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int v = 0;

	/* the database a version-1 shieldvm wrote, with some data */
	make_file(f->path, 0600, "");
	raw_sql(f->path, store_migrations[0].sql);
	raw_sql(f->path,
		"INSERT INTO schema_version VALUES (1, 1700000000, 'initial');"
		"INSERT INTO host(name, modes, enabled, created, ek_name) "
		"  VALUES ('old-host', 1, 1, 1700000000, x'000b01');"
		"INSERT INTO audit(time, host, action, result, details) VALUES"
		"  (1700000001, 'old-host', 'attest', 'pass', NULL),"
		"  (1700000002, 'old-host', 'attest', 'fail', '{}');");

	assert_int_equal(store_open(f->path, &s, &e), 0);
	assert_int_equal(store_schema_version(s, &v, &e), 0);
	assert_int_equal(v, LATEST_VERSION);
	/* data kept */
	assert_int_equal(store_host_get(s, "old-host", &h, &e), 0);
	assert_int_equal(h.ek_name_len, 3);
	store_host_clear(&h);
	assert_int_equal(store_audit_list(s, "old-host", 0, 0, count_audit, &n,
					  &e),
			 0);
	assert_int_equal(n, 2);
	/* migration 4: the old records have no chain; the chain starts with
	 * the first record written after it */
	{
		struct store_audit a = { .time = 1700000003 };
		struct store_audit_check c;

		snprintf(a.host, sizeof(a.host), "old-host");
		snprintf(a.action, sizeof(a.action), "attest");
		snprintf(a.result, sizeof(a.result), "pass");
		assert_int_equal(store_audit_add(s, &a, &e), 0);
		assert_int_equal(store_audit_check(s, 0, NULL, &c, &e), 0);
		assert_int_equal(c.records, 3);
		assert_int_equal(c.unchained, 2);
		assert_int_equal(c.first_chained, 3);
		assert_int_equal(c.broken_id, 0);
	}
	store_close(s);

	/* migration 2 ran: its indexes exist, and its row is recorded */
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY,
					 NULL),
			 SQLITE_OK);
	assert_int_equal(
		sqlite3_prepare_v2(db,
				   "SELECT count(*) FROM sqlite_master WHERE "
				   "type = 'index' AND name IN "
				   "('audit_host_time', 'audit_time')",
				   -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 2);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT group_concat(version) FROM "
					    "(SELECT version FROM "
					    "schema_version ORDER BY version)",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "1,2,3,4");
	sqlite3_finalize(st);
	/* migration 3 ran: the key protection tables exist, empty */
	assert_int_equal(
		sqlite3_prepare_v2(db,
				   "SELECT count(*) FROM sqlite_master WHERE "
				   "type = 'table' AND name IN "
				   "('guardian_key', 'vm_rollback')",
				   -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 2);
	sqlite3_finalize(st);
	/* the listing by host uses the new index */
	assert_int_equal(sqlite3_prepare_v2(db,
					    "EXPLAIN QUERY PLAN SELECT id FROM "
					    "audit WHERE host = 'x' AND time "
					    ">= 0 ORDER BY time DESC, id DESC",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_non_null(strstr((const char *)sqlite3_column_text(st, 3),
			       "audit_host_time"));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* ---- hosts ---- */

static void test_hosts(void **state)
{
	struct fx *f = *state;
	struct store_host h = { 0 }, g = { 0 }, *v = NULL;
	struct err e = { 0 };
	uint8_t cert[3] = { 0x30, 0x01, 0x00 };
	char pem[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
	int64_t id_b, id_a, id_c = 0;
	size_t n = 0;

	id_b = add_host(f->s, "bravo", 2);
	id_a = add_host(f->s, "alpha", 1);
	assert_true(id_a > 0 && id_b > 0 && id_a != id_b);

	snprintf(h.name, sizeof(h.name), "charlie");
	h.modes = STORE_MODE_TPM | STORE_MODE_HOST_KEY;
	h.enabled = false;
	h.created = 1234;
	h.ek_name[0] = 0x00;
	h.ek_name[1] = 0x0b;
	h.ek_name_len = 2;
	h.ek_cert = cert;
	h.ek_cert_len = sizeof(cert);
	h.host_key_pem = pem;
	assert_int_equal(store_host_add(f->s, &h, &id_c, &e), 0);

	assert_int_equal(store_host_get(f->s, "charlie", &g, &e), 0);
	assert_int_equal(g.id, id_c);
	assert_string_equal(g.name, "charlie");
	assert_int_equal(g.modes, STORE_MODE_TPM | STORE_MODE_HOST_KEY);
	assert_false(g.enabled);
	assert_int_equal(g.created, 1234);
	assert_int_equal(g.ek_name_len, 2);
	assert_null(g.ek_pub);
	assert_int_equal(g.ek_cert_len, 3);
	assert_memory_equal(g.ek_cert, cert, 3);
	assert_string_equal(g.host_key_pem, pem);
	store_host_clear(&g);

	assert_int_equal(store_host_get_by_id(f->s, id_a, &g, &e), 0);
	assert_string_equal(g.name, "alpha");
	assert_true(g.enabled);
	assert_true(g.created > 1600000000); /* 0 means now */
	assert_int_equal(g.ek_pub_len, 4);
	assert_int_equal(g.ek_pub[3], 1);
	assert_null(g.ek_cert);
	assert_null(g.host_key_pem);
	store_host_clear(&g);

	{
		uint8_t ek[34] = { 0x00, 0x0b };

		memset(ek + 2, 2, 32);
		assert_int_equal(store_host_get_by_ek(f->s, ek, sizeof(ek), &g,
						      &e),
				 0);
		assert_int_equal(g.id, id_b);
		store_host_clear(&g);
		ek[5] = 9;
		assert_int_equal(store_host_get_by_ek(f->s, ek, sizeof(ek), &g,
						      &e),
				 -ENOENT);
		e = (struct err){ 0 };
		assert_int_equal(store_host_get_by_ek(f->s, ek, 0, &g, &e),
				 -EINVAL);
	}

	assert_int_equal(store_host_list(f->s, &v, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].name, "alpha");
	assert_string_equal(v[1].name, "bravo");
	assert_string_equal(v[2].name, "charlie");
	store_hosts_free(v, n);

	/* not found */
	e = (struct err){ 0 };
	assert_int_equal(store_host_get(f->s, "delta", &g, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "delta"));
	e = (struct err){ 0 };
	assert_int_equal(store_host_get_by_id(f->s, 999, &g, &e), -ENOENT);

	/* taken */
	e = (struct err){ 0 };
	snprintf(h.name, sizeof(h.name), "alpha");
	h.ek_name[1] = 0x0c;
	assert_int_equal(store_host_add(f->s, &h, NULL, &e), -EEXIST);
	assert_non_null(strstr(e.msg, "alpha"));
	e = (struct err){ 0 };
	snprintf(h.name, sizeof(h.name), "echo");
	h.ek_name[1] = 0x0b; /* charlie's EK */
	assert_int_equal(store_host_add(f->s, &h, NULL, &e), -EEXIST);

	/* invalid */
	e = (struct err){ 0 };
	h.ek_name[1] = 0x0d;
	h.modes = 4;
	assert_int_equal(store_host_add(f->s, &h, NULL, &e), -EINVAL);
	e = (struct err){ 0 };
	h.modes = STORE_MODE_HOST_KEY;
	h.host_key_pem = NULL;
	assert_int_equal(store_host_add(f->s, &h, NULL, &e), -EINVAL);
	e = (struct err){ 0 };
	h.modes = STORE_MODE_TPM;
	h.ek_name_len = 0;
	assert_int_equal(store_host_add(f->s, &h, NULL, &e), -EINVAL);
	e = (struct err){ 0 };
	h.ek_name_len = 2;
	h.name[0] = '\0';
	assert_int_equal(store_host_add(f->s, &h, NULL, &e), -EINVAL);
	e = (struct err){ 0 };
	memset(h.name, 'n', sizeof(h.name)); /* not terminated */
	assert_int_equal(store_host_add(f->s, &h, NULL, &e), -EINVAL);

	/* enable, disable */
	assert_int_equal(store_host_set_enabled(f->s, "alpha", false, &e), 0);
	assert_int_equal(store_host_get(f->s, "alpha", &g, &e), 0);
	assert_false(g.enabled);
	store_host_clear(&g);
	assert_int_equal(store_host_set_enabled(f->s, "alpha", true, &e), 0);
	assert_int_equal(store_host_get(f->s, "alpha", &g, &e), 0);
	assert_true(g.enabled);
	store_host_clear(&g);
	e = (struct err){ 0 };
	assert_int_equal(store_host_set_enabled(f->s, "zulu", true, &e),
			 -ENOENT);

	/* remove */
	assert_int_equal(store_host_remove(f->s, "bravo", &e), 0);
	e = (struct err){ 0 };
	assert_int_equal(store_host_get(f->s, "bravo", &g, &e), -ENOENT);
	e = (struct err){ 0 };
	assert_int_equal(store_host_remove(f->s, "bravo", &e), -ENOENT);
	assert_int_equal(store_host_list(f->s, &v, &n, &e), 0);
	assert_int_equal(n, 2);
	store_hosts_free(v, n);
	store_host_clear(NULL);
	store_hosts_free(NULL, 0);
}

/* ---- attestation keys ---- */

static void test_aks(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	uint8_t name[34] = { 0x00, 0x0b, 7 }, pub[100];
	uint8_t *got = NULL;
	size_t got_len = 0;
	int64_t host, hid = 0;

	memset(pub, 0xa5, sizeof(pub));
	host = add_host(f->s, "h", 1);
	assert_int_equal(store_ak_add(f->s, host, name, sizeof(name), pub,
				      sizeof(pub), &e),
			 0);
	assert_int_equal(store_ak_get(f->s, name, sizeof(name), &hid, &got,
				      &got_len, &e),
			 0);
	assert_int_equal(hid, host);
	assert_int_equal(got_len, sizeof(pub));
	assert_memory_equal(got, pub, sizeof(pub));
	free(got);

	assert_int_equal(store_ak_add(f->s, host, name, sizeof(name), pub,
				      sizeof(pub), &e),
			 -EEXIST);
	e = (struct err){ 0 };
	name[2] = 8;
	assert_int_equal(store_ak_add(f->s, host + 100, name, sizeof(name), pub,
				      sizeof(pub), &e),
			 -ENOENT);
	assert_non_null(strstr(e.msg, "FOREIGN KEY"));
	e = (struct err){ 0 };
	assert_int_equal(store_ak_get(f->s, name, sizeof(name), &hid, &got,
				      &got_len, &e),
			 -ENOENT);
	e = (struct err){ 0 };
	assert_int_equal(store_ak_add(f->s, host, name, 0, pub, sizeof(pub),
				      &e),
			 -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_ak_add(f->s, host, name, sizeof(name), pub, 0,
				      &e),
			 -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_ak_add(f->s, host, name, 67, pub, sizeof(pub),
				      &e),
			 -EINVAL);

	/* removing the host removes its AKs */
	name[2] = 7;
	assert_int_equal(store_host_remove(f->s, "h", &e), 0);
	assert_int_equal(store_ak_get(f->s, name, sizeof(name), &hid, &got,
				      &got_len, &e),
			 -ENOENT);
}

/* ---- enrollments ---- */

static void test_enrollments(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	uint8_t pub[64], secret[32], got_secret[32];
	uint8_t *got = NULL;
	size_t got_len = 0;
	int64_t now = time(NULL), host, hid = 0;
	char longid[80];

	memset(pub, 0x11, sizeof(pub));
	memset(secret, 0x22, sizeof(secret));
	host = add_host(f->s, "h", 1);

	assert_int_equal(store_enrollment_put(f->s, "enr-1", host, pub,
					      sizeof(pub), secret, now + 60, &e),
			 0);
	assert_int_equal(store_enrollment_put(f->s, "enr-1", host, pub,
					      sizeof(pub), secret, now + 60, &e),
			 -EEXIST);
	e = (struct err){ 0 };
	assert_int_equal(store_enrollment_put(f->s, "enr-x", host + 9, pub,
					      sizeof(pub), secret, now + 60, &e),
			 -ENOENT);
	e = (struct err){ 0 };
	memset(longid, 'i', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(store_enrollment_put(f->s, longid, host, pub,
					      sizeof(pub), secret, now + 60, &e),
			 -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_enrollment_put(f->s, "enr-y", host, pub, 0,
					      secret, now + 60, &e),
			 -EINVAL);

	assert_int_equal(store_enrollment_take(f->s, "enr-1", now, &hid, &got,
					       &got_len, got_secret, &e),
			 0);
	assert_int_equal(hid, host);
	assert_int_equal(got_len, sizeof(pub));
	assert_memory_equal(got, pub, sizeof(pub));
	assert_memory_equal(got_secret, secret, 32);
	free(got);
	got = NULL;

	/* used */
	e = (struct err){ 0 };
	assert_int_equal(store_enrollment_take(f->s, "enr-1", now, &hid, &got,
					       &got_len, got_secret, &e),
			 -ENOENT);
	assert_non_null(strstr(e.msg, "enr-1"));
	assert_null(got);
	/* unknown */
	e = (struct err){ 0 };
	assert_int_equal(store_enrollment_take(f->s, "nope", now, &hid, &got,
					       &got_len, got_secret, &e),
			 -ENOENT);

	/* expired: -ETIME, and gone afterwards */
	assert_int_equal(store_enrollment_put(f->s, "enr-2", host, pub,
					      sizeof(pub), secret, now + 10, &e),
			 0);
	e = (struct err){ 0 };
	assert_int_equal(store_enrollment_take(f->s, "enr-2", now + 11, &hid,
					       &got, &got_len, got_secret, &e),
			 -ETIME);
	assert_non_null(strstr(e.msg, "expired"));
	assert_null(got);
	e = (struct err){ 0 };
	assert_int_equal(store_enrollment_take(f->s, "enr-2", now, &hid, &got,
					       &got_len, got_secret, &e),
			 -ENOENT);
	/* expires == now is still valid */
	assert_int_equal(store_enrollment_put(f->s, "enr-3", host, pub,
					      sizeof(pub), secret, now + 10, &e),
			 0);
	assert_int_equal(store_enrollment_take(f->s, "enr-3", now + 10, NULL,
					       NULL, NULL, NULL, &e),
			 0);

	/* removing the host removes its pending enrollments */
	assert_int_equal(store_enrollment_put(f->s, "enr-4", host, pub,
					      sizeof(pub), secret, now + 10, &e),
			 0);
	assert_int_equal(store_host_remove(f->s, "h", &e), 0);
	assert_int_equal(store_enrollment_take(f->s, "enr-4", now, NULL, NULL,
					       NULL, NULL, &e),
			 -ENOENT);
}

/* ---- nonces ---- */

static void test_nonces(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	uint8_t a[32], b[32];

	sha(a, 1, 0);
	sha(b, 2, 0);
	assert_int_equal(store_nonce_consume(f->s, a, 100, 50, &e), 0);
	assert_int_equal(store_nonce_consume(f->s, b, 5000, 50, &e), 0);
	assert_int_equal(store_nonce_consume(f->s, a, 100, 51, &e), -EEXIST);
	assert_non_null(strstr(e.msg, "replayed"));
	e = (struct err){ 0 };
	assert_int_equal(store_nonce_consume(f->s, NULL, 100, 51, &e), -EINVAL);

	/* A minute later (by the caller's clock) expired records are purged:
	 * a is gone, b (not expired) still counts. */
	e = (struct err){ 0 };
	assert_int_equal(store_nonce_consume(f->s, b, 5000, 1000, &e), -EEXIST);
	assert_int_equal(store_nonce_consume(f->s, a, 2000, 1001, &e), 0);
	e = (struct err){ 0 };
	assert_int_equal(store_nonce_consume(f->s, b, 5000, 1002, &e), -EEXIST);
}

/* The nonce and its audit record in one call: the record only when the
 * nonce was consumed, the nonce consumed even when the record is refused. */
static void test_nonce_with_audit(void **state)
{
	struct fx *f = *state;
	struct store_audit a = { .time = 100 };
	struct err e = { 0 }, ae = { 0 };
	uint8_t n1[32], n2[32];
	size_t count = 0;
	int ar = 0;

	sha(n1, 11, 0);
	sha(n2, 11, 1);
	snprintf(a.host, sizeof(a.host), "h1");
	snprintf(a.action, sizeof(a.action), "attest");
	snprintf(a.result, sizeof(a.result), "pass");
	a.details = (char *)"{\"jti\":\"x\"}";
	assert_int_equal(store_nonce_consume_audit(f->s, n1, 1000, 50, &a, &ar, &ae, &e), 0);
	assert_int_equal(ar, 0);
	/* a replay: refused, and no second record */
	assert_int_equal(store_nonce_consume_audit(f->s, n1, 1000, 51, &a, &ar, &ae, &e), -EEXIST);
	assert_non_null(strstr(e.msg, "replayed"));
	assert_int_equal(ar, -ECANCELED);
	assert_int_equal(store_nonce_consume(f->s, n1, 1000, 52, &e), -EEXIST);
	assert_int_equal(store_audit_list(f->s, NULL, 0, 0, count_audit, &count, &e), 0);
	assert_int_equal(count, 1);
	/* a record the store refuses: the nonce is consumed all the same */
	snprintf(a.action, sizeof(a.action), "%s", "");
	e = (struct err){ 0 };
	assert_int_equal(store_nonce_consume_audit(f->s, n2, 1000, 53, &a, &ar, &ae, &e), 0);
	assert_int_equal(ar, -EINVAL);
	assert_int_equal(store_nonce_consume(f->s, n2, 1000, 54, &e), -EEXIST);
	count = 0;
	assert_int_equal(store_audit_list(f->s, NULL, 0, 0, count_audit, &count, &e), 0);
	assert_int_equal(count, 1);
}

struct consume_audit_arg {
	struct store *s;
	unsigned id;
	unsigned won;
};

static void *consume_audit_thread(void *p)
{
	struct consume_audit_arg *t = p;
	struct store_audit a = { .time = 100 };

	snprintf(a.host, sizeof(a.host), "t%u", t->id);
	snprintf(a.action, sizeof(a.action), "attest");
	snprintf(a.result, sizeof(a.result), "pass");
	for (unsigned i = 0; i < 300; i++) {
		struct err e = { 0 }, ae = { 0 };
		uint8_t n[32];
		int ar = 1, r;

		sha(n, 12, i % 100); /* every nonce offered by every thread */
		r = store_nonce_consume_audit(t->s, n, 1000, 60, &a, &ar, &ae, &e);
		if (r == 0 && ar == 0)
			t->won++;
		else if (r != -EEXIST || ar != -ECANCELED)
			fail_msg("consume_audit: %d/%d %s %s", r, ar, e.msg, ae.msg);
	}
	return NULL;
}

/* 8 threads race on 100 nonces: each is won exactly once, with exactly one
 * audit record. */
static void test_nonce_with_audit_threads(void **state)
{
	struct fx *f = *state;
	struct consume_audit_arg t[8];
	pthread_t th[8];
	struct err e = { 0 };
	unsigned won = 0;
	size_t count = 0;

	for (unsigned i = 0; i < 8; i++) {
		t[i] = (struct consume_audit_arg){ .s = f->s, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, consume_audit_thread, &t[i]), 0);
	}
	for (unsigned i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		won += t[i].won;
	}
	assert_int_equal(won, 100);
	assert_int_equal(store_audit_list(f->s, NULL, 0, 0, count_audit, &count, &e), 0);
	assert_int_equal(count, 100);
}

static void test_nonce_purge_by_count(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	uint8_t n[32];

	/* 1,200 nonces expiring at 10, consumed at time 0..: a purge runs
	 * after 1,000 calls (by count, the clock does not move a minute). */
	for (unsigned i = 0; i < 1200; i++) {
		sha(n, 7, i);
		assert_int_equal(store_nonce_consume(f->s, n, 10, 0, &e), 0);
	}
	sha(n, 7, 5);
	assert_int_equal(store_nonce_consume(f->s, n, 10, 0, &e), -EEXIST);
	/* now 11: all expired; the next count-triggered purge removes them */
	for (unsigned i = 0; i < 1000; i++) {
		sha(n, 8, i);
		assert_int_equal(store_nonce_consume(f->s, n, 100, 11, &e), 0);
	}
	sha(n, 7, 5);
	assert_int_equal(store_nonce_consume(f->s, n, 100, 11, &e), 0);
}

/* ---- baselines ---- */

static void test_baselines(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	char *json = NULL, **names = NULL;
	size_t n = 0;

	assert_int_equal(store_baseline_put(f->s, "gce", "{\"a\":1}", &e), 0);
	assert_int_equal(store_baseline_put(f->s, "azure", "{\"b\":2}", &e), 0);
	assert_int_equal(store_baseline_put(f->s, "gce", "{}", &e), -EEXIST);
	e = (struct err){ 0 };
	assert_int_equal(store_baseline_put(f->s, "x", "", &e), -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_baseline_put(f->s, "", "{}", &e), -EINVAL);

	assert_int_equal(store_baseline_get(f->s, "gce", &json, &e), 0);
	assert_string_equal(json, "{\"a\":1}");
	free(json);
	e = (struct err){ 0 };
	assert_int_equal(store_baseline_get(f->s, "none", &json, &e), -ENOENT);

	assert_int_equal(store_baseline_list(f->s, &names, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "azure");
	assert_string_equal(names[1], "gce");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);

	assert_int_equal(store_baseline_remove(f->s, "gce", &e), 0);
	e = (struct err){ 0 };
	assert_int_equal(store_baseline_remove(f->s, "gce", &e), -ENOENT);
	assert_int_equal(store_baseline_list(f->s, &names, &n, &e), 0);
	assert_int_equal(n, 1);
	free(names[0]);
	free(names);
}

/* ---- rules ---- */

struct rules_seen {
	char text[256];
	int stop_after; /* 0: never; > 0: return 1 at that call; < 0: error */
	int calls;
	struct store *s; /* fn uses the store while listing */
};

static int collect_rule(const char *rule, bool enabled, void *userdata)
{
	struct rules_seen *r = userdata;
	size_t len = strlen(r->text);
	struct err e = { 0 };
	uint8_t *v = NULL;
	size_t vlen;

	snprintf(r->text + len, sizeof(r->text) - len, "%s=%d;", rule,
		 enabled);
	/* nested store call: the rules were read before fn runs */
	assert_int_equal(store_setting_get(r->s, "absent", &v, &vlen, &e),
			 -ENOENT);
	r->calls++;
	if (r->stop_after && r->calls == abs(r->stop_after))
		return r->stop_after > 0 ? 1 : -ECANCELED;
	return 0;
}

static void test_rules(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	struct rules_seen r = { .s = f->s };

	assert_int_equal(store_rule_list(f->s, collect_rule, &r, &e), 0);
	assert_string_equal(r.text, "");
	assert_int_equal(store_rule_set(f->s, "secure-boot", true, &e), 0);
	assert_int_equal(store_rule_set(f->s, "debugger", false, &e), 0);
	assert_int_equal(store_rule_set(f->s, "iommu", true, &e), 0);
	assert_int_equal(store_rule_set(f->s, "secure-boot", false, &e), 0);
	assert_int_equal(store_rule_list(f->s, collect_rule, &r, &e), 0);
	assert_string_equal(r.text, "debugger=0;iommu=1;secure-boot=0;");

	r = (struct rules_seen){ .s = f->s, .stop_after = 2 };
	assert_int_equal(store_rule_list(f->s, collect_rule, &r, &e), 0);
	assert_string_equal(r.text, "debugger=0;iommu=1;");
	r = (struct rules_seen){ .s = f->s, .stop_after = -1 };
	assert_int_equal(store_rule_list(f->s, collect_rule, &r, &e),
			 -ECANCELED);
	assert_string_equal(r.text, "debugger=0;");
	e = (struct err){ 0 };
	assert_int_equal(store_rule_set(f->s, "", true, &e), -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_rule_list(f->s, NULL, NULL, &e), -EINVAL);
}

/* ---- settings ---- */

static void test_settings(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	uint8_t key[32], other[32], *v = NULL;
	size_t len = 0;

	memset(key, 0xab, sizeof(key));
	memset(other, 0xcd, sizeof(other));
	assert_int_equal(store_setting_get(f->s, "nonce_key", &v, &len, &e),
			 -ENOENT);
	assert_null(v);
	assert_non_null(strstr(e.msg, "nonce_key"));

	assert_int_equal(store_setting_get_or_create(f->s, "nonce_key", key,
						     sizeof(key), &v, &len, &e),
			 0);
	assert_int_equal(len, 32);
	assert_memory_equal(v, key, 32);
	free(v);
	/* the second node gets the first one's value */
	assert_int_equal(store_setting_get_or_create(f->s, "nonce_key", other,
						     sizeof(other), &v, &len,
						     &e),
			 0);
	assert_memory_equal(v, key, 32);
	free(v);

	assert_int_equal(store_setting_put(f->s, "policy_id", (const uint8_t *)"p1",
					   2, &e),
			 0);
	assert_int_equal(store_setting_put(f->s, "policy_id",
					   (const uint8_t *)"p2-long", 7, &e),
			 0);
	assert_int_equal(store_setting_get(f->s, "policy_id", &v, &len, &e), 0);
	assert_int_equal(len, 7);
	assert_string_equal((char *)v, "p2-long"); /* NUL-terminated */
	free(v);

	/* empty value */
	assert_int_equal(store_setting_put(f->s, "empty", NULL, 0, &e), 0);
	assert_int_equal(store_setting_get(f->s, "empty", &v, &len, &e), 0);
	assert_int_equal(len, 0);
	assert_non_null(v);
	free(v);

	e = (struct err){ 0 };
	assert_int_equal(store_setting_put(f->s, "", key, 1, &e), -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_setting_put(f->s, "big", key, 1u << 20, &e),
			 -EINVAL);
}

/* ---- signing keys ---- */

static void test_keys(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	char pem1[] = "-----BEGIN PRIVATE KEY-----\nONE\n-----END PRIVATE KEY-----\n";
	char pem2[] = "-----BEGIN PRIVATE KEY-----\nTWO\n-----END PRIVATE KEY-----\n";
	struct store_key k = { .private_pem = pem1, .primary = true,
			       .enabled = true, .created = 10 };
	struct store_key *v = NULL;
	size_t n = 0;

	snprintf(k.kid, sizeof(k.kid), "k1");
	assert_int_equal(store_key_add(f->s, &k, &e), 0);
	assert_int_equal(store_key_add(f->s, &k, &e), -EEXIST); /* kid */
	e = (struct err){ 0 };
	snprintf(k.kid, sizeof(k.kid), "k2");
	k.private_pem = pem2;
	k.created = 20;
	assert_int_equal(store_key_add(f->s, &k, &e), -EEXIST); /* 2nd primary */
	e = (struct err){ 0 };
	k.primary = false;
	assert_int_equal(store_key_add(f->s, &k, &e), 0);
	snprintf(k.kid, sizeof(k.kid), "k3");
	k.enabled = false;
	k.created = 30;
	assert_int_equal(store_key_add(f->s, &k, &e), 0);
	k.primary = true; /* a disabled primary */
	snprintf(k.kid, sizeof(k.kid), "k4");
	assert_int_equal(store_key_add(f->s, &k, &e), -EINVAL);
	e = (struct err){ 0 };
	k.kid[0] = '\0';
	assert_int_equal(store_key_add(f->s, &k, &e), -EINVAL);

	assert_int_equal(store_key_list(f->s, &v, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].kid, "k1");
	assert_true(v[0].primary && v[0].enabled);
	assert_string_equal(v[0].private_pem, pem1);
	assert_int_equal(v[0].created, 10);
	assert_string_equal(v[1].kid, "k2");
	assert_true(!v[1].primary && v[1].enabled);
	assert_string_equal(v[1].private_pem, pem2);
	assert_true(!v[2].primary && !v[2].enabled);
	store_key_clear(&v[0]);
	assert_null(v[0].private_pem);
	assert_string_equal(v[0].kid, "");
	store_keys_free(v, n);

	/* rotate */
	assert_int_equal(store_key_set_primary(f->s, "k2", &e), 0);
	assert_int_equal(store_key_list(f->s, &v, &n, &e), 0);
	assert_true(!v[0].primary && v[1].primary && !v[2].primary);
	store_keys_free(v, n);
	/* already primary: no change */
	assert_int_equal(store_key_set_primary(f->s, "k2", &e), 0);

	e = (struct err){ 0 };
	assert_int_equal(store_key_set_primary(f->s, "nope", &e), -ENOENT);
	e = (struct err){ 0 };
	assert_int_equal(store_key_set_primary(f->s, "k3", &e), -EINVAL);
	/* the failed attempts changed nothing */
	assert_int_equal(store_key_list(f->s, &v, &n, &e), 0);
	assert_true(!v[0].primary && v[1].primary && !v[2].primary);
	store_keys_free(v, n);

	e = (struct err){ 0 };
	assert_int_equal(store_key_set_enabled(f->s, "k2", false, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "primary"));
	assert_int_equal(store_key_set_enabled(f->s, "k1", false, &e), 0);
	assert_int_equal(store_key_set_enabled(f->s, "k3", true, &e), 0);
	e = (struct err){ 0 };
	assert_int_equal(store_key_set_enabled(f->s, "nope", true, &e), -ENOENT);
	assert_int_equal(store_key_list(f->s, &v, &n, &e), 0);
	assert_true(!v[0].enabled && v[1].enabled && v[2].enabled);
	store_keys_free(v, n);
	store_key_clear(NULL);
	store_keys_free(NULL, 0);
}

/* ---- guardian keys ---- */

static void put_guardian(struct store *s, const char *id, bool primary,
			 bool enabled, int64_t created, int want)
{
	char json[64];
	struct store_guardian g = { .private_json = json, .primary = primary,
				    .enabled = enabled, .created = created };
	struct err e = { 0 };

	snprintf(json, sizeof(json), "{\"secret\": \"%s\"}", id);
	snprintf(g.id, sizeof(g.id), "%s", id);
	snprintf(g.name, sizeof(g.name), "name-%s", id);
	snprintf(g.algorithm, sizeof(g.algorithm), "ec-p256");
	if (store_guardian_add(s, &g, &e) != want)
		fail_msg("guardian_add %s: %s", id, err_str(&e));
}

static void test_guardians(void **state)
{
	struct fx *f = *state;
	struct store_guardian *v = NULL, g = { 0 };
	struct err e = { 0 };
	size_t n = 0;

	assert_int_equal(store_guardian_list(f->s, true, &v, &n, &e), 0);
	assert_int_equal(n, 0);
	free(v);

	put_guardian(f->s, "g1", true, true, 10, 0);
	put_guardian(f->s, "g1", false, true, 11, -EEXIST); /* id taken */
	put_guardian(f->s, "g2", true, true, 20, -EEXIST);  /* 2nd primary */
	put_guardian(f->s, "g2", false, true, 20, 0);
	put_guardian(f->s, "g3", false, false, 30, 0);
	put_guardian(f->s, "g4", true, false, 40, -EINVAL); /* disabled primary */
	put_guardian(f->s, "", false, true, 40, -EINVAL);

	assert_int_equal(store_guardian_list(f->s, true, &v, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].id, "g1");
	assert_string_equal(v[0].name, "name-g1");
	assert_string_equal(v[0].algorithm, "ec-p256");
	assert_string_equal(v[0].private_json, "{\"secret\": \"g1\"}");
	assert_true(v[0].primary && v[0].enabled);
	assert_int_equal(v[0].created, 10);
	assert_true(!v[1].primary && v[1].enabled);
	assert_true(!v[2].primary && !v[2].enabled);
	store_guardian_clear(&v[0]);
	assert_null(v[0].private_json);
	assert_string_equal(v[0].id, "");
	store_guardians_free(v, n);
	/* a listing without the secrets */
	assert_int_equal(store_guardian_list(f->s, false, &v, &n, &e), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_null(v[i].private_json);
	assert_string_equal(v[2].id, "g3");
	store_guardians_free(v, n);

	assert_int_equal(store_guardian_get(f->s, "g2", &g, &e), 0);
	assert_string_equal(g.private_json, "{\"secret\": \"g2\"}");
	store_guardian_clear(&g);
	assert_int_equal(store_guardian_get(f->s, "nope", &g, &e), -ENOENT);
	e = (struct err){ 0 };

	/* rotate: one primary at a time, never a disabled one */
	assert_int_equal(store_guardian_set_primary(f->s, "g2", &e), 0);
	assert_int_equal(store_guardian_set_primary(f->s, "g2", &e), 0);
	assert_int_equal(store_guardian_set_primary(f->s, "g3", &e), -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_guardian_set_primary(f->s, "nope", &e), -ENOENT);
	e = (struct err){ 0 };
	assert_int_equal(store_guardian_list(f->s, false, &v, &n, &e), 0);
	assert_true(!v[0].primary && v[1].primary && !v[2].primary);
	store_guardians_free(v, n);

	assert_int_equal(store_guardian_set_enabled(f->s, "g2", false, &e),
			 -EINVAL);
	assert_non_null(strstr(e.msg, "primary"));
	e = (struct err){ 0 };
	assert_int_equal(store_guardian_set_enabled(f->s, "nope", false, &e),
			 -ENOENT);
	e = (struct err){ 0 };

	/* remove: only disabled and not primary */
	assert_int_equal(store_guardian_remove(f->s, "g1", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "enabled"));
	e = (struct err){ 0 };
	assert_int_equal(store_guardian_set_enabled(f->s, "g1", false, &e), 0);
	assert_int_equal(store_guardian_remove(f->s, "g1", &e), 0);
	assert_int_equal(store_guardian_remove(f->s, "g1", &e), -ENOENT);
	e = (struct err){ 0 };
	assert_int_equal(store_guardian_remove(f->s, "g2", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "primary"));
	e = (struct err){ 0 };
	assert_int_equal(store_guardian_set_enabled(f->s, "g3", true, &e), 0);
	assert_int_equal(store_guardian_list(f->s, false, &v, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "g2");
	assert_true(v[1].enabled);
	store_guardians_free(v, n);
	store_guardian_clear(NULL);
	store_guardians_free(NULL, 0);
}

/* store_private_replace: compare and swap of a key's private text. */
static void test_private_replace(void **state)
{
	struct fx *f = *state;
	struct store_key k = { .kid = "k1", .private_pem = (char *)"PEM-1", .primary = true,
			       .enabled = true };
	struct store_key *kv = NULL;
	struct store_guardian g = { 0 };
	struct err e = { 0 };
	size_t n = 0;

	assert_int_equal(store_key_add(f->s, &k, &e), 0);
	put_guardian(f->s, "g1", true, true, 10, 0);

	assert_int_equal(store_private_replace(f->s, STORE_PRIVATE_TOKEN_KEY, "k1", "PEM-1",
					       "sealed-1", &e),
			 0);
	/* a second node with the old text finds it changed: nothing undone */
	assert_int_equal(store_private_replace(f->s, STORE_PRIVATE_TOKEN_KEY, "k1", "PEM-1",
					       "sealed-other", &e),
			 -ESTALE);
	e = (struct err){ 0 };
	assert_int_equal(store_private_replace(f->s, STORE_PRIVATE_TOKEN_KEY, "nope", "PEM-1",
					       "x", &e),
			 -ESTALE);
	e = (struct err){ 0 };
	assert_int_equal(store_key_list(f->s, &kv, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(kv[0].private_pem, "sealed-1");
	assert_true(kv[0].primary && kv[0].enabled);
	store_keys_free(kv, n);

	assert_int_equal(store_private_replace(f->s, STORE_PRIVATE_GUARDIAN_KEY, "g1",
					       "{\"secret\": \"g1\"}", "sealed-g1", &e),
			 0);
	assert_int_equal(store_guardian_get(f->s, "g1", &g, &e), 0);
	assert_string_equal(g.private_json, "sealed-g1");
	assert_true(g.primary && g.enabled);
	store_guardian_clear(&g);
	/* the kinds do not mix: a guardian id is no token key */
	assert_int_equal(store_private_replace(f->s, STORE_PRIVATE_TOKEN_KEY, "g1", "sealed-g1",
					       "x", &e),
			 -ESTALE);
	e = (struct err){ 0 };
	assert_int_equal(store_private_replace(f->s, STORE_PRIVATE_GUARDIAN_KEY, "g1", "sealed-g1",
					       "", &e),
			 -EINVAL);
}

/* ---- rollback records ---- */

static void test_vm_records(void **state)
{
	struct fx *f = *state;
	struct store_vm_record rec = { 0 };
	struct err e = { 0 };
	uint8_t d1[32], d2[32];

	sha(d1, 1, 1);
	sha(d2, 2, 2);
	assert_int_equal(store_vm_get(f->s, "owner1", "vm1", &rec, &e), -ENOENT);
	e = (struct err){ 0 };
	/* first commit, any generation */
	assert_int_equal(store_vm_commit(f->s, "owner1", "vm1", 1, d1, 100,
					 &rec, &e),
			 0);
	assert_int_equal(rec.generation, 1);
	assert_int_equal(store_vm_get(f->s, "owner1", "vm1", &rec, &e), 0);
	assert_int_equal(rec.generation, 1);
	assert_memory_equal(rec.digest, d1, 32);
	assert_int_equal(rec.updated, 100);
	/* the same commit again: a no-op success */
	assert_int_equal(store_vm_commit(f->s, "owner1", "vm1", 1, d1, 200,
					 NULL, &e),
			 0);
	assert_int_equal(store_vm_get(f->s, "owner1", "vm1", &rec, &e), 0);
	assert_int_equal(rec.updated, 100);
	/* same generation, another digest; an older generation: refused */
	assert_int_equal(store_vm_commit(f->s, "owner1", "vm1", 1, d2, 200,
					 &rec, &e),
			 -ESTALE);
	assert_non_null(strstr(e.msg, "another KP digest"));
	assert_int_equal(rec.generation, 1);
	e = (struct err){ 0 };
	assert_int_equal(store_vm_commit(f->s, "owner1", "vm1", 0, d1, 200,
					 NULL, &e),
			 -ESTALE);
	e = (struct err){ 0 };
	/* newer: recorded */
	assert_int_equal(store_vm_commit(f->s, "owner1", "vm1", 5, d2, 300,
					 NULL, &e),
			 0);
	assert_int_equal(store_vm_get(f->s, "owner1", "vm1", &rec, &e), 0);
	assert_int_equal(rec.generation, 5);
	assert_memory_equal(rec.digest, d2, 32);
	assert_int_equal(rec.updated, 300);
	/* another owner's VM of the same id is another record */
	assert_int_equal(store_vm_commit(f->s, "owner2", "vm1", 0, d1, 300,
					 NULL, &e),
			 0);
	assert_int_equal(store_vm_get(f->s, "owner2", "vm1", &rec, &e), 0);
	assert_int_equal(rec.generation, 0);
	assert_int_equal(store_vm_get(f->s, "owner1", "vm1", &rec, &e), 0);
	assert_int_equal(rec.generation, 5);
	/* the largest generation a KP may have, and beyond */
	assert_int_equal(store_vm_commit(f->s, "owner1", "vm2",
					 STORE_VM_GENERATION_MAX, d1, 0, NULL,
					 &e),
			 0);
	assert_int_equal(store_vm_get(f->s, "owner1", "vm2", &rec, &e), 0);
	assert_true(rec.generation == STORE_VM_GENERATION_MAX);
	assert_int_equal(store_vm_commit(f->s, "owner1", "vm3",
					 STORE_VM_GENERATION_MAX + 1, d1, 0,
					 NULL, &e),
			 -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_vm_commit(f->s, "", "vm3", 1, d1, 0, NULL, &e),
			 -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_vm_commit(f->s, "o", "vm3", 1, NULL, 0, NULL,
					 &e),
			 -EINVAL);
}

/* Threads race to commit the same next generation with different digests
 * (two hosts rolling one VM): exactly one wins, the rest are stale. */
struct vm_race {
	struct store *s;
	int idx;
	atomic_int *start;
	int result;
};

static void *vm_race_thread(void *arg)
{
	struct vm_race *t = arg;
	struct err e = { 0 };
	uint8_t d[32];

	sha(d, 7, (unsigned)t->idx);
	while (!atomic_load(t->start))
		;
	t->result = store_vm_commit(t->s, "owner", "vm-race", 8, d, 0, NULL,
				    &e);
	return NULL;
}

static void test_vm_commit_race(void **state)
{
	struct fx *f = *state;
	struct vm_race t[8];
	pthread_t th[8];
	atomic_int start = 0;
	struct err e = { 0 };
	uint8_t d[32];
	int won = 0, stale = 0;

	sha(d, 7, 0);
	assert_int_equal(store_vm_commit(f->s, "owner", "vm-race", 7, d, 0,
					 NULL, &e),
			 0);
	for (int i = 0; i < 8; i++) {
		t[i] = (struct vm_race){ .s = f->s, .idx = i + 1,
					 .start = &start };
		assert_int_equal(pthread_create(&th[i], NULL, vm_race_thread,
						&t[i]),
				 0);
	}
	atomic_store(&start, 1);
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		if (t[i].result == 0)
			won++;
		else if (t[i].result == -ESTALE)
			stale++;
	}
	assert_int_equal(won, 1);
	assert_int_equal(stale, 7);
}

/* ---- audit ---- */

struct audit_seen {
	char text[512];
	int stop_after;
	int calls;
};

static int collect_audit(const struct store_audit *a, void *userdata)
{
	struct audit_seen *r = userdata;
	size_t len = strlen(r->text);

	snprintf(r->text + len, sizeof(r->text) - len, "%lld:%s:%s:%s:%s;",
		 (long long)a->time, a->host, a->action, a->result,
		 a->details ? a->details : "-");
	r->calls++;
	if (r->stop_after && r->calls == abs(r->stop_after))
		return r->stop_after > 0 ? 1 : -ECANCELED;
	return 0;
}

static void add_audit(struct store *s, int64_t t, const char *host,
		      const char *result, const char *details)
{
	struct store_audit a = { .time = t };
	struct err e = { 0 };

	snprintf(a.host, sizeof(a.host), "%s", host);
	snprintf(a.action, sizeof(a.action), "attest");
	snprintf(a.result, sizeof(a.result), "%s", result);
	a.details = (char *)details;
	if (store_audit_add(s, &a, &e) < 0)
		fail_msg("audit_add: %s", err_str(&e));
}

/* An empty audit table (ids start again at 1). */
static void setup_reopen_chain(struct fx *f)
{
	raw_sql(f->path, "DELETE FROM audit");
}

static struct store_audit_check check_chain(struct store *s, int64_t anchor_id,
					   const uint8_t *anchor)
{
	struct store_audit_check c;
	struct err e = { 0 };

	if (store_audit_check(s, anchor_id, anchor, &c, &e) < 0)
		fail_msg("audit_check: %s", err_str(&e));
	return c;
}

/* The audit hash chain: intact as written; a changed, removed or reordered
 * record breaks it there; a rewritten or cut tail shows against an anchor;
 * records without a chain (older nodes) restart it. */
static void test_audit_chain(void **state)
{
	struct fx *f = *state;
	struct store_audit_check c;
	uint8_t head[STORE_AUDIT_CHAIN_SIZE], anchor3[STORE_AUDIT_CHAIN_SIZE];
	struct err e = { 0 };
	int64_t id;

	c = check_chain(f->s, 0, NULL);
	assert_int_equal(c.records, 0);
	assert_int_equal(c.head_id, 0);
	assert_int_equal(store_audit_head(f->s, &id, head, &e), 0);
	assert_int_equal(id, 0);

	add_audit(f->s, 100, "h1", "pass", NULL);
	add_audit(f->s, 200, "h2", "fail", "{\"reason\":\"x\"}");
	add_audit(f->s, 300, "h1", "pass", "{}");
	assert_int_equal(store_audit_head(f->s, &id, anchor3, &e), 0);
	assert_int_equal(id, 3);
	add_audit(f->s, 400, "h3", "error", NULL);
	add_audit(f->s, 500, "h1", "pass", NULL);

	c = check_chain(f->s, 3, anchor3);
	assert_int_equal(c.records, 5);
	assert_int_equal(c.unchained, 0);
	assert_int_equal(c.first_chained, 1);
	assert_int_equal(c.head_id, 5);
	assert_int_equal(c.broken_id, 0);
	assert_true(c.anchor_given && c.anchor_found && c.anchor_matches);
	assert_int_equal(store_audit_head(f->s, &id, head, &e), 0);
	assert_int_equal(id, 5);
	assert_memory_equal(head, c.head, sizeof(head));

	/* one record changed: broken there */
	raw_sql(f->path, "UPDATE audit SET result = 'pass' WHERE id = 2");
	c = check_chain(f->s, 0, NULL);
	assert_int_equal(c.broken_id, 2);
	raw_sql(f->path, "UPDATE audit SET result = 'fail' WHERE id = 2");
	assert_int_equal(check_chain(f->s, 0, NULL).broken_id, 0);
	raw_sql(f->path, "UPDATE audit SET details = NULL WHERE id = 3");
	assert_int_equal(check_chain(f->s, 0, NULL).broken_id, 3);
	raw_sql(f->path, "UPDATE audit SET details = '{}' WHERE id = 3");
	raw_sql(f->path, "UPDATE audit SET time = 301 WHERE id = 3");
	assert_int_equal(check_chain(f->s, 0, NULL).broken_id, 3);
	raw_sql(f->path, "UPDATE audit SET time = 300 WHERE id = 3");
	assert_int_equal(check_chain(f->s, 0, NULL).broken_id, 0);

	/* the anchor's record changed, with the chain rewritten from there:
	 * the walk passes, the anchor does not */
	raw_sql(f->path, "UPDATE audit SET chain = zeroblob(32) WHERE id = 3");
	c = check_chain(f->s, 3, anchor3);
	assert_true(c.anchor_found && !c.anchor_matches);
	assert_int_equal(c.broken_id, 3);

	/* a record removed in the middle: the next one breaks */
	setup_reopen_chain(f);
	add_audit(f->s, 100, "h1", "pass", NULL);
	add_audit(f->s, 200, "h2", "pass", NULL);
	add_audit(f->s, 300, "h3", "pass", NULL);
	raw_sql(f->path, "DELETE FROM audit WHERE id = 2");
	c = check_chain(f->s, 0, NULL);
	assert_int_equal(c.records, 2);
	assert_int_equal(c.broken_id, 3);

	/* the tail cut: the walk passes, an anchor past the end is missing */
	setup_reopen_chain(f);
	add_audit(f->s, 100, "h1", "pass", NULL);
	add_audit(f->s, 200, "h2", "pass", NULL);
	assert_int_equal(store_audit_head(f->s, &id, head, &e), 0);
	raw_sql(f->path, "DELETE FROM audit WHERE id = 2");
	c = check_chain(f->s, id, head);
	assert_int_equal(c.broken_id, 0);
	assert_true(c.anchor_given && !c.anchor_found && !c.anchor_matches);

	/* a record without a chain (an older node wrote it): the chain
	 * restarts after it, and the next record links to zeros */
	raw_sql(f->path, "INSERT INTO audit(time, host, action, result) VALUES (250, 'old', 'attest', 'pass')");
	add_audit(f->s, 300, "h3", "pass", NULL);
	c = check_chain(f->s, 0, NULL);
	assert_int_equal(c.records, 3);
	assert_int_equal(c.unchained, 1);
	assert_int_equal(c.first_chained, 1);
	assert_int_equal(c.broken_id, 0);
	assert_int_equal(c.head_id, 3);
}

static void test_audit(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	struct audit_seen r = { 0 };
	struct store_audit a = { 0 };

	add_audit(f->s, 100, "h1", "pass", NULL);
	add_audit(f->s, 200, "h2", "fail", "{\"failed\":[\"pcr7\"]}");
	add_audit(f->s, 300, "h1", "fail", "{}");
	add_audit(f->s, 300, "", "error", "{\"reason\":\"bad json\"}");

	assert_int_equal(store_audit_list(f->s, NULL, 0, 0, collect_audit, &r,
					  &e),
			 0);
	assert_string_equal(r.text,
			    "300::attest:error:{\"reason\":\"bad json\"};"
			    "300:h1:attest:fail:{};"
			    "200:h2:attest:fail:{\"failed\":[\"pcr7\"]};"
			    "100:h1:attest:pass:-;");
	r = (struct audit_seen){ 0 };
	assert_int_equal(store_audit_list(f->s, "h1", 0, 0, collect_audit, &r,
					  &e),
			 0);
	assert_string_equal(r.text, "300:h1:attest:fail:{};100:h1:attest:pass:-;");
	r = (struct audit_seen){ 0 };
	assert_int_equal(store_audit_list(f->s, NULL, 200, 0, collect_audit, &r,
					  &e),
			 0);
	assert_int_equal(r.calls, 3);
	r = (struct audit_seen){ 0 };
	assert_int_equal(store_audit_list(f->s, "h1", 101, 0, collect_audit, &r,
					  &e),
			 0);
	assert_int_equal(r.calls, 1);
	r = (struct audit_seen){ 0 };
	assert_int_equal(store_audit_list(f->s, NULL, 0, 2, collect_audit, &r,
					  &e),
			 0);
	assert_int_equal(r.calls, 2);
	r = (struct audit_seen){ 0 };
	assert_int_equal(store_audit_list(f->s, "nobody", 0, 0, collect_audit,
					  &r, &e),
			 0);
	assert_int_equal(r.calls, 0);
	r = (struct audit_seen){ .stop_after = 1 };
	assert_int_equal(store_audit_list(f->s, NULL, 0, 0, collect_audit, &r,
					  &e),
			 0);
	assert_int_equal(r.calls, 1);
	r = (struct audit_seen){ .stop_after = -2 };
	assert_int_equal(store_audit_list(f->s, NULL, 0, 0, collect_audit, &r,
					  &e),
			 -ECANCELED);
	assert_int_equal(r.calls, 2);

	/* time 0 means now */
	add_audit(f->s, 0, "h3", "pass", NULL);
	r = (struct audit_seen){ 0 };
	assert_int_equal(store_audit_list(f->s, "h3", time(NULL) - 60, 0,
					  collect_audit, &r, &e),
			 0);
	assert_int_equal(r.calls, 1);

	/* invalid records */
	e = (struct err){ 0 };
	snprintf(a.result, sizeof(a.result), "pass");
	assert_int_equal(store_audit_add(f->s, &a, &e), -EINVAL); /* action */
	e = (struct err){ 0 };
	snprintf(a.action, sizeof(a.action), "attest");
	memset(a.host, 'h', sizeof(a.host));
	assert_int_equal(store_audit_add(f->s, &a, &e), -EINVAL);
	e = (struct err){ 0 };
	assert_int_equal(store_audit_list(f->s, NULL, 0, 0, NULL, NULL, &e),
			 -EINVAL);
	store_audit_clear(NULL);
	a.details = strdup("{}");
	store_audit_clear(&a);
	assert_null(a.details);
}

/* ---- two stores, threads, processes ---- */

static void test_two_stores_one_file(void **state)
{
	struct fx *f = *state;
	struct store *s2 = NULL;
	struct store_host h = { 0 };
	struct err e = { 0 };
	uint8_t n[32], pub[8] = { 0 }, secret[32] = { 0 };
	int64_t id, now = time(NULL);
	size_t count = 0;

	assert_int_equal(store_open(f->path, &s2, &e), 0);
	id = add_host(f->s, "seen-by-both", 3);
	assert_int_equal(store_host_get(s2, "seen-by-both", &h, &e), 0);
	assert_int_equal(h.id, id);
	store_host_clear(&h);

	sha(n, 42, 0);
	assert_int_equal(store_nonce_consume(f->s, n, now + 60, now, &e), 0);
	assert_int_equal(store_nonce_consume(s2, n, now + 60, now, &e), -EEXIST);

	e = (struct err){ 0 };
	assert_int_equal(store_enrollment_put(s2, "e1", id, pub, sizeof(pub),
					      secret, now + 60, &e),
			 0);
	assert_int_equal(store_enrollment_take(f->s, "e1", now, NULL, NULL,
					       NULL, NULL, &e),
			 0);
	assert_int_equal(store_enrollment_take(s2, "e1", now, NULL, NULL, NULL,
					       NULL, &e),
			 -ENOENT);

	add_audit(s2, now, "seen-by-both", "pass", NULL);
	assert_int_equal(store_audit_list(f->s, "seen-by-both", 0, 0,
					  count_audit, &count, &e),
			 0);
	assert_int_equal(count, 1);
	store_close(s2);
}

#define THREADS 8
#define UNIQUE_PER_THREAD 400
#define SHARED_NONCES 300
#define AUDIT_PER_THREAD 200
#define ENROLLMENTS 64

struct race {
	struct store *s;
	int64_t host;
	atomic_int wins[SHARED_NONCES];
	atomic_int enroll_wins[ENROLLMENTS];
	atomic_int errors;  /* anything but 0 / the expected -EEXIST, -ENOENT */
	atomic_int unique_ok;
	char first_error[ERR_MSG_MAX + 32];
	pthread_mutex_t lock;
};

struct worker {
	struct race *race;
	unsigned id;
};

static void race_error(struct race *race, int r, const struct err *e)
{
	if (atomic_fetch_add(&race->errors, 1) == 0) {
		pthread_mutex_lock(&race->lock);
		snprintf(race->first_error, sizeof(race->first_error),
			 "%d: %s", r, err_str(e));
		pthread_mutex_unlock(&race->lock);
	}
}

static void *race_worker(void *arg)
{
	struct worker *w = arg;
	struct race *race = w->race;
	int64_t now = time(NULL);
	char host[32];

	snprintf(host, sizeof(host), "thread-%u", w->id);
	for (unsigned i = 0; i < UNIQUE_PER_THREAD + SHARED_NONCES; i++) {
		struct err e = { 0 };
		uint8_t n[32];
		int r;

		if (i % 2 == 0 && i / 2 < SHARED_NONCES) {
			/* all threads race on the same nonce */
			sha(n, 1000000, i / 2);
		} else {
			sha(n, w->id + 1, i);
		}
		r = store_nonce_consume(race->s, n, now + 300, now, &e);
		if (i % 2 == 0 && i / 2 < SHARED_NONCES) {
			if (r == 0)
				atomic_fetch_add(&race->wins[i / 2], 1);
			else if (r != -EEXIST)
				race_error(race, r, &e);
		} else if (r == 0) {
			atomic_fetch_add(&race->unique_ok, 1);
		} else {
			race_error(race, r, &e);
		}
		if (i < AUDIT_PER_THREAD) {
			struct store_audit a = { .time = now };

			snprintf(a.host, sizeof(a.host), "%s", host);
			snprintf(a.action, sizeof(a.action), "attest");
			snprintf(a.result, sizeof(a.result), "pass");
			a.details = "{\"n\":1}";
			r = store_audit_add(race->s, &a, &e);
			if (r < 0)
				race_error(race, r, &e);
		}
		if (i < ENROLLMENTS) {
			char id[32];
			unsigned k = (i + w->id) % ENROLLMENTS;

			snprintf(id, sizeof(id), "enr-%u", k);
			r = store_enrollment_take(race->s, id, now, NULL, NULL,
						  NULL, NULL, &e);
			if (r == 0)
				atomic_fetch_add(&race->enroll_wins[k], 1);
			else if (r != -ENOENT)
				race_error(race, r, &e);
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fx *f = *state;
	struct race *race = calloc(1, sizeof(*race));
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct err e = { 0 };
	uint8_t pub[8] = { 1 }, secret[32] = { 2 };
	int64_t now = time(NULL);

	assert_non_null(race);
	race->s = f->s;
	pthread_mutex_init(&race->lock, NULL);
	race->host = add_host(f->s, "racer", 5);
	for (unsigned k = 0; k < ENROLLMENTS; k++) {
		char id[32];

		snprintf(id, sizeof(id), "enr-%u", k);
		assert_int_equal(store_enrollment_put(f->s, id, race->host, pub,
						      sizeof(pub), secret,
						      now + 300, &e),
				 0);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .race = race, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, race_worker, &w[i]),
				 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	if (atomic_load(&race->errors))
		fail_msg("%d unexpected errors, first: %s",
			 atomic_load(&race->errors), race->first_error);
	assert_int_equal(atomic_load(&race->unique_ok),
			 THREADS * UNIQUE_PER_THREAD);
	for (unsigned k = 0; k < SHARED_NONCES; k++)
		assert_int_equal(atomic_load(&race->wins[k]), 1);
	for (unsigned k = 0; k < ENROLLMENTS; k++)
		assert_int_equal(atomic_load(&race->enroll_wins[k]), 1);
	for (unsigned i = 0; i < THREADS; i++) {
		char host[32];
		size_t n = 0;

		snprintf(host, sizeof(host), "thread-%u", i);
		assert_int_equal(store_audit_list(f->s, host, 0, 0, count_audit,
						  &n, &e),
				 0);
		assert_int_equal(n, AUDIT_PER_THREAD);
	}
	pthread_mutex_destroy(&race->lock);
	free(race);
}

#define PROC_NONCES 3000

/* Consume nonces 0..PROC_NONCES-1 in its own store on path; write the
 * number won to fd; return the number of unexpected errors. */
static int proc_race(const char *path, int fd, bool reverse)
{
	struct store *s = NULL;
	struct err e = { 0 };
	int64_t now = time(NULL);
	int won = 0, errors = 0;

	if (store_open(path, &s, &e) < 0) {
		fprintf(stderr, "store_open: %s\n", err_str(&e));
		return 1;
	}
	for (unsigned i = 0; i < PROC_NONCES; i++) {
		unsigned k = reverse ? PROC_NONCES - 1 - i : i;
		struct store_audit a = { .time = now };
		uint8_t n[32];
		int r;

		sha(n, 77, k);
		e = (struct err){ 0 };
		r = store_nonce_consume(s, n, now + 300, now, &e);
		if (r == 0)
			won++;
		else if (r != -EEXIST) {
			fprintf(stderr, "nonce_consume: %s\n", err_str(&e));
			errors++;
		}
		snprintf(a.host, sizeof(a.host), "proc");
		snprintf(a.action, sizeof(a.action), "attest");
		snprintf(a.result, sizeof(a.result), "pass");
		if (store_audit_add(s, &a, &e) < 0) {
			fprintf(stderr, "audit_add: %s\n", err_str(&e));
			errors++;
		}
	}
	store_close(s);
	if (write(fd, &won, sizeof(won)) != (ssize_t)sizeof(won))
		errors++;
	return errors;
}

static void test_two_processes(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	int fds[2], won_child = -1, won_parent = -1, status = 0, errors;
	struct store *s = NULL;
	size_t count = 0;
	pid_t pid;

	/* Two processes ("nodes") race on a new file. Fork while this process
	 * has one thread (no store open: a store runs a checkpointer thread),
	 * as forking a threaded process may leave the child's allocator locked
	 * (it does under ASan). */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(proc_race(f->path, fds[1], true) ? 1 : 0);
	}
	errors = proc_race(f->path, fds[1], false);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(errors, 0);
	close(fds[1]);
	assert_int_equal(read(fds[0], &won_parent, sizeof(int)), sizeof(int));
	assert_int_equal(read(fds[0], &won_child, sizeof(int)), sizeof(int));
	close(fds[0]);
	/* every nonce won exactly once, by one process or the other */
	assert_int_equal(won_parent + won_child, PROC_NONCES);
	assert_int_equal(store_open(f->path, &s, &e), 0);
	assert_int_equal(store_audit_list(s, "proc", 0, 0, count_audit, &count,
					  &e),
			 0);
	assert_int_equal(count, 2 * PROC_NONCES);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_private_file,
						setup_dir, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_loose_modes,
						setup_dir, teardown),
		cmocka_unit_test_setup_teardown(test_open_uris, setup_dir,
						teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused,
						setup_dir, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_database_refused,
						setup_dir, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_database, setup_dir,
						teardown),
		cmocka_unit_test(test_migrations_ordered),
		cmocka_unit_test_setup_teardown(test_upgrade_from_v1, setup_dir,
						teardown),
		cmocka_unit_test_setup_teardown(test_hosts, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_aks, setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_enrollments, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_nonces, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_nonce_with_audit, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_nonce_with_audit_threads, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_nonce_purge_by_count,
						setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_baselines, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_rules, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_settings, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_guardians, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_private_replace, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_chain, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_vm_records, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_vm_commit_race,
						setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_audit, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_two_stores_one_file,
						setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_two_processes, setup_dir,
						teardown),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
