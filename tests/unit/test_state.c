/* Unit tests for state parsing and emission, and the buffer/JSON helpers state relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "error.h"
#include "reader.h"
#include "state.h"

static bool
parse(const char *text, sp_state *st)
{
	json_error_t e;
	json_t	   *j = json_loads(text, JSON_DECODE_ANY, &e);
	bool		ok;

	assert_non_null(j);
	err_clear();
	ok = state_parse(j, st);
	json_decref(j);
	return ok;
}

static void
test_round_trip(void **state)
{
	stream_state a = {.ns = "public", .name = "users", .ctid_block = -1};
	char	   *cur[] = {"41", "x\"y"};
	stream_state b = {.ns = "s p", .name = "Tablé", .ncursor = 2, .cursor = cur,
	.cursor_key = "\"a\" bigint, \"b\" text", .ctid_block = -1, .table_oid = 4000000000u};
	stream_state c = {.ns = "public", .name = "done", .streaming = true, .ctid_block = -1};
	stream_state d = {.ns = "public", .name = "keyless", .ctid_block = 12, .ctid_filenode = 16384,
	.changes_from = 0x1000, .copy_snapshot = "740:745:740,743"};
	json_t	   *arr = json_array();
	json_t	   *g;
	char	   *text;
	sp_state	st;
	const stream_state *got;

	json_array_append_new(arr, state_stream_json(&a));
	json_array_append_new(arr, state_stream_json(&b));
	json_array_append_new(arr, state_stream_json(&c));
	json_array_append_new(arr, state_stream_json(&d));
	/* a system identifier as PostgreSQL shows one past 2^63 (or after 2038): negative */
	g = state_global_json(((uint64_t) 0x16 << 32) | 0xB374D848, "slot", "pub", "-9223372036853582762", arr, 7);
	arr = json_pack("[o]", g);
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	assert_true(parse(text, &st));
	assert_true(st.present);
	assert_int_equal(st.lsn, ((uint64_t) 0x16 << 32) | 0xB374D848);
	assert_string_equal(st.slot, "slot");
	assert_string_equal(st.system_id, "-9223372036853582762");
	assert_int_equal(st.nstreams, 4);
	got = state_find(&st, "s p", "Tablé");
	assert_non_null(got);
	assert_false(got->streaming);
	assert_int_equal(got->ncursor, 2);
	assert_string_equal(got->cursor[1], "x\"y");
	assert_true(state_find(&st, "public", "done")->streaming);
	assert_int_equal(state_find(&st, "public", "users")->ncursor, 0);
	assert_int_equal(state_find(&st, "public", "users")->ctid_block, -1);
	assert_int_equal(state_find(&st, "public", "keyless")->ctid_block, 12);
	assert_int_equal(state_find(&st, "public", "keyless")->ctid_filenode, 16384);
	assert_int_equal(state_find(&st, "public", "keyless")->changes_from, 0x1000);
	assert_string_equal(state_find(&st, "public", "keyless")->copy_snapshot, "740:745:740,743");
	assert_null(state_find(&st, "public", "done")->copy_snapshot);
	assert_int_equal(state_find(&st, "s p", "Tablé")->ctid_filenode, 0);
	assert_string_equal(got->cursor_key, "\"a\" bigint, \"b\" text");
	assert_int_equal(got->table_oid, 4000000000u);
	assert_null(state_find(&st, "public", "users")->cursor_key);
	assert_int_equal(state_find(&st, "public", "users")->table_oid, 0);
	assert_null(state_find(&st, "public", "nope"));
	state_free(&st);
	free(text);
}

static void
test_accepted_shapes(void **state)
{
	sp_state	st;
	const char *global = "{\"type\":\"GLOBAL\",\"global\":{\"shared_state\":{\"lsn\":\"0/10\"},\"stream_states\":[]}}";
	char		wrapped[512];

	assert_true(parse("[]", &st));
	assert_false(st.present);
	state_free(&st);
	assert_true(parse("{}", &st));
	assert_false(st.present);
	state_free(&st);
	assert_true(parse(global, &st));
	assert_true(st.present);
	assert_int_equal(st.lsn, 16);
	state_free(&st);
	snprintf(wrapped, sizeof(wrapped), "{\"type\":\"STATE\",\"state\":%s}", global);
	assert_true(parse(wrapped, &st));
	assert_int_equal(st.lsn, 16);
	state_free(&st);
	/* a LEGACY entry (typed or not) and a null are passed over */
	assert_true(parse("[{\"data\":{\"x\":1}}, null, {\"type\":\"LEGACY\",\"data\":{}}]", &st));
	assert_false(st.present);
	state_free(&st);
	/* whole STATE messages in an array, as a platform may keep them */
	snprintf(wrapped, sizeof(wrapped), "[{\"type\":\"STATE\",\"state\":%s}]", global);
	assert_true(parse(wrapped, &st));
	assert_true(st.present);
	assert_int_equal(st.lsn, 16);
	state_free(&st);
	/* a single STREAM state, bare or as a whole message, and one without a type */
	for (int i = 0; i < 3; i++)
	{
		char		one[512];

		snprintf(one, sizeof(one), "{%s\"stream\":{\"stream_descriptor\":{\"name\":\"t\","
				 "\"namespace\":\"public\"},\"stream_state\":{\"cursor\":\"5\"}}}",
				 i == 2 ? "" : "\"type\":\"STREAM\",");
		if (i == 1)
			snprintf(wrapped, sizeof(wrapped), "{\"type\":\"STATE\",\"state\":%s}", one);
		assert_true(parse(i == 1 ? wrapped : one, &st));
		assert_false(st.present);
		assert_non_null(state_per_stream(&st, "public", "t", true));
		assert_non_null(state_per_stream(&st, "public", "t", false));
		assert_null(state_per_stream(&st, "other", "t", true));
		assert_null(state_per_stream(&st, "public", "u", true));
		state_free(&st);
	}
	/* a saved stream without a namespace: the configured stream without one, not s2.t */
	assert_true(parse("[{\"type\":\"STREAM\",\"stream\":{\"stream_descriptor\":{\"name\":\"t\"},"
					  "\"stream_state\":{\"cursor\":\"5\"}}}]", &st));
	assert_null(state_per_stream(&st, "s2", "t", true));
	assert_null(state_per_stream(&st, "public", "t", true));
	assert_non_null(state_per_stream(&st, "s2", "t", false));
	state_free(&st);
}

static void
test_rejected_shapes(void **state)
{
	const char *bad[] = {
		"42",
		"\"x\"",
		"[{\"type\":\"STREAM\",\"stream\":{}}]",
		"[{\"type\":\"WHAT\"}]",
		"{\"what\":1}",
		"[1]",
		"[{\"type\":\"STATE\",\"state\":7}]",
		"{\"type\":\"GLOBAL\"}",
		"{\"type\":\"GLOBAL\",\"global\":{\"shared_state\":{\"lsn\":\"zz\"}}}",
		"{\"type\":\"GLOBAL\",\"global\":{\"shared_state\":{\"lsn\":\"0/1\"},\"stream_states\":{}}}",
		"{\"type\":\"GLOBAL\",\"global\":{\"shared_state\":{\"lsn\":\"0/1\"},\"stream_states\":[{}]}}",
		"{\"type\":\"GLOBAL\",\"global\":{\"shared_state\":{\"lsn\":\"0/1\"},\"stream_states\":"
		"[{\"stream_descriptor\":{\"name\":\"a\"},\"stream_state\":{\"phase\":\"weird\"}}]}}",
		"{\"type\":\"GLOBAL\",\"global\":{\"shared_state\":{\"lsn\":\"0/1\"},\"stream_states\":"
		"[{\"stream_descriptor\":{\"name\":\"a\"},\"stream_state\":{\"phase\":\"backfill\",\"cursor\":[1]}}]}}",
		/* a copy snapshot that is not one, or without the position that ends it */
		"{\"type\":\"GLOBAL\",\"global\":{\"shared_state\":{\"lsn\":\"0/1\"},\"stream_states\":"
		"[{\"stream_descriptor\":{\"name\":\"a\"},\"stream_state\":{\"phase\":\"backfill\","
		"\"changes_from\":\"0/2\",\"copy_snapshot\":\"x:y:\"}}]}}",
		"{\"type\":\"GLOBAL\",\"global\":{\"shared_state\":{\"lsn\":\"0/1\"},\"stream_states\":"
		"[{\"stream_descriptor\":{\"name\":\"a\"},\"stream_state\":{\"phase\":\"backfill\","
		"\"copy_snapshot\":\"740:745:\"}}]}}",
		/* a system identifier that is not one */
		"{\"type\":\"GLOBAL\",\"global\":{\"shared_state\":{\"lsn\":\"0/1\",\"system_identifier\":7}}}",
		"{\"type\":\"GLOBAL\",\"global\":{\"shared_state\":{\"lsn\":\"0/1\",\"system_identifier\":\"12a\"}}}",
		"{\"type\":\"GLOBAL\",\"global\":{\"shared_state\":{\"lsn\":\"0/1\",\"system_identifier\":\"-\"}}}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		sp_state	st;

		assert_false(parse(bad[i], &st));
		assert_int_equal(err_get_kind(), ERR_CONFIG);
		assert_non_null(strstr(err_message(), "state"));
		state_free(&st);
	}
}

static void
test_json_string_escaping(void **state)
{
	buf_t		b;

	buf_init(&b, 0);
	assert_true(buf_json_string(&b, "a\"b\\c\n\x01\x7f", 8));
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\\u007f\"");
	buf_reset(&b);
	assert_true(buf_json_string(&b, "é日😀", strlen("é日😀")));
	assert_string_equal(b.data, "\"é日😀\"");
	buf_reset(&b);
	/* U+2028 and U+2029 escaped (line breaks to some line readers); their neighbours not */
	assert_true(buf_json_string(&b, "a\u2028b\u2029c\u2027\u202a", strlen("a\u2028b\u2029c\u2027\u202a")));
	assert_string_equal(b.data, "\"a\\u2028b\\u2029c\u2027\u202a\"");
	buf_reset(&b);
	/* invalid UTF-8: lone continuation byte, overlong, surrogate, truncated sequence */
	assert_false(buf_json_string(&b, "\x80" "\xC0\xAF" "\xED\xA0\x80" "\xE6\x97", 8));
	assert_null(strstr(b.data, "\x80"));
	buf_free(&b);
}

static void
test_buffer_cap(void **state)
{
	buf_t		b;

	buf_init(&b, 8);
	buf_puts(&b, "12345678");
	assert_false(b.failed);
	buf_putc(&b, '9');
	assert_true(b.failed);
	assert_int_equal(b.len, 8);
	buf_free(&b);
}

static void
test_pg_timestamps(void **state)
{
	char		out[40];

	format_pg_timestamp(0, out);
	assert_string_equal(out, "2000-01-01T00:00:00Z");
	format_pg_timestamp(INT64_C(758611245500000), out);
	assert_string_equal(out, "2024-01-15T05:20:45.5Z");
	format_pg_timestamp(-1, out);
	assert_string_equal(out, "1999-12-31T23:59:59.999999Z");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_accepted_shapes),
		cmocka_unit_test(test_rejected_shapes),
		cmocka_unit_test(test_json_string_escaping),
		cmocka_unit_test(test_buffer_cap),
		cmocka_unit_test(test_pg_timestamps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
