/*
 * test_error.c: the failure record keeps the first error, and keeps each message on one line
 * (libpq's messages end in a newline and continue on indented lines).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "error.h"

static void
expect_one_line(const char *in, const char *want)
{
	err_clear();
	err_set(ERR_TRANSIENT, in, "%s", in);
	assert_string_equal(err_message(), want);
	assert_string_equal(err_internal(), want);
}

static void
test_one_line(void **state)
{
	expect_one_line("server closed the connection unexpectedly\n\tThis probably means the server "
					"terminated abnormally\n\tbefore or while processing the request.\n",
					"server closed the connection unexpectedly This probably means the server "
					"terminated abnormally before or while processing the request.");
	expect_one_line("line1\r\nline2\r\n", "line1 line2");
	expect_one_line("trailing space \n", "trailing space");
	expect_one_line("a\n\n\nb", "a b");
	expect_one_line("no break", "no break");
	expect_one_line("\n", "");
}

static void
test_first_error_kept(void **state)
{
	err_clear();
	assert_false(err_isset());
	err_set(ERR_CONFIG, NULL, "first %d", 1);
	err_set(ERR_SYSTEM, "x", "second");
	assert_int_equal(err_get_kind(), ERR_CONFIG);
	assert_string_equal(err_message(), "first 1");
	assert_string_equal(err_internal(), "");
	err_clear();
	assert_int_equal(err_get_kind(), ERR_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_first_error_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
