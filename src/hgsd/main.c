/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsd: the Host Guardian Service daemon.
 *
 * Start-up order matters for privilege separation: configuration, then
 * everything that needs root (TLS key, listeners, the admin socket and its
 * ownership), then the drop to [server] user, and only then the store,
 * the nonce key and the token signing keys -- so every file the store
 * creates belongs to the service user and no secret from the store is ever
 * held by a root process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "attest/ekcert.h"
#include "attest/nonce.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/limits.h"
#include "common/util.h"
#include "hgsd/api.h"
#include "hgsd/config.h"
#include "hgsd/http.h"
#include "hgsd/guardians.h"
#include "hgsd/kek.h"
#include "hgsd/keys.h"
#include "hgsd/log.h"
#include "hgsd/store.h"

#define EXIT_CONFIG 2

struct daemon_state {
	struct config cfg;
	struct api_ctx ctx;
	uid_t uid;           /* the service user after the drop */
	gid_t gid;
	bool drop;           /* running as root with [server] user */
	char *tls_cert_pem;
	char *tls_key_pem;   /* secret: wiped at exit */
	size_t tls_key_len;
	int tcp_fd, admin_fd;
	uint16_t port;
	uint8_t *nonce_key;  /* one mlocked page */
	struct kek *kek;     /* [keys] kek_file, or NULL */
	int64_t audit_head_logged; /* the audit record last logged as the head */
	int secure_heap;     /* CRYPTO_secure_malloc_init: 1 locked, 2 unlocked, 0 none */
	struct http_server *host_srv, *admin_srv;
	int ready_fd;        /* daemon mode: tells the parent we serve */
};

static int fail(const char *event, const struct err *e)
{
	log_event(LOG_LEVEL_ERROR, NULL, event, "{s:s}", "message", err_str(e));
	return -1;
}

/* ---- files read as root ---- */

/* A private key file: a regular file readable by its owner only. */
static int read_key_file(const char *path, char **ret, size_t *ret_len,
			 struct err *e)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *buf;
	size_t len = 0;

	if (fd < 0)
		return err_set(e, errno, "tls_key %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return err_set(e, errno, "tls_key %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, EINVAL, "tls_key %s: not a regular file", path);
	if (st.st_mode & 0077)
		return err_set(e, EPERM, "tls_key %s: mode %04o is too open (0600 or 0400 expected)",
			       path, (unsigned)(st.st_mode & 07777));
	if ((uintmax_t)st.st_size > HGSD_TLS_FILE_MAX)
		return err_set(e, EFBIG, "tls_key %s: over %u bytes", path,
			       HGSD_TLS_FILE_MAX);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return err_set(e, ENOMEM, "out of memory");
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;

			OPENSSL_cleanse(buf, len);
			free(buf);
			return err_set(e, err, "tls_key %s: short read", path);
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

static int load_tls(struct daemon_state *d, struct err *e)
{
	uint8_t *cert;
	size_t len;
	int r;

	if (!d->cfg.tls_cert)
		return 0;
	if (!http_tls_supported())
		return err_set(e, ENOTSUP, "TLS is configured but this libmicrohttpd has no TLS support (GnuTLS)");
	r = file_read(d->cfg.tls_cert, HGSD_TLS_FILE_MAX, &cert, &len, e);
	if (r < 0) {
		err_prefix(e, "tls_cert");
		return r;
	}
	d->tls_cert_pem = (char *)cert;
	return read_key_file(d->cfg.tls_key, &d->tls_key_pem, &d->tls_key_len, e);
}

static bool ca_file_name(const char *n)
{
	static const char *const ext[] = { ".pem", ".crt", ".cer", ".der" };
	size_t len = strlen(n);

	for (size_t i = 0; i < ARRAY_SIZE(ext); i++)
		if (len > 4 && streq(n + len - 4, ext[i]))
			return true;
	return false;
}

static int load_ek_cas(struct daemon_state *d, struct err *e)
{
	const char *dir = d->cfg.ek_ca_dir;
	struct ekcert_cas *cas = NULL;
	struct dirent *de;
	size_t files = 0, anchors, inter;
	DIR *dp;
	int r = 0;

	if (!dir)
		return 0;
	dp = opendir(dir);
	if (!dp) {
		log_event(LOG_LEVEL_WARNING, NULL, "ek_ca_dir_missing",
			  "{s:s, s:s}", "dir", dir, "error", strerror(errno));
		return 0; /* registration by EK certificate answers 403 */
	}
	r = ekcert_cas_new(&cas, e);
	while (r >= 0 && (de = readdir(dp))) {
		char path[4096];
		uint8_t *buf;
		size_t len;

		if (de->d_name[0] == '.' || !ca_file_name(de->d_name))
			continue;
		if (++files > HGSD_EK_CA_MAX_FILES) {
			r = err_set(e, E2BIG, "ek_ca_dir %s: more than %u files", dir,
				    HGSD_EK_CA_MAX_FILES);
			break;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		r = file_read(path, HGSD_EK_CA_FILE_MAX, &buf, &len, e);
		if (r < 0)
			break;
		r = ekcert_cas_add(cas, buf, len, path, e);
		free(buf);
	}
	closedir(dp);
	if (r < 0) {
		ekcert_cas_free(cas);
		return r;
	}
	ekcert_cas_count(cas, &anchors, &inter);
	log_event(LOG_LEVEL_INFO, NULL, "ek_cas_loaded", "{s:s, s:I, s:I}", "dir",
		  dir, "anchors", (json_int_t)anchors, "intermediates",
		  (json_int_t)inter);
	if (!anchors) {
		ekcert_cas_free(cas);
		return 0;
	}
	d->ctx.ek_cas = cas;
	return 0;
}

/* ---- listeners ---- */

static int listen_tcp(struct daemon_state *d, struct err *e)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[8];
	int fd, one = 1, r;

	snprintf(port, sizeof(port), "%u", d->cfg.listen_port);
	r = getaddrinfo(d->cfg.listen_host, port, &hints, &ai);
	if (r != 0)
		return err_set(e, EINVAL, "listen %s:%s: %s", d->cfg.listen_host,
			       port, gai_strerror(r));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = errno;
		freeaddrinfo(ai);
		return err_set(e, r, "socket: %s", strerror(r));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		r = errno;
		close(fd);
		freeaddrinfo(ai);
		return err_set(e, r, "listen %s:%s: %s", d->cfg.listen_host, port,
			       strerror(r));
	}
	freeaddrinfo(ai);
	d->port = ntohs(ss.ss_family == AF_INET6 ?
				((struct sockaddr_in6 *)&ss)->sin6_port :
				((struct sockaddr_in *)&ss)->sin_port);
	d->tcp_fd = fd;
	return 0;
}

/* The socket's directory: created 0750 if missing, never a symlink. */
static int admin_dir(struct daemon_state *d, const char *dir, gid_t group,
		     struct err *e)
{
	struct stat st;

	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return err_set(e, errno, "admin socket directory %s: %s", dir,
			       strerror(errno));
	if (lstat(dir, &st) < 0)
		return err_set(e, errno, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ENOTDIR, "admin socket directory %s is not a directory",
			       dir);
	if (st.st_mode & 0002)
		return err_set(e, EPERM, "admin socket directory %s is world-writable",
			       dir);
	if (d->drop && st.st_uid == 0 && chown(dir, d->uid, group) < 0)
		return err_set(e, errno, "chown %s: %s", dir, strerror(errno));
	if (st.st_uid == geteuid() && chmod(dir, 0750) < 0)
		return err_set(e, errno, "chmod %s: %s", dir, strerror(errno));
	return 0;
}

static int listen_admin(struct daemon_state *d, struct err *e)
{
	const char *path = d->cfg.admin_socket;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	gid_t group = d->ctx.has_admin_group ? d->ctx.admin_gid : d->gid;
	char dir[sizeof(sa.sun_path)];
	struct stat st;
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, ENAMETOOLONG, "admin socket %s: path over %zu bytes",
			       path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	snprintf(dir, sizeof(dir), "%s", path);
	if (strrchr(dir, '/') && strrchr(dir, '/') != dir) {
		*strrchr(dir, '/') = '\0';
		r = admin_dir(d, dir, group, e);
		if (r < 0)
			return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(e, errno, "socket: %s", strerror(errno));
	if (lstat(path, &st) == 0) {
		/* A leftover socket is replaced; a live one is not stolen. */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 &&
			    connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;

		if (probe >= 0)
			close(probe);
		if (!S_ISSOCK(st.st_mode) || live) {
			close(fd);
			return err_set(e, EADDRINUSE, "admin socket %s: %s", path,
				       live ? "another hgsd serves it" :
					      "exists and is not a socket");
		}
		unlink(path);
	}
	old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, 0660) < 0 ||
	    (d->drop && chown(path, d->uid, group) < 0) ||
	    (!d->drop && d->ctx.has_admin_group && chown(path, (uid_t)-1, group) < 0 &&
	     errno != EPERM) ||
	    listen(fd, 64) < 0) {
		r = errno;
		close(fd);
		return err_set(e, r, "admin socket %s: %s", path, strerror(r));
	}
	d->admin_fd = fd;
	return 0;
}

/* ---- privileges ---- */

static int resolve_ids(struct daemon_state *d, struct err *e)
{
	d->uid = geteuid();
	d->gid = getegid();
	if (d->cfg.admin_group) {
		struct group *g = getgrnam(d->cfg.admin_group);

		if (g) {
			d->ctx.has_admin_group = true;
			d->ctx.admin_gid = g->gr_gid;
		} else {
			log_event(LOG_LEVEL_WARNING, NULL, "admin_group_missing",
				  "{s:s, s:s}", "group", d->cfg.admin_group,
				  "effect", "only root may use the admin socket");
		}
	}
	if (geteuid() != 0) {
		if (d->cfg.user) {
			struct passwd *pw = getpwnam(d->cfg.user);

			if (!pw || pw->pw_uid != geteuid())
				return err_set(e, EPERM, "user %s is configured, but hgsd runs as uid %u and is not root",
					       d->cfg.user, (unsigned)geteuid());
		}
		return 0;
	}
	if (!d->cfg.user)
		return err_set(e, EPERM, "refusing to run as root: set [server] user (or --user) to the service account");
	struct passwd *pw = getpwnam(d->cfg.user);

	if (!pw)
		return err_set(e, ENOENT, "user %s does not exist", d->cfg.user);
	if (pw->pw_uid == 0)
		return err_set(e, EPERM, "user %s is root; choose an unprivileged account",
			       d->cfg.user);
	d->uid = pw->pw_uid;
	d->gid = pw->pw_gid;
	d->drop = true;
	return 0;
}

static int drop_privileges(struct daemon_state *d, struct err *e)
{
	if (d->drop) {
		if (setgroups(1, &d->gid) < 0 || setgid(d->gid) < 0 ||
		    setuid(d->uid) < 0)
			return err_set(e, errno, "dropping to %s: %s", d->cfg.user,
				       strerror(errno));
		/* Verify it stuck: ids changed and root cannot be regained. */
		if (getuid() != d->uid || geteuid() != d->uid ||
		    getgid() != d->gid || getegid() != d->gid ||
		    setuid(0) == 0 || seteuid(0) == 0)
			return err_set(e, EPERM, "dropping to %s did not stick", d->cfg.user);
		log_event(LOG_LEVEL_NOTICE, NULL, "privileges_dropped", "{s:s, s:I, s:I}",
			  "user", d->cfg.user, "uid", (json_int_t)d->uid, "gid",
			  (json_int_t)d->gid);
	}
	/* setuid() resets dumpability: set it again, and no new privileges. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_set(e, errno, "prctl: %s", strerror(errno));
	return 0;
}

/* ---- secrets from the store ---- */

/* The cluster's nonce key: created at the first start (first node wins),
 * sealed under the KEK when there is one; *ret_sealed counts a key stored
 * before the KEK and sealed now. */
static int load_nonce_key(struct daemon_state *d, unsigned *ret_sealed, struct err *e)
{
	uint8_t cand[NONCE_KEY_SIZE];
	uint8_t *val = NULL, *stored = NULL;
	char *sealed = NULL;
	size_t len = 0, stored_len = 0, sealed_len = 0;
	bool was_sealed = false;
	long page = sysconf(_SC_PAGESIZE);
	void *p;
	int r;

	if (RAND_bytes(cand, sizeof(cand)) != 1)
		return err_set(e, EIO, "no randomness for the nonce key");
	r = kek_seal(d->kek, "setting:nonce_key", cand, sizeof(cand), &sealed, &sealed_len, e);
	OPENSSL_cleanse(cand, sizeof(cand));
	if (r < 0)
		return r;
	/* stored sealed with its NUL when there is a KEK; 32 raw bytes
	 * without (and in stores from before the KEK) */
	r = store_setting_get_or_create(d->ctx.store, "nonce_key", (const uint8_t *)sealed,
					d->kek ? sealed_len + 1 : sealed_len, &stored, &stored_len, e);
	OPENSSL_cleanse(sealed, sealed_len);
	free(sealed);
	if (r < 0)
		return r;
	if (stored_len != NONCE_KEY_SIZE && kek_is_sealed(stored, stored_len)) {
		r = kek_open(d->kek, "setting:nonce_key", stored,
			     stored_len && !stored[stored_len - 1] ? stored_len - 1 : stored_len, &val,
			     &len, &was_sealed, e);
		OPENSSL_cleanse(stored, stored_len);
		free(stored);
		if (r < 0) {
			err_prefix(e, "store setting nonce_key");
			return r;
		}
	} else {
		val = stored;
		len = stored_len;
	}
	if (len != NONCE_KEY_SIZE) {
		OPENSSL_cleanse(val, len);
		free(val);
		return err_set(e, EBADMSG, "store setting nonce_key: %zu bytes, expected %d",
			       len, NONCE_KEY_SIZE);
	}
	if (d->kek && !was_sealed) {
		/* stored before the KEK: seal it now */
		r = kek_seal(d->kek, "setting:nonce_key", val, len, &sealed, &sealed_len, e);
		if (r >= 0) {
			r = store_setting_put(d->ctx.store, "nonce_key", (const uint8_t *)sealed,
					      sealed_len + 1, e);
			OPENSSL_cleanse(sealed, sealed_len);
			free(sealed);
		}
		if (r < 0) {
			OPENSSL_cleanse(val, len);
			free(val);
			return r;
		}
		(*ret_sealed)++;
	}
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		OPENSSL_cleanse(val, len);
		free(val);
		return err_set(e, ENOMEM, "mmap: %s", strerror(errno));
	}
	if (mlock(p, (size_t)page) < 0)
		log_event(LOG_LEVEL_WARNING, NULL, "mlock_failed", "{s:s}", "error",
			  strerror(errno));
	madvise(p, (size_t)page, MADV_DONTDUMP);
	memcpy(p, val, NONCE_KEY_SIZE);
	OPENSSL_cleanse(val, len);
	free(val);
	d->nonce_key = p;
	d->ctx.nonce_key = p;
	return 0;
}

/* ---- daemon mode ---- */

/* Fork; the parent waits until the child reports it serves (exit 0) or
 * dies (exit 1). The child keeps stderr for its log. */
static int daemonize(struct daemon_state *d, struct err *e)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(e, errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return err_set(e, errno, "fork: %s", strerror(errno));
	if (pid > 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(c == 'R' ? 0 : 1);
	}
	close(p[0]);
	d->ready_fd = p[1];
	if (setsid() < 0 || chdir("/") < 0)
		return err_set(e, errno, "setsid: %s", strerror(errno));
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	return 0;
}

/* ---- run ---- */

static int start_servers(struct daemon_state *d, struct err *e)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct http_options o = {
		.max_body = d->cfg.max_body,
		.threads = d->cfg.threads ? d->cfg.threads :
			   (unsigned)(cpus > 0 ? (cpus > HGSD_MAX_THREADS ? HGSD_MAX_THREADS : cpus) : 1),
		.max_connections = d->cfg.max_connections,
		.timeout = d->cfg.timeout,
		.keep_alive = d->cfg.keep_alive,
		.tls_cert_pem = d->tls_cert_pem,
		.tls_key_pem = d->tls_key_pem,
		.tls_priorities = d->cfg.tls_priorities,
	};
	struct http_options ao = o;
	int r;

	r = http_server_start(d->tcp_fd, false, api_host_routes, api_host_routes_n,
			      &o, NULL, &d->ctx, &d->host_srv, e);
	d->tcp_fd = -1;
	if (r < 0)
		return r;
	ao.threads = 1;
	ao.tls_cert_pem = ao.tls_key_pem = NULL;
	r = http_server_start(d->admin_fd, true, api_admin_routes,
			      api_admin_routes_n, &ao, api_admin_check, &d->ctx,
			      &d->admin_srv, e);
	d->admin_fd = -1;
	if (r < 0)
		return r;
	log_event(LOG_LEVEL_NOTICE, NULL, "listening",
		  "{s:s, s:i, s:b, s:i, s:s, s:I, s:I}", "host", d->cfg.listen_host,
		  "port", (int)d->port, "tls", d->tls_cert_pem != NULL, "threads",
		  (int)o.threads, "admin_socket", d->cfg.admin_socket, "max_body",
		  (json_int_t)o.max_body, "pid", (json_int_t)getpid());
	if (!d->tls_cert_pem)
		log_event(LOG_LEVEL_WARNING, NULL, "plain_http",
			  "{s:s}", "advice", "configure tls_cert and tls_key for production");
	return 0;
}

/* Log the audit chain's head when it moved since the last time (or
 * always, with force): shipped off the node with the logs, it anchors the
 * chain, so that a later rewrite of the records shows (hgsctl audit
 * verify --anchor). */
static void log_audit_head(struct daemon_state *d, bool force)
{
	uint8_t chain[STORE_AUDIT_CHAIN_SIZE];
	char hex[2 * STORE_AUDIT_CHAIN_SIZE + 1];
	struct err e = { 0 };
	int64_t id = 0;

	if (store_audit_head(d->ctx.store, &id, chain, &e) < 0) {
		log_event(LOG_LEVEL_WARNING, NULL, "audit_head_failed", "{s:s}", "message",
			  err_str(&e));
		return;
	}
	if (!id || (!force && id == d->audit_head_logged))
		return;
	d->audit_head_logged = id;
	hex_encode(chain, sizeof(chain), hex);
	log_event(LOG_LEVEL_NOTICE, NULL, "audit_head", "{s:I, s:s}", "id", (json_int_t)id,
		  "chain", hex);
}

static int wait_for_stop(struct daemon_state *d, const sigset_t *set)
{
	for (;;) {
		struct timespec every = { .tv_sec = HGSD_AUDIT_HEAD_SECONDS };
		int sig = sigtimedwait(set, NULL, &every);

		if (sig < 0) {
			if (errno == EAGAIN)
				log_audit_head(d, false);
			continue;
		}
		if (sig == SIGHUP) {
			log_event(LOG_LEVEL_INFO, NULL, "sighup_ignored", "{s:s}",
				  "note", "restart hgsd to apply configuration changes");
			continue;
		}
		return sig;
	}
}

static void cleanup(struct daemon_state *d)
{
	http_server_stop(d->admin_srv, HGSD_STOP_GRACE_SECONDS);
	http_server_stop(d->host_srv, HGSD_STOP_GRACE_SECONDS);
	if (d->ctx.store && d->host_srv) /* served: the last head, if it moved */
		log_audit_head(d, false);
	if (d->admin_srv)
		unlink(d->cfg.admin_socket);
	if (d->tcp_fd >= 0)
		close(d->tcp_fd);
	if (d->admin_fd >= 0)
		close(d->admin_fd);
	keys_free(d->ctx.keys);
	guardians_free(d->ctx.guardians);
	policy_cache_free(d->ctx.policies);
	store_close(d->ctx.store);
	ekcert_cas_free(d->ctx.ek_cas);
	if (d->nonce_key) {
		OPENSSL_cleanse(d->nonce_key, NONCE_KEY_SIZE);
		munmap(d->nonce_key, (size_t)sysconf(_SC_PAGESIZE));
	}
	if (d->tls_key_pem) {
		OPENSSL_cleanse(d->tls_key_pem, d->tls_key_len);
		free(d->tls_key_pem);
	}
	free(d->tls_cert_pem);
	kek_free(d->kek);
	config_clear(&d->cfg);
}

static int run(struct daemon_state *d, const sigset_t *sigs)
{
	unsigned sealed_nonce = 0, sealed_tokens = 0, sealed_guardians = 0;
	struct err e = { 0 };
	int sig;

	if (resolve_ids(d, &e) < 0)
		return fail("start_refused", &e);
	if (load_tls(d, &e) < 0 || load_ek_cas(d, &e) < 0)
		return fail("config_error", &e);
	if (d->cfg.kek_file) {
		/* read as root, like the TLS key: the service user need not
		 * be able to read it later */
		if (kek_load(d->cfg.kek_file, &d->kek, &e) < 0)
			return fail("kek_failed", &e);
		d->ctx.kek = d->kek;
		if (d->cfg.old_kek_file) {
			struct kek *old = NULL;

			if (kek_load(d->cfg.old_kek_file, &old, &e) < 0)
				return fail("kek_failed", &e);
			if (kek_set_previous(d->kek, old, &e) < 0) {
				kek_free(old);
				return fail("kek_failed", &e);
			}
		}
		log_event(LOG_LEVEL_NOTICE, NULL, "kek", "{s:s, s:s?}", "id", kek_id(d->kek),
			  "replaces", kek_previous(d->kek) ? kek_id(kek_previous(d->kek)) : NULL);
	}
	if (listen_tcp(d, &e) < 0 || listen_admin(d, &e) < 0)
		return fail("listen_failed", &e);
	if (drop_privileges(d, &e) < 0)
		return fail("privilege_drop_failed", &e);
	if (!d->cfg.foreground && daemonize(d, &e) < 0)
		return fail("daemonize_failed", &e);
	/* Memory locks do not survive fork(): lock the KEK again, then set up
	 * OpenSSL's secure heap, where the private numbers of the token,
	 * guardian and ephemeral keys live (mlocked, guard pages, left out of
	 * core dumps). Within the service user's RLIMIT_MEMLOCK, like the
	 * nonce key's page. */
	kek_lock(d->kek);
	d->secure_heap = CRYPTO_secure_malloc_init(HGSD_SECURE_HEAP_SIZE, 16);
	if (d->secure_heap != 1)
		log_event(LOG_LEVEL_WARNING, NULL, "secure_heap_unlocked", "{s:s}", "message",
			  d->secure_heap == 0
				  ? "OpenSSL's secure heap could not be set up: private keys live in the ordinary heap"
				  : "OpenSSL's secure heap is not locked in memory (RLIMIT_MEMLOCK?)");
	if (store_open(d->cfg.store_uri, &d->ctx.store, &e) < 0)
		return fail("store_open_failed", &e);
	if (load_nonce_key(d, &sealed_nonce, &e) < 0)
		return fail("nonce_key_failed", &e);
	if (keys_load(d->ctx.store, d->kek, &d->ctx.keys, &sealed_tokens, &e) < 0)
		return fail("token_keys_failed", &e);
	log_event(LOG_LEVEL_NOTICE, NULL, "token_key", "{s:s}", "kid",
		  keys_primary(d->ctx.keys)->kid);
	if (policy_cache_new(d->ctx.store, d->cfg.policy_id, &d->ctx.policies, &e) < 0)
		return fail("policy_failed", &e);
	if (guardians_new(d->ctx.store, d->kek, &d->ctx.guardians, &sealed_guardians, &e) < 0)
		return fail("guardian_keys_failed", &e);
	if (!d->kek)
		log_event(LOG_LEVEL_WARNING, NULL, "keys_at_rest_unsealed", "{s:s}", "message",
			  "no [keys] kek_file: the store holds the token, guardian and nonce keys "
			  "in plaintext, and so does every backup of it");
	else if (sealed_nonce + sealed_tokens + sealed_guardians)
		log_event(LOG_LEVEL_NOTICE, NULL, "keys_sealed", "{s:s, s:i, s:i, s:i, s:s}", "kek",
			  kek_id(d->kek), "nonce_key", (int)sealed_nonce, "token_keys",
			  (int)sealed_tokens, "guardian_keys", (int)sealed_guardians, "message",
			  kek_previous(d->kek)
				  ? "keys sealed under the old KEK are now sealed under the KEK; "
				    "older backups of the store still open with the old KEK"
				  : "keys stored in plaintext before the KEK are now sealed; older "
				    "backups of the store still hold them in plaintext");
	{
		struct guardian_set *set = NULL;

		if (guardians_get(d->ctx.guardians, &set, &e) < 0)
			return fail("guardian_keys_failed", &e);
		log_event(LOG_LEVEL_NOTICE, NULL, "guardian_key", "{s:s}", "id",
			  guardian_set_primary_id(set));
		guardians_put(d->ctx.guardians, set);
	}
	if (start_servers(d, &e) < 0)
		return fail("http_start_failed", &e);
	if (d->ready_fd >= 0) {
		(void)!write(d->ready_fd, "R", 1);
		close(d->ready_fd);
		d->ready_fd = -1;
	}
	log_event(LOG_LEVEL_NOTICE, NULL, "ready", "{s:{s:I, s:b, s:I}}", "secure_heap", "size",
		  (json_int_t)HGSD_SECURE_HEAP_SIZE, "locked", d->secure_heap == 1, "used",
		  (json_int_t)(d->secure_heap ? CRYPTO_secure_used() : 0));
	log_audit_head(d, true);
	sig = wait_for_stop(d, sigs);
	log_event(LOG_LEVEL_NOTICE, NULL, "stopping", "{s:s}", "signal",
		  sig == SIGTERM ? "SIGTERM" : "SIGINT");
	return 0;
}

int main(int argc, char **argv)
{
	static struct daemon_state d = { .tcp_fd = -1, .admin_fd = -1, .ready_fd = -1 };
	struct err e = { 0 };
	sigset_t sigs;
	int r;

	/* Before anything holds a secret: no core dumps, no ptrace by peers. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	/* Threads started later inherit the mask; the main thread sigwaits. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	r = config_from_args(argc, argv, &d.cfg, &e);
	if (r == CONFIG_EXIT)
		return 0;
	if (r < 0) {
		log_event(LOG_LEVEL_ERROR, NULL, "config_error", "{s:s}", "message",
			  err_str(&e));
		return EXIT_CONFIG;
	}
	log_setup(d.cfg.node, d.cfg.log_level);
	d.ctx.cfg = &d.cfg;
	d.ctx.started = time(NULL);
	log_event(LOG_LEVEL_NOTICE, NULL, "starting", "{s:s, s:s?}", "version",
		  HGSD_VERSION, "config", d.cfg.config_path);

	r = run(&d, &sigs);
	cleanup(&d);
	/* Here rather than from OpenSSL's atexit handler: with the secure
	 * heap set up, LeakSanitizer otherwise reports the random
	 * generators' state as leaked at exit. Every thread that used
	 * OpenSSL has stopped; nothing uses it after this. */
	OPENSSL_cleanup();
	if (r == 0)
		log_event(LOG_LEVEL_NOTICE, NULL, "stopped", NULL);
	return r == 0 ? 0 : 1;
}
