/* SPDX-License-Identifier: Apache-2.0 */
/*
 * host/client.c against canned hgsd answers from libmicrohttpd servers
 * started in this process on loopback port 0: fail-over on a refused
 * connection and on 503, no fail-over on 403, the response size limit,
 * non-JSON answers, TLS verification with a self-signed certificate.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "host/client.h"

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

/* One canned server. */
struct canned {
	struct MHD_Daemon *d;
	unsigned status;
	const char *body;  /* NULL: big_len bytes of 'x' */
	size_t big_len;
	int hits;
	char last_method[8];
	char last_path[64];
	char last_body[4096];
	char url[64];
};

struct upload {
	char buf[4096];
	size_t len;
};

static mhd_result handler(void *cls, struct MHD_Connection *conn, const char *url,
			  const char *method, const char *version, const char *data,
			  size_t *data_size, void **con_cls)
{
	struct canned *c = cls;
	struct upload *up = *con_cls;
	struct MHD_Response *resp;
	mhd_result ret;

	if (!up) {
		up = calloc(1, sizeof(*up));
		*con_cls = up;
		return up ? MHD_YES : MHD_NO;
	}
	if (*data_size) {
		size_t n = *data_size;

		if (n > sizeof(up->buf) - 1 - up->len)
			n = sizeof(up->buf) - 1 - up->len;
		memcpy(up->buf + up->len, data, n);
		up->len += n;
		*data_size = 0;
		return MHD_YES;
	}
	c->hits++;
	snprintf(c->last_method, sizeof(c->last_method), "%s", method);
	snprintf(c->last_path, sizeof(c->last_path), "%s", url);
	memcpy(c->last_body, up->buf, up->len + 1);
	if (c->body) {
		resp = MHD_create_response_from_buffer(strlen(c->body), (void *)c->body,
						       MHD_RESPMEM_PERSISTENT);
	} else {
		char *big = malloc(c->big_len);

		memset(big, 'x', c->big_len);
		resp = MHD_create_response_from_buffer(c->big_len, big, MHD_RESPMEM_MUST_FREE);
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, c->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
	*con_cls = NULL;
}

static char tls_key_pem[4096], tls_cert_pem[4096], ca_file[128];

static void canned_start(struct canned *c, unsigned status, const char *body, bool tls)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->status = status;
	c->body = body;
	c->hits = 0;
	if (tls)
		c->d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handler, c,
					MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
					completed, NULL, MHD_OPTION_HTTPS_MEM_KEY, tls_key_pem,
					MHD_OPTION_HTTPS_MEM_CERT, tls_cert_pem, MHD_OPTION_END);
	else
		c->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, c, MHD_OPTION_SOCK_ADDR,
					&sa, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
					MHD_OPTION_END);
	assert_non_null(c->d);
	info = MHD_get_daemon_info(c->d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	snprintf(c->url, sizeof(c->url), "%s://127.0.0.1:%u/", tls ? "https" : "http",
		 (unsigned)info->port);
}

static void canned_stop(struct canned *c)
{
	if (c->d)
		MHD_stop_daemon(c->d);
	c->d = NULL;
}

/* A loopback URL nothing listens on (bound, then closed). */
static void dead_url(char *out, size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(out, n, "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
}

static struct host_client *client_for(const char *const *urls, size_t n, const char *ca,
				      size_t max)
{
	struct host_client_options o = {
		.urls = urls, .n_urls = n, .ca_file = ca, .max_response = max,
		.connect_timeout = 5, .timeout = 10,
	};
	struct host_client *c = NULL;
	struct err e = { 0 };

	assert_int_equal(host_client_new(&o, &c, &e), 0);
	return c;
}

static const char ok_body[] = "{\"nonce\":\"AAEC\",\"expires\":1766448000}";

static void test_failover_connection_refused(void **state)
{
	struct canned ok = { 0 };
	struct host_client_response r;
	struct err e = { 0 };
	char dead[64];
	struct host_client *c;

	dead_url(dead, sizeof(dead));
	canned_start(&ok, 200, ok_body, false);
	c = client_for((const char *[]){ dead, ok.url }, 2, NULL, 0);
	assert_int_equal(host_client_request(c, "POST", "/v1/attest/nonce", NULL, &r, &e), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(ok.hits, 1);
	assert_string_equal(ok.last_method, "POST");
	assert_string_equal(ok.last_path, "/v1/attest/nonce");
	assert_string_equal(ok.last_body, "{}");
	assert_string_equal(json_string_value(json_object_get(r.body, "nonce")), "AAEC");
	/* the answering URL, without the trailing slash */
	assert_int_equal(strncmp(r.url, ok.url, strlen(r.url)), 0);
	assert_int_equal(strlen(r.url) + 1, strlen(ok.url));
	host_client_response_clear(&r);
	host_client_free(c);
	canned_stop(&ok);
}

static void test_failover_503(void **state)
{
	struct canned down = { 0 }, ok = { 0 };
	struct host_client_response r;
	struct err e = { 0 };
	struct host_client *c;
	json_t *req = json_pack("{s:s}", "x", "y");

	canned_start(&down, 503, "{\"error\":\"unavailable\",\"message\":\"store down\"}", false);
	canned_start(&ok, 200, ok_body, false);
	c = client_for((const char *[]){ down.url, ok.url }, 2, NULL, 0);
	assert_int_equal(host_client_request(c, "POST", "/v1/enroll", req, &r, &e), 0);
	assert_int_equal(down.hits, 1);
	assert_int_equal(ok.hits, 1);
	assert_string_equal(ok.last_body, "{\"x\":\"y\"}");
	host_client_response_clear(&r);

	/* both 503: -EAGAIN, the answer and both URLs reported */
	ok.status = 503;
	ok.body = "{\"error\":\"unavailable\",\"message\":\"second down\"}";
	assert_int_equal(host_client_request(c, "GET", "/v1/keys", NULL, &r, &e), -EAGAIN);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.error, "unavailable");
	assert_string_equal(r.message, "second down");
	assert_non_null(strstr(e.msg, "store down"));
	assert_non_null(strstr(e.msg, "second down"));
	assert_string_equal(ok.last_method, "GET");
	host_client_response_clear(&r);
	json_decref(req);
	host_client_free(c);
	canned_stop(&down);
	canned_stop(&ok);
}

static void test_no_failover_403(void **state)
{
	static const char refusal[] =
		"{\"error\":\"policy_failed\",\"message\":\"2 rules failed\",\"failures\":["
		"{\"rule\":\"secure-boot-enabled\",\"event\":3,\"message\":\"SecureBoot is 0\"},"
		"{\"rule\":\"baseline\",\"event\":1,\"message\":\"closest \\u001b[31m\"}]}";
	struct canned no = { 0 }, ok = { 0 };
	struct host_client_response r;
	struct err e = { 0 };
	struct host_client *c;

	canned_start(&no, 403, refusal, false);
	canned_start(&ok, 200, ok_body, false);
	c = client_for((const char *[]){ no.url, ok.url }, 2, NULL, 0);
	assert_int_equal(host_client_request(c, "POST", "/v1/attest", NULL, &r, &e), -EREMOTEIO);
	assert_int_equal(no.hits, 1);
	assert_int_equal(ok.hits, 0);
	assert_int_equal(r.status, 403);
	assert_string_equal(r.error, "policy_failed");
	assert_string_equal(r.message, "2 rules failed");
	assert_non_null(r.failures);
	assert_int_equal(json_array_size(r.failures), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(r.failures, 0), "rule")),
			    "secure-boot-enabled");
	assert_non_null(strstr(e.msg, "HTTP 403 policy_failed: 2 rules failed"));
	host_client_response_clear(&r);

	/* a 4xx whose body is not JSON: the raw start, sanitized */
	no.status = 404;
	no.body = "no such\tthing";
	assert_int_equal(host_client_request(c, "GET", "/v1/nope", NULL, &r, &e), -EREMOTEIO);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.error, "");
	assert_string_equal(r.message, "no such?thing");
	assert_int_equal(ok.hits, 0);
	host_client_response_clear(&r);
	host_client_free(c);
	canned_stop(&no);
	canned_stop(&ok);
}

static void test_all_down(void **state)
{
	struct host_client_response r;
	struct err e = { 0 };
	char d1[64], d2[64];
	struct host_client *c;

	dead_url(d1, sizeof(d1));
	dead_url(d2, sizeof(d2));
	c = client_for((const char *[]){ d1, d2 }, 2, NULL, 0);
	assert_int_equal(host_client_request(c, "GET", "/v1/info", NULL, &r, &e), -ECONNREFUSED);
	assert_int_equal(r.status, 0);
	assert_null(r.body);
	assert_non_null(strstr(e.msg, d1));
	assert_non_null(strstr(e.msg, d2));
	assert_non_null(strstr(e.msg, "failed on every hgsd URL"));
	host_client_free(c);
}

static void test_size_limit(void **state)
{
	struct canned big = { 0 }, ok = { 0 };
	struct host_client_response r;
	struct err e = { 0 };
	struct host_client *c;

	canned_start(&big, 200, NULL, false);
	big.big_len = 64 * 1024;
	canned_start(&ok, 200, ok_body, false);

	/* over the limit: refused, and the next URL is asked */
	c = client_for((const char *[]){ big.url, ok.url }, 2, NULL, 4096);
	assert_int_equal(host_client_request(c, "GET", "/v1/keys", NULL, &r, &e), 0);
	assert_int_equal(big.hits, 1);
	assert_int_equal(ok.hits, 1);
	host_client_response_clear(&r);
	host_client_free(c);

	c = client_for((const char *[]){ big.url }, 1, NULL, 4096);
	assert_int_equal(host_client_request(c, "GET", "/v1/keys", NULL, &r, &e), -EMSGSIZE);
	assert_non_null(strstr(e.msg, "larger than 4096 bytes"));
	host_client_free(c);

	/* exactly at the limit is fine as far as size goes (not JSON: EBADMSG) */
	big.big_len = 4096;
	memset(&e, 0, sizeof(e));
	c = client_for((const char *[]){ big.url }, 1, NULL, 4096);
	assert_int_equal(host_client_request(c, "GET", "/v1/keys", NULL, &r, &e), -EBADMSG);
	host_client_free(c);

	/* the default limit (1 MiB) */
	big.big_len = HOST_CLIENT_MAX_RESPONSE + 1;
	memset(&e, 0, sizeof(e));
	c = client_for((const char *[]){ big.url }, 1, NULL, 0);
	assert_int_equal(host_client_request(c, "GET", "/v1/keys", NULL, &r, &e), -EMSGSIZE);
	host_client_free(c);
	canned_stop(&big);
	canned_stop(&ok);
}

static void test_not_json(void **state)
{
	struct canned bad = { 0 }, arr = { 0 }, ok = { 0 };
	struct host_client_response r;
	struct err e = { 0 };
	struct host_client *c;

	canned_start(&bad, 200, "<html>hello</html>", false);
	canned_start(&arr, 200, "[1,2]", false);
	canned_start(&ok, 200, ok_body, false);
	c = client_for((const char *[]){ bad.url, arr.url }, 2, NULL, 0);
	assert_int_equal(host_client_request(c, "GET", "/v1/info", NULL, &r, &e), -EBADMSG);
	assert_int_equal(bad.hits, 1);
	assert_int_equal(arr.hits, 1);
	host_client_free(c);
	c = client_for((const char *[]){ bad.url, ok.url }, 2, NULL, 0);
	assert_int_equal(host_client_request(c, "GET", "/v1/info", NULL, &r, &e), 0);
	host_client_response_clear(&r);
	host_client_free(c);
	canned_stop(&bad);
	canned_stop(&arr);
	canned_stop(&ok);
}

static void test_bad_urls(void **state)
{
	static const char *const bad[] = {
		"ftp://127.0.0.1/", "127.0.0.1:80", "http://", "http://a b",
		"https://user@host/", "http://host/?q=1", "http://host/#f", "",
	};
	struct host_client *c = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct host_client_options o = { .urls = &bad[i], .n_urls = 1 };
		struct err e = { 0 };

		assert_int_equal(host_client_new(&o, &c, &e), -EINVAL);
		assert_null(c);
		assert_non_null(strstr(e.msg, "hgsd URL"));
	}
	{
		struct host_client_options o = { .n_urls = 0 };
		struct err e = { 0 };

		assert_int_equal(host_client_new(&o, &c, &e), -EINVAL);
	}
}

/* Self-signed P-256 certificate for 127.0.0.1 (SAN IP), PEM. */
static void make_cert(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	BIO *b;
	FILE *f;
	int n;

	assert_non_null(k);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"127.0.0.1", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);

	b = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL));
	n = BIO_read(b, tls_key_pem, sizeof(tls_key_pem) - 1);
	assert_true(n > 0);
	tls_key_pem[n] = '\0';
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_X509(b, x));
	n = BIO_read(b, tls_cert_pem, sizeof(tls_cert_pem) - 1);
	assert_true(n > 0);
	tls_cert_pem[n] = '\0';
	BIO_free(b);

	snprintf(ca_file, sizeof(ca_file), "%s/test-host-client-ca.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	n = mkstemp(ca_file);
	assert_true(n >= 0);
	f = fdopen(n, "w");
	assert_non_null(f);
	fputs(tls_cert_pem, f);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_tls_verification(void **state)
{
	struct canned tls = { 0 };
	struct host_client_response r;
	struct err e = { 0 };
	struct host_client *c;

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		fail_msg("libmicrohttpd without TLS support");
	make_cert();
	canned_start(&tls, 200, ok_body, true);

	/* system CA store only: the self-signed certificate is refused */
	c = client_for((const char *[]){ tls.url }, 1, NULL, 0);
	assert_int_equal(host_client_request(c, "GET", "/v1/info", NULL, &r, &e), -EKEYREJECTED);
	assert_int_equal(tls.hits, 0);
	assert_non_null(strstr(e.msg, "https://127.0.0.1"));
	host_client_free(c);

	/* with --ca-file: accepted */
	memset(&e, 0, sizeof(e));
	c = client_for((const char *[]){ tls.url }, 1, ca_file, 0);
	assert_int_equal(host_client_request(c, "GET", "/v1/info", NULL, &r, &e), 0);
	assert_int_equal(tls.hits, 1);
	host_client_response_clear(&r);
	host_client_free(c);

	/* the right CA but another name (localhost is not in the SAN) */
	{
		char other[80];
		const char *port = strrchr(tls.url, ':');

		snprintf(other, sizeof(other), "https://localhost%s", port);
		memset(&e, 0, sizeof(e));
		c = client_for((const char *[]){ other }, 1, ca_file, 0);
		assert_int_equal(host_client_request(c, "GET", "/v1/info", NULL, &r, &e),
				 -EKEYREJECTED);
		assert_int_equal(tls.hits, 1);
		host_client_free(c);
	}
	canned_stop(&tls);
	unlink(ca_file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failover_connection_refused),
		cmocka_unit_test(test_failover_503),
		cmocka_unit_test(test_no_failover_403),
		cmocka_unit_test(test_all_down),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_bad_urls),
		cmocka_unit_test(test_tls_verification),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
