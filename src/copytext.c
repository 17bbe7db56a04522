/*
 * copytext.c: COPY text-format row parsing (see copytext.h).
 *
 * Fields without a backslash (nearly all) are returned as pointers into the row, so the hot path
 * copies nothing; escaped fields are decoded into the scratch buffer, which is sized once per row
 * (a decoded field is never longer than its escaped form) so earlier pointers stay valid.
 */
#include "copytext.h"

#include <string.h>

/* Decode the escaped field s[0..n) into scratch; returns its start in scratch. */
static const char *
unescape(const char *s, size_t n, buf_t *scratch, size_t *outlen)
{
	size_t		start = scratch->len;
	char	   *o = scratch->data + start;
	char	   *o0 = o;
	size_t		i = 0;

	while (i < n)
	{
		char		c = s[i++];

		if (c != '\\' || i >= n)
		{
			*o++ = c;
			continue;
		}
		c = s[i++];
		switch (c)
		{
			case 'b':
				*o++ = '\b';
				break;
			case 'f':
				*o++ = '\f';
				break;
			case 'n':
				*o++ = '\n';
				break;
			case 'r':
				*o++ = '\r';
				break;
			case 't':
				*o++ = '\t';
				break;
			case 'v':
				*o++ = '\v';
				break;
			case 'x':
				{
					int			v = 0;
					int			k = 0;

					while (k < 2 && i < n && hexval(s[i]) >= 0)
						v = v * 16 + hexval(s[i++]), k++;
					if (k == 0)
						*o++ = 'x';
					else
						*o++ = (char) v;
					break;
				}
			default:
				if (c >= '0' && c <= '7')
				{
					int			v = c - '0';
					int			k = 1;

					while (k < 3 && i < n && s[i] >= '0' && s[i] <= '7')
						v = v * 8 + (s[i++] - '0'), k++;
					*o++ = (char) (v & 0xFF);
				}
				else
					*o++ = c;	/* \\ and any other escaped character stand for themselves */
				break;
		}
	}
	*outlen = (size_t) (o - o0);
	scratch->len = start + *outlen;
	return o0;
}

bool
copy_parse_row(const char *row, size_t len, buf_t *scratch, copy_field *fields, int nfields)
{
	size_t		pos = 0;
	int			f = 0;
	bool		escaped;

	if (len > 0 && row[len - 1] == '\n')
		len--;
	buf_reset(scratch);
	/* most rows have no backslash at all: then no field needs unescaping */
	escaped = memchr(row, '\\', len) != NULL;
	if (escaped && !buf_grow(scratch, len + 1))
		return false;
	for (;;)
	{
		const char *start = row + pos;
		const char *tab = memchr(start, '\t', len - pos);
		size_t		flen = tab ? (size_t) (tab - start) : len - pos;
		copy_field *fld;

		if (f >= nfields)
			return false;
		fld = &fields[f++];
		fld->is_null = false;
		if (flen == 2 && start[0] == '\\' && start[1] == 'N')
		{
			fld->is_null = true;
			fld->data = start;
			fld->len = 0;
		}
		else if (escaped && flen > 0 && memchr(start, '\\', flen) != NULL)
			fld->data = unescape(start, flen, scratch, &fld->len);
		else
		{
			fld->data = start;
			fld->len = flen;
		}
		if (tab == NULL)
			break;
		pos += flen + 1;
	}
	return f == nfields;
}
