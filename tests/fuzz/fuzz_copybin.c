/*
 * libFuzzer target: COPY binary tuples. The first byte picks the field count, the next ones each
 * field's binary form; the rest is the tuple (or, when it starts with the signature, a header and
 * a tuple). Every field of a tuple that splits must render within its bound, and its JSON must
 * be exactly what typeconv makes of the rendered text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copybin.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t oids[] = {
	TC_OID_BOOL, TC_OID_INT2, TC_OID_INT4, TC_OID_INT8, TC_OID_OID, TC_OID_TEXT, TC_OID_JSONB,
	TC_OID_NUMERIC, TC_OID_DATE, TC_OID_TIME, TC_OID_TIMESTAMP, TC_OID_TIMESTAMPTZ, TC_OID_UUID,
	TC_OID_BYTEA, TC_OID_JSON,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tc_type		types[8];
	tc_wire		wire[8];
	copy_field	f[8];
	buf_t		direct;
	buf_t		via_text;
	const char *tup;
	size_t		len;
	long		hl;
	int			n;

	if (size < 1)
		return 0;
	n = data[0] % 8 + 1;
	if (size < 1 + (size_t) n)
		return 0;
	for (int i = 0; i < n; i++)
	{
		types[i] = tc_resolve(oids[data[1 + i] % (sizeof(oids) / sizeof(oids[0]))], 0, 0, 0);
		wire[i] = types[i].wire;
	}
	tup = (const char *) data + 1 + n;
	len = size - 1 - (size_t) n;
	hl = copybin_header_len(tup, len);
	if (hl >= 0)
	{
		if ((size_t) hl > len)
			abort();
		tup += hl;
		len -= (size_t) hl;
	}
	if (copybin_split_row(tup, len, wire, n, f) != 1)
		return 0;
	buf_init(&direct, 1 << 20);
	buf_init(&via_text, 1 << 20);
	for (int i = 0; i < n; i++)
	{
		long		bound;
		long		tlen;
		char	   *text;
		bool		ok_direct;
		bool		ok_text;

		if (f[i].is_null)
			continue;
		if (f[i].data < tup || f[i].data + f[i].len > tup + len)
			abort();
		bound = copybin_text_bound(wire[i], f[i].data, f[i].len);
		if (bound < 0 || (text = malloc((size_t) bound + 1)) == NULL)
			abort();
		tlen = copybin_render(wire[i], f[i].data, f[i].len, text);
		if (tlen < 0 || tlen > bound)
			abort();
		buf_reset(&direct);
		buf_reset(&via_text);
		ok_direct = copybin_write_json(&direct, &types[i], f[i].data, f[i].len);
		ok_text = tc_write(&via_text, &types[i], text, (size_t) tlen);
		if (ok_direct != ok_text || direct.len != via_text.len ||
			memcmp(direct.data, via_text.data, direct.len) != 0)
			abort();
		free(text);
	}
	buf_free(&direct);
	buf_free(&via_text);
	return 0;
}
