/*
 * buf.c: growable capped byte buffers and the JSON string encoder (see buf.h).
 */
#include "buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void
buf_init(buf_t *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : BUF_DEFAULT_MAX;
	b->failed = false;
}

void
buf_free(buf_t *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}

void
buf_reset(buf_t *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
	b->failed = false;
}

bool
buf_grow(buf_t *b, size_t extra)
{
	size_t		need;
	size_t		ncap;
	char	   *p;

	if (b->failed)
		return false;
	if (extra > b->max - b->len)
	{
		b->failed = true;
		return false;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	p = realloc(b->data, ncap);
	if (p == NULL)
	{
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = ncap;
	return true;
}

void
buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
	va_list		ap2;
	int			n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || !buf_grow(b, (size_t) n))
		return;
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	b->len += (size_t) n;
}

void
buf_printf(buf_t *b, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
buf_put_uint64(buf_t *b, unsigned long long v)
{
	char		tmp[24];
	char	   *p = tmp + sizeof(tmp);

	do
	{
		*--p = (char) ('0' + v % 10);
		v /= 10;
	} while (v);
	buf_append(b, p, (size_t) (tmp + sizeof(tmp) - p));
}

void
buf_put_int64(buf_t *b, long long v)
{
	if (v < 0)
	{
		buf_putc(b, '-');
		buf_put_uint64(b, 0ULL - (unsigned long long) v);
	}
	else
		buf_put_uint64(b, (unsigned long long) v);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c >= 0xC2 && c <= 0xDF)
	{
		if (n >= 2 && (s[1] & 0xC0) == 0x80)
			return 2;
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		if (n >= 3 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80)
		{
			if (c == 0xE0 && s[1] < 0xA0)
				return 0;		/* overlong */
			if (c == 0xED && s[1] >= 0xA0)
				return 0;		/* surrogate */
			return 3;
		}
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		if (n >= 4 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80)
		{
			if (c == 0xF0 && s[1] < 0x90)
				return 0;		/* overlong */
			if (c == 0xF4 && s[1] >= 0x90)
				return 0;		/* beyond U+10FFFF */
			return 4;
		}
	}
	return 0;
}

/* Bytes that can be copied verbatim inside a JSON string: printable ASCII but '"' and '\\'. */
static const unsigned char json_plain[256] = {
#define P16 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	P16, P16,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	P16,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
#undef P16
};

bool
buf_json_string(buf_t *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + n;
	bool		exact = true;

	/* worst case 6 bytes out per byte in, plus quotes */
	if (b->len + n + 3 > b->cap && !buf_grow(b, n + 2))
		return exact;
	buf_putc(b, '"');
	while (p < end)
	{
		const unsigned char *run = p;

		while (p < end && json_plain[*p])
			p++;
		if (p > run)
			buf_append(b, run, (size_t) (p - run));
		if (p >= end)
			break;
		if (*p < 0x80)
		{
			char		esc[6];

			switch (*p)
			{
				case '"':
					buf_append(b, "\\\"", 2);
					break;
				case '\\':
					buf_append(b, "\\\\", 2);
					break;
				case '\n':
					buf_append(b, "\\n", 2);
					break;
				case '\r':
					buf_append(b, "\\r", 2);
					break;
				case '\t':
					buf_append(b, "\\t", 2);
					break;
				case '\b':
					buf_append(b, "\\b", 2);
					break;
				case '\f':
					buf_append(b, "\\f", 2);
					break;
				default:
					esc[0] = '\\';
					esc[1] = 'u';
					esc[2] = '0';
					esc[3] = '0';
					esc[4] = hex[*p >> 4];
					esc[5] = hex[*p & 15];
					buf_append(b, esc, 6);
					break;
			}
			p++;
		}
		else
		{
			size_t		l = utf8_seq_len(p, (size_t) (end - p));

			if (l == 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9))
			{
				/*
				 * U+2028 and U+2029, valid in JSON but line breaks to many line readers
				 * (Python's str.splitlines, JavaScript before ES2019): escaped, as Go's
				 * encoding/json does
				 */
				buf_append(b, p[2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
				p += 3;
			}
			else if (l)
			{
				buf_append(b, p, l);
				p += l;
			}
			else
			{
				buf_append(b, "\xEF\xBF\xBD", 3);
				exact = false;
				p++;
			}
		}
	}
	buf_putc(b, '"');
	return exact;
}

bool
fd_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0)
	{
		ssize_t		n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t) n;
	}
	return true;
}
