/*
 * airbyte.c: the only writer of stdout (see airbyte.h).
 *
 * All output goes through one buffer flushed with large write(2) calls once it holds
 * OUT_FLUSH_AT bytes, and always after a STATE message.
 */
#include "airbyte.h"

#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define OUT_FLUSH_AT ((size_t) 1 << 20)
#define OUT_MAX ((size_t) 1 << 30)

static buf_t out = {NULL, 0, 0, OUT_MAX, false};
static bool broken = false;
static size_t record_start;

int64_t
ab_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
ab_flush(void)
{
	size_t		off = 0;

	while (off < out.len && !broken)
	{
		ssize_t		n = write(STDOUT_FILENO, out.data + off, out.len - off);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			broken = true;
			break;
		}
		off += (size_t) n;
	}
	buf_reset(&out);
	return !broken;
}

void
ab_finish(void)
{
	ab_flush();
	buf_free(&out);
	out.max = OUT_MAX;
}

bool
ab_broken(void)
{
	return broken;
}

static void
maybe_flush(void)
{
	if (out.failed && !broken)
	{
		/* a message larger than the output cap: never drop it silently */
		err_set(ERR_SYSTEM, NULL, "a message exceeded the %zu MB output buffer", OUT_MAX >> 20);
		broken = true;
	}
	if (out.len >= OUT_FLUSH_AT)
		ab_flush();
}

static int
dump_cb(const char *buffer, size_t size, void *data)
{
	buf_append((buf_t *) data, buffer, size);
	return 0;
}

void
ab_emit(json_t *msg)
{
	if (msg == NULL)
		return;
	json_dump_callback(msg, dump_cb, &out, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	buf_putc(&out, '\n');
	json_decref(msg);
	maybe_flush();
}

char *
ab_record_prefix(const char *ns, const char *stream, size_t *len)
{
	buf_t		b;

	buf_init(&b, 0);
	buf_append(&b, "{\"type\":\"RECORD\",\"record\":{\"namespace\":", 39);
	buf_json_string(&b, ns, strlen(ns));
	buf_append(&b, ",\"stream\":", 10);
	buf_json_string(&b, stream, strlen(stream));
	buf_append(&b, ",\"emitted_at\":", 14);
	if (b.failed)
		abort();
	*len = b.len;
	return b.data;
}

buf_t *
ab_record_begin(const char *prefix, size_t prefix_len, int64_t emitted_at)
{
	static int64_t last_ms = -1;
	static char ms_txt[24];
	static size_t ms_len;

	record_start = out.len;
	buf_append(&out, prefix, prefix_len);
	if (emitted_at != last_ms)
	{
		buf_t		t = {ms_txt, 0, sizeof(ms_txt), sizeof(ms_txt) - 1, false};

		buf_put_int64(&t, emitted_at);
		ms_len = t.len;
		last_ms = emitted_at;
	}
	buf_append(&out, ms_txt, ms_len);
	buf_append(&out, ",\"data\":{", 9);
	return &out;
}

void
ab_record_end(const char *const *nulled, int n_nulled)
{
	buf_putc(&out, '}');
	if (n_nulled > 0)
	{
		buf_puts(&out, ",\"meta\":{\"changes\":[");
		for (int i = 0; i < n_nulled; i++)
		{
			if (i)
				buf_putc(&out, ',');
			buf_puts(&out, "{\"field\":");
			buf_json_string(&out, nulled[i], strlen(nulled[i]));
			buf_puts(&out, ",\"change\":\"NULLED\",\"reason\":\"SOURCE_SERIALIZATION_ERROR\"}");
		}
		buf_puts(&out, "]}");
	}
	buf_append(&out, "}}\n", 3);
	maybe_flush();
}

void
ab_record_abort(void)
{
	if (out.len >= record_start)
		out.len = record_start;
}

void
ab_log(const char *level, const char *message)
{
	json_t	   *m = json_pack("{s:s,s:{s:s,s:s}}", "type", "LOG", "log", "level", level,
							  "message", message);

	ab_emit(m);
}

void
ab_connection_status(bool succeeded, const char *message)
{
	json_t	   *cs = json_pack("{s:s}", "status", succeeded ? "SUCCEEDED" : "FAILED");

	if (message)
		json_object_set_new(cs, "message", json_string(message));
	ab_emit(json_pack("{s:s,s:o}", "type", "CONNECTION_STATUS", "connectionStatus", cs));
	ab_flush();
}

static json_t *
trace_new(const char *type)
{
	return json_pack("{s:s,s:I}", "type", type, "emitted_at", (json_int_t) ab_now_ms());
}

void
ab_trace_error(const char *failure_type, const char *message, const char *internal)
{
	json_t	   *t = trace_new("ERROR");
	json_t	   *e = json_pack("{s:s,s:s}", "message", message, "failure_type", failure_type);

	if (internal && *internal)
		json_object_set_new(e, "internal_message", json_string(internal));
	json_object_set_new(t, "error", e);
	ab_emit(json_pack("{s:s,s:o}", "type", "TRACE", "trace", t));
	ab_flush();
}

void
ab_stream_status(const char *ns, const char *name, const char *status)
{
	json_t	   *t = trace_new("STREAM_STATUS");

	json_object_set_new(t, "stream_status",
						json_pack("{s:{s:s,s:s},s:s}", "stream_descriptor", "name", name,
								  "namespace", ns, "status", status));
	ab_emit(json_pack("{s:s,s:o}", "type", "TRACE", "trace", t));
}

void
ab_estimate(const char *ns, const char *name, int64_t rows, int64_t bytes)
{
	json_t	   *t = trace_new("ESTIMATE");

	json_object_set_new(t, "estimate",
						json_pack("{s:s,s:s,s:s,s:I,s:I}", "name", name, "namespace", ns,
								  "type", "STREAM", "row_estimate", (json_int_t) rows,
								  "byte_estimate", (json_int_t) bytes));
	ab_emit(json_pack("{s:s,s:o}", "type", "TRACE", "trace", t));
}

void
ab_state(json_t *state)
{
	ab_emit(json_pack("{s:s,s:o}", "type", "STATE", "state", state));
	ab_flush();
}
