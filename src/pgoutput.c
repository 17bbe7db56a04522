/*
 * pgoutput.c: a pure decoder of streaming-replication CopyData frames ('w', 'k', and the
 * standby status update 'r' we send back) and of pgoutput's logical replication messages,
 * protocol versions 1 and 2 (see pgoutput.h and PostgreSQL's replication/logical/proto.c).
 *
 * All input is read through a bounds-checked cursor with a sticky error, in the manner of
 * PostgreSQL's pq_getmsg* functions: the first failed read records why and every later read
 * returns 0 without moving, so the decoders can read straight through and check once. A
 * message that is truncated, carries a length larger than what remains, has trailing bytes
 * or otherwise lies is rejected as a whole; nothing is ever read out of bounds.
 *
 * The decoder owns a relation cache keyed by OID (open addressing, linear probing) and a few
 * scratch arrays (tuple columns, truncate relids) that are reused between messages so that
 * the steady state does no allocation per message.
 */
#include "pgoutput.h"

#include "buf.h"

#include <stdlib.h>
#include <string.h>

/* PostgreSQL's MaxTupleAttributeNumber: no tuple or relation has more columns */
#define PGO_MAX_COLS 1664

/* Room for "<message>: <reason>" error strings */
#define PGO_ERRBUF_SIZE 160

/*
 * A read cursor over one message. err is sticky: once set, reads return 0 and do not move.
 */
typedef struct pgo_cursor
{
	const uint8_t *data;
	size_t		len;
	size_t		pos;
	const char *err;
} pgo_cursor;

struct pgo_decoder
{
	int			proto_version;

	/* protocol 2: are we between Stream Start and Stream Stop, and for which xid */
	bool		in_stream;
	uint32_t	stream_xid;

	/* relation cache: open addressing on OID, NULL is an empty slot */
	pgo_relation **rels;
	size_t		rel_cap;		/* a power of two, or 0 */
	size_t		rel_count;

	/* scratch column arrays for the old and new tuples of the current message */
	pgo_value  *oldcols;
	int			oldcols_cap;
	pgo_value  *newcols;
	int			newcols_cap;

	/* scratch relid array for Truncate */
	pg_oid	   *relids;
	size_t		relids_cap;

	char		errbuf[PGO_ERRBUF_SIZE];
};

/* ---- cursor ---- */

/*
 * Start reading len bytes at data.
 */
static void
cur_init(pgo_cursor *c, const uint8_t *data, size_t len)
{
	c->data = data;
	c->len = len;
	c->pos = 0;
	c->err = NULL;
}

/*
 * Record an error unless one is already recorded (the first cause wins).
 */
static void
cur_fail(pgo_cursor *c, const char *why)
{
	if (c->err == NULL)
		c->err = why;
}

/*
 * Bytes left to read; 0 once the cursor has failed.
 */
static size_t
cur_remaining(const pgo_cursor *c)
{
	return c->err ? 0 : c->len - c->pos;
}

/*
 * Borrow the next n bytes, or NULL (and the error set) if fewer remain.
 */
static const uint8_t *
cur_bytes(pgo_cursor *c, size_t n)
{
	const uint8_t *p;

	if (c->err)
		return NULL;
	if (n > c->len - c->pos)
	{
		cur_fail(c, "truncated message");
		return NULL;
	}
	p = c->data + c->pos;
	c->pos += n;
	return p;
}

/*
 * Read a byte.
 */
static uint8_t
cur_u8(pgo_cursor *c)
{
	const uint8_t *p = cur_bytes(c, 1);

	return p ? p[0] : 0;
}

/*
 * Read a big-endian 16-bit integer.
 */
static uint16_t
cur_u16(pgo_cursor *c)
{
	const uint8_t *p = cur_bytes(c, 2);

	if (p == NULL)
		return 0;
	return (uint16_t) (((uint16_t) p[0] << 8) | p[1]);
}

/*
 * Read a big-endian 32-bit integer.
 */
static uint32_t
cur_u32(pgo_cursor *c)
{
	const uint8_t *p = cur_bytes(c, 4);

	if (p == NULL)
		return 0;
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

/*
 * Read a big-endian 64-bit integer.
 */
static uint64_t
cur_u64(pgo_cursor *c)
{
	const uint8_t *p = cur_bytes(c, 8);
	uint64_t	v = 0;

	if (p == NULL)
		return 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * Read a NUL-terminated string and return it in place, or NULL (error set) if there is no
 * terminator before the end of the message.
 */
static const char *
cur_string(pgo_cursor *c)
{
	const uint8_t *start;
	const uint8_t *nul;

	if (c->err)
		return NULL;
	start = c->data + c->pos;
	nul = memchr(start, '\0', c->len - c->pos);
	if (nul == NULL)
	{
		cur_fail(c, "string not nul-terminated");
		return NULL;
	}
	c->pos += (size_t) (nul - start) + 1;
	return (const char *) start;
}

/*
 * Read an int32 length followed by that many bytes; negative lengths and lengths past the end
 * of the message are errors. Returns the borrowed bytes (never NULL on success).
 */
static const uint8_t *
cur_counted(pgo_cursor *c, uint32_t *lenp)
{
	int32_t		len = (int32_t) cur_u32(c);

	*lenp = 0;
	if (c->err)
		return NULL;
	if (len < 0)
	{
		cur_fail(c, "negative length");
		return NULL;
	}
	if ((size_t) len > c->len - c->pos)
	{
		cur_fail(c, "length exceeds message");
		return NULL;
	}
	*lenp = (uint32_t) len;
	return cur_bytes(c, (size_t) len);
}

/* ---- big-endian writers ---- */

/*
 * Store v big-endian into out[0..8).
 */
static void
put_u64(uint8_t *out, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
	{
		out[i] = (uint8_t) (v & 0xff);
		v >>= 8;
	}
}

/* ---- CopyData frames ---- */

/*
 * Parse one CopyData frame of the replication stream ('w' XLogData or 'k' keepalive).
 * XLogData's payload is borrowed and not checked here: it is pgo_decode's input.
 */
bool
pgo_parse_frame(const uint8_t *data, size_t len, pgo_frame *out, const char **err)
{
	pgo_cursor	c;
	uint8_t		type;
	const char *why = NULL;

	memset(out, 0, sizeof(*out));
	cur_init(&c, data, len);
	type = cur_u8(&c);
	if (c.err)
		why = "empty frame";
	else if (type == 'w')
	{
		out->type = PGO_FRAME_XLOGDATA;
		out->wal_start = cur_u64(&c);
		out->wal_end = cur_u64(&c);
		out->send_time = (int64_t) cur_u64(&c);
		if (c.err)
			why = "truncated xlogdata frame";
		else
		{
			/* the rest is the pgoutput message; it may legitimately be checked later */
			out->payload_len = cur_remaining(&c);
			out->payload = cur_bytes(&c, out->payload_len);
		}
	}
	else if (type == 'k')
	{
		uint8_t		reply;

		out->type = PGO_FRAME_KEEPALIVE;
		out->wal_end = cur_u64(&c);
		out->send_time = (int64_t) cur_u64(&c);
		reply = cur_u8(&c);
		if (c.err)
			why = "truncated keepalive frame";
		else if (cur_remaining(&c) != 0)
			why = "trailing bytes after keepalive frame";
		else if (reply > 1)
			why = "bad keepalive reply flag";
		else
			out->reply_requested = (reply == 1);
	}
	else
		why = "unknown frame type";

	if (why)
	{
		memset(out, 0, sizeof(*out));
		if (err)
			*err = why;
		return false;
	}
	if (err)
		*err = NULL;
	return true;
}

/*
 * Build the 34-byte standby status update: 'r', write, flush and apply LSNs, the client clock
 * in microseconds since 2000-01-01, and whether we ask for an immediate reply.
 */
void
pgo_build_status(uint8_t out[34], pg_lsn write, pg_lsn flush, pg_lsn apply,
				 int64_t now_us, bool reply_requested)
{
	out[0] = 'r';
	put_u64(out + 1, write);
	put_u64(out + 9, flush);
	put_u64(out + 17, apply);
	put_u64(out + 25, (uint64_t) now_us);
	out[33] = reply_requested ? 1 : 0;
}

/* ---- relation cache ---- */

/*
 * Home slot of an OID in a table of cap (a power of two) slots. The OID goes through the
 * murmur3 finalizer first so that OIDs sharing their low bits still spread over the table.
 */
static size_t
rel_slot(pg_oid oid, size_t cap)
{
	uint32_t	h = oid;

	h ^= h >> 16;
	h *= UINT32_C(0x85ebca6b);
	h ^= h >> 13;
	h *= UINT32_C(0xc2b2ae35);
	h ^= h >> 16;
	return (size_t) h & (cap - 1);
}

/*
 * The slot holding oid, or the empty slot where it would go. The table must not be full.
 */
static size_t
rel_find_slot(pgo_relation *const *rels, size_t cap, pg_oid oid)
{
	size_t		i = rel_slot(oid, cap);

	while (rels[i] != NULL && rels[i]->oid != oid)
		i = (i + 1) & (cap - 1);
	return i;
}

/*
 * Make room for one more relation (keeping the load factor at most 1/2). False on OOM.
 */
static bool
rel_reserve(pgo_decoder *d)
{
	pgo_relation **nrels;
	size_t		ncap;

	if (d->rel_cap != 0 && (d->rel_count + 1) * 2 <= d->rel_cap)
		return true;
	ncap = d->rel_cap ? d->rel_cap * 2 : 16;
	nrels = calloc(ncap, sizeof(*nrels));
	if (nrels == NULL)
		return false;
	for (size_t i = 0; i < d->rel_cap; i++)
	{
		if (d->rels[i] != NULL)
			nrels[rel_find_slot(nrels, ncap, d->rels[i]->oid)] = d->rels[i];
	}
	free(d->rels);
	d->rels = nrels;
	d->rel_cap = ncap;
	return true;
}

/*
 * The cached relation with this OID, or NULL.
 */
const pgo_relation *
pgo_relation_get(const pgo_decoder *d, pg_oid oid)
{
	if (d == NULL || d->rel_cap == 0)
		return NULL;
	return d->rels[rel_find_slot(d->rels, d->rel_cap, oid)];
}

/* ---- decoder lifecycle ---- */

/*
 * A decoder for protocol version 1 or 2 (NULL for any other version or on OOM).
 */
pgo_decoder *
pgo_decoder_new(int proto_version)
{
	pgo_decoder *d;

	if (proto_version != 1 && proto_version != 2)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->proto_version = proto_version;
	return d;
}

/*
 * Free the decoder with its cached relations and scratch arrays.
 */
void
pgo_decoder_free(pgo_decoder *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->rel_cap; i++)
		free(d->rels[i]);
	free(d->rels);
	free(d->oldcols);
	free(d->newcols);
	free(d->relids);
	free(d);
}

/*
 * The last decode error ("<message>: <reason>"), or "" after a success.
 */
const char *
pgo_error(const pgo_decoder *d)
{
	return d ? d->errbuf : "";
}

/*
 * Set the decoder's error to "<what>: <why>", truncating if it does not fit.
 */
static void
set_error(pgo_decoder *d, const char *what, const char *why)
{
	size_t		n = 0;
	const char *parts[3] = {what, ": ", why};

	for (int i = 0; i < 3; i++)
	{
		size_t		l = strlen(parts[i]);

		if (l > sizeof(d->errbuf) - 1 - n)
			l = sizeof(d->errbuf) - 1 - n;
		memcpy(d->errbuf + n, parts[i], l);
		n += l;
	}
	d->errbuf[n] = '\0';
}

/* ---- tuples ---- */

/*
 * Make *cols hold at least n values (n <= PGO_MAX_COLS). False on OOM.
 */
static bool
ensure_cols(pgo_value **cols, int *cap, int n)
{
	pgo_value  *p;
	int			ncap;

	if (n <= *cap)
		return true;
	ncap = *cap ? *cap : 16;
	while (ncap < n)
		ncap *= 2;
	if (ncap > PGO_MAX_COLS)
		ncap = PGO_MAX_COLS;
	p = realloc(*cols, (size_t) ncap * sizeof(pgo_value));
	if (p == NULL)
		return false;
	*cols = p;
	*cap = ncap;
	return true;
}

/*
 * Read tuple data (int16 ncols, then per column a kind byte and maybe a counted value) for
 * relation rel into the scratch array *cols. Values borrow from the message. False with the
 * cursor's error set if malformed; *oom set if the scratch array could not grow.
 */
static bool
read_tuple(pgo_cursor *c, const pgo_relation *rel, pgo_value **cols, int *cap,
		   pgo_tuple *out, bool *oom)
{
	int16_t		ncols = (int16_t) cur_u16(c);
	const uint8_t *p;
	const uint8_t *end;

	out->ncols = 0;
	out->cols = NULL;
	if (c->err)
		return false;
	if (ncols < 0 || ncols > PGO_MAX_COLS)
	{
		cur_fail(c, "column count out of range");
		return false;
	}
	if (ncols != rel->ncols)
	{
		cur_fail(c, "column count does not match relation");
		return false;
	}
	/* cheap early reject: every column needs at least its kind byte */
	if ((size_t) ncols > cur_remaining(c))
	{
		cur_fail(c, "truncated message");
		return false;
	}
	if (!ensure_cols(cols, cap, ncols))
	{
		*oom = true;
		return false;
	}
	/*
	 * The hot loop of the decoder (one pass per column of every change): the fields are read with
	 * a local pointer and one bounds check each, with the same checks and errors as the cursor's.
	 */
	p = c->data + c->pos;
	end = c->data + c->len;
	for (int i = 0; i < ncols; i++)
	{
		pgo_value  *v = &(*cols)[i];
		uint8_t		kind;
		uint32_t	len;

		v->data = NULL;
		v->len = 0;
		if (p == end)
			goto truncated;
		kind = *p++;
		switch (kind)
		{
			case 'n':
				v->kind = PGO_COL_NULL;
				break;
			case 'u':
				v->kind = PGO_COL_UNCHANGED;
				break;
			case 't':
			case 'b':
				v->kind = kind == 't' ? PGO_COL_TEXT : PGO_COL_BINARY;
				if (end - p < 4)
					goto truncated;
				len = ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
					((uint32_t) p[2] << 8) | (uint32_t) p[3];
				p += 4;
				if (len > INT32_MAX)
				{
					cur_fail(c, "negative length");
					return false;
				}
				if (len > (size_t) (end - p))
				{
					cur_fail(c, "length exceeds message");
					return false;
				}
				v->data = (const char *) p;
				v->len = len;
				p += len;
				break;
			default:
				cur_fail(c, "unknown column kind");
				return false;
		}
	}
	c->pos = (size_t) (p - c->data);
	out->ncols = ncols;
	out->cols = *cols;
	return true;

truncated:
	cur_fail(c, "truncated message");
	return false;
}

/* ---- relation messages ---- */

/*
 * Namespace as PostgreSQL's logicalrep_read_namespace: an empty name means pg_catalog.
 */
static const char *
namespace_name(const char *s)
{
	return (s != NULL && s[0] == '\0') ? "pg_catalog" : s;
}

/*
 * Parse the body of a Relation message (after type and optional xid) without keeping
 * anything: validates it and sums up the storage that build_relation will need.
 */
static void
scan_relation(pgo_cursor *c, size_t *strbytes, int *ncolsp)
{
	const char *s;
	uint8_t		replident;
	int16_t		ncols;

	*strbytes = 0;
	*ncolsp = 0;
	(void) cur_u32(c);			/* oid */
	s = namespace_name(cur_string(c));
	if (s)
		*strbytes += strlen(s) + 1;
	s = cur_string(c);
	if (s)
		*strbytes += strlen(s) + 1;
	replident = cur_u8(c);
	ncols = (int16_t) cur_u16(c);
	if (c->err)
		return;
	if (replident != 'd' && replident != 'n' && replident != 'f' && replident != 'i')
	{
		cur_fail(c, "unknown replica identity");
		return;
	}
	if (ncols < 0 || ncols > PGO_MAX_COLS)
	{
		cur_fail(c, "column count out of range");
		return;
	}
	for (int i = 0; i < ncols; i++)
	{
		(void) cur_u8(c);		/* flags */
		s = cur_string(c);
		(void) cur_u32(c);		/* type oid */
		(void) cur_u32(c);		/* type modifier */
		if (c->err)
			return;
		*strbytes += strlen(s) + 1;
	}
	*ncolsp = ncols;
}

/*
 * Copy the string s to *dst and advance *dst past its NUL; returns the copy.
 */
static char *
copy_string(char **dst, const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *r = *dst;

	memcpy(r, s, n);
	*dst += n;
	return r;
}

/*
 * Build a relation from an already validated Relation body (scan_relation succeeded on the
 * same bytes) as a single allocation: struct, columns, then strings. NULL on OOM.
 */
static pgo_relation *
build_relation(const uint8_t *body, size_t len, size_t strbytes, int ncols)
{
	pgo_cursor	c;
	pgo_relation *rel;
	char	   *strs;
	size_t		size;

	size = sizeof(pgo_relation) + (size_t) ncols * sizeof(pgo_column) + strbytes;
	rel = malloc(size);
	if (rel == NULL)
		return NULL;
	rel->cols = (pgo_column *) (rel + 1);
	strs = (char *) (rel->cols + ncols);

	cur_init(&c, body, len);
	rel->oid = cur_u32(&c);
	rel->nspname = copy_string(&strs, namespace_name(cur_string(&c)));
	rel->relname = copy_string(&strs, cur_string(&c));
	rel->replident = (char) cur_u8(&c);
	rel->ncols = (int16_t) cur_u16(&c);
	for (int i = 0; i < ncols; i++)
	{
		pgo_column *col = &rel->cols[i];

		col->is_key = (cur_u8(&c) & 1) != 0;
		col->name = copy_string(&strs, cur_string(&c));
		col->type_oid = cur_u32(&c);
		col->type_mod = (int32_t) cur_u32(&c);
	}
	if (ncols == 0)
		rel->cols = NULL;
	return rel;
}

/*
 * Put rel into the cache, freeing any older relation with the same OID. False on OOM (rel is
 * then freed too).
 */
static bool
install_relation(pgo_decoder *d, pgo_relation *rel)
{
	size_t		i;

	if (!rel_reserve(d))
	{
		free(rel);
		return false;
	}
	i = rel_find_slot(d->rels, d->rel_cap, rel->oid);
	if (d->rels[i] != NULL)
		free(d->rels[i]);
	else
		d->rel_count++;
	d->rels[i] = rel;
	return true;
}

/* ---- messages ---- */

/*
 * Human name of a message type for error messages.
 */
static const char *
msg_name(uint8_t type)
{
	switch (type)
	{
		case 'B':
			return "begin";
		case 'C':
			return "commit";
		case 'O':
			return "origin";
		case 'R':
			return "relation";
		case 'Y':
			return "type";
		case 'I':
			return "insert";
		case 'U':
			return "update";
		case 'D':
			return "delete";
		case 'T':
			return "truncate";
		case 'M':
			return "message";
		case 'S':
			return "stream start";
		case 'E':
			return "stream stop";
		case 'c':
			return "stream commit";
		case 'A':
			return "stream abort";
		default:
			return "pgoutput";
	}
}

/*
 * Does this message type carry an xid after the type byte when inside a stream block?
 */
static bool
is_streamable(uint8_t type)
{
	return type == 'R' || type == 'Y' || type == 'I' || type == 'U' || type == 'D' ||
		type == 'T' || type == 'M';
}

/*
 * Look up the relation of a data message; sets the cursor error if unknown.
 */
static const pgo_relation *
data_relation(pgo_decoder *d, pgo_cursor *c)
{
	pg_oid		oid = cur_u32(c);
	const pgo_relation *rel;

	if (c->err)
		return NULL;
	rel = pgo_relation_get(d, oid);
	if (rel == NULL)
		cur_fail(c, "unknown relation oid");
	return rel;
}

/*
 * Read the Truncate body into the decoder's relid scratch array.
 */
static void
decode_truncate(pgo_decoder *d, pgo_cursor *c, pgo_msg *out, bool *oom)
{
	int32_t		nrels = (int32_t) cur_u32(c);
	uint8_t		options = cur_u8(c);

	if (c->err)
		return;
	if (nrels < 0)
	{
		cur_fail(c, "negative relation count");
		return;
	}
	if ((size_t) nrels > cur_remaining(c) / 4)
	{
		cur_fail(c, "relation count exceeds message");
		return;
	}
	if ((options & ~3) != 0)
	{
		cur_fail(c, "unknown truncate options");
		return;
	}
	if ((size_t) nrels > d->relids_cap)
	{
		size_t		ncap = d->relids_cap ? d->relids_cap : 16;
		pg_oid	   *p;

		while (ncap < (size_t) nrels)
			ncap *= 2;
		p = realloc(d->relids, ncap * sizeof(pg_oid));
		if (p == NULL)
		{
			*oom = true;
			return;
		}
		d->relids = p;
		d->relids_cap = ncap;
	}
	for (int32_t i = 0; i < nrels; i++)
	{
		d->relids[i] = cur_u32(c);
		if (c->err)
			return;
		if (pgo_relation_get(d, d->relids[i]) == NULL)
		{
			cur_fail(c, "unknown relation oid");
			return;
		}
	}
	out->u.truncate.options = options;
	out->u.truncate.nrels = nrels;
	out->u.truncate.relids = nrels > 0 ? d->relids : NULL;
}

/*
 * Read a Message body ('M' after the type and optional xid).
 */
static void
decode_message(pgo_cursor *c, pgo_msg *out)
{
	uint8_t		flags = cur_u8(c);

	out->u.message.lsn = cur_u64(c);
	out->u.message.prefix = cur_string(c);
	out->u.message.content =
		(const char *) cur_counted(c, &out->u.message.content_len);
	if (c->err)
		return;
	if ((flags & ~1) != 0)
	{
		cur_fail(c, "unknown message flags");
		return;
	}
	out->u.message.transactional = (flags & 1) != 0;
}

/*
 * Decode one pgoutput message. The type byte decides the layout; inside a protocol-2 stream
 * block the data messages (R, Y, I, U, D, T, M) carry an xid right after it, which is returned
 * in out->xid. Stream Start and Stream Stop also report the streamed transaction's xid there;
 * Stream Commit and Abort come after the block, so out->xid is 0 and their xid is in u.
 *
 * The whole message is parsed and checked (including for trailing bytes) before any state
 * changes: a failed decode leaves the relation cache and the stream-block state untouched and
 * *out zeroed.
 */
bool
pgo_decode(pgo_decoder *d, const uint8_t *data, size_t len, pgo_msg *out)
{
	pgo_cursor	c;
	uint8_t		type;
	uint32_t	xid = 0;
	bool		oom = false;
	bool		stream_msg;
	size_t		rel_body = 0;
	size_t		rel_strbytes = 0;
	int			rel_ncols = 0;
	bool		next_in_stream;
	uint32_t	next_stream_xid;

	memset(out, 0, sizeof(*out));
	d->errbuf[0] = '\0';
	if (data == NULL && len != 0)
	{
		set_error(d, "pgoutput", "null message");
		return false;
	}
	cur_init(&c, data, len);
	type = cur_u8(&c);
	if (c.err)
	{
		set_error(d, "pgoutput", "empty message");
		return false;
	}
	stream_msg = type == 'S' || type == 'E' || type == 'c' || type == 'A';
	if (stream_msg && d->proto_version < 2)
	{
		set_error(d, msg_name(type), "stream message needs protocol version 2");
		return false;
	}
	if (d->in_stream && is_streamable(type))
		xid = cur_u32(&c);

	next_in_stream = d->in_stream;
	next_stream_xid = d->stream_xid;
	out->type = (pgo_msg_type) type;
	out->xid = xid;

	switch (type)
	{
		case 'B':
			if (d->in_stream)
				cur_fail(&c, "inside a stream block");
			out->u.begin.final_lsn = cur_u64(&c);
			out->u.begin.commit_time = (int64_t) cur_u64(&c);
			out->u.begin.xid = cur_u32(&c);
			if (!c.err && out->u.begin.final_lsn == 0)
				cur_fail(&c, "final lsn not set");
			break;
		case 'C':
			if (d->in_stream)
				cur_fail(&c, "inside a stream block");
			out->u.commit.flags = cur_u8(&c);
			out->u.commit.commit_lsn = cur_u64(&c);
			out->u.commit.end_lsn = cur_u64(&c);
			out->u.commit.commit_time = (int64_t) cur_u64(&c);
			if (!c.err && out->u.commit.flags != 0)
				cur_fail(&c, "unknown flags");
			break;
		case 'O':
			/* may also follow a Stream Start, and then carries no xid */
			out->u.origin.lsn = cur_u64(&c);
			out->u.origin.name = cur_string(&c);
			break;
		case 'R':
			rel_body = c.pos;
			scan_relation(&c, &rel_strbytes, &rel_ncols);
			break;
		case 'Y':
			out->u.type.oid = cur_u32(&c);
			out->u.type.nspname = namespace_name(cur_string(&c));
			out->u.type.typname = cur_string(&c);
			break;
		case 'I':
			{
				const pgo_relation *rel = data_relation(d, &c);
				uint8_t		action = cur_u8(&c);

				if (c.err)
					break;
				if (action != 'N')
				{
					cur_fail(&c, "expected new tuple");
					break;
				}
				out->u.insert.rel = rel;
				read_tuple(&c, rel, &d->newcols, &d->newcols_cap,
						   &out->u.insert.newtup, &oom);
			}
			break;
		case 'U':
			{
				const pgo_relation *rel = data_relation(d, &c);
				uint8_t		action = cur_u8(&c);

				if (c.err)
					break;
				out->u.update.rel = rel;
				if (action == 'K' || action == 'O')
				{
					out->u.update.old_kind = (char) action;
					if (!read_tuple(&c, rel, &d->oldcols, &d->oldcols_cap,
									&out->u.update.oldtup, &oom))
						break;
					action = cur_u8(&c);
					if (c.err)
						break;
				}
				if (action != 'N')
				{
					cur_fail(&c, "expected new tuple");
					break;
				}
				read_tuple(&c, rel, &d->newcols, &d->newcols_cap,
						   &out->u.update.newtup, &oom);
			}
			break;
		case 'D':
			{
				const pgo_relation *rel = data_relation(d, &c);
				uint8_t		action = cur_u8(&c);

				if (c.err)
					break;
				if (action != 'K' && action != 'O')
				{
					cur_fail(&c, "expected old key or old tuple");
					break;
				}
				out->u.del.rel = rel;
				out->u.del.old_kind = (char) action;
				read_tuple(&c, rel, &d->oldcols, &d->oldcols_cap,
						   &out->u.del.oldtup, &oom);
			}
			break;
		case 'T':
			decode_truncate(d, &c, out, &oom);
			break;
		case 'M':
			decode_message(&c, out);
			break;
		case 'S':
			{
				uint8_t		first;

				if (d->in_stream)
					cur_fail(&c, "already inside a stream block");
				out->u.stream_start.xid = cur_u32(&c);
				first = cur_u8(&c);
				if (!c.err && first > 1)
					cur_fail(&c, "bad first-segment flag");
				out->u.stream_start.first_segment = first == 1;
				out->xid = out->u.stream_start.xid;
				next_in_stream = true;
				next_stream_xid = out->u.stream_start.xid;
			}
			break;
		case 'E':
			if (!d->in_stream)
				cur_fail(&c, "outside a stream block");
			out->xid = d->stream_xid;
			next_in_stream = false;
			next_stream_xid = 0;
			break;
		case 'c':
			if (d->in_stream)
				cur_fail(&c, "inside a stream block");
			out->u.stream_commit.xid = cur_u32(&c);
			out->u.stream_commit.flags = cur_u8(&c);
			out->u.stream_commit.commit_lsn = cur_u64(&c);
			out->u.stream_commit.end_lsn = cur_u64(&c);
			out->u.stream_commit.commit_time = (int64_t) cur_u64(&c);
			if (!c.err && out->u.stream_commit.flags != 0)
				cur_fail(&c, "unknown flags");
			break;
		case 'A':
			if (d->in_stream)
				cur_fail(&c, "inside a stream block");
			out->u.stream_abort.xid = cur_u32(&c);
			out->u.stream_abort.subxid = cur_u32(&c);
			break;
		default:
			cur_fail(&c, "unknown message type");
			break;
	}

	if (oom)
		cur_fail(&c, "out of memory");
	if (!c.err && c.pos != c.len)
		cur_fail(&c, "trailing bytes after message");
	if (!c.err && type == 'R')
	{
		pgo_relation *rel = build_relation(data + rel_body, len - rel_body,
										   rel_strbytes, rel_ncols);

		if (rel == NULL || !install_relation(d, rel))
			cur_fail(&c, "out of memory");
		else
			out->u.relation = rel;
	}
	if (c.err)
	{
		set_error(d, msg_name(type), c.err);
		memset(out, 0, sizeof(*out));
		return false;
	}
	d->in_stream = next_in_stream;
	d->stream_xid = next_stream_xid;
	return true;
}

/* ---- LSNs ---- */

/*
 * Append v as uppercase hex without leading zeros ("0" for zero) at *p; advance *p.
 */
static void
put_hex32(char **p, uint32_t v)
{
	static const char digits[] = "0123456789ABCDEF";
	char		tmp[8];
	int			n = 0;

	do
	{
		tmp[n++] = digits[v & 0xf];
		v >>= 4;
	} while (v != 0);
	while (n > 0)
		*(*p)++ = tmp[--n];
}

/*
 * Format an LSN as PostgreSQL does: high and low 32 bits in uppercase hex, "%X/%X".
 */
void
pgo_lsn_format(pg_lsn lsn, char out[18])
{
	char	   *p = out;

	put_hex32(&p, (uint32_t) (lsn >> 32));
	*p++ = '/';
	put_hex32(&p, (uint32_t) lsn);
	*p = '\0';
}

/*
 * Parse 1 to 8 hex digits at *s into *v and advance *s; false if there are none or too many.
 */
static bool
parse_hex32(const char **s, uint32_t *v)
{
	int			n = 0;
	int			h;

	*v = 0;
	while ((h = hexval(**s)) >= 0)
	{
		if (++n > 8)
			return false;
		*v = (*v << 4) | (uint32_t) h;
		(*s)++;
	}
	return n > 0;
}

/*
 * Parse "X/Y" strictly: 1 to 8 hex digits, '/', 1 to 8 hex digits, nothing else.
 */
bool
pgo_lsn_parse(const char *s, pg_lsn *out)
{
	uint32_t	hi;
	uint32_t	lo;

	if (s == NULL)
		return false;
	if (!parse_hex32(&s, &hi) || *s++ != '/')
		return false;
	if (!parse_hex32(&s, &lo) || *s != '\0')
		return false;
	*out = ((pg_lsn) hi << 32) | lo;
	return true;
}

/* Whether xid a precedes b, modulo 2^32 (as PostgreSQL compares normal xids). */
static bool
xid_precedes(uint32_t a, uint32_t b)
{
	return (int32_t) (a - b) < 0;
}

/* One decimal xid of a snapshot's text at *s, its low 32 bits; false if there is none. */
static bool
snapshot_xid(const char **s, uint32_t *out)
{
	uint64_t	v = 0;
	const char *p = *s;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t) (*p - '0');	/* wraps past 2^64: only the low bits matter */
	*out = (uint32_t) v;
	*s = p;
	return true;
}

bool
pgo_snapshot_sees(const char *snapshot, uint32_t xid)
{
	const char *p = snapshot;
	uint32_t	xmin;
	uint32_t	xmax;
	uint32_t	x;

	if (p == NULL || !snapshot_xid(&p, &xmin) || *p++ != ':' || !snapshot_xid(&p, &xmax) ||
		*p++ != ':')
		return false;
	if (xid_precedes(xid, xmin))
		return true;
	if (!xid_precedes(xid, xmax))
		return false;
	while (snapshot_xid(&p, &x))
	{
		if (x == xid)
			return false;
		if (*p == ',')
			p++;
	}
	return true;
}
