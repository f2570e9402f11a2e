/* SPDX-License-Identifier: Apache-2.0 */
/* Request bodies into jansson without jansson lexing the long strings: see
 * jsonload.h for why this gives exactly json_loadb's result. */
#include "hgsd/jsonload.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* "\u0000" and the span's index: at most 8 bytes, shorter than any span */
#define PLACEHOLDER_MAX 8
_Static_assert(JSONLOAD_MAX_SPANS <= 100, "span indexes have at most two digits");
_Static_assert(JSONLOAD_LONG_STRING > PLACEHOLDER_MAX, "placeholders are shorter");

struct span {
	size_t start; /* first byte of the string's content */
	size_t len;   /* content bytes, quotes excluded */
};

struct scan {
	unsigned depth;
	bool nul_escape; /* some string has a \u0000 escape */
	size_t n_spans;
	struct span spans[JSONLOAD_MAX_SPANS];
};

/* Bytes that end a plain run inside a string: the quote, the backslash,
 * control characters and everything outside printable ASCII. */
__extension__ static const bool not_plain[256] = {
	[0x00 ... 0x1f] = true, ['"'] = true, ['\\'] = true,
	[0x7f ... 0xff] = true,
};

/* None of the 8 bytes at p is in not_plain (exact: the "has a zero byte"
 * and "has a byte less than n" word tests have no false negatives, and
 * report a word only if some byte really is one). */
static bool plain8(const char *p)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t w, q, b, d, special;

	memcpy(&w, p, sizeof(w));
	q = w ^ (ones * '"');
	b = w ^ (ones * '\\');
	d = w ^ (ones * 0x7f);
	special = ((q - ones) & ~q) | ((b - ones) & ~b) | ((d - ones) & ~d) |
		  ((w - ones * 0x20) & ~w) | w;
	return !(special & highs);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One pass over the text as a JSON lexer sees it: strings from an unescaped
 * quote to the next, brackets outside strings. Invalid texts scan to
 * something; jansson judges them. */
static void scan(const char *buf, size_t len, struct scan *s)
{
	unsigned depth = 0;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < len; i++) {
		switch (buf[i]) {
		case '"': {
			size_t start = i + 1;
			bool plain = true;

			for (i = start; i < len; i++) {
				unsigned char c;

				/* base64url runs, eight bytes at a time */
				while (len - i >= 8 && plain8(buf + i))
					i += 8;
				if (i >= len)
					break;
				c = (unsigned char)buf[i];
				if (!not_plain[c])
					continue;
				if (c == '"')
					break;
				if (c == '\\') {
					plain = false;
					if (len - i > 5 && buf[i + 1] == 'u' &&
					    memcmp(buf + i + 2, "0000", 4) == 0)
						s->nul_escape = true;
					i++; /* the escaped character */
					continue;
				}
				if (c < 0x20 || c > 0x7e)
					plain = false;
			}
			if (i >= len)
				return; /* unterminated: jansson says so */
			if (plain && i - start >= JSONLOAD_LONG_STRING &&
			    s->n_spans < JSONLOAD_MAX_SPANS) {
				size_t j = i + 1;

				while (j < len && is_ws(buf[j]))
					j++;
				/* a value, not a key */
				if (j >= len || buf[j] != ':')
					s->spans[s->n_spans++] = (struct span){
						.start = start, .len = i - start
					};
			}
			break;
		}
		case '[':
		case '{':
			if (++depth > s->depth)
				s->depth = depth;
			break;
		case ']':
		case '}':
			if (depth)
				depth--;
			break;
		default:
			break;
		}
	}
}

unsigned jsonload_depth(const char *buf, size_t len)
{
	struct scan s;

	scan(buf, len, &s);
	return s.depth;
}

/* The text with every span's string replaced by "\u0000<index>". */
static char *shrink(const char *buf, size_t len, const struct scan *s,
		    size_t *ret_len)
{
	char *out = malloc(len + 1);
	size_t o = 0, from = 0;

	if (!out)
		return NULL;
	for (size_t k = 0; k < s->n_spans; k++) {
		const struct span *sp = &s->spans[k];

		/* up to and including the opening quote */
		memcpy(out + o, buf + from, sp->start - from);
		o += sp->start - from;
		/* shorter than the span: JSONLOAD_LONG_STRING > PLACEHOLDER_MAX */
		memcpy(out + o, "\\u0000", 6);
		o += 6;
		if (k >= 10)
			out[o++] = (char)('0' + k / 10);
		out[o++] = (char)('0' + k % 10);
		from = sp->start + sp->len; /* the closing quote comes next */
	}
	memcpy(out + o, buf + from, len - from);
	o += len - from;
	out[o] = '\0';
	*ret_len = o;
	return out;
}

/* Put each span's bytes back into its placeholder; counts the patches. */
static int patch(json_t *j, const char *buf, const struct scan *s,
		 size_t *patched)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, key, v) {
			if (patch(v, buf, s, patched) < 0)
				return -1;
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) {
			if (patch(v, buf, s, patched) < 0)
				return -1;
		}
	} else if (json_is_string(j) && json_string_length(j) >= 2 &&
		   json_string_value(j)[0] == '\0') {
		const char *digits = json_string_value(j) + 1;
		char *end;
		unsigned long k = strtoul(digits, &end, 10);
		const struct span *sp;

		if (end == digits || *end || k >= s->n_spans)
			return -1;
		sp = &s->spans[k];
		if (json_string_setn_nocheck(j, buf + sp->start, sp->len) < 0)
			return -1;
		++*patched;
	}
	return 0;
}

int jsonload_body(const char *buf, size_t len, unsigned max_depth,
		  json_t **ret, json_error_t *err)
{
	_cleanup_free_ char *small = NULL;
	size_t small_len, patched = 0;
	struct scan s;
	json_t *j;

	scan(buf, len, &s);
	if (s.depth > max_depth)
		return -E2BIG;
	if (s.n_spans && !s.nul_escape)
		small = shrink(buf, len, &s, &small_len);
	if (small) {
		j = json_loadb(small, small_len,
			       JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
		if (j && patch(j, buf, &s, &patched) == 0 &&
		    patched == s.n_spans) {
			*ret = j;
			return 0;
		}
		json_decref(j);
	}
	/* Nothing to set aside, or jansson refused the short text: the
	 * original, so that errors are jansson's own. */
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, err);
	if (!j)
		return -EBADMSG;
	*ret = j;
	return 0;
}
