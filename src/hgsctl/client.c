/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsctl/client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <curl/curl.h>

#include "common/util.h"
#include "hgsctl/hgsctl.h"

struct client {
	CURL *curl;
	char *socket_path;
	bool global_init;
};

/* The answer's body, capped at HGSCTL_MAX_RESPONSE. */
struct sink {
	char *buf;
	size_t len, cap;
	bool too_big;
};

static size_t sink_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb; /* libcurl: size is always 1 */

	if (n > HGSCTL_MAX_RESPONSE - s->len) {
		s->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (s->len + n + 1 > s->cap) {
		size_t ncap = s->cap ? s->cap : 16384;
		char *nbuf;

		while (ncap < s->len + n + 1)
			ncap *= 2;
		if (ncap > HGSCTL_MAX_RESPONSE + 1)
			ncap = HGSCTL_MAX_RESPONSE + 1;
		nbuf = realloc(s->buf, ncap);
		if (!nbuf)
			return 0;
		s->buf = nbuf;
		s->cap = ncap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

int client_new(const char *socket_path, struct client **ret, struct err *e)
{
	struct client *c;
	const size_t max = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;

	if (strlen(socket_path) > max)
		return err_set(
			e, ENAMETOOLONG,
			"socket path '%s' is longer than a Unix socket address allows (%zu bytes)",
			socket_path, max);
	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(e, ENOMEM, "out of memory");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(c);
		return err_set(e, EIO, "libcurl failed to initialise");
	}
	c->global_init = true;
	c->curl = curl_easy_init();
	c->socket_path = strdup(socket_path);
	if (!c->curl || !c->socket_path) {
		client_free(c);
		return err_set(e, ENOMEM, "out of memory");
	}
	*ret = c;
	return 0;
}

void client_free(struct client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	if (c->global_init)
		curl_global_cleanup();
	free(c->socket_path);
	free(c);
}

void client_reply_clear(struct client_reply *r)
{
	json_decref(r->body);
	r->body = NULL;
	r->status = 0;
}

static void slist_freep(struct curl_slist **l)
{
	curl_slist_free_all(*l);
}

/* A failed transfer as an errno and a message that names the socket. */
static int transfer_error(struct client *c, CURLcode rc, const char *errbuf,
			  const struct sink *s, struct err *e)
{
	long os_errno = 0;
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
		if (os_errno > 0)
			return err_set(
				e, (int)os_errno,
				"cannot connect to hgsd's admin socket %s: %s",
				c->socket_path, strerror((int)os_errno));
		return err_set(e, ECONNREFUSED,
			       "cannot connect to hgsd's admin socket %s: %s",
			       c->socket_path, why);
	case CURLE_OPERATION_TIMEDOUT:
		return err_set(e, ETIMEDOUT,
			       "hgsd on %s did not answer in time: %s",
			       c->socket_path, why);
	case CURLE_WRITE_ERROR:
		if (s->too_big)
			return err_set(
				e, EFBIG,
				"the answer of hgsd on %s is larger than %u bytes",
				c->socket_path, HGSCTL_MAX_RESPONSE);
		return err_set(e, ENOMEM,
			       "out of memory reading hgsd's answer");
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return err_set(e, ECONNRESET,
			       "hgsd on %s closed the connection: %s",
			       c->socket_path, why);
	default:
		return err_set(e, EIO, "talking to hgsd on %s: %s",
			       c->socket_path, why);
	}
}

int client_request(struct client *c, const char *method, const char *path,
		   const json_t *body, struct client_reply *ret, struct err *e)
{
	_cleanup_(slist_freep) struct curl_slist *headers = NULL;
	_cleanup_free_ char *payload = NULL;
	_cleanup_free_ char *url = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sink s = { 0 };
	struct curl_slist *h;
	json_error_t jerr;
	size_t url_len;
	long status = 0;
	CURLcode rc;
	int r = 0;

	url_len = strlen("http://hgsd") + strlen(path) + 1;
	url = malloc(url_len);
	if (!url)
		return err_set(e, ENOMEM, "out of memory");
	snprintf(url, url_len, "http://hgsd%s", path);

	headers = curl_slist_append(NULL, "Accept: application/json");
	if (headers && (h = curl_slist_append(headers, "Expect:")))
		headers = h;
	else
		return err_set(e, ENOMEM, "out of memory");
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		if (!payload)
			return err_set(e, ENOMEM, "cannot encode the request");
		h = curl_slist_append(headers,
				      "Content-Type: application/json");
		if (!h)
			return err_set(e, ENOMEM, "out of memory");
		headers = h;
	}

	curl_easy_reset(c->curl);
	/* Every setopt below takes a valid value; failures would only be
	 * "unknown option" on an older libcurl, caught by the build. */
	curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT,
			 HGSCTL_CONNECT_TIMEOUT);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, HGSCTL_REQUEST_TIMEOUT);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "hgsctl/" HGSCTL_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
	if (streq(method, "GET")) {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	} else if (streq(method, "POST")) {
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS,
				 payload ? payload : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(payload ? strlen(payload) : 0));
	} else {
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	}

	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		r = transfer_error(c, rc, errbuf, &s, e);
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	ret->status = status;
	ret->body = NULL;
	if (s.len == 0)
		goto out;
	ret->body = json_loadb(s.buf, s.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!ret->body)
		r = err_set(e, EBADMSG,
			    "%s %s on %s: HTTP %ld with a body that is not JSON (%s, line %d)",
			    method, path, c->socket_path, status, jerr.text,
			    jerr.line);
out:
	free(s.buf);
	return r;
}
