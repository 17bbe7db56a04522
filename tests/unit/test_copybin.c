/*
 * Unit tests for the COPY binary-format parser: tuples and the header, each type's rendering
 * against the server's text output (values worked out from PostgreSQL's epoch and its date
 * range), and the direct JSON writer against typeconv's conversion of that text, for many values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "copybin.h"

/* ---- building binary values ---- */

static size_t
put_be(unsigned char *o, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		o[i] = (unsigned char) (v & 0xFF);
	return (size_t) bytes;
}

/* A binary numeric: sign (0, 0x4000 negative, 0xC000 NaN, 0xD000 +Inf, 0xF000 -Inf). */
static size_t
numeric_bin(unsigned char *o, int sign, int weight, int dscale, int ndigits, const int *digits)
{
	size_t		n = 0;

	n += put_be(o + n, (uint64_t) ndigits, 2);
	n += put_be(o + n, (uint64_t) (uint16_t) weight, 2);
	n += put_be(o + n, (uint64_t) sign, 2);
	n += put_be(o + n, (uint64_t) dscale, 2);
	for (int i = 0; i < ndigits; i++)
		n += put_be(o + n, (uint64_t) digits[i], 2);
	return n;
}

static void
expect_text(tc_wire wire, const unsigned char *bin, size_t len, const char *want)
{
	char		out[256];
	long		bound = copybin_text_bound(wire, (const char *) bin, len);
	long		n;

	assert_true(bound >= 0);
	assert_true((size_t) bound < sizeof(out));
	n = copybin_render(wire, (const char *) bin, len, out);
	assert_true(n >= 0 && n <= bound);
	out[n] = '\0';
	assert_string_equal(out, want);
}

static void
expect_int(tc_wire wire, int64_t v, int bytes, const char *want)
{
	unsigned char b[8];

	put_be(b, (uint64_t) v, bytes);
	expect_text(wire, b, (size_t) bytes, want);
}

/* ---- rendering ---- */

static void
test_integers_and_booleans(void **state)
{
	unsigned char b[1];

	expect_int(TC_WIRE_INT2, -32768, 2, "-32768");
	expect_int(TC_WIRE_INT2, 0, 2, "0");
	expect_int(TC_WIRE_INT4, 2147483647, 4, "2147483647");
	expect_int(TC_WIRE_INT4, -7, 4, "-7");
	expect_int(TC_WIRE_INT8, INT64_MIN, 8, "-9223372036854775808");
	expect_int(TC_WIRE_INT8, INT64_MAX, 8, "9223372036854775807");
	expect_int(TC_WIRE_INT8, 100, 8, "100");
	expect_int(TC_WIRE_OID, (int64_t) 4294967295u, 4, "4294967295");
	b[0] = 1;
	expect_text(TC_WIRE_BOOL, b, 1, "t");
	b[0] = 0;
	expect_text(TC_WIRE_BOOL, b, 1, "f");
}

static void
test_numerics(void **state)
{
	unsigned char b[64];

	expect_text(TC_WIRE_NUMERIC, b, numeric_bin(b, 0, 0, 0, 0, NULL), "0");
	expect_text(TC_WIRE_NUMERIC, b, numeric_bin(b, 0, 0, 2, 0, NULL), "0.00");
	expect_text(TC_WIRE_NUMERIC, b, numeric_bin(b, 0, 0, 2, 2, (int[]) {1, 5000}), "1.50");
	expect_text(TC_WIRE_NUMERIC, b, numeric_bin(b, 0x4000, 1, 3, 3, (int[]) {123, 4567, 8910}),
				"-1234567.891");
	expect_text(TC_WIRE_NUMERIC, b, numeric_bin(b, 0, -2, 6, 1, (int[]) {100}), "0.000001");
	expect_text(TC_WIRE_NUMERIC, b, numeric_bin(b, 0, 1, 0, 1, (int[]) {1}), "10000");
	expect_text(TC_WIRE_NUMERIC, b, numeric_bin(b, 0, 2, 0, 2, (int[]) {12, 3}),
				"1200030000");
	expect_text(TC_WIRE_NUMERIC, b, numeric_bin(b, 0, 0, 1, 1, (int[]) {9999}), "9999.0");
	expect_text(TC_WIRE_NUMERIC, b, numeric_bin(b, 0xC000, 0, 0, 0, NULL), "NaN");
	expect_text(TC_WIRE_NUMERIC, b, numeric_bin(b, 0xD000, 0, 0, 0, NULL), "Infinity");
	expect_text(TC_WIRE_NUMERIC, b, numeric_bin(b, 0xF000, 0, 0, 0, NULL), "-Infinity");
	/* impossible forms: a digit past 9999, a bad sign, a length that does not match */
	assert_true(copybin_text_bound(TC_WIRE_NUMERIC, (const char *) b,
								   numeric_bin(b, 0, 0, 0, 1, (int[]) {10000})) < 0);
	assert_true(copybin_text_bound(TC_WIRE_NUMERIC, (const char *) b,
								   numeric_bin(b, 0x8000, 0, 0, 0, NULL)) < 0);
	assert_true(copybin_text_bound(TC_WIRE_NUMERIC, (const char *) b,
								   numeric_bin(b, 0, 0, 0, 1, (int[]) {1}) - 1) < 0);
}

static void
test_dates(void **state)
{
	expect_int(TC_WIRE_DATE, 0, 4, "2000-01-01");
	expect_int(TC_WIRE_DATE, -1, 4, "1999-12-31");
	expect_int(TC_WIRE_DATE, 8825, 4, "2024-02-29");
	/* 0001-01-01 is Julian day 1721426, PostgreSQL's epoch 2451545 */
	expect_int(TC_WIRE_DATE, -730119, 4, "0001-01-01");
	expect_int(TC_WIRE_DATE, -730120, 4, "0001-12-31 BC");
	/* the date range: Julian day 0 (4714-11-24 BC) to 2147483493 (5874897-12-31) */
	expect_int(TC_WIRE_DATE, -2451545, 4, "4714-11-24 BC");
	expect_int(TC_WIRE_DATE, 2145031948, 4, "5874897-12-31");
	expect_int(TC_WIRE_DATE, INT32_MIN, 4, "-infinity");
	expect_int(TC_WIRE_DATE, INT32_MAX, 4, "infinity");
}

static void
test_times_and_timestamps(void **state)
{
	const int64_t day = INT64_C(86400000000);

	expect_int(TC_WIRE_TIME, 0, 8, "00:00:00");
	expect_int(TC_WIRE_TIME, day, 8, "24:00:00");
	expect_int(TC_WIRE_TIME, INT64_C(45296789000), 8, "12:34:56.789");
	expect_int(TC_WIRE_TIME, INT64_C(86399999999), 8, "23:59:59.999999");
	expect_int(TC_WIRE_TIME, 1, 8, "00:00:00.000001");
	expect_int(TC_WIRE_TIMESTAMP, 0, 8, "2000-01-01 00:00:00");
	expect_int(TC_WIRE_TIMESTAMP, -1, 8, "1999-12-31 23:59:59.999999");
	expect_int(TC_WIRE_TIMESTAMP, 1500000, 8, "2000-01-01 00:00:01.5");
	expect_int(TC_WIRE_TIMESTAMPTZ, 1500000, 8, "2000-01-01 00:00:01.5+00");
	expect_int(TC_WIRE_TIMESTAMP, -730120 * day + day / 2, 8, "0001-12-31 12:00:00 BC");
	expect_int(TC_WIRE_TIMESTAMPTZ, -730120 * day + day / 2, 8, "0001-12-31 12:00:00+00 BC");
	/* the largest timestamp: 294276-12-31 23:59:59.999999 */
	expect_int(TC_WIRE_TIMESTAMP, INT64_C(9223371331199999999), 8, "294276-12-31 23:59:59.999999");
	expect_int(TC_WIRE_TIMESTAMPTZ, INT64_MIN, 8, "-infinity");
	expect_int(TC_WIRE_TIMESTAMPTZ, INT64_MAX, 8, "infinity");
	/* a time past 24:00:00 is impossible */
	{
		unsigned char b[8];

		put_be(b, (uint64_t) (day + 1), 8);
		assert_true(copybin_text_bound(TC_WIRE_TIME, (const char *) b, 8) < 0);
	}
}

static void
test_uuid_bytea_text(void **state)
{
	const unsigned char u[16] = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b,
	0xb9, 0xbd, 0x38, 0x0a, 0x11};
	const unsigned char by[3] = {0x00, 0xff, 0x10};
	const unsigned char jb[4] = {1, '{', '}', 0};

	expect_text(TC_WIRE_UUID, u, 16, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
	expect_text(TC_WIRE_BYTEA, by, 3, "\\x00ff10");
	expect_text(TC_WIRE_BYTEA, by, 0, "\\x");
	expect_text(TC_WIRE_RAW, (const unsigned char *) "a\tb", 3, "a\tb");
	expect_text(TC_WIRE_JSONB, jb, 3, "{}");
	/* jsonb versions other than 1 are unknown */
	assert_true(copybin_text_bound(TC_WIRE_JSONB, "\2{}", 3) < 0);
	assert_true(copybin_text_bound(TC_WIRE_UUID, (const char *) u, 15) < 0);
}

/* ---- tuples ---- */

static void
test_header_and_tuples(void **state)
{
	unsigned char m[128];
	size_t		n = 0;
	tc_wire		w[3] = {TC_WIRE_INT4, TC_WIRE_RAW, TC_WIRE_BOOL};
	copy_field	f[3];
	long		hl;

	memcpy(m, "PGCOPY\n\377\r\n\0", 11);
	n = 11;
	n += put_be(m + n, 0, 4);	/* flags */
	n += put_be(m + n, 2, 4);	/* a header extension of two bytes, skipped */
	n += put_be(m + n, 0xABCD, 2);
	hl = copybin_header_len((const char *) m, n);
	assert_int_equal(hl, 21);
	/* the tuple: 42, "hi", NULL */
	n += put_be(m + n, 3, 2);
	n += put_be(m + n, 4, 4);
	n += put_be(m + n, 42, 4);
	n += put_be(m + n, 2, 4);
	memcpy(m + n, "hi", 2);
	n += 2;
	n += put_be(m + n, (uint64_t) (uint32_t) -1, 4);
	assert_int_equal(copybin_split_row((const char *) m + hl, n - (size_t) hl, w, 3, f), 1);
	assert_false(f[0].is_null);
	assert_int_equal(f[0].len, 4);
	assert_int_equal(f[1].len, 2);
	assert_memory_equal(f[1].data, "hi", 2);
	assert_true(f[2].is_null);
	/* field count mismatch, truncation, trailing bytes */
	assert_int_equal(copybin_split_row((const char *) m + hl, n - (size_t) hl, w, 2, f), -1);
	assert_int_equal(copybin_split_row((const char *) m + hl, n - (size_t) hl - 1, w, 3, f), -1);
	assert_int_equal(copybin_split_row((const char *) m + hl, n - (size_t) hl + 1, w, 3, f), -1);
	/* a value of the wrong length for its type */
	w[0] = TC_WIRE_INT8;
	assert_int_equal(copybin_split_row((const char *) m + hl, n - (size_t) hl, w, 3, f), -1);
	/* the trailer */
	assert_int_equal(copybin_split_row("\377\377", 2, w, 3, f), 0);
	assert_int_equal(copybin_split_row("\377\377\0", 3, w, 3, f), -1);
	/* no header */
	assert_int_equal(copybin_header_len("PGCOPY\n\377\r\n", 10), -1);
	assert_int_equal(copybin_header_len((const char *) m, 18), -1);
	m[11] = 1;					/* flags with high bits set */
	assert_int_equal(copybin_header_len((const char *) m, n), -1);
}

/* ---- the JSON writer against typeconv on the rendered text ---- */

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A random valid binary value of the wire type into b; its length. */
static size_t
random_value(tc_wire wire, unsigned char *b)
{
	uint64_t	r = next_random();
	const int64_t day = INT64_C(86400000000);

	switch (wire)
	{
		case TC_WIRE_BOOL:
			b[0] = (unsigned char) (r & 1);
			return 1;
		case TC_WIRE_INT2:
			return put_be(b, r, 2);
		case TC_WIRE_INT4:
		case TC_WIRE_OID:
			return put_be(b, r >> (r & 31), 4);
		case TC_WIRE_INT8:
			return put_be(b, r >> (next_random() & 63), 8);
		case TC_WIRE_DATE:
			switch (r % 8)
			{
				case 0:
					return put_be(b, (uint64_t) (uint32_t) INT32_MIN, 4);
				case 1:
					return put_be(b, (uint64_t) INT32_MAX, 4);
				default:
					/* Julian day 0 to the last date */
					return put_be(b, (uint64_t) (uint32_t) (int32_t) (-2451545 +
																	   (int64_t) (next_random() % 2147483494u)), 4);
			}
		case TC_WIRE_TIME:
			return put_be(b, next_random() % (uint64_t) (day + 1), 8);
		case TC_WIRE_TIMESTAMP:
		case TC_WIRE_TIMESTAMPTZ:
			switch (r % 8)
			{
				case 0:
					return put_be(b, (uint64_t) INT64_MIN, 8);
				case 1:
					return put_be(b, (uint64_t) INT64_MAX, 8);
				case 2:
					/* whole seconds */
					return put_be(b, (uint64_t) ((int64_t) (next_random() % 20000000000u) - 10000000000) * 1000000, 8);
				default:
					/* 4713 BC to 294276 AD */
					return put_be(b, (uint64_t) INT64_C(-211813488000000000) +
								  next_random() % UINT64_C(9435184819199999999), 8);
			}
		case TC_WIRE_UUID:
			for (int i = 0; i < 16; i++)
				b[i] = (unsigned char) next_random();
			return 16;
		case TC_WIRE_BYTEA:
			{
				size_t		n = r % 8;

				for (size_t i = 0; i < n; i++)
					b[i] = (unsigned char) next_random();
				return n;
			}
		case TC_WIRE_NUMERIC:
			{
				int			digits[8];
				int			nd = (int) (r % 9);
				int			kind = (int) (next_random() % 16);

				for (int i = 0; i < nd; i++)
					digits[i] = (int) (next_random() % 10000);
				if (nd > 0 && digits[0] == 0)
					digits[0] = 1;
				if (nd > 0 && digits[nd - 1] == 0)
					digits[nd - 1] = 7;
				return numeric_bin(b, kind == 0 ? 0xC000 : kind == 1 ? 0xD000 : kind == 2 ? 0xF000 :
								   (kind & 1) ? 0x4000 : 0, (int) (next_random() % 12) - 6,
								   (int) (next_random() % 30), kind < 3 ? 0 : nd, digits);
			}
		default:
			return 0;
	}
}

static void
test_json_matches_typeconv_on_the_text(void **state)
{
	static const struct
	{
		tc_wire		wire;
		uint32_t	oid;
	}			types[] = {
		{TC_WIRE_BOOL, TC_OID_BOOL}, {TC_WIRE_INT2, TC_OID_INT2}, {TC_WIRE_INT4, TC_OID_INT4},
		{TC_WIRE_INT8, TC_OID_INT8}, {TC_WIRE_OID, TC_OID_OID}, {TC_WIRE_NUMERIC, TC_OID_NUMERIC},
		{TC_WIRE_DATE, TC_OID_DATE}, {TC_WIRE_TIME, TC_OID_TIME},
		{TC_WIRE_TIMESTAMP, TC_OID_TIMESTAMP}, {TC_WIRE_TIMESTAMPTZ, TC_OID_TIMESTAMPTZ},
		{TC_WIRE_UUID, TC_OID_UUID}, {TC_WIRE_BYTEA, TC_OID_BYTEA},
	};
	buf_t		direct;
	buf_t		via_text;

	buf_init(&direct, 0);
	buf_init(&via_text, 0);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
	{
		tc_type		ty = tc_resolve(types[t].oid, 0, 0, 0);

		assert_int_equal(ty.wire, types[t].wire);
		for (int i = 0; i < 20000; i++)
		{
			unsigned char b[64];
			char		text[256];
			size_t		len = random_value(ty.wire, b);
			long		n = copybin_render(ty.wire, (const char *) b, len, text);
			bool		ok_direct;
			bool		ok_text;

			assert_true(n >= 0);
			buf_reset(&direct);
			buf_reset(&via_text);
			ok_direct = copybin_write_json(&direct, &ty, (const char *) b, len);
			ok_text = tc_write(&via_text, &ty, text, (size_t) n);
			if (ok_direct != ok_text || direct.len != via_text.len ||
				memcmp(direct.data, via_text.data, direct.len) != 0)
				fail_msg("wire %d, text %.*s: %.*s (%d) against typeconv's %.*s (%d)", ty.wire,
						 (int) n, text, (int) direct.len, direct.data, ok_direct,
						 (int) via_text.len, via_text.data, ok_text);
		}
	}
	/* no binary form for floats, intervals, arrays: those tables are copied as text */
	assert_int_equal(tc_resolve(TC_OID_FLOAT8, 0, 0, 0).wire, TC_WIRE_NONE);
	assert_int_equal(tc_resolve(TC_OID_INTERVAL, 0, 0, 0).wire, TC_WIRE_NONE);
	assert_int_equal(tc_resolve(1007, TC_OID_INT4, ',', 1).wire, TC_WIRE_NONE);
	buf_free(&direct);
	buf_free(&via_text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers_and_booleans),
		cmocka_unit_test(test_numerics),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_times_and_timestamps),
		cmocka_unit_test(test_uuid_bytea_text),
		cmocka_unit_test(test_header_and_tuples),
		cmocka_unit_test(test_json_matches_typeconv_on_the_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
