/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request bodies into jansson, without jansson reading the long strings.
 *
 * An attestation body is ~40 KB of JSON of which ~36 KB is one base64url
 * string (the event log). jansson lexes strings a byte at a time through
 * its stream and string buffer, which made parsing the body the largest
 * single cost of an attestation. jsonload_body() makes one lexical pass
 * (the nesting depth, as before, plus the spans of long plain strings),
 * hands jansson a copy of the text in which each long plain string value
 * is replaced by a short placeholder, and puts the original bytes into
 * those string values afterwards.
 *
 * The result is exactly json_loadb(buf, len, JSON_REJECT_DUPLICATES):
 *  - only string values (never keys) of printable ASCII without escapes
 *    are set aside; such a token lexes the same as its placeholder, so the
 *    two texts are valid together and give the same tree;
 *  - placeholders are "\u0000" followed by the span's index, told apart
 *    from input because a text with a \u0000 escape anywhere is not taken
 *    apart (jansson refuses it, and does so from the original text);
 *  - whenever jansson refuses the modified text, the original text is
 *    parsed again, so every error and its message are jansson's own.
 * tests/unit/test_jsonload.c and tests/fuzz/fuzz_jsonload.c compare it
 * with json_loadb.
 */
#pragma once

#include <stddef.h>

#include <jansson.h>

/* String values at least this long are set aside. */
#define JSONLOAD_LONG_STRING 64u
/* At most this many per body; longer strings beyond it stay in the text. */
#define JSONLOAD_MAX_SPANS 64u

/* Nesting depth of a JSON text as a lexer sees it (brackets outside
 * strings). */
unsigned jsonload_depth(const char *buf, size_t len);

/*
 * Parse buf as json_loadb(buf, len, JSON_REJECT_DUPLICATES, err) would,
 * after checking the nesting depth lexically: a text nested deeper than
 * max_depth is not parsed at all.
 * 0 and *ret; -E2BIG when too deep; -EBADMSG when jansson refuses the
 * text (*err says why); -ENOMEM.
 */
int jsonload_body(const char *buf, size_t len, unsigned max_depth,
		  json_t **ret, json_error_t *err);
