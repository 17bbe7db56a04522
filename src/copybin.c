/*
 * copybin.c: COPY binary-format tuples, rendered as the server's text output or written straight
 * as typeconv's JSON (see copybin.h).
 *
 * Each rendering follows the output function it stands in for, in the session settings pgconn
 * fixes: numeric_out (get_str_from_var), date_out, time_out, timestamp_out and timestamptz_out
 * with DateStyle ISO and TimeZone UTC (EncodeDateTime, AppendSeconds: a fraction of up to six
 * digits without trailing zeros; years before 1 as "YYYY ... BC"), uuid_out, byteaout in hex,
 * boolout, int2/4/8out and oidout. Dates use the proleptic Gregorian calendar, as PostgreSQL's
 * j2date does. The JSON writer builds the same pieces in typeconv's layout (a 'T' for the space,
 * 'Z' for "+00"). The integration tests hold both to the server's text and to the change stream,
 * whose values typeconv converts from text, byte for byte.
 */
#include "copybin.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "typeconv.h"

#define USECS_PER_DAY INT64_C(86400000000)
#define USECS_PER_SEC INT64_C(1000000)
/* days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01 */
#define PG_EPOCH_UNIX_DAYS 10957

#define NUMERIC_POS 0x0000
#define NUMERIC_NEG 0x4000
#define NUMERIC_NAN 0xC000
#define NUMERIC_PINF 0xD000
#define NUMERIC_NINF 0xF000
#define NUMERIC_DSCALE_MAX 0x3FFF

static const char copy_signature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};

static inline uint16_t
be16(const unsigned char *p)
{
	return (uint16_t) ((p[0] << 8) | p[1]);
}

static inline uint32_t
be32(const unsigned char *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static inline uint64_t
be64(const unsigned char *p)
{
	return ((uint64_t) be32(p) << 32) | be32(p + 4);
}

long
copybin_header_len(const char *msg, size_t len)
{
	const unsigned char *p = (const unsigned char *) msg;
	uint32_t	ext;

	if (len < 19 || memcmp(msg, copy_signature, sizeof(copy_signature)) != 0)
		return -1;
	/* flags: the high half marks changes a reader must understand (bit 16: OIDs, never asked for) */
	if (be32(p + 11) & 0xFFFF0000u)
		return -1;
	ext = be32(p + 15);
	if (ext > len - 19)
		return -1;
	return (long) (19 + ext);
}

/* ---- digits ---- */

static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Write v in decimal, at least width digits (zero-padded); returns the end. */
static char *
put_uint(char *o, uint64_t v, int width)
{
	char		tmp[24];
	char	   *p = tmp + sizeof(tmp);
	size_t		n;

	while (v >= 100)
	{
		p -= 2;
		memcpy(p, digit_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10)
	{
		p -= 2;
		memcpy(p, digit_pairs + 2 * v, 2);
	}
	else
		*--p = (char) ('0' + v);
	while (tmp + sizeof(tmp) - p < width)
		*--p = '0';
	n = (size_t) (tmp + sizeof(tmp) - p);
	for (size_t i = 0; i < n; i++)	/* a few bytes: a call to memcpy would cost more */
		o[i] = p[i];
	return o + n;
}

/* two digits, v < 100 */
static inline char *
put2(char *o, int v)
{
	memcpy(o, digit_pairs + 2 * v, 2);
	return o + 2;
}

/* four digits, v < 10000 */
static inline char *
put4(char *o, int v)
{
	memcpy(o, digit_pairs + 2 * (v / 100), 2);
	memcpy(o + 2, digit_pairs + 2 * (v % 100), 2);
	return o + 4;
}

static char *
put_int(char *o, int64_t v)
{
	if (v < 0)
	{
		*o++ = '-';
		return put_uint(o, (uint64_t) 0 - (uint64_t) v, 1);
	}
	return put_uint(o, (uint64_t) v, 1);
}

/* AppendSeconds: ":SS" already written up to the seconds; the fraction without trailing zeros */
static char *
put_seconds(char *o, int sec, int64_t usec)
{
	o = put2(o, sec);
	if (usec != 0)
	{
		char		frac[6];
		int			n = 6;

		for (int i = 5; i >= 0; i--)
		{
			frac[i] = (char) ('0' + usec % 10);
			usec /= 10;
		}
		while (frac[n - 1] == '0')
			n--;
		*o++ = '.';
		memcpy(o, frac, (size_t) n);
		o += n;
	}
	return o;
}

/* ---- dates and times ---- */

/*
 * "YYYY-MM-DD" for days since 2000-01-01; *bc when the year is before 1 (written as 1 - year).
 * The last date is kept: rows copied in order of insertion tend to share their day.
 */
static char *
put_date(char *o, int64_t pgdays, bool *bc)
{
	static _Thread_local int64_t last_days = INT64_MIN;
	static _Thread_local char last_text[24];
	static _Thread_local size_t last_len;
	static _Thread_local bool last_bc;
	int64_t		y;
	int			m;
	int			d;
	char	   *start = o;

	if (pgdays == last_days)
	{
		if (last_len == 10)
			memcpy(o, last_text, 10);
		else
			memcpy(o, last_text, last_len);
		*bc = last_bc;
		return o + last_len;
	}
	tc_civil_from_days(pgdays + PG_EPOCH_UNIX_DAYS, &y, &m, &d);
	*bc = y <= 0;
	o = put_uint(o, (uint64_t) (y > 0 ? y : 1 - y), 4);
	*o++ = '-';
	o = put2(o, m);
	*o++ = '-';
	o = put2(o, d);
	last_days = pgdays;
	last_len = (size_t) (o - start);
	last_bc = *bc;
	memcpy(last_text, start, last_len);
	return o;
}

/* "HH:MM:SS[.f]" for microseconds since midnight (0 to 24:00:00) */
static char *
put_time(char *o, int64_t t)
{
	int64_t		s = t / USECS_PER_SEC;

	o = put2(o, (int) (s / 3600));
	*o++ = ':';
	o = put2(o, (int) (s / 60 % 60));
	*o++ = ':';
	return put_seconds(o, (int) (s % 60), t % USECS_PER_SEC);
}

static char *
put_str(char *o, const char *s)
{
	size_t		n = strlen(s);

	memcpy(o, s, n);
	return o + n;
}

/*
 * timestamp_out / timestamptz_out: "YYYY-MM-DD HH:MM:SS[.f][+00][ BC]"; as JSON (json set, the
 * value finite): "YYYY-MM-DDTHH:MM:SS[.f][Z][ BC]" without the quotes.
 */
static long
render_timestamp(const unsigned char *bin, char *out, bool tz, bool json)
{
	int64_t		t = (int64_t) be64(bin);
	int64_t		days;
	int64_t		tod;
	bool		bc;
	char	   *o = out;

	if (t == INT64_MIN)
		return (long) (put_str(o, "-infinity") - out);
	if (t == INT64_MAX)
		return (long) (put_str(o, "infinity") - out);
	days = t / USECS_PER_DAY;
	tod = t % USECS_PER_DAY;
	if (tod < 0)
	{
		tod += USECS_PER_DAY;
		days--;
	}
	o = put_date(o, days, &bc);
	*o++ = json ? 'T' : ' ';
	o = put_time(o, tod);
	if (tz)
		o = json ? put_str(o, "Z") : put_str(o, "+00");
	if (bc)
		o = put_str(o, " BC");
	return (long) (o - out);
}

/* ---- numeric ---- */

/* numeric_out's text of a binary numeric (already checked by numeric_bound) */
static long
render_numeric(const unsigned char *bin, char *out)
{
	int			ndigits = (int16_t) be16(bin);
	int			weight = (int16_t) be16(bin + 2);
	uint16_t	sign = be16(bin + 4);
	int			dscale = be16(bin + 6);
	const unsigned char *digits = bin + 8;
	char	   *o = out;
	int			d;

	if (sign == NUMERIC_NAN)
		return (long) (put_str(o, "NaN") - out);
	if (sign == NUMERIC_PINF)
		return (long) (put_str(o, "Infinity") - out);
	if (sign == NUMERIC_NINF)
		return (long) (put_str(o, "-Infinity") - out);
	if (sign == NUMERIC_NEG)
		*o++ = '-';
	if (weight < 0)
	{
		d = weight + 1;
		*o++ = '0';
	}
	else
	{
		for (d = 0; d <= weight; d++)
		{
			int			dig = d < ndigits ? be16(digits + 2 * d) : 0;

			if (d == 0)
				o = put_uint(o, (uint64_t) dig, 1); /* the first group without leading zeros */
			else
				o = put4(o, dig);
		}
	}
	if (dscale > 0)
	{
		char	   *end = o + 1 + dscale;

		*o++ = '.';
		for (int i = 0; i < dscale; d++, i += 4)
			o = put4(o, d >= 0 && d < ndigits ? be16(digits + 2 * d) : 0);
		o = end;				/* the last group may run past dscale digits */
	}
	return (long) (o - out);
}

/* numeric_bound: -1 unless bin is a well-formed binary numeric */
static long
numeric_bound(const unsigned char *bin, size_t len)
{
	int			ndigits;
	int			weight;
	uint16_t	sign;
	int			dscale;

	if (len < 8)
		return -1;
	ndigits = (int16_t) be16(bin);
	weight = (int16_t) be16(bin + 2);
	sign = be16(bin + 4);
	dscale = be16(bin + 6);
	if (ndigits < 0 || len != 8 + 2 * (size_t) ndigits || dscale > NUMERIC_DSCALE_MAX)
		return -1;
	if (sign != NUMERIC_POS && sign != NUMERIC_NEG && sign != NUMERIC_NAN && sign != NUMERIC_PINF &&
		sign != NUMERIC_NINF)
		return -1;
	for (int i = 0; i < ndigits; i++)
		if (be16(bin + 8 + 2 * i) > 9999)
			return -1;
	/* sign, integer groups, point, fraction groups (the last may run 3 digits past dscale) */
	return 1 + (weight >= 0 ? 4 * ((long) weight + 1) : 1) + 1 + dscale + 3 + 16;
}

/* ---- the table ---- */

/* copybin_text_bound on the bytes */
static long
text_bound(tc_wire wire, const unsigned char *bin, size_t len)
{
	switch (wire)
	{
		case TC_WIRE_BOOL:
			return len == 1 ? 1 : -1;
		case TC_WIRE_INT2:
			return len == 2 ? 6 : -1;
		case TC_WIRE_INT4:
		case TC_WIRE_OID:
			return len == 4 ? 11 : -1;
		case TC_WIRE_INT8:
			return len == 8 ? 20 : -1;
		case TC_WIRE_DATE:
			return len == 4 ? 32 : -1;
		case TC_WIRE_TIME:
			return len == 8 && (int64_t) be64(bin) >= 0 && (int64_t) be64(bin) <= USECS_PER_DAY ? 16 : -1;
		case TC_WIRE_TIMESTAMP:
		case TC_WIRE_TIMESTAMPTZ:
			return len == 8 ? 64 : -1;
		case TC_WIRE_UUID:
			return len == 16 ? 36 : -1;
		case TC_WIRE_BYTEA:
			return (long) (2 + 2 * len);
		case TC_WIRE_NUMERIC:
			return numeric_bound(bin, len);
		case TC_WIRE_RAW:
			return (long) len;
		case TC_WIRE_JSONB:
			/* jsonb's binary form, version 1, is a version byte and the text */
			return len >= 1 && bin[0] == 1 ? (long) len - 1 : -1;
		case TC_WIRE_NONE:
			break;
	}
	return -1;
}

long
copybin_text_bound(tc_wire wire, const char *bin, size_t len)
{
	return text_bound(wire, (const unsigned char *) bin, len);
}

/* The text of a binary value already checked by copybin_text_bound. */
static long
render(tc_wire wire, const unsigned char *bin, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char	   *o = out;
	bool		bc;

	switch (wire)
	{
		case TC_WIRE_BOOL:
			*o++ = bin[0] ? 't' : 'f';
			break;
		case TC_WIRE_INT2:
			o = put_int(o, (int16_t) be16(bin));
			break;
		case TC_WIRE_INT4:
			o = put_int(o, (int32_t) be32(bin));
			break;
		case TC_WIRE_INT8:
			o = put_int(o, (int64_t) be64(bin));
			break;
		case TC_WIRE_OID:
			o = put_uint(o, be32(bin), 1);
			break;
		case TC_WIRE_DATE:
			{
				int32_t		days = (int32_t) be32(bin);

				if (days == INT32_MIN)
					o = put_str(o, "-infinity");
				else if (days == INT32_MAX)
					o = put_str(o, "infinity");
				else
				{
					o = put_date(o, days, &bc);
					if (bc)
						o = put_str(o, " BC");
				}
				break;
			}
		case TC_WIRE_TIME:
			o = put_time(o, (int64_t) be64(bin));
			break;
		case TC_WIRE_TIMESTAMP:
		case TC_WIRE_TIMESTAMPTZ:
			return render_timestamp(bin, out, wire == TC_WIRE_TIMESTAMPTZ, false);
		case TC_WIRE_UUID:
			for (int i = 0; i < 16; i++)
			{
				if (i == 4 || i == 6 || i == 8 || i == 10)
					*o++ = '-';
				*o++ = hex[bin[i] >> 4];
				*o++ = hex[bin[i] & 15];
			}
			break;
		case TC_WIRE_BYTEA:
			*o++ = '\\';
			*o++ = 'x';
			for (size_t i = 0; i < len; i++)
			{
				*o++ = hex[bin[i] >> 4];
				*o++ = hex[bin[i] & 15];
			}
			break;
		case TC_WIRE_NUMERIC:
			return render_numeric(bin, out);
		case TC_WIRE_RAW:
			memcpy(o, bin, len);
			o += len;
			break;
		case TC_WIRE_JSONB:
			memcpy(o, bin + 1, len - 1);
			o += len - 1;
			break;
		case TC_WIRE_NONE:
			return -1;
	}
	return (long) (o - out);
}

long
copybin_render(tc_wire wire, const char *bin, size_t len, char *out)
{
	const unsigned char *b = (const unsigned char *) bin;

	if (text_bound(wire, b, len) < 0)
		return -1;
	return render(wire, b, len, out);
}

/* ---- JSON ---- */

/* Drop what was written since start, write `null`, and report the value as not representable. */
static bool
null_fail(buf_t *out, size_t start)
{
	out->len = start;
	buf_append(out, "null", 4);
	return false;
}

bool
copybin_write_json(buf_t *out, const tc_type *t, const char *bin, size_t len)
{
	const unsigned char *b = (const unsigned char *) bin;
	size_t		start = out->len;
	long		n;
	char	   *o;

	switch (t->wire)
	{
		case TC_WIRE_BOOL:
			if (b[0])
				buf_append(out, "true", 4);
			else
				buf_append(out, "false", 5);
			return true;
		case TC_WIRE_INT2:
		case TC_WIRE_INT4:
		case TC_WIRE_INT8:
		case TC_WIRE_OID:
		case TC_WIRE_NUMERIC:
			/* the text is the JSON number; NaN and the infinities are not numbers */
			if (t->wire == TC_WIRE_NUMERIC && (be16(b + 4) & 0xC000) == 0xC000)
				return null_fail(out, start);
			if (!buf_grow(out, (size_t) text_bound(t->wire, b, len)))
				return null_fail(out, start);
			o = out->data + out->len;
			n = render(t->wire, b, len, o);
			if (t->wire == TC_WIRE_NUMERIC)
			{
				/* as typeconv does, leading zeros no canonical numeric has are dropped */
				char	   *digits = o + (o[0] == '-');
				long		z = 0;

				while (digits[z] == '0' && digits + z + 1 < o + n && digits[z + 1] >= '0' &&
					   digits[z + 1] <= '9')
					z++;
				if (z > 0)
				{
					memmove(digits, digits + z, (size_t) (o + n - digits - z));
					n -= z;
				}
			}
			break;
		case TC_WIRE_DATE:
		case TC_WIRE_TIME:
		case TC_WIRE_UUID:
			/* the text, quoted; infinite dates have no date */
			if (t->wire == TC_WIRE_DATE && (be32(b) == 0x80000000u || be32(b) == 0x7FFFFFFFu))
				return null_fail(out, start);
			if (!buf_grow(out, (size_t) text_bound(t->wire, b, len) + 2))
				return null_fail(out, start);
			o = out->data + out->len;
			*o = '"';
			n = render(t->wire, b, len, o + 1);
			o[n + 1] = '"';
			n += 2;
			break;
		case TC_WIRE_TIMESTAMP:
		case TC_WIRE_TIMESTAMPTZ:
			if (be64(b) == (uint64_t) INT64_MIN || be64(b) == (uint64_t) INT64_MAX)
				return null_fail(out, start);
			if (!buf_grow(out, 64 + 2))
				return null_fail(out, start);
			o = out->data + out->len;
			*o = '"';
			n = render_timestamp(b, o + 1, t->wire == TC_WIRE_TIMESTAMPTZ, true);
			o[n + 1] = '"';
			n += 2;
			break;
		case TC_WIRE_RAW:
			return tc_write(out, t, bin, len);
		case TC_WIRE_JSONB:
			return tc_write(out, t, bin + 1, len - 1);
		case TC_WIRE_BYTEA:
			return tc_write_base64(out, bin, len);
		default:
			/* TC_WIRE_NONE, no binary form: such a column is copied in text format, never here */
			return null_fail(out, start);
	}
	out->len += (size_t) n;
	out->data[out->len] = '\0';
	return true;
}

/* ---- tuples ---- */

int
copybin_split_row(const char *tup, size_t len, const tc_wire *wire, int nfields, copy_field *fields)
{
	const unsigned char *start = (const unsigned char *) tup;
	const unsigned char *end = start + len;
	const unsigned char *p;
	int16_t		count;

	if (len < 2)
		return -1;
	count = (int16_t) be16(start);
	if (count == -1)
		return len == 2 ? 0 : -1;
	if (count != nfields)
		return -1;
	p = start + 2;
	for (int i = 0; i < nfields; i++)
	{
		copy_field *f = &fields[i];
		int32_t		flen;

		if (end - p < 4)
			return -1;
		flen = (int32_t) be32(p);
		p += 4;
		f->data = (const char *) p;
		f->is_null = flen == -1;
		if (f->is_null)
		{
			f->len = 0;
			continue;
		}
		if (flen < 0 || (size_t) (end - p) < (size_t) flen ||
			text_bound(wire[i], p, (size_t) flen) < 0)
			return -1;
		f->len = (size_t) flen;
		p += flen;
	}
	return p == end ? 1 : -1;
}
