/*
 * buf.h: a growable byte buffer with a hard cap, and the JSON string encoder.
 *
 * Every growable buffer in the connector is a buf_t. Appends never fail loudly: once an append would
 * pass the cap (or malloc fails) the buffer sets `failed` and ignores further appends, so hot paths
 * append freely and check `failed` once at the end (curl's dynbuf "toobig" rule).
 */
#ifndef SP_BUF_H
#define SP_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct buf
{
	char	   *data;			/* NUL-terminated when len < cap; owned */
	size_t		len;
	size_t		cap;
	size_t		max;			/* hard cap on len */
	bool		failed;			/* sticky: an append passed max or malloc failed */
} buf_t;

#define BUF_DEFAULT_MAX ((size_t) 1 << 30)

/* Initialise an empty buffer whose length may never pass max (0 means BUF_DEFAULT_MAX). */
void		buf_init(buf_t *b, size_t max);
/* Free the storage; the buffer may be re-initialised. */
void		buf_free(buf_t *b);
/* Empty the buffer, keeping its storage and clearing `failed`. */
void		buf_reset(buf_t *b);
/* Make room for extra more bytes (plus a NUL); false (and failed set) past the cap. */
bool		buf_grow(buf_t *b, size_t extra);

static inline void
buf_append(buf_t *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap && !buf_grow(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static inline void
buf_putc(buf_t *b, char c)
{
	if (b->len + 2 > b->cap && !buf_grow(b, 1))
		return;
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

static inline void
buf_puts(buf_t *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

/* The value of a hex digit, or -1. */
static inline int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void		buf_printf(buf_t *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
void		buf_vprintf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Append a decimal integer. */
void		buf_put_int64(buf_t *b, long long v);
void		buf_put_uint64(buf_t *b, unsigned long long v);

/*
 * Append s[0..n) as a quoted JSON string: ", \, control characters, DEL, U+2028 and U+2029
 * escaped, other valid UTF-8 copied as is, each invalid UTF-8 byte replaced by U+FFFD. Returns
 * false if any byte was replaced.
 */
bool		buf_json_string(buf_t *b, const char *s, size_t n);

/* write(2) all len bytes of data to fd, again after EINTR; false (errno set) on failure. */
bool		fd_write_all(int fd, const void *data, size_t len);

#endif
