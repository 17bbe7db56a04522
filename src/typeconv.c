/*
 * typeconv.c: the one value-conversion table, shared by backfill and CDC (see typeconv.h).
 *
 * Every PostgreSQL value arrives in its text output format, produced under the session settings
 * pgconn fixes (DateStyle ISO, TimeZone UTC, extra_float_digits 1, bytea_output hex, IntervalStyle
 * postgres, client_encoding UTF8). tc_write turns one such text into exactly one JSON value. The
 * conversions are validation scans plus copies: no allocation per value, no strtod/sscanf round
 * trips, so a value converts to the same bytes whichever path (COPY, query, pgoutput) carried it.
 *
 * Failure rule: when a value cannot be represented exactly (NaN, ±Infinity, infinite dates, a
 * malformed literal, invalid UTF-8) the value's JSON is exactly `null` and tc_write returns false;
 * nothing half-written is ever left in the buffer. Arrays are the one refinement: an element that
 * cannot be represented becomes a null element (the array is still written, tc_write returns
 * false), while a malformed array literal nulls the whole value.
 */
#include "typeconv.h"

#include <stdint.h>
#include <string.h>

/* PostgreSQL's MAXDIM: an array literal never nests deeper. */
#define TC_MAXDIM 6

/* Scratch for unescaping quoted array elements: grows to the largest element, then is reused. */
#define TC_SCRATCH_KEEP ((size_t) 1 << 20)
static _Thread_local buf_t tc_scratch = {NULL, 0, 0, BUF_DEFAULT_MAX, false};

static bool write_scalar(buf_t *out, tc_kind kind, const char *s, size_t n);

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* PostgreSQL's array_isspace: the whitespace array_in skips around elements. */
static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Cut the buffer back to start (dropping anything written since). */
static inline void
truncate_to(buf_t *out, size_t start)
{
	out->len = start;
	if (out->data != NULL)
		out->data[start] = '\0';
}

/* Drop whatever was written since start, write `null` instead, and report failure. */
static bool
write_null_fail(buf_t *out, size_t start)
{
	truncate_to(out, start);
	buf_append(out, "null", 4);
	return false;
}

/* ---------------------------------------------------------------------------------------------
 * Numbers and booleans
 * ------------------------------------------------------------------------------------------- */

/*
 * Write an integer (integer_only) or a decimal number verbatim after validating it as
 * -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)? (only -?[0-9]+ when integer_only). Redundant leading zeros
 * of the integer part are dropped so the result is always a valid JSON number; PostgreSQL never
 * prints them, so in practice this is a scan and one memcpy. Anything else (NaN, Infinity,
 * -Infinity, garbage) is null.
 */
static bool
write_number(buf_t *out, const char *s, size_t n, bool integer_only)
{
	size_t		i = 0;
	size_t		int_start;
	size_t		int_end;
	size_t		z;

	if (n > 0 && s[0] == '-')
		i = 1;
	int_start = i;
	while (i < n && is_digit(s[i]))
		i++;
	if (i == int_start)
		return write_null_fail(out, out->len);
	int_end = i;
	if (!integer_only)
	{
		if (i < n && s[i] == '.')
		{
			size_t		f = ++i;

			while (i < n && is_digit(s[i]))
				i++;
			if (i == f)
				return write_null_fail(out, out->len);
		}
		if (i < n && (s[i] == 'e' || s[i] == 'E'))
		{
			size_t		e;

			i++;
			if (i < n && (s[i] == '+' || s[i] == '-'))
				i++;
			e = i;
			while (i < n && is_digit(s[i]))
				i++;
			if (i == e)
				return write_null_fail(out, out->len);
		}
	}
	if (i != n)
		return write_null_fail(out, out->len);

	z = int_start;
	while (z + 1 < int_end && s[z] == '0')
		z++;
	if (z == int_start)
		buf_append(out, s, n);
	else
	{
		if (int_start > 0)
			buf_putc(out, '-');
		buf_append(out, s + z, n - z);
	}
	return true;
}

/* bool prints as "t" or "f"; the long forms are accepted too. */
static bool
write_boolean(buf_t *out, const char *s, size_t n)
{
	if ((n == 1 && s[0] == 't') || (n == 4 && memcmp(s, "true", 4) == 0))
		buf_append(out, "true", 4);
	else if ((n == 1 && s[0] == 'f') || (n == 5 && memcmp(s, "false", 5) == 0))
		buf_append(out, "false", 5);
	else
		return write_null_fail(out, out->len);
	return true;
}

/* ---------------------------------------------------------------------------------------------
 * Strings and bytea
 * ------------------------------------------------------------------------------------------- */

/* Any text as a JSON string; invalid UTF-8 cannot be represented exactly, so it is null. */
static bool
write_text(buf_t *out, const char *s, size_t n)
{
	size_t		start = out->len;

	if (!buf_json_string(out, s, n))
		return write_null_fail(out, start);
	return true;
}

/* Value of a hex digit, or -1. */
static const signed char hex_value[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,
	-1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* n bytes as base64 (standard alphabet, padded) at o, which has room: returns the end. */
static char *
base64_encode(char *o, const unsigned char *src, size_t n)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (; n >= 3; src += 3, n -= 3)
	{
		uint32_t	w = (uint32_t) src[0] << 16 | (uint32_t) src[1] << 8 | src[2];

		*o++ = b64[(w >> 18) & 63];
		*o++ = b64[(w >> 12) & 63];
		*o++ = b64[(w >> 6) & 63];
		*o++ = b64[w & 63];
	}
	if (n > 0)
	{
		uint32_t	w = (uint32_t) src[0] << 16 | (n == 2 ? (uint32_t) src[1] << 8 : 0);

		*o++ = b64[(w >> 18) & 63];
		*o++ = b64[(w >> 12) & 63];
		*o++ = n == 2 ? b64[(w >> 6) & 63] : '=';
		*o++ = '=';
	}
	return o;
}

/* Room for n bytes as a quoted base64 string, at the buffer's end; NULL when it cannot grow. */
static char *
base64_room(buf_t *out, size_t n)
{
	if (!buf_grow(out, (n + 2) / 3 * 4 + 2))
		return NULL;
	out->data[out->len] = '"';
	return out->data + out->len + 1;
}

/* Close the quoted string base64_room opened, ending at o. */
static void
base64_close(buf_t *out, char *o)
{
	*o++ = '"';
	out->len = (size_t) (o - out->data);
	out->data[out->len] = '\0';
}

bool
tc_write_base64(buf_t *out, const void *bytes, size_t n)
{
	char	   *o = base64_room(out, n);

	if (o == NULL)
		return write_null_fail(out, out->len);
	base64_close(out, base64_encode(o, bytes, n));
	return true;
}

/*
 * bytea in hex output (\x0a1b...) as a base64 string. The hex is decoded a block at a time (a
 * multiple of 3 bytes, so that only the last has padding) and encoded straight into the buffer's
 * storage after one grow; a bad hex digit truncates it back.
 */
static bool
write_bytea(buf_t *out, const char *s, size_t n)
{
	const unsigned char *h;
	unsigned char block[3 * 512];
	size_t		start = out->len;
	size_t		nbytes;
	char	   *o;

	if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n - 2) % 2 != 0)
		return write_null_fail(out, start);
	h = (const unsigned char *) s + 2;
	nbytes = (n - 2) / 2;
	if ((o = base64_room(out, nbytes)) == NULL)
		return write_null_fail(out, start);
	while (nbytes > 0)
	{
		size_t		k = nbytes < sizeof(block) ? nbytes : sizeof(block);

		for (size_t i = 0; i < k; i++, h += 2)
		{
			int			hi = hex_value[h[0]];
			int			lo = hex_value[h[1]];

			if ((hi | lo) < 0)
				return write_null_fail(out, start);
			block[i] = (unsigned char) (hi << 4 | lo);
		}
		o = base64_encode(o, block, k);
		nbytes -= k;
	}
	base64_close(out, o);
	return true;
}

/* ---------------------------------------------------------------------------------------------
 * Dates and times
 * ------------------------------------------------------------------------------------------- */

/* The pieces of an ISO date/time literal, pointing into the input. */
typedef struct tc_dt
{
	const char *date;			/* YYYY-MM-DD (year 4+ digits), verbatim */
	size_t		date_len;
	int64_t		year;			/* as printed: positive, BC not applied */
	int			month;
	int			day;
	const char *time;			/* HH:MM:SS[.fff], verbatim */
	size_t		time_len;
	int			hour;
	int			minute;
	int			second;
	const char *frac;			/* ".fff" or empty, verbatim */
	size_t		frac_len;
	const char *off;			/* +HH[:MM[:SS]], verbatim */
	size_t		off_len;
	int32_t		off_secs;		/* east of UTC positive */
	bool		bc;
} tc_dt;

/* Two digits at *p into *v, advancing *p. */
static inline bool
parse_2digits(const char **p, const char *end, int *v)
{
	const char *q = *p;

	if (end - q < 2 || !is_digit(q[0]) || !is_digit(q[1]))
		return false;
	*v = (q[0] - '0') * 10 + (q[1] - '0');
	*p = q + 2;
	return true;
}

static inline bool
expect_char(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return false;
	(*p)++;
	return true;
}

/* Proleptic Gregorian leap year test on an astronomical year (1 BC = 0). */
static inline bool
is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int
days_in_month(int64_t astro_year, int month)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return month == 2 && is_leap(astro_year) ? 29 : dim[month - 1];
}

/* YYYY-MM-DD with a year of 4 to 9 digits (PostgreSQL pads to 4; its largest date has 7). */
static bool
parse_date(const char **pp, const char *end, tc_dt *dt)
{
	const char *p = *pp;
	int64_t		y = 0;
	int			nd = 0;

	dt->date = p;
	while (p < end && is_digit(*p))
	{
		if (++nd > 9)
			return false;
		y = y * 10 + (*p++ - '0');
	}
	if (nd < 4 || y == 0)
		return false;
	if (!expect_char(&p, end, '-') || !parse_2digits(&p, end, &dt->month) ||
		!expect_char(&p, end, '-') || !parse_2digits(&p, end, &dt->day))
		return false;
	if (dt->month < 1 || dt->month > 12 || dt->day < 1)
		return false;
	dt->year = y;
	dt->date_len = (size_t) (p - dt->date);
	*pp = p;
	return true;
}

/* HH:MM:SS[.f+]; hour may be 24 (time's 24:00:00). */
static bool
parse_time(const char **pp, const char *end, tc_dt *dt)
{
	const char *p = *pp;

	dt->time = p;
	if (!parse_2digits(&p, end, &dt->hour) || !expect_char(&p, end, ':') ||
		!parse_2digits(&p, end, &dt->minute) || !expect_char(&p, end, ':') ||
		!parse_2digits(&p, end, &dt->second))
		return false;
	if (dt->hour > 24 || dt->minute > 59 || dt->second > 59)
		return false;
	dt->frac = p;
	if (p < end && *p == '.')
	{
		p++;
		if (p >= end || !is_digit(*p))
			return false;
		while (p < end && is_digit(*p))
			p++;
	}
	dt->frac_len = (size_t) (p - dt->frac);
	dt->time_len = (size_t) (p - dt->time);
	*pp = p;
	return true;
}

/* A UTC offset: [+-]HH[:MM[:SS]] (PostgreSQL prints only the non-zero tail). */
static bool
parse_offset(const char **pp, const char *end, tc_dt *dt)
{
	const char *p = *pp;
	int			sign;
	int			h;
	int			m = 0;
	int			s = 0;

	dt->off = p;
	if (p >= end || (*p != '+' && *p != '-'))
		return false;
	sign = *p++ == '-' ? -1 : 1;
	if (!parse_2digits(&p, end, &h))
		return false;
	if (p < end && *p == ':')
	{
		p++;
		if (!parse_2digits(&p, end, &m))
			return false;
		if (p < end && *p == ':')
		{
			p++;
			if (!parse_2digits(&p, end, &s))
				return false;
		}
	}
	if (h > 23 || m > 59 || s > 59)
		return false;
	dt->off_secs = sign * (h * 3600 + m * 60 + s);
	dt->off_len = (size_t) (p - dt->off);
	*pp = p;
	return true;
}

/* An optional " BC", then the end of the text; checks the day against the month. */
static bool
parse_era_end(const char *p, const char *end, tc_dt *dt, bool has_date)
{
	dt->bc = false;
	if (end - p == 3 && p[0] == ' ' && p[1] == 'B' && p[2] == 'C')
	{
		if (!has_date)
			return false;
		dt->bc = true;
		p += 3;
	}
	if (p != end)
		return false;
	if (has_date && dt->day > days_in_month(dt->bc ? 1 - dt->year : dt->year, dt->month))
		return false;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (astronomical year); Hinnant's algorithm. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t		era;
	int64_t		yoe;
	int64_t		doy;
	int64_t		doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
tc_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t		era;
	int64_t		doe;
	int64_t		yoe;
	int64_t		doy;
	int64_t		mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Append v as exactly width digits (width <= 9 and v < 10^width, or more digits if needed). */
static void
put_padded(buf_t *out, int64_t v, int width)
{
	char		tmp[24];
	char	   *p = tmp + sizeof(tmp);

	do
	{
		*--p = (char) ('0' + v % 10);
		v /= 10;
		width--;
	} while (v > 0 || width > 0);
	buf_append(out, p, (size_t) (tmp + sizeof(tmp) - p));
}

/* A validated value that needs no escaping, as a JSON string. */
static bool
write_quoted(buf_t *out, const char *s, size_t n)
{
	if (!buf_grow(out, n + 2))
		return write_null_fail(out, out->len);
	buf_putc(out, '"');
	buf_append(out, s, n);
	buf_putc(out, '"');
	return true;
}

/* date: verbatim (BC suffix kept); ±infinity and anything malformed are null. */
static bool
write_date(buf_t *out, const char *s, size_t n)
{
	const char *p = s;
	const char *end = s + n;
	tc_dt		dt;

	if (!parse_date(&p, end, &dt) || !parse_era_end(p, end, &dt, true))
		return write_null_fail(out, out->len);
	return write_quoted(out, s, n);
}

/* time: verbatim. */
static bool
write_time(buf_t *out, const char *s, size_t n)
{
	const char *p = s;
	const char *end = s + n;
	tc_dt		dt;

	if (!parse_time(&p, end, &dt) || !parse_era_end(p, end, &dt, false))
		return write_null_fail(out, out->len);
	return write_quoted(out, s, n);
}

/* timetz: verbatim, but a bare-hour offset (+05) becomes +05:00. */
static bool
write_timetz(buf_t *out, const char *s, size_t n)
{
	const char *p = s;
	const char *end = s + n;
	tc_dt		dt;

	if (!parse_time(&p, end, &dt) || !parse_offset(&p, end, &dt) ||
		!parse_era_end(p, end, &dt, false))
		return write_null_fail(out, out->len);
	if (!buf_grow(out, n + 5))
		return write_null_fail(out, out->len);
	buf_putc(out, '"');
	buf_append(out, s, n);
	if (dt.off_len == 3)
		buf_append(out, ":00", 3);
	buf_putc(out, '"');
	return true;
}

/* timestamp: the space between date and time becomes 'T'; a BC suffix is kept. */
static bool
write_timestamp(buf_t *out, const char *s, size_t n)
{
	const char *p = s;
	const char *end = s + n;
	tc_dt		dt;

	if (!parse_date(&p, end, &dt) || !expect_char(&p, end, ' ') ||
		!parse_time(&p, end, &dt) || !parse_era_end(p, end, &dt, true))
		return write_null_fail(out, out->len);
	if (!buf_grow(out, n + 2))
		return write_null_fail(out, out->len);
	buf_putc(out, '"');
	buf_append(out, dt.date, dt.date_len);
	buf_putc(out, 'T');
	buf_append(out, dt.time, dt.time_len);
	if (dt.bc)
		buf_append(out, " BC", 3);
	buf_putc(out, '"');
	return true;
}

/*
 * timestamptz: ISO with a 'T' and a 'Z'. The session time zone is UTC, so the offset is +00 and
 * the text is copied; any other offset (a session not in UTC) is applied with civil-date
 * arithmetic so the result is the same instant in UTC. The fraction is untouched (offsets are
 * whole seconds).
 */
static bool
write_timestamptz(buf_t *out, const char *s, size_t n)
{
	const char *p = s;
	const char *end = s + n;
	tc_dt		dt;
	int64_t		days;
	int64_t		secs;
	int64_t		carry;
	int64_t		y;
	int			m;
	int			d;

	if (!parse_date(&p, end, &dt) || !expect_char(&p, end, ' ') ||
		!parse_time(&p, end, &dt) || !parse_offset(&p, end, &dt) ||
		!parse_era_end(p, end, &dt, true))
		return write_null_fail(out, out->len);
	if (!buf_grow(out, n + 16))
		return write_null_fail(out, out->len);
	buf_putc(out, '"');
	if (dt.off_secs == 0)
	{
		buf_append(out, dt.date, dt.date_len);
		buf_putc(out, 'T');
		buf_append(out, dt.time, dt.time_len);
	}
	else
	{
		days = days_from_civil(dt.bc ? 1 - dt.year : dt.year, dt.month, dt.day);
		secs = (int64_t) dt.hour * 3600 + dt.minute * 60 + dt.second - dt.off_secs;
		/* floor division: secs may be negative (previous day) or past 86400 (next day) */
		carry = secs >= 0 ? secs / 86400 : -((86399 - secs) / 86400);
		days += carry;
		secs -= carry * 86400;
		tc_civil_from_days(days, &y, &m, &d);
		dt.bc = y <= 0;
		put_padded(out, dt.bc ? 1 - y : y, 4);
		buf_putc(out, '-');
		put_padded(out, m, 2);
		buf_putc(out, '-');
		put_padded(out, d, 2);
		buf_putc(out, 'T');
		put_padded(out, secs / 3600, 2);
		buf_putc(out, ':');
		put_padded(out, secs / 60 % 60, 2);
		buf_putc(out, ':');
		put_padded(out, secs % 60, 2);
		buf_append(out, dt.frac, dt.frac_len);
	}
	buf_putc(out, 'Z');
	if (dt.bc)
		buf_append(out, " BC", 3);
	buf_putc(out, '"');
	return true;
}

/* ---------------------------------------------------------------------------------------------
 * Arrays
 * ------------------------------------------------------------------------------------------- */

/* An optionally signed integer of at most 10 digits (array bounds), advancing *p. */
static bool
parse_bound(const char **p, const char *end, int64_t *v)
{
	const char *q = *p;
	bool		neg = false;
	int			nd = 0;

	*v = 0;
	if (q < end && (*q == '-' || *q == '+'))
		neg = *q++ == '-';
	while (q < end && is_digit(*q))
	{
		if (++nd > 10)
			return false;
		*v = *v * 10 + (*q++ - '0');
	}
	if (nd == 0)
		return false;
	if (neg)
		*v = -*v;
	*p = q;
	return true;
}

/*
 * The dimension decoration "[lb:ub][lb:ub]...=" PostgreSQL prints before arrays whose lower bounds
 * are not 1. Stores each dimension's length; returns the number of dimensions, or -1 if malformed.
 */
static int
parse_dims(const char **pp, const char *end, int64_t *lens)
{
	const char *p = *pp;
	int			ndims = 0;

	while (p < end && *p == '[')
	{
		int64_t		lb = 1;
		int64_t		ub;

		if (ndims == TC_MAXDIM)
			return -1;
		p++;
		if (!parse_bound(&p, end, &ub))
			return -1;
		if (p < end && *p == ':')
		{
			p++;
			lb = ub;
			if (!parse_bound(&p, end, &ub))
				return -1;
		}
		if (!expect_char(&p, end, ']') || ub < lb - 1)
			return -1;
		lens[ndims++] = ub - lb + 1;
		while (p < end && is_space(*p))
			p++;
	}
	if (!expect_char(&p, end, '='))
		return -1;
	while (p < end && is_space(*p))
		p++;
	*pp = p;
	return ndims;
}

/*
 * A PostgreSQL array literal as nested JSON arrays, each element converted by write_scalar with
 * the element kind. Follows array_in: optional dimension decoration, nested braces (rectangular,
 * at most 6 deep), the type's delimiter, double-quoted elements with backslash escapes, unquoted
 * elements trimmed of whitespace, unquoted NULL (any case) as null. Malformed: the whole value is
 * null. An element that converts to null makes the result false but keeps the array.
 */
static bool
write_array(buf_t *out, const tc_type *t, const char *s, size_t n)
{
	enum
	{
		AT_OPEN,				/* just after '{': '}', '{' or an element */
		AT_ELEM,				/* after a delimiter: '{' or an element */
		AT_AFTER				/* after an element or a sub-array: delimiter or '}' */
	}			state = AT_OPEN;
	const char *p = s;
	const char *end = s + n;
	size_t		start = out->len;
	char		delim = t->elem_delim ? t->elem_delim : ',';
	tc_kind		ek = t->elem_kind == TC_ARRAY ? TC_STRING : t->elem_kind;
	bool		exact = true;
	int			depth = 0;
	int			leaf_depth = 0; /* the depth scalars sit at; 0 until the first one */
	int			ndecl = 0;		/* dimensions in the decoration, if any */
	int64_t		decl_len[TC_MAXDIM];
	int64_t		count[TC_MAXDIM + 1];	/* elements so far in the open sub-array at each depth */
	int64_t		expect[TC_MAXDIM + 1];	/* every sub-array at a depth has the same length */

	for (int i = 0; i <= TC_MAXDIM; i++)
		expect[i] = -1;
	while (p < end && is_space(*p))
		p++;
	if (p < end && *p == '[' && (ndecl = parse_dims(&p, end, decl_len)) < 0)
		goto malformed;
	if (!expect_char(&p, end, '{'))
		goto malformed;
	depth = 1;
	count[1] = 0;
	buf_putc(out, '[');

	while (depth > 0)
	{
		while (p < end && is_space(*p))
			p++;
		if (p >= end)
			goto malformed;

		if (state == AT_AFTER)
		{
			if (*p == delim)
			{
				buf_putc(out, ',');
				state = AT_ELEM;
				p++;
				continue;
			}
			if (*p != '}')
				goto malformed;
			if (expect[depth] < 0)
				expect[depth] = count[depth];
			else if (expect[depth] != count[depth])
				goto malformed;
			buf_putc(out, ']');
			depth--;
			p++;
			continue;
		}

		if (*p == '}')
		{
			/* only the whole array may be empty: "{}" */
			if (state != AT_OPEN || depth != 1)
				goto malformed;
			buf_putc(out, ']');
			depth = 0;
			p++;
			break;
		}
		if (*p == '{')
		{
			if (depth == TC_MAXDIM || (leaf_depth != 0 && depth >= leaf_depth))
				goto malformed;
			count[depth]++;
			depth++;
			count[depth] = 0;
			buf_putc(out, '[');
			state = AT_OPEN;
			p++;
			continue;
		}

		/* a scalar element */
		if (leaf_depth == 0)
			leaf_depth = depth;
		else if (leaf_depth != depth)
			goto malformed;
		count[depth]++;
		if (*p == '"')
		{
			const char *q = ++p;

			while (q < end && *q != '"' && *q != '\\')
				q++;
			if (q >= end)
				goto malformed;
			if (*q == '"')
			{
				/* no escapes: convert in place */
				if (!write_scalar(out, ek, p, (size_t) (q - p)))
					exact = false;
				p = q + 1;
			}
			else
			{
				buf_reset(&tc_scratch);
				buf_append(&tc_scratch, p, (size_t) (q - p));
				p = q;
				for (;;)
				{
					if (p >= end)
						goto malformed;
					if (*p == '"')
						break;
					if (*p == '\\')
					{
						if (++p >= end)
							goto malformed;
						buf_putc(&tc_scratch, *p++);
						continue;
					}
					q = p;
					while (q < end && *q != '"' && *q != '\\')
						q++;
					buf_append(&tc_scratch, p, (size_t) (q - p));
					p = q;
				}
				p++;
				if (tc_scratch.failed)
					goto malformed;
				if (!write_scalar(out, ek, tc_scratch.data, tc_scratch.len))
					exact = false;
				if (tc_scratch.cap > TC_SCRATCH_KEEP)
					buf_free(&tc_scratch);
			}
		}
		else
		{
			const char *q = p;
			const char *e;

			while (q < end && *q != delim && *q != '}')
			{
				/* array_out quotes anything holding these; unquoted, they are malformed */
				if (*q == '{' || *q == '"' || *q == '\\')
					goto malformed;
				q++;
			}
			if (q >= end || q == p)
				goto malformed;
			e = q;
			while (e > p && is_space(e[-1]))
				e--;
			if (e - p == 4 && (p[0] | 0x20) == 'n' && (p[1] | 0x20) == 'u' &&
				(p[2] | 0x20) == 'l' && (p[3] | 0x20) == 'l')
				buf_append(out, "null", 4);
			else if (!write_scalar(out, ek, p, (size_t) (e - p)))
				exact = false;
			p = q;
		}
		state = AT_AFTER;
	}

	while (p < end && is_space(*p))
		p++;
	if (p != end)
		goto malformed;
	if (ndecl > 0)
	{
		/* the decoration must describe the braces: same number of dimensions, same lengths */
		if (ndecl != (leaf_depth ? leaf_depth : 1))
			goto malformed;
		for (int i = 0; i < ndecl; i++)
			if (decl_len[i] != (expect[i + 1] < 0 ? 0 : expect[i + 1]))
				goto malformed;
	}
	return exact;

malformed:
	return write_null_fail(out, start);
}

/* ---------------------------------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------------------------------- */

/* One non-array value of the given kind. On failure exactly `null` was appended. */
static bool
write_scalar(buf_t *out, tc_kind kind, const char *s, size_t n)
{
	switch (kind)
	{
		case TC_INTEGER:
			return write_number(out, s, n, true);
		case TC_NUMERIC:
		case TC_FLOAT:
			return write_number(out, s, n, false);
		case TC_BOOLEAN:
			return write_boolean(out, s, n);
		case TC_BYTEA:
			return write_bytea(out, s, n);
		case TC_DATE:
			return write_date(out, s, n);
		case TC_TIME:
			return write_time(out, s, n);
		case TC_TIMETZ:
			return write_timetz(out, s, n);
		case TC_TIMESTAMP:
			return write_timestamp(out, s, n);
		case TC_TIMESTAMPTZ:
			return write_timestamptz(out, s, n);
		case TC_JSON:
		case TC_STRING:
		case TC_ARRAY:
			break;
	}
	return write_text(out, s, n);
}

bool
tc_write(buf_t *out, const tc_type *t, const char *text, size_t len)
{
	if (t->kind == TC_ARRAY)
		return write_array(out, t, text, len);
	return write_scalar(out, t->kind, text, len);
}

tc_kind
tc_kind_for_oid(uint32_t base_oid)
{
	switch (base_oid)
	{
		case TC_OID_BOOL:
			return TC_BOOLEAN;
		case TC_OID_INT2:
		case TC_OID_INT4:
		case TC_OID_INT8:
		case TC_OID_OID:
		case TC_OID_XID:
		case TC_OID_CID:
			return TC_INTEGER;
		case TC_OID_NUMERIC:
			return TC_NUMERIC;
		case TC_OID_FLOAT4:
		case TC_OID_FLOAT8:
			return TC_FLOAT;
		case TC_OID_JSON:
		case TC_OID_JSONB:
			return TC_JSON;
		case TC_OID_BYTEA:
			return TC_BYTEA;
		case TC_OID_DATE:
			return TC_DATE;
		case TC_OID_TIME:
			return TC_TIME;
		case TC_OID_TIMETZ:
			return TC_TIMETZ;
		case TC_OID_TIMESTAMP:
			return TC_TIMESTAMP;
		case TC_OID_TIMESTAMPTZ:
			return TC_TIMESTAMPTZ;
		default:
			return TC_STRING;
	}
}

tc_wire
tc_wire_for_oid(uint32_t base_oid)
{
	switch (base_oid)
	{
		case TC_OID_BOOL:
			return TC_WIRE_BOOL;
		case TC_OID_INT2:
			return TC_WIRE_INT2;
		case TC_OID_INT4:
			return TC_WIRE_INT4;
		case TC_OID_INT8:
			return TC_WIRE_INT8;
		case TC_OID_OID:
			return TC_WIRE_OID;
		case TC_OID_TEXT:
		case TC_OID_VARCHAR:
		case TC_OID_BPCHAR:
		case TC_OID_NAME:
		case TC_OID_JSON:
			return TC_WIRE_RAW;
		case TC_OID_JSONB:
			return TC_WIRE_JSONB;
		case TC_OID_NUMERIC:
			return TC_WIRE_NUMERIC;
		case TC_OID_DATE:
			return TC_WIRE_DATE;
		case TC_OID_TIME:
			return TC_WIRE_TIME;
		case TC_OID_TIMESTAMP:
			return TC_WIRE_TIMESTAMP;
		case TC_OID_TIMESTAMPTZ:
			return TC_WIRE_TIMESTAMPTZ;
		case TC_OID_UUID:
			return TC_WIRE_UUID;
		case TC_OID_BYTEA:
			return TC_WIRE_BYTEA;
		default:
			return TC_WIRE_NONE;
	}
}

tc_type
tc_resolve(uint32_t base_oid, uint32_t elem_base_oid, char elem_delim, int ndims)
{
	tc_type		t;

	t.wire = elem_base_oid != 0 ? TC_WIRE_NONE : tc_wire_for_oid(base_oid);
	if (elem_base_oid != 0)
	{
		t.kind = TC_ARRAY;
		t.elem_kind = tc_kind_for_oid(elem_base_oid);
		t.elem_delim = elem_delim ? elem_delim : ',';
		t.ndims = ndims > 1 ? ndims : 1;
	}
	else
	{
		t.kind = tc_kind_for_oid(base_oid);
		t.elem_kind = TC_STRING;
		t.elem_delim = 0;
		t.ndims = 0;
	}
	return t;
}

/* The schema of one non-array kind. */
static json_t *
scalar_schema(tc_kind kind)
{
	switch (kind)
	{
		case TC_INTEGER:
			return json_pack("{s:[ss]}", "type", "null", "integer");
		case TC_NUMERIC:
		case TC_FLOAT:
			return json_pack("{s:[ss]}", "type", "null", "number");
		case TC_BOOLEAN:
			return json_pack("{s:[ss]}", "type", "null", "boolean");
		case TC_DATE:
			return json_pack("{s:[ss],s:s}", "type", "null", "string", "format", "date");
		case TC_TIMESTAMP:
			return json_pack("{s:[ss],s:s,s:s}", "type", "null", "string", "format", "date-time",
							 "airbyte_type", "timestamp_without_timezone");
		case TC_TIMESTAMPTZ:
			return json_pack("{s:[ss],s:s,s:s}", "type", "null", "string", "format", "date-time",
							 "airbyte_type", "timestamp_with_timezone");
		case TC_TIME:
			return json_pack("{s:[ss],s:s}", "type", "null", "string",
							 "airbyte_type", "time_without_timezone");
		case TC_TIMETZ:
			return json_pack("{s:[ss],s:s}", "type", "null", "string",
							 "airbyte_type", "time_with_timezone");
		case TC_BYTEA:
			return json_pack("{s:[ss],s:s}", "type", "null", "string",
							 "contentEncoding", "base64");
		case TC_JSON:
		case TC_STRING:
		case TC_ARRAY:
			break;
	}
	return json_pack("{s:[ss]}", "type", "null", "string");
}

json_t *
tc_json_schema(const tc_type *t)
{
	json_t	   *schema;
	int			ndims;

	if (t->kind != TC_ARRAY)
		return scalar_schema(t->kind);
	schema = scalar_schema(t->elem_kind == TC_ARRAY ? TC_STRING : t->elem_kind);
	ndims = t->ndims < 1 ? 1 : (t->ndims > TC_MAXDIM ? TC_MAXDIM : t->ndims);
	for (int i = 0; i < ndims && schema != NULL; i++)
		schema = json_pack("{s:[ss],s:o}", "type", "null", "array", "items", schema);
	return schema;
}
