/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsctl/table.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct table {
	size_t n_cols;
	size_t n_rows, cap_rows; /* rows, the header row included */
	char **cells;		 /* n_rows * n_cols */
};

static int table_append(struct table *t, const char *const *cells)
{
	if (t->n_rows == t->cap_rows) {
		size_t ncap = t->cap_rows ? t->cap_rows * 2 : 16;
		char **n;

		if (ncap > SIZE_MAX / sizeof(char *) / t->n_cols)
			return -ENOMEM;
		n = realloc(t->cells, ncap * t->n_cols * sizeof(char *));
		if (!n)
			return -ENOMEM;
		t->cells = n;
		t->cap_rows = ncap;
	}
	for (size_t i = 0; i < t->n_cols; i++) {
		char *c = strdup(cells[i] ? cells[i] : "-");

		if (!c) {
			for (size_t j = 0; j < i; j++)
				free(t->cells[t->n_rows * t->n_cols + j]);
			return -ENOMEM;
		}
		/* no control characters from the server reach the terminal */
		for (char *p = c; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		t->cells[t->n_rows * t->n_cols + i] = c;
	}
	t->n_rows++;
	return 0;
}

int table_new(size_t n_cols, const char *const *headers, struct table **ret)
{
	struct table *t;
	int r;

	if (n_cols == 0)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->n_cols = n_cols;
	r = table_append(t, headers);
	if (r < 0) {
		table_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int table_add(struct table *t, const char *const *cells)
{
	return table_append(t, cells);
}

size_t table_rows(const struct table *t)
{
	return t->n_rows - 1;
}

void table_print(const struct table *t, FILE *f)
{
	size_t *width = calloc(t->n_cols, sizeof(size_t));

	if (!width)
		return;
	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_cols; c++) {
			size_t n = strlen(t->cells[r * t->n_cols + c]);

			if (n > width[c])
				width[c] = n;
		}
	for (size_t r = 0; r < t->n_rows; r++) {
		for (size_t c = 0; c < t->n_cols; c++) {
			const char *cell = t->cells[r * t->n_cols + c];

			if (c + 1 < t->n_cols)
				fprintf(f, "%-*s  ", (int)width[c], cell);
			else
				fprintf(f, "%s\n", cell);
		}
	}
	free(width);
}
