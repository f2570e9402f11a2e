/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite store's schema, as an ordered list of migrations. Private to
 * store_sqlite.c (and its tests, which build a version-1 database from
 * migration 1 to test upgrades).
 *
 * Rules (docs/store.md):
 *   - never edit a migration that has shipped; append a new one;
 *   - versions are 1, 2, 3, ... without gaps, in this order;
 *   - each migration runs in one transaction together with the row that
 *     records it in schema_version, so a crash leaves either all or none;
 *   - a migration must not break nodes still running the previous version
 *     (add tables, columns with defaults and indexes; do not drop or rename
 *     while old nodes may run).
 * The SQL is constant text: no user data is ever part of it.
 */
#pragma once

struct store_migration {
	int version;
	const char *description;
	const char *sql;
};

static const struct store_migration store_migrations[] = {
	{
		1,
		"initial schema",
		"CREATE TABLE schema_version ("
		"  version INTEGER PRIMARY KEY,"
		"  applied INTEGER NOT NULL,"
		"  description TEXT NOT NULL"
		");"
		"CREATE TABLE host ("
		"  id INTEGER PRIMARY KEY,"
		"  name TEXT NOT NULL UNIQUE,"
		"  modes INTEGER NOT NULL CHECK (modes BETWEEN 1 AND 3),"
		"  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),"
		"  created INTEGER NOT NULL,"
		"  ek_name BLOB UNIQUE,"
		"  ek_pub BLOB,"
		"  ek_cert BLOB,"
		"  host_key_pem TEXT"
		");"
		"CREATE TABLE ak ("
		"  name BLOB PRIMARY KEY,"
		"  host_id INTEGER NOT NULL REFERENCES host(id) ON DELETE CASCADE,"
		"  pub BLOB NOT NULL,"
		"  created INTEGER NOT NULL"
		") WITHOUT ROWID;"
		"CREATE INDEX ak_host ON ak(host_id);"
		"CREATE TABLE enrollment ("
		"  id TEXT PRIMARY KEY,"
		"  host_id INTEGER NOT NULL REFERENCES host(id) ON DELETE CASCADE,"
		"  ak_pub BLOB NOT NULL,"
		"  secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),"
		"  expires INTEGER NOT NULL"
		") WITHOUT ROWID;"
		"CREATE INDEX enrollment_host ON enrollment(host_id);"
		"CREATE TABLE nonce ("
		"  sha256 BLOB PRIMARY KEY CHECK (length(sha256) = 32),"
		"  expires INTEGER NOT NULL"
		") WITHOUT ROWID;"
		"CREATE INDEX nonce_expires ON nonce(expires);"
		"CREATE TABLE baseline ("
		"  name TEXT PRIMARY KEY,"
		"  json TEXT NOT NULL,"
		"  created INTEGER NOT NULL"
		") WITHOUT ROWID;"
		"CREATE TABLE rule ("
		"  id TEXT PRIMARY KEY,"
		"  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1))"
		") WITHOUT ROWID;"
		"CREATE TABLE setting ("
		"  key TEXT PRIMARY KEY,"
		"  value BLOB NOT NULL"
		") WITHOUT ROWID;"
		"CREATE TABLE signing_key ("
		"  kid TEXT PRIMARY KEY,"
		"  private_pem TEXT NOT NULL,"
		"  is_primary INTEGER NOT NULL CHECK (is_primary IN (0, 1)),"
		"  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),"
		"  created INTEGER NOT NULL,"
		"  CONSTRAINT primary_key_enabled CHECK (enabled OR NOT is_primary)"
		") WITHOUT ROWID;"
		/* at most one primary signing key */
		"CREATE UNIQUE INDEX signing_key_one_primary ON signing_key(is_primary)"
		"  WHERE is_primary;"
		"CREATE TABLE audit ("
		"  id INTEGER PRIMARY KEY,"
		"  time INTEGER NOT NULL,"
		"  host TEXT NOT NULL,"
		"  action TEXT NOT NULL,"
		"  result TEXT NOT NULL,"
		"  details TEXT"
		");",
	},
	{
		2,
		"audit indexes for listing by host and by time",
		/* audit_list filters by host and time, newest first; the rowid
		 * (id) is the implicit last column of both indexes, so
		 * ORDER BY time DESC, id DESC is served by them. */
		"CREATE INDEX audit_host_time ON audit(host, time);"
		"CREATE INDEX audit_time ON audit(time);",
	},
	{
		3,
		"key protection service: guardian keys and rollback records",
		/* hgsd's guardian keys: the private guardian JSON (a secret,
		 * like signing_key.private_pem), at most one primary, the
		 * primary enabled */
		"CREATE TABLE guardian_key ("
		"  id TEXT PRIMARY KEY,"
		"  name TEXT NOT NULL,"
		"  algorithm TEXT NOT NULL,"
		"  private_json TEXT NOT NULL,"
		"  is_primary INTEGER NOT NULL CHECK (is_primary IN (0, 1)),"
		"  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),"
		"  created INTEGER NOT NULL,"
		"  CONSTRAINT guardian_primary_enabled CHECK (enabled OR NOT is_primary)"
		") WITHOUT ROWID;"
		"CREATE UNIQUE INDEX guardian_key_one_primary ON guardian_key(is_primary)"
		"  WHERE is_primary;"
		/* per (owner guardian id, VM id): the committed generation
		 * and KP digest (rollback protection) */
		"CREATE TABLE vm_rollback ("
		"  owner TEXT NOT NULL,"
		"  vm_id TEXT NOT NULL,"
		"  generation INTEGER NOT NULL CHECK (generation >= 0),"
		"  digest BLOB NOT NULL CHECK (length(digest) = 32),"
		"  updated INTEGER NOT NULL,"
		"  PRIMARY KEY (owner, vm_id)"
		") WITHOUT ROWID;",
	},
	{
		4,
		"audit hash chain",
		/* chain: SHA-256 over the previous record's chain and this
		 * record (store_sqlite.c, audit_chain); NULL for records
		 * written before this version or by an older node */
		"ALTER TABLE audit ADD COLUMN chain BLOB "
		"  CHECK (chain IS NULL OR length(chain) = 32);",
	},
};
