/* Unit tests for the COPY text-format row parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "copytext.h"

static void
expect_field(const copy_field *f, const char *want)
{
	if (want == NULL)
	{
		assert_true(f->is_null);
		return;
	}
	assert_false(f->is_null);
	assert_int_equal(f->len, strlen(want));
	assert_memory_equal(f->data, want, f->len);
}

static void
test_plain_fields(void **state)
{
	buf_t		s;
	copy_field	f[3];
	const char	row[] = "1\tabc\t\\N\n";

	buf_init(&s, 0);
	assert_true(copy_parse_row(row, strlen(row), &s, f, 3));
	expect_field(&f[0], "1");
	expect_field(&f[1], "abc");
	expect_field(&f[2], NULL);
	/* plain fields point into the row: nothing copied */
	assert_ptr_equal(f[1].data, row + 2);
	buf_free(&s);
}

static void
test_escapes(void **state)
{
	buf_t		s;
	copy_field	f[4];
	const char	row[] = "a\\tb\\nc\\\\d\t\\x41\\102\\b\\f\\r\\v\t\t\\N";

	buf_init(&s, 0);
	assert_true(copy_parse_row(row, strlen(row), &s, f, 4));
	expect_field(&f[0], "a\tb\nc\\d");
	expect_field(&f[1], "AB\b\f\r\v");
	expect_field(&f[2], "");
	expect_field(&f[3], NULL);
	buf_free(&s);
}

static void
test_literal_backslash_n_is_not_null(void **state)
{
	buf_t		s;
	copy_field	f[2];
	const char	row[] = "\\\\N\t\\NX";

	buf_init(&s, 0);
	assert_true(copy_parse_row(row, strlen(row), &s, f, 2));
	expect_field(&f[0], "\\N");
	/* "\NX" is not the null marker: an escaped N followed by X */
	expect_field(&f[1], "NX");
	buf_free(&s);
}

static void
test_field_count_mismatch(void **state)
{
	buf_t		s;
	copy_field	f[3];

	buf_init(&s, 0);
	assert_false(copy_parse_row("1\t2", 3, &s, f, 3));
	assert_false(copy_parse_row("1\t2\t3\t4", 7, &s, f, 3));
	assert_true(copy_parse_row("1\t2\t3", 5, &s, f, 3));
	/* a trailing backslash stays itself rather than reading past the end */
	assert_true(copy_parse_row("x\\", 2, &s, f, 1));
	expect_field(&f[0], "x\\");
	buf_free(&s);
}

static void
test_capped_scratch_fails_cleanly(void **state)
{
	buf_t		s;
	copy_field	f[1];

	buf_init(&s, 4);
	assert_false(copy_parse_row("a\\tbcdefgh", 10, &s, f, 1));
	buf_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_fields),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_literal_backslash_n_is_not_null),
		cmocka_unit_test(test_field_count_mismatch),
		cmocka_unit_test(test_capped_scratch_fails_cleanly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
