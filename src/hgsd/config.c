/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsd/config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"
#include "common/limits.h"
#include "common/util.h"

#ifndef HGSD_VERSION
#define HGSD_VERSION "unknown"
#endif

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

void config_defaults(struct config *c)
{
	char host[256];

	*c = (struct config){
		.listen_port = 8443,
		.max_connections = 1024,
		.timeout = 30,
		.max_body = HGSD_MAX_BODY_DEFAULT,
		.keep_alive = true,
		.token_lifetime = 8 * 3600,
		.modes = CONFIG_MODE_TPM | CONFIG_MODE_HOST_KEY,
		.nonce_lifetime = 300,
		.log_level = LOG_LEVEL_INFO,
	};
	if (gethostname(host, sizeof(host)) < 0 || !host[0])
		snprintf(host, sizeof(host), "hgsd");
	host[sizeof(host) - 1] = '\0';
	/* Allocation failures here surface as NULL fields, which
	 * config_from_args reports. */
	set_str(&c->listen_host, "0.0.0.0");
	set_str(&c->node, host);
	set_str(&c->tls_priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
	set_str(&c->store_uri, "sqlite:/var/lib/shieldvm/hgsd.db");
	set_str(&c->policy_id, "shieldvm-default");
	set_str(&c->ek_ca_dir, "/etc/shieldvm/ek-ca");
	set_str(&c->admin_socket, "/run/shieldvm/hgsd.sock");
	set_str(&c->admin_group, "shieldvm-admin");
}

void config_clear(struct config *c)
{
	char **strs[] = { &c->listen_host, &c->node, &c->tls_cert, &c->tls_key,
			  &c->tls_priorities, &c->user, &c->store_uri,
			  &c->policy_id, &c->ek_ca_dir, &c->admin_socket,
			  &c->admin_group, &c->kek_file, &c->old_kek_file,
			  &c->config_path };

	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
}

/* A decimal integer that is the whole string and within [min, max]. */
static int parse_uint(const char *s, unsigned long long min,
		      unsigned long long max, unsigned long long *ret)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return -ERANGE;
	if ((unsigned long long)v < min || (unsigned long long)v > max)
		return -ERANGE;
	*ret = (unsigned long long)v;
	return 0;
}

static int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* "HOST:PORT" or "[V6ADDR]:PORT". */
static int parse_listen(const char *s, char **ret_host, uint16_t *ret_port)
{
	unsigned long long port;
	const char *colon, *hs, *he;
	char *host;

	if (s[0] == '[') {
		he = strchr(s, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		hs = s + 1;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* IPv6 needs brackets */
		hs = s;
		he = colon;
	}
	if (he == hs || parse_uint(colon + 1, 0, 65535, &port) < 0)
		return -EINVAL;
	host = strndup(hs, (size_t)(he - hs));
	if (!host)
		return -ENOMEM;
	free(*ret_host);
	*ret_host = host;
	*ret_port = (uint16_t)port;
	return 0;
}

int config_parse_modes(const char *s, unsigned *ret)
{
	_cleanup_free_ char *copy = strdup(s);
	unsigned modes = 0;
	char *save = NULL, *tok;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (streq(tok, "tpm"))
			modes |= CONFIG_MODE_TPM;
		else if (streq(tok, "host-key"))
			modes |= CONFIG_MODE_HOST_KEY;
		else
			return -EINVAL;
	}
	if (!modes)
		return -EINVAL;
	*ret = modes;
	return 0;
}

/* A path value: absolute, or empty for "not set" where allowed. */
static int set_path(char **dst, const char *v, bool may_be_empty,
		    const char **why)
{
	if (!*v) {
		if (!may_be_empty) {
			*why = "must not be empty";
			return -EINVAL;
		}
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (v[0] != '/') {
		*why = "must be an absolute path";
		return -EINVAL;
	}
	return set_str(dst, v);
}

/* Apply one key. On error, *why says what was wrong with the value. */
static int config_set(struct config *c, const char *section, const char *key,
		      const char *v, const char **why)
{
	unsigned long long n;
	int r;

#define IS(s, k) (streq(section, s) && streq(key, k))
#define UINT(field, lo, hi)                                                    \
	do {                                                                   \
		if (parse_uint(v, lo, hi, &n) < 0) {                           \
			*why = "expected an integer in [" #lo ", " #hi "]";   \
			return -EINVAL;                                        \
		}                                                              \
		c->field = (__typeof__(c->field))n;                            \
		return 0;                                                      \
	} while (0)

	*why = "invalid value";
	if (IS("server", "listen")) {
		r = parse_listen(v, &c->listen_host, &c->listen_port);
		if (r == -EINVAL)
			*why = "expected HOST:PORT or [IPV6]:PORT";
		return r;
	}
	if (IS("server", "node")) {
		if (!*v || strlen(v) > HGSD_NAME_MAX) {
			*why = "expected 1 to 127 characters";
			return -EINVAL;
		}
		return set_str(&c->node, v);
	}
	if (IS("server", "threads"))
		UINT(threads, 0, HGSD_MAX_THREADS);
	if (IS("server", "max_connections"))
		UINT(max_connections, 1, HGSD_MAX_CONNECTIONS_CEILING);
	if (IS("server", "timeout"))
		UINT(timeout, 1, 3600);
	if (IS("server", "max_body"))
		UINT(max_body, 1024, HGSD_MAX_BODY_CEILING);
	if (IS("server", "keep_alive")) {
		*why = "expected yes or no";
		return parse_bool(v, &c->keep_alive);
	}
	if (IS("server", "tls_cert"))
		return set_path(&c->tls_cert, v, true, why);
	if (IS("server", "tls_key"))
		return set_path(&c->tls_key, v, true, why);
	if (IS("server", "tls_priorities")) {
		if (!*v) {
			*why = "must not be empty";
			return -EINVAL;
		}
		return set_str(&c->tls_priorities, v);
	}
	if (IS("server", "user")) {
		if (!*v) {
			free(c->user);
			c->user = NULL;
			return 0;
		}
		return set_str(&c->user, v);
	}
	if (IS("store", "uri")) {
		if (!*v) {
			*why = "must not be empty";
			return -EINVAL;
		}
		return set_str(&c->store_uri, v);
	}
	if (IS("tokens", "lifetime"))
		UINT(token_lifetime, 60, 7 * 24 * 3600);
	if (IS("keys", "kek_file"))
		return set_path(&c->kek_file, v, true, why);
	if (IS("keys", "old_kek_file"))
		return set_path(&c->old_kek_file, v, true, why);
	if (IS("attestation", "modes")) {
		*why = "expected tpm, host-key or both (comma-separated)";
		return config_parse_modes(v, &c->modes);
	}
	if (IS("attestation", "nonce_lifetime"))
		UINT(nonce_lifetime, 10, 3600);
	if (IS("attestation", "policy_id")) {
		if (!*v || strlen(v) > HGSD_NAME_MAX) {
			*why = "expected 1 to 127 characters";
			return -EINVAL;
		}
		return set_str(&c->policy_id, v);
	}
	if (IS("attestation", "ek_ca_dir"))
		return set_path(&c->ek_ca_dir, v, true, why);
	if (IS("admin", "socket"))
		return set_path(&c->admin_socket, v, false, why);
	if (IS("admin", "group")) {
		if (!*v) {
			free(c->admin_group);
			c->admin_group = NULL;
			return 0;
		}
		return set_str(&c->admin_group, v);
	}
	if (IS("log", "level")) {
		*why = "expected debug, info, notice, warning or error";
		return log_level_parse(v, &c->log_level);
	}
#undef IS
#undef UINT
	*why = "unknown key";
	return -ENOENT;
}

struct ini_state {
	struct config *c;
	bool failed;
	char section[64], key[64], value[256];
	const char *why;
	int r;
};

static int config_ini_line(void *user, const char *section, const char *key,
		       const char *value)
{
	struct ini_state *st = user;
	const char *why = NULL;
	int r;

	if (!key) /* section start (INI_CALL_HANDLER_ON_NEW_SECTION builds) */
		return 1;
	r = config_set(st->c, section, key, value, &why);
	if (r >= 0)
		return 1;
	if (!st->failed) {
		st->failed = true;
		st->r = r;
		st->why = why;
		snprintf(st->section, sizeof(st->section), "%s", section);
		snprintf(st->key, sizeof(st->key), "%s", key);
		snprintf(st->value, sizeof(st->value), "%s", value);
	}
	return 0; /* inih reports this line's number */
}

static int config_ini_any(void *user, const char *section, const char *key,
			  const char *value)
{
	return 1;
}

int config_load_file(struct config *c, const char *path, struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct ini_state st = { .c = c };
	size_t len;
	int r;

	r = file_read(path, HGSD_CONFIG_MAX_SIZE, &buf, &len, e);
	if (r < 0)
		return r;
	if (memchr(buf, '\0', len))
		return err_set(e, EINVAL, "%s: contains a NUL byte", path);
	/* Syntax first (every key accepted), so a line number inih reports
	 * is never confused with a bad value on another line. */
	r = ini_parse_string((const char *)buf, config_ini_any, NULL);
	if (r != 0)
		return err_set(e, EINVAL, "%s:%d: syntax error", path, r);
	r = ini_parse_string((const char *)buf, config_ini_line, &st);
	if (st.failed) {
		if (st.r == -ENOMEM)
			return err_set(e, ENOMEM, "%s: out of memory", path);
		return err_set(e, EINVAL, "%s:%d: [%s] %s = '%s': %s", path, r,
			       st.section, st.key, st.value, st.why);
	}
	if (r != 0)
		return err_set(e, EINVAL, "%s:%d: syntax error", path, r);
	return set_str(&c->config_path, path);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hgsd [OPTIONS]\n\n"
		"The shieldvm Host Guardian Service daemon: attests guarded hosts by\n"
		"their TPM evidence and issues health tokens.\n\n"
		"  --config FILE        configuration file (default " CONFIG_DEFAULT_PATH ")\n"
		"  --listen HOST:PORT   host API address ([server] listen)\n"
		"  --store URI          store, e.g. sqlite:/var/lib/shieldvm/hgsd.db ([store] uri)\n"
		"  --admin-socket PATH  admin API Unix socket ([admin] socket)\n"
		"  --tls-cert FILE      TLS certificate chain, PEM ([server] tls_cert)\n"
		"  --tls-key FILE       TLS private key, PEM ([server] tls_key)\n"
		"  --kek-file FILE      key-encryption key for the keys at rest ([keys] kek_file)\n"
		"  --old-kek-file FILE  the KEK it replaces, during a rotation ([keys] old_kek_file)\n"
		"  --user USER          drop to USER after opening listeners ([server] user)\n"
		"  --foreground         do not detach\n"
		"  --help               this text\n"
		"  --version            print the version\n\n"
		"See hgsd(8) and docs/hgsd.md.\n");
}

enum {
	OPT_CONFIG = 0x100,
	OPT_LISTEN,
	OPT_STORE,
	OPT_ADMIN_SOCKET,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_KEK_FILE,
	OPT_OLD_KEK_FILE,
	OPT_USER,
	OPT_FOREGROUND,
	OPT_HELP,
	OPT_VERSION,
};

int config_from_args(int argc, char **argv, struct config *ret, struct err *e)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "admin-socket", required_argument, NULL, OPT_ADMIN_SOCKET },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "kek-file", required_argument, NULL, OPT_KEK_FILE },
		{ "old-kek-file", required_argument, NULL, OPT_OLD_KEK_FILE },
		{ "user", required_argument, NULL, OPT_USER },
		{ "foreground", no_argument, NULL, OPT_FOREGROUND },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	/* Flags are collected first and applied after the file. */
	const char *flag_val[OPT_VERSION - OPT_CONFIG + 1] = { 0 };
	const char *config_path = NULL;
	bool foreground = false;
	struct config c;
	int o, r;

	config_defaults(&c);
	opterr = 0;
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case OPT_HELP:
			usage(stdout);
			config_clear(&c);
			return CONFIG_EXIT;
		case OPT_VERSION:
			printf("hgsd %s\n", HGSD_VERSION);
			config_clear(&c);
			return CONFIG_EXIT;
		case OPT_CONFIG:
			config_path = optarg;
			break;
		case OPT_FOREGROUND:
			foreground = true;
			break;
		case '?':
			config_clear(&c);
			if (optopt)
				return err_set(e, EINVAL, "option '%s' needs a value or is unknown (try --help)",
					       argv[optind - 1]);
			return err_set(e, EINVAL, "unknown option '%s' (try --help)",
				       argv[optind - 1]);
		default:
			flag_val[o - OPT_CONFIG] = optarg;
			break;
		}
	}
	if (optind < argc) {
		config_clear(&c);
		return err_set(e, EINVAL, "unexpected argument '%s' (try --help)",
			       argv[optind]);
	}

	if (config_path) {
		r = config_load_file(&c, config_path, e);
	} else if (access(CONFIG_DEFAULT_PATH, F_OK) == 0) {
		r = config_load_file(&c, CONFIG_DEFAULT_PATH, e);
	} else {
		r = 0;
	}
	if (r < 0) {
		config_clear(&c);
		return r;
	}

	static const struct {
		int opt;
		const char *section, *key, *flag;
	} map[] = {
		{ OPT_LISTEN, "server", "listen", "--listen" },
		{ OPT_STORE, "store", "uri", "--store" },
		{ OPT_ADMIN_SOCKET, "admin", "socket", "--admin-socket" },
		{ OPT_TLS_CERT, "server", "tls_cert", "--tls-cert" },
		{ OPT_TLS_KEY, "server", "tls_key", "--tls-key" },
		{ OPT_KEK_FILE, "keys", "kek_file", "--kek-file" },
		{ OPT_OLD_KEK_FILE, "keys", "old_kek_file", "--old-kek-file" },
		{ OPT_USER, "server", "user", "--user" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		const char *v = flag_val[map[i].opt - OPT_CONFIG];
		const char *why = NULL;

		if (!v)
			continue;
		r = config_set(&c, map[i].section, map[i].key, v, &why);
		if (r < 0) {
			config_clear(&c);
			return err_set(e, EINVAL, "%s '%s': %s", map[i].flag, v, why);
		}
	}
	c.foreground = foreground;

	if (!c.listen_host || !c.node || !c.tls_priorities || !c.store_uri ||
	    !c.policy_id || !c.admin_socket) {
		config_clear(&c);
		return err_set(e, ENOMEM, "out of memory");
	}
	if (c.old_kek_file && !c.kek_file) {
		config_clear(&c);
		return err_set(e, EINVAL, "[keys] old_kek_file needs kek_file: the KEK that replaces it");
	}
	if (!!c.tls_cert != !!c.tls_key) {
		config_clear(&c);
		return err_set(e, EINVAL, "tls_cert and tls_key go together: set both or neither");
	}
	*ret = c;
	return CONFIG_RUN;
}
