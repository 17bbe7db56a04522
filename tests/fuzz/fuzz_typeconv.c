/*
 * fuzz_typeconv.c: libFuzzer target for the value-conversion table (src/typeconv.c).
 *
 * The first byte picks the type (kind, array element kind, delimiter); the rest is the text value.
 * Checked for every input: the output is exactly one valid JSON value; a failure leaves exactly
 * `null` (or, for an array, an array whose unrepresentable elements are null); bytes already in the
 * buffer are never touched; converting twice gives the same bytes.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "typeconv.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "[\"prefix\","

static void
fail(const char *what, const buf_t *b)
{
	fprintf(stderr, "fuzz_typeconv: %s: output [%.*s]\n", what, (int) b->len, b->data);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delims[4] = {',', ';', ',', 0};
	const size_t plen = sizeof(PREFIX) - 1;
	tc_type		t;
	buf_t		b;
	buf_t		again;
	const char *text;
	size_t		len;
	const char *v;
	size_t		vlen;
	bool		ok;
	json_t	   *j;
	json_error_t err;

	if (size < 1)
		return 0;
	t.kind = (tc_kind) (data[0] % 13);
	t.elem_kind = (tc_kind) ((data[0] / 13) % 12);
	t.elem_delim = delims[data[0] >> 6];
	t.ndims = 1;
	/* a private copy, so reads past the end are caught by ASan */
	len = size - 1;
	text = len ? memcpy(malloc(len), data + 1, len) : "";

	buf_init(&b, 0);
	buf_puts(&b, PREFIX);
	ok = tc_write(&b, &t, text, len);
	if (b.failed)
		fail("buffer failed", &b);
	if (b.len < plen || memcmp(b.data, PREFIX, plen) != 0)
		fail("prefix clobbered", &b);
	if (b.data[b.len] != '\0')
		fail("not NUL-terminated", &b);
	v = b.data + plen;
	vlen = b.len - plen;

	if (!ok && t.kind != TC_ARRAY && !(vlen == 4 && memcmp(v, "null", 4) == 0))
		fail("failure did not write exactly null", &b);
	if (t.kind == TC_ARRAY && !(vlen == 4 && memcmp(v, "null", 4) == 0) && v[0] != '[')
		fail("array is neither null nor an array", &b);
	if (ok && vlen == 4 && memcmp(v, "null", 4) == 0)
		fail("null written but true returned", &b);

	j = json_loadb(v, vlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (j == NULL && json_error_code(&err) != json_error_numeric_overflow)
	{
		fprintf(stderr, "json error: %s at %d\n", err.text, err.position);
		fail("invalid JSON", &b);
	}
	json_decref(j);

	buf_init(&again, 0);
	if (tc_write(&again, &t, text, len) != ok || again.len != vlen ||
		memcmp(again.data, v, vlen) != 0)
		fail("not deterministic", &b);
	buf_free(&again);
	buf_free(&b);
	if (len)
		free((void *) text);
	return 0;
}
