/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsd host API client (libcurl easy interface, one handle per client so
 * connections are kept alive across the requests of one command).
 */
#include "host/client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/util.h"

struct host_client {
	char *urls[HOST_CLIENT_MAX_URLS];
	size_t n_urls;
	char *ca_file;
	long connect_timeout;
	long timeout;
	size_t max_response;
	CURL *curl;
};

/* A response body under construction; never larger than max. */
struct body_buf {
	char *data;
	size_t len, cap, max;
	bool too_big;
};

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct body_buf *b = user;
	size_t n = size * nmemb; /* curl guarantees size == 1 */

	if (n > b->max - b->len) {
		b->too_big = true;
		return 0; /* CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		char *nd;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		if (ncap > b->max + 1)
			ncap = b->max + 1;
		nd = realloc(b->data, ncap);
		if (!nd)
			return 0;
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static void body_buf_free(struct body_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static void curl_slist_freep(struct curl_slist **l)
{
	curl_slist_free_all(*l);
}

/* Copy server text for printing: control characters (terminal escapes)
 * become '?', and the copy is cut to fit. */
static void safe_copy(char *dst, size_t n, const char *src, size_t src_len)
{
	size_t i, j = 0;

	if (!n)
		return;
	for (i = 0; i < src_len && j + 1 < n && src[i]; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[j++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	dst[j] = '\0';
}

static int url_check(const char *u, struct err *e)
{
	const char *host;

	if (strncmp(u, "https://", 8) == 0)
		host = u + 8;
	else if (strncmp(u, "http://", 7) == 0)
		host = u + 7;
	else
		return err_set(e, EINVAL,
			       "hgsd URL '%s': must start with https:// or "
			       "http://",
			       u);
	if (strlen(u) >= HOST_CLIENT_URL_MAX)
		return err_set(e, EINVAL,
			       "hgsd URL '%.64s...': longer than %d bytes", u,
			       HOST_CLIENT_URL_MAX - 1);
	if (!*host || *host == '/' || *host == ':')
		return err_set(e, EINVAL, "hgsd URL '%s': no host", u);
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' ||
		    *p == '#' || *p == '@')
			return err_set(e, EINVAL,
				       "hgsd URL '%s': spaces, control "
				       "characters, query, fragment or user "
				       "info are not allowed",
				       u);
	return 0;
}

int host_client_new(const struct host_client_options *o,
		    struct host_client **ret, struct err *e)
{
	struct host_client *c;

	if (!o || !o->n_urls)
		return err_set(e, EINVAL,
			       "no hgsd URL (--hgs URL or hgs_urls in the state "
			       "directory's config)");
	if (o->n_urls > HOST_CLIENT_MAX_URLS)
		return err_set(e, EINVAL, "%zu hgsd URLs, at most %d", o->n_urls,
			       HOST_CLIENT_MAX_URLS);
	for (size_t i = 0; i < o->n_urls; i++)
		if (url_check(o->urls[i], e) < 0)
			return -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(e, EIO, "libcurl initialisation failed");
	c = calloc(1, sizeof(*c));
	if (!c) {
		curl_global_cleanup();
		return err_set(e, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < o->n_urls; i++) {
		size_t len = strlen(o->urls[i]);

		while (len > 0 && o->urls[i][len - 1] == '/')
			len--;
		c->urls[i] = strndup(o->urls[i], len);
		c->n_urls++;
		if (!c->urls[i])
			goto oom;
	}
	if (o->ca_file && !(c->ca_file = strdup(o->ca_file)))
		goto oom;
	c->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout
						    : HOST_CLIENT_CONNECT_TIMEOUT;
	c->timeout = o->timeout > 0 ? o->timeout : HOST_CLIENT_TIMEOUT;
	c->max_response = o->max_response ? o->max_response
					  : HOST_CLIENT_MAX_RESPONSE;
	c->curl = curl_easy_init();
	if (!c->curl)
		goto oom;
	*ret = c;
	return 0;
oom:
	host_client_free(c);
	return err_set(e, ENOMEM, "out of memory");
}

void host_client_free(struct host_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_urls; i++)
		free(c->urls[i]);
	free(c->ca_file);
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c);
	curl_global_cleanup();
}

void host_client_response_clear(struct host_client_response *r)
{
	if (!r)
		return;
	json_decref(r->body);
	memset(r, 0, sizeof(*r));
}

static unsigned json_depth(const json_t *j)
{
	unsigned d = 0, sub;
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, k, v) {
			sub = json_depth(v);
			if (sub > d)
				d = sub;
		}
		return d + 1;
	}
	if (json_is_array(j)) {
		json_array_foreach(j, i, v) {
			sub = json_depth(v);
			if (sub > d)
				d = sub;
		}
		return d + 1;
	}
	return 0;
}

/* A JSON object within the depth limit, or NULL. */
static json_t *parse_body(const struct body_buf *b)
{
	json_error_t je;
	json_t *j;

	if (!b->len)
		return NULL;
	j = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &je);
	if (j && (!json_is_object(j) ||
		  json_depth(j) > HOST_CLIENT_JSON_MAX_DEPTH)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Fill the error part of r from an error answer's body. */
static void parse_error_body(struct host_client_response *r,
			     const struct body_buf *b)
{
	json_t *err, *msg, *fail;

	r->body = parse_body(b);
	err = json_object_get(r->body, "error");
	msg = json_object_get(r->body, "message");
	fail = json_object_get(r->body, "failures");
	if (json_is_string(err))
		safe_copy(r->error, sizeof(r->error), json_string_value(err),
			  json_string_length(err));
	if (json_is_string(msg))
		safe_copy(r->message, sizeof(r->message),
			  json_string_value(msg), json_string_length(msg));
	else if (!json_is_string(err) && b->len)
		safe_copy(r->message, sizeof(r->message), b->data,
			  b->len < 200 ? b->len : 200);
	r->failures = json_is_array(fail) ? fail : NULL;
}

/* What a failed transfer means, as an errno. */
static int curl_errno(CURLcode cc, const struct body_buf *b)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
		return EKEYREJECTED;
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return EINVAL;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_USE_SSL_FAILED:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
		return EPROTO;
	case CURLE_FILESIZE_EXCEEDED:
		return EMSGSIZE;
	case CURLE_WRITE_ERROR:
		return b->too_big ? EMSGSIZE : ENOMEM;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	default:
		return EIO;
	}
}

/* Append "; URL: text" to the running report of failed URLs. */
static void report_add(char *rep, size_t n, const char *url, const char *fmt,
		       ...) _printf_(4, 5);
static void report_add(char *rep, size_t n, const char *url, const char *fmt,
		       ...)
{
	size_t len = strlen(rep);
	va_list ap;
	int w;

	if (len + 1 >= n)
		return;
	w = snprintf(rep + len, n - len, "%s%s: ", len ? "; " : "", url);
	if (w < 0 || (size_t)w >= n - len)
		return;
	len += (size_t)w;
	va_start(ap, fmt);
	vsnprintf(rep + len, n - len, fmt, ap);
	va_end(ap);
}

static int setup(struct host_client *c, const char *method, const char *url,
		 const char *req, size_t req_len, struct curl_slist *hdrs,
		 struct body_buf *b, char *errbuf)
{
	CURL *h = c->curl;
	CURLcode cc = CURLE_OK;

	curl_easy_reset(h);
#define SET(opt, val)                                                         \
	do {                                                                   \
		if (cc == CURLE_OK)                                            \
			cc = curl_easy_setopt(h, opt, val);                    \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, c->connect_timeout);
	SET(CURLOPT_TIMEOUT, c->timeout);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (c->ca_file)
		SET(CURLOPT_CAINFO, c->ca_file);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
	SET(CURLOPT_USERAGENT, "shieldvm-host");
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_WRITEFUNCTION, body_write);
	SET(CURLOPT_WRITEDATA, b);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	if (streq(method, "POST")) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, req);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req_len);
	} else {
		SET(CURLOPT_HTTPGET, 1L);
	}
#undef SET
	return cc == CURLE_OK ? 0 : -ENOMEM;
}

/* The serialized request, wiped before it is freed. */
static void wipe_freep(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
}

int host_client_request(struct host_client *c, const char *method,
			const char *path, const json_t *req,
			struct host_client_response *ret, struct err *e)
{
	_cleanup_(curl_slist_freep) struct curl_slist *hdrs = NULL;
	_cleanup_(wipe_freep) char *body = NULL;
	char report[ERR_MSG_MAX] = "";
	size_t body_len = 0;
	int last = EIO;

	memset(ret, 0, sizeof(*ret));
	if (!c || !path || path[0] != '/' ||
	    (!streq(method, "GET") && !streq(method, "POST")))
		return err_set(e, EINVAL, "bad request arguments");
	if (streq(method, "POST")) {
		json_t *empty = NULL;

		if (!req)
			req = empty = json_object();
		body = req ? json_dumps(req, JSON_COMPACT) : NULL;
		json_decref(empty);
		if (!body)
			return err_set(e, ENOMEM, "cannot serialize request");
		body_len = strlen(body);
		hdrs = curl_slist_append(NULL, "Content-Type: application/json");
		if (!hdrs)
			return err_set(e, ENOMEM, "out of memory");
	}
	{
		struct curl_slist *n;

		n = curl_slist_append(hdrs, "Accept: application/json");
		if (n)
			n = curl_slist_append(n, "Expect:");
		if (!n)
			return err_set(e, ENOMEM, "out of memory");
		hdrs = n;
	}

	for (size_t i = 0; i < c->n_urls; i++) {
		char url[HOST_CLIENT_URL_MAX + 256];
		char errbuf[CURL_ERROR_SIZE] = "";
		struct body_buf b = { .max = c->max_response };
		long status = 0;
		CURLcode cc;
		int w;

		w = snprintf(url, sizeof(url), "%s%s", c->urls[i], path);
		if (w < 0 || (size_t)w >= sizeof(url))
			return err_set(e, EINVAL, "URL too long: %s%s",
				       c->urls[i], path);
		if (setup(c, method, url, body, body_len, hdrs, &b, errbuf) < 0)
			return err_set(e, ENOMEM, "libcurl: cannot set options");
		cc = curl_easy_perform(c->curl);
		if (cc != CURLE_OK) {
			last = curl_errno(cc, &b);
			if (last == EMSGSIZE)
				report_add(report, sizeof(report), c->urls[i],
					   "response larger than %zu bytes",
					   c->max_response);
			else
				report_add(report, sizeof(report), c->urls[i],
					   "%s", errbuf[0] ? errbuf
							   : curl_easy_strerror(cc));
			body_buf_free(&b);
			if (last == ENOMEM)
				break;
			continue;
		}
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		host_client_response_clear(ret);
		ret->status = status;
		snprintf(ret->url, sizeof(ret->url), "%s", c->urls[i]);
		if (status >= 200 && status < 300) {
			ret->body = parse_body(&b);
			body_buf_free(&b);
			if (ret->body)
				return 0;
			last = EBADMSG;
			report_add(report, sizeof(report), c->urls[i],
				   "HTTP %ld with a body that is not a JSON "
				   "object",
				   status);
			host_client_response_clear(ret);
			continue;
		}
		parse_error_body(ret, &b);
		body_buf_free(&b);
		if (status >= 500 && status < 600) {
			last = EAGAIN;
			report_add(report, sizeof(report), c->urls[i],
				   "HTTP %ld %s%s%s", status,
				   ret->error[0] ? ret->error : "",
				   ret->error[0] && ret->message[0] ? ": " : "",
				   ret->message);
			continue;
		}
		return err_set(e, EREMOTEIO, "%s%s: HTTP %ld %s%s%s",
			       c->urls[i], path, status,
			       ret->error[0] ? ret->error : "",
			       ret->error[0] && ret->message[0] ? ": " : "",
			       ret->message);
	}
	return err_set(e, last, "%s %s failed on every hgsd URL: %s", method,
		       path, report);
}
