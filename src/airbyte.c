/*
 * airbyte.c: the only writer of stdout (see airbyte.h).
 *
 * All output goes through one buffer that is handed over once it holds OUT_FLUSH_AT bytes, and
 * always after a STATE message. The first full buffer starts a writer thread: from then on the
 * main thread fills the next buffer while the writer writes the last one, so the kernel's copy
 * of our output (a page-cache file or a pipe) overlaps the decoding and encoding of the next rows
 * instead of stalling them. There are OUT_NBUFS buffers: when all are queued the main thread waits
 * (a slow reader of stdout slows the read down; memory stays constant). ab_flush() is the barrier:
 * it returns once everything handed over so far has been written.
 */
#include "airbyte.h"

#include "error.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define OUT_FLUSH_AT ((size_t) 1 << 20)
#define OUT_MAX ((size_t) 1 << 30)
#define OUT_NBUFS 4

static buf_t out = {NULL, 0, 0, OUT_MAX, false};
static atomic_bool broken = false;
static size_t record_start;

/* The writer thread and its queue of full buffers (a ring of OUT_NBUFS slots). */
static struct
{
	pthread_t	thread;
	bool		started;
	pthread_mutex_t mu;
	pthread_cond_t cv;			/* signalled on every change below */
	buf_t		queue[OUT_NBUFS];	/* full buffers, oldest at head */
	int			head;
	int			count;
	bool		busy;			/* the writer holds a buffer it has taken off the queue */
	/* written buffers, ready to be filled again: at most all but the one being filled */
	buf_t		spare[OUT_NBUFS + 1];
	int			nspare;
	bool		stop;
} w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

int64_t
ab_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
ab_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* write(2) all of b to stdout; on failure mark stdout broken. */
static void
write_all(const buf_t *b)
{
	size_t		off = 0;

	while (off < b->len && !atomic_load(&broken))
	{
		ssize_t		n = write(STDOUT_FILENO, b->data + off, b->len - off);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			atomic_store(&broken, true);
			break;
		}
		off += (size_t) n;
	}
}

static void *
writer_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&w.mu);
	for (;;)
	{
		buf_t		b;

		while (w.count == 0 && !w.stop)
			pthread_cond_wait(&w.cv, &w.mu);
		if (w.count == 0)
			break;
		b = w.queue[w.head];
		w.head = (w.head + 1) % OUT_NBUFS;
		w.count--;
		w.busy = true;
		pthread_mutex_unlock(&w.mu);
		write_all(&b);
		buf_reset(&b);
		pthread_mutex_lock(&w.mu);
		w.spare[w.nspare++] = b;
		w.busy = false;
		pthread_cond_broadcast(&w.cv);
	}
	pthread_mutex_unlock(&w.mu);
	return NULL;
}

/* Start the writer (signals stay with the main thread). False: write synchronously. */
static bool
writer_start(void)
{
	sigset_t	all,
				old;
	int			rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	w.started = rc == 0;
	return w.started;
}

/*
 * While the reader of stdout does not keep up, the main thread waits here; the hook (if set) runs
 * every second of it, outside the lock, so the replication connection is kept alive meanwhile.
 */
static void (*wait_hook) (void *);
static void *wait_hook_arg;

void
ab_set_wait_hook(void (*fn) (void *), void *arg)
{
	wait_hook = fn;
	wait_hook_arg = arg;
}

/* Wait (w.mu held) for the writer to signal, at most a second; then run the hook. */
static void
writer_wait(void)
{
	struct timespec until;

	if (wait_hook == NULL)
	{
		pthread_cond_wait(&w.cv, &w.mu);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	if (pthread_cond_timedwait(&w.cv, &w.mu, &until) == ETIMEDOUT)
	{
		pthread_mutex_unlock(&w.mu);
		wait_hook(wait_hook_arg);
		pthread_mutex_lock(&w.mu);
	}
}

/* Queue the current buffer for the writer and continue in a spare one (waiting for one). */
static void
hand_off(void)
{
	buf_t		next = {NULL, 0, 0, OUT_MAX, false};

	if (out.len == 0)
		return;
	if (!w.started && !writer_start())
	{
		write_all(&out);
		buf_reset(&out);
		return;
	}
	pthread_mutex_lock(&w.mu);
	while (w.count == OUT_NBUFS)
		writer_wait();
	w.queue[(w.head + w.count) % OUT_NBUFS] = out;
	w.count++;
	/* a buffer one message made huge is not kept for reuse */
	while (w.nspare > 0)
	{
		buf_t		b = w.spare[--w.nspare];

		if (b.cap <= 2 * OUT_FLUSH_AT)
		{
			next = b;
			break;
		}
		buf_free(&b);
	}
	pthread_cond_broadcast(&w.cv);
	pthread_mutex_unlock(&w.mu);
	out = next;
}

/* Wait until the writer has written everything queued. */
static void
writer_drain(void)
{
	pthread_mutex_lock(&w.mu);
	while (w.count > 0 || w.busy)
		writer_wait();
	pthread_mutex_unlock(&w.mu);
}

bool
ab_flush(void)
{
	if (!w.started)
	{
		write_all(&out);
		buf_reset(&out);
	}
	else
	{
		hand_off();
		writer_drain();
	}
	return !atomic_load(&broken);
}

void
ab_finish(void)
{
	ab_flush();
	if (w.started)
	{
		pthread_mutex_lock(&w.mu);
		w.stop = true;
		pthread_cond_broadcast(&w.cv);
		pthread_mutex_unlock(&w.mu);
		pthread_join(w.thread, NULL);
		w.started = false;
		w.stop = false;
		while (w.nspare > 0)
			buf_free(&w.spare[--w.nspare]);
	}
	buf_free(&out);
	out.max = OUT_MAX;
}

bool
ab_broken(void)
{
	return atomic_load(&broken);
}

static void
maybe_flush(void)
{
	if (out.failed && !atomic_load(&broken))
	{
		/* a message larger than the output cap: never drop it silently */
		err_set(ERR_SYSTEM, NULL, "a message exceeded the %zu MB output buffer", OUT_MAX >> 20);
		atomic_store(&broken, true);
	}
	if (out.len >= OUT_FLUSH_AT)
		hand_off();
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

/*
 * A message as a JSON string. Text that is not UTF-8 (a server's message in a SQL_ASCII
 * database, say) cannot be one: its bytes past ASCII become '?', rather than the message being
 * lost (json_string refuses it).
 */
static json_t *
text_json(const char *s)
{
	json_t	   *j = json_string(s);
	char	   *ascii;

	if (j != NULL || s == NULL || (ascii = strdup(s)) == NULL)
		return j;
	for (char *p = ascii; *p; p++)
		if ((unsigned char) *p >= 0x80)
			*p = '?';
	j = json_string(ascii);
	free(ascii);
	return j;
}

void
ab_log(const char *level, const char *message)
{
	json_t	   *m = json_pack("{s:s,s:{s:s,s:o}}", "type", "LOG", "log", "level", level,
							  "message", text_json(message));

	ab_emit(m);
}

void
ab_connection_status(bool succeeded, const char *message)
{
	json_t	   *cs = json_pack("{s:s}", "status", succeeded ? "SUCCEEDED" : "FAILED");

	if (message)
		json_object_set_new(cs, "message", text_json(message));
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
	json_t	   *e = json_pack("{s:o,s:s}", "message", text_json(message), "failure_type", failure_type);

	if (internal && *internal)
		json_object_set_new(e, "internal_message", text_json(internal));
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
