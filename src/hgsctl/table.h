/* SPDX-License-Identifier: Apache-2.0 */
/* Aligned text tables for hgsctl's human output: a header row, then rows of
 * cells; every column but the last is padded to its widest cell. */
#pragma once

#include <stddef.h>
#include <stdio.h>

struct table;

/* headers: n_cols column titles (copied). */
int table_new(size_t n_cols, const char *const *headers, struct table **ret);
void table_free(struct table *t);
/* Append a row of n_cols cells (copied; NULL prints as "-"). */
int table_add(struct table *t, const char *const *cells);
size_t table_rows(const struct table *t);
void table_print(const struct table *t, FILE *f);
