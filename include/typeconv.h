/*
 * typeconv.h: the one value-conversion table, shared by backfill and CDC.
 *
 * PostgreSQL sends every value in its text output format (COPY, simple queries and pgoutput alike,
 * with the session settings pgconn fixes: DateStyle ISO, TimeZone UTC, extra_float_digits 1,
 * bytea_output hex, IntervalStyle postgres). typeconv turns (resolved type, text) into exactly one
 * JSON value, so a value backfilled and the same value streamed give byte-identical JSON.
 * Pure code: no I/O, no logging.
 */
#ifndef SP_TYPECONV_H
#define SP_TYPECONV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum tc_kind
{
	TC_STRING = 0,				/* text output as a JSON string (the default for any type) */
	TC_INTEGER,					/* int2, int4, int8, oid, xid, cid: JSON integer, every digit */
	TC_NUMERIC,					/* numeric: JSON number, every digit; NaN/±Infinity nulled */
	TC_FLOAT,					/* float4, float8: shortest round-trip; NaN/±Infinity nulled */
	TC_BOOLEAN,					/* bool */
	TC_JSON,					/* json, jsonb: a string holding the JSON text */
	TC_BYTEA,					/* bytea (hex output) as a base64 string */
	TC_DATE,					/* YYYY-MM-DD, " BC" suffix; ±infinity nulled */
	TC_TIME,					/* HH:MM:SS[.f] */
	TC_TIMETZ,					/* HH:MM:SS[.f]+HH:MM */
	TC_TIMESTAMP,				/* YYYY-MM-DDTHH:MM:SS[.f], " BC" suffix; ±infinity nulled */
	TC_TIMESTAMPTZ,				/* YYYY-MM-DDTHH:MM:SS[.f]Z (UTC), " BC" suffix; ±infinity nulled */
	TC_ARRAY					/* PostgreSQL array literal: JSON array of converted elements */
} tc_kind;

/*
 * How a value of the type arrives in COPY's binary format, for the types whose binary form
 * copybin renders back into exactly the server's text output (see copybin.h). TC_WIRE_NONE: no
 * such rendering; a COPY with a column of that type is made in text format.
 */
typedef enum tc_wire
{
	TC_WIRE_NONE = 0,
	TC_WIRE_BOOL,				/* bool: one byte */
	TC_WIRE_INT2,				/* int2, int4, int8: big-endian two's complement */
	TC_WIRE_INT4,
	TC_WIRE_INT8,
	TC_WIRE_OID,				/* oid: big-endian unsigned 32 bits */
	TC_WIRE_RAW,				/* text, varchar, bpchar, name, json: the text itself */
	TC_WIRE_JSONB,				/* jsonb: a version byte (1), then the text */
	TC_WIRE_NUMERIC,			/* numeric: ndigits, weight, sign, dscale, base-10000 digits */
	TC_WIRE_DATE,				/* date: days since 2000-01-01 (32 bits) */
	TC_WIRE_TIME,				/* time: microseconds since midnight (64 bits) */
	TC_WIRE_TIMESTAMP,			/* timestamp: microseconds since 2000-01-01 00:00 (64 bits) */
	TC_WIRE_TIMESTAMPTZ,		/* timestamptz: the same, in UTC */
	TC_WIRE_UUID,				/* uuid: 16 bytes */
	TC_WIRE_BYTEA				/* bytea: the bytes themselves */
} tc_wire;

/* A column's type, resolved once (domains to their base type, arrays to their element). */
typedef struct tc_type
{
	tc_kind		kind;
	tc_kind		elem_kind;		/* for TC_ARRAY: the element's kind (never TC_ARRAY) */
	char		elem_delim;		/* for TC_ARRAY: the element type's typdelim (',' or ';' for box) */
	int			ndims;			/* for TC_ARRAY: declared dimensions (>= 1) for the schema */
	tc_wire		wire;			/* COPY binary form (TC_WIRE_NONE for arrays and the rest) */
} tc_type;

/* Well-known built-in type OIDs (pg_type.dat), so the table needs no catalog access. */
enum
{
	TC_OID_BOOL = 16, TC_OID_BYTEA = 17, TC_OID_CHAR = 18, TC_OID_NAME = 19, TC_OID_INT8 = 20,
	TC_OID_INT2 = 21, TC_OID_INT4 = 23, TC_OID_TEXT = 25, TC_OID_OID = 26, TC_OID_XID = 28,
	TC_OID_CID = 29, TC_OID_JSON = 114, TC_OID_XML = 142, TC_OID_FLOAT4 = 700,
	TC_OID_FLOAT8 = 701, TC_OID_MONEY = 790, TC_OID_BPCHAR = 1042, TC_OID_VARCHAR = 1043,
	TC_OID_DATE = 1082, TC_OID_TIME = 1083, TC_OID_TIMESTAMP = 1114, TC_OID_TIMESTAMPTZ = 1184,
	TC_OID_INTERVAL = 1186, TC_OID_TIMETZ = 1266, TC_OID_NUMERIC = 1700, TC_OID_UUID = 2950,
	TC_OID_JSONB = 3802
};

/* The kind for a scalar (non-array) base type OID; TC_STRING for anything not special. */
tc_kind		tc_kind_for_oid(uint32_t base_oid);

/* The COPY binary form of a scalar base type OID (TC_WIRE_NONE when copybin cannot render it). */
tc_wire		tc_wire_for_oid(uint32_t base_oid);

/*
 * Resolve a column type. base_oid is the type after stripping domains; elem_base_oid is, when the
 * type is an array (typcategory 'A'), its element type after stripping domains (0 otherwise).
 */
tc_type		tc_resolve(uint32_t base_oid, uint32_t elem_base_oid, char elem_delim, int ndims);

/*
 * The JSON schema of a column of this type (Airbyte conventions; always nullable: ["null", T]).
 * New reference; the caller decrefs.
 */
json_t	   *tc_json_schema(const tc_type *t);

/*
 * Append the JSON value for the text-format value text[0..len) to out (no NUL needed).
 * Returns true when the value was written exactly. Returns false when it cannot be represented
 * (NaN, ±Infinity, infinite dates, a malformed literal): then `null` was written and the caller
 * records a meta change (NULLED, SOURCE_SERIALIZATION_ERROR) for the field.
 */
bool		tc_write(buf_t *out, const tc_type *t, const char *text, size_t len);

/* n raw bytes (a bytea's) as a JSON base64 string, quoted: what tc_write makes of their hex. */
bool		tc_write_base64(buf_t *out, const void *bytes, size_t n);

/*
 * The proleptic Gregorian date (astronomical year: 1 BC is 0), as PostgreSQL's j2date gives it,
 * of a day count from 1970-01-01 (Hinnant's algorithm).
 */
void		tc_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
