/*
 * Unit tests for the stdout writer: with the writer thread at work, every byte arrives in order,
 * ab_flush() returns only once everything before it is written (a STATE must never be acknowledged
 * before it reaches stdout), and a closed stdout is reported instead of crashing or hanging.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airbyte.h"
#include "buf.h"

static int	saved_stdout = -1;

/* Point stdout (the fd ab_* writes to) at fd. */
static void
redirect_stdout(int fd)
{
	fflush(stdout);				/* cmocka's own lines must not land in what we check */
	if (saved_stdout < 0)
		saved_stdout = dup(STDOUT_FILENO);
	assert_true(dup2(fd, STDOUT_FILENO) >= 0);
	close(fd);
}

static void
restore_stdout(void)
{
	ab_finish();
	assert_true(dup2(saved_stdout, STDOUT_FILENO) >= 0);
}

/* Emit record i (of a few hundred bytes) and append its exact line to expect. */
static void
emit_record(const char *prefix, size_t prefix_len, int i, buf_t *expect)
{
	buf_t	   *out = ab_record_begin(prefix, prefix_len, 1700000000000 + i / 1000);
	char		pad[300];

	memset(pad, 'a' + i % 26, sizeof(pad) - 1);
	pad[sizeof(pad) - 1 - (size_t) (i % 97)] = '\0';
	buf_puts(out, "\"id\":");
	buf_put_int64(out, i);
	buf_puts(out, ",\"pad\":");
	buf_json_string(out, pad, strlen(pad));
	/* what ab_record_begin wrote (prefix, emitted_at, data opener) plus the members */
	buf_append(expect, prefix, prefix_len);
	buf_put_int64(expect, 1700000000000 + i / 1000);
	buf_puts(expect, ",\"data\":{\"id\":");
	buf_put_int64(expect, i);
	buf_puts(expect, ",\"pad\":");
	buf_json_string(expect, pad, strlen(pad));
	buf_puts(expect, "}}}\n");
	ab_record_end(NULL, 0);
}

typedef struct
{
	int			fd;
	buf_t		got;
} reader_arg;

static void *
read_all(void *p)
{
	reader_arg *a = p;
	char		chunk[65536];
	ssize_t		n;

	while ((n = read(a->fd, chunk, sizeof(chunk))) > 0)
		buf_append(&a->got, chunk, (size_t) n);
	close(a->fd);
	return NULL;
}

static void
test_pipe_gets_every_byte_in_order(void **state)
{
	int			p[2];
	size_t		plen;
	char	   *prefix = ab_record_prefix("public", "t", &plen);
	buf_t		expect;
	reader_arg	a;
	pthread_t	th;

	(void) state;
	assert_int_equal(pipe(p), 0);
	buf_init(&expect, 0);
	buf_init(&a.got, 0);
	a.fd = p[0];
	assert_int_equal(pthread_create(&th, NULL, read_all, &a), 0);
	redirect_stdout(p[1]);
	/* ~30 MB: many buffer hand-offs, the queue full while the reader lags */
	for (int i = 0; i < 100000; i++)
	{
		emit_record(prefix, plen, i, &expect);
		if (i % 25000 == 0)
			assert_true(ab_flush());
	}
	restore_stdout();			/* closes our end: the reader sees EOF */
	pthread_join(th, NULL);
	assert_false(expect.failed);
	assert_int_equal(a.got.len, expect.len);
	assert_memory_equal(a.got.data, expect.data, expect.len);
	buf_free(&expect);
	buf_free(&a.got);
	free(prefix);
}

static void
test_flush_is_a_barrier(void **state)
{
	char		path[] = "/tmp/sp-test-airbyte-XXXXXX";
	int			fd = mkstemp(path);
	size_t		plen;
	char	   *prefix = ab_record_prefix("public", "t", &plen);
	buf_t		expect;
	struct stat st;

	(void) state;
	assert_true(fd >= 0);
	unlink(path);
	buf_init(&expect, 0);
	redirect_stdout(dup(fd));
	for (int round = 0; round < 5; round++)
	{
		for (int i = 0; i < 7000 + round * 1111; i++)
			emit_record(prefix, plen, i, &expect);
		/* the moment ab_flush returns, every byte before it is in the file */
		assert_true(ab_flush());
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal((size_t) st.st_size, expect.len);
	}
	restore_stdout();
	close(fd);
	buf_free(&expect);
	free(prefix);
}

/* A message that is not UTF-8 still reaches the output, as valid JSON (it used to vanish). */
static void
test_message_not_utf8(void **state)
{
	char		path[] = "/tmp/sp-test-airbyte-XXXXXX";
	int			fd = mkstemp(path);
	char		got[1024];
	ssize_t		n;

	(void) state;
	assert_true(fd >= 0);
	unlink(path);
	redirect_stdout(dup(fd));
	ab_log("WARN", "bad \xff byte, good \xc3\xa9");
	ab_trace_error("config_error", "value \xfe here", "internal \xff");
	assert_true(ab_flush());
	restore_stdout();
	n = pread(fd, got, sizeof(got) - 1, 0);
	assert_true(n > 0);
	got[n] = '\0';
	close(fd);
	assert_non_null(strstr(got, "\"message\":\"bad ? byte, good ??\""));
	assert_non_null(strstr(got, "\"message\":\"value ? here\""));
	assert_non_null(strstr(got, "\"internal_message\":\"internal ?\""));
}

static void
test_closed_stdout_is_reported(void **state)
{
	int			p[2];
	size_t		plen;
	char	   *prefix = ab_record_prefix("public", "t", &plen);
	buf_t		expect;

	(void) state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(p), 0);
	close(p[0]);				/* nobody reads: writes fail with EPIPE */
	buf_init(&expect, 0);
	redirect_stdout(p[1]);
	for (int i = 0; i < 20000 && !ab_broken(); i++)
	{
		buf_reset(&expect);
		emit_record(prefix, plen, i, &expect);
	}
	assert_false(ab_flush());
	assert_true(ab_broken());
	restore_stdout();
	buf_free(&expect);
	free(prefix);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipe_gets_every_byte_in_order),
		cmocka_unit_test(test_flush_is_a_barrier),
		cmocka_unit_test(test_message_not_utf8),
		/* last: stdout stays broken for the rest of the process */
		cmocka_unit_test(test_closed_stdout_is_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
