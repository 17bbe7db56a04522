/*
 * fuzz_pgoutput.c: libFuzzer target for the pgoutput decoder, the CopyData frame parser and the
 * snapshot reader (src/pgoutput.c).
 *
 * Input layout: the first byte picks the protocol version (bit 0: 1 or 2); the rest is a
 * sequence of records, each a 2-byte big-endian length and that many bytes (a short last record
 * takes what is left). Every record goes, in an exactly sized heap copy so that ASan catches any
 * read past its end, to one long-lived decoder (so the relation cache and the stream-block state
 * carry over between records) and to pgo_parse_frame; an XLogData frame's payload is then also
 * decoded. Every successful decode is checked for internal consistency: borrowed pointers lie
 * inside the record, tuples match their cached relation, failures always say why. The input's
 * bytes also make a transaction snapshot's text for pgo_snapshot_sees (see snapshot_one).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void snapshot_one(const uint8_t *data, size_t size);

/*
 * Stop the run with a message: libFuzzer records the input as a crash.
 */
static void
die(const char *what)
{
	fprintf(stderr, "fuzz_pgoutput: invariant violated: %s\n", what);
	abort();
}

static void
check(bool cond, const char *what)
{
	if (!cond)
		die(what);
}

/*
 * Is [p, p + n) inside [base, base + len)?
 */
static bool
inside(const void *p, size_t n, const uint8_t *base, size_t len)
{
	const uint8_t *q = p;

	return q >= base && q <= base + len && n <= (size_t) (base + len - q);
}

/*
 * A borrowed string: NUL-terminated inside the record (or a static constant such as the
 * "pg_catalog" stand-in for an empty namespace, which is then not inside the record).
 */
static void
check_borrowed_string(const char *s, const uint8_t *base, size_t len, bool may_be_static)
{
	check(s != NULL, "null string");
	if (inside(s, 0, base, len))
	{
		const uint8_t *nul = memchr(s, '\0', (size_t) (base + len - (const uint8_t *) s));

		check(nul != NULL, "borrowed string not terminated inside the record");
	}
	else
		check(may_be_static && strcmp(s, "pg_catalog") == 0, "string outside the record");
}

static void
check_tuple(const pgo_tuple *t, const pgo_relation *rel, const uint8_t *base, size_t len)
{
	check(t->ncols == rel->ncols, "tuple width differs from its relation");
	check(t->ncols >= 0 && t->ncols <= 1664, "tuple width out of range");
	check(t->ncols == 0 || t->cols != NULL, "tuple without columns");
	for (int i = 0; i < t->ncols; i++)
	{
		const pgo_value *v = &t->cols[i];

		switch (v->kind)
		{
			case PGO_COL_NULL:
			case PGO_COL_UNCHANGED:
				check(v->data == NULL && v->len == 0, "null column with data");
				break;
			case PGO_COL_TEXT:
			case PGO_COL_BINARY:
				check(v->data != NULL, "value without data");
				check(inside(v->data, v->len, base, len), "value outside the record");
				break;
			default:
				die("unknown column kind returned");
		}
	}
}

static void
check_relation(const pgo_decoder *d, const pgo_relation *rel)
{
	check(rel != NULL, "null relation");
	check(pgo_relation_get(d, rel->oid) == rel, "relation is not the cached one");
	check(rel->nspname != NULL && rel->relname != NULL, "relation without names");
	check(rel->ncols >= 0 && rel->ncols <= 1664, "relation width out of range");
	for (int i = 0; i < rel->ncols; i++)
		check(rel->cols[i].name != NULL, "column without name");
	/* touch every byte of the copied names so ASan sees stale or short copies */
	(void) strlen(rel->nspname);
	(void) strlen(rel->relname);
	for (int i = 0; i < rel->ncols; i++)
		(void) strlen(rel->cols[i].name);
}

/*
 * Decode one message and check the result.
 */
static void
decode_one(pgo_decoder *d, const uint8_t *msg, size_t len)
{
	pgo_msg		m;

	if (!pgo_decode(d, msg, len, &m))
	{
		check(pgo_error(d)[0] != '\0', "failure without an error message");
		check(m.type == 0, "failure left a message behind");
		return;
	}
	check(pgo_error(d)[0] == '\0', "success with an error message");
	check(len > 0 && m.type == (pgo_msg_type) msg[0], "message type differs from the first byte");
	switch (m.type)
	{
		case PGO_ORIGIN:
			check_borrowed_string(m.u.origin.name, msg, len, false);
			break;
		case PGO_RELATION:
			check_relation(d, m.u.relation);
			break;
		case PGO_TYPE:
			check_borrowed_string(m.u.type.nspname, msg, len, true);
			check_borrowed_string(m.u.type.typname, msg, len, false);
			break;
		case PGO_INSERT:
			check_relation(d, m.u.insert.rel);
			check_tuple(&m.u.insert.newtup, m.u.insert.rel, msg, len);
			break;
		case PGO_UPDATE:
			check_relation(d, m.u.update.rel);
			if (m.u.update.old_kind != 0)
			{
				check(m.u.update.old_kind == 'K' || m.u.update.old_kind == 'O', "bad old kind");
				check_tuple(&m.u.update.oldtup, m.u.update.rel, msg, len);
			}
			else
				check(m.u.update.oldtup.ncols == 0, "old tuple without old kind");
			check_tuple(&m.u.update.newtup, m.u.update.rel, msg, len);
			break;
		case PGO_DELETE:
			check_relation(d, m.u.del.rel);
			check(m.u.del.old_kind == 'K' || m.u.del.old_kind == 'O', "bad old kind");
			check_tuple(&m.u.del.oldtup, m.u.del.rel, msg, len);
			break;
		case PGO_TRUNCATE:
			check(m.u.truncate.nrels >= 0, "negative relation count");
			check((size_t) m.u.truncate.nrels * 4 <= len, "more relids than bytes");
			for (int i = 0; i < m.u.truncate.nrels; i++)
				check(pgo_relation_get(d, m.u.truncate.relids[i]) != NULL, "unknown relid");
			break;
		case PGO_MESSAGE:
			check_borrowed_string(m.u.message.prefix, msg, len, false);
			check(m.u.message.content != NULL, "message without content");
			check(inside(m.u.message.content, m.u.message.content_len, msg, len),
				  "content outside the record");
			break;
		default:
			break;
	}
}

/*
 * Parse one record as a CopyData frame; decode an XLogData payload.
 */
static void
frame_one(pgo_decoder *d, const uint8_t *rec, size_t len)
{
	pgo_frame	f;
	const char *err = NULL;

	if (!pgo_parse_frame(rec, len, &f, &err))
	{
		check(err != NULL && err[0] != '\0', "frame failure without an error message");
		return;
	}
	check(err == NULL, "frame success with an error message");
	if (f.type == PGO_FRAME_XLOGDATA)
	{
		check(len >= 25 && f.payload_len == len - 25, "bad payload length");
		check(f.payload == rec + 25, "bad payload pointer");
		decode_one(d, f.payload, f.payload_len);
	}
	else
	{
		check(f.type == PGO_FRAME_KEEPALIVE && len == 18, "bad keepalive");
		check(f.payload == NULL && f.payload_len == 0, "keepalive with payload");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pgo_decoder *d;
	size_t		pos = 1;
	char		lsnbuf[18];
	pg_lsn		lsn;

	if (size < 1)
		return 0;
	d = pgo_decoder_new((data[0] & 1) ? 2 : 1);
	if (d == NULL)
		die("decoder allocation");

	while (pos < size)
	{
		size_t		len;
		uint8_t    *rec;

		if (size - pos < 2)
			len = size - pos;
		else
		{
			len = ((size_t) data[pos] << 8) | data[pos + 1];
			pos += 2;
			if (len > size - pos)
				len = size - pos;
		}
		/* an exactly sized copy: reading one byte too far is a heap overflow */
		rec = malloc(len ? len : 1);
		if (rec == NULL)
			die("record allocation");
		memcpy(rec, data + pos, len);
		decode_one(d, rec, len);
		frame_one(d, rec, len);
		free(rec);
		pos += len;
	}

	/* the status update puts each field big-endian at its offset */
	if (size >= 33)
	{
		uint8_t		st[34];
		uint64_t	f[4];

		for (int i = 0; i < 4; i++)
		{
			f[i] = 0;
			for (int j = 0; j < 8; j++)
				f[i] = (f[i] << 8) | data[1 + 8 * i + j];
		}
		pgo_build_status(st, f[0], f[1], f[2], (int64_t) f[3], (data[0] & 2) != 0);
		check(st[0] == 'r' && st[33] == ((data[0] & 2) ? 1 : 0), "status update framing");
		check(memcmp(st + 1, data + 1, 32) == 0, "status update fields");
	}

	/* LSN text: whatever parses must format back to the same value */
	if (size >= 2 && size < 64)
	{
		char		text[64];

		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		if (pgo_lsn_parse(text, &lsn))
		{
			pg_lsn		again;

			pgo_lsn_format(lsn, lsnbuf);
			check(pgo_lsn_parse(lsnbuf, &again) && again == lsn, "lsn round trip");
		}
	}

	snapshot_one(data, size);
	pgo_decoder_free(d);
	return 0;
}

static uint64_t
be(const uint8_t *p, int n)
{
	uint64_t	v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * pgo_snapshot_sees: any text must not crash it; and a snapshot built from the bytes (64-bit
 * xids, xmax within 2^20 of xmin, up to 16 listed between them) must give, for an xid within 2^30
 * of it passed as its low 32 bits, what comparing the full 64-bit xids gives.
 */
static void
snapshot_one(const uint8_t *data, size_t size)
{
	char		text[600];
	size_t		n = size - 1 < 255 ? size - 1 : 255;
	uint64_t	xmin;
	uint64_t	xmax;
	uint64_t	xip[16];
	int			nxip;
	int64_t		delta;
	uint64_t	x;
	bool		seen;
	int			len;

	memcpy(text, data + 1, n);
	text[n] = '\0';
	(void) pgo_snapshot_sees(text, size >= 5 ? (uint32_t) be(data + 1, 4) : 0);
	if (size < 1 + 8 + 3 + 4 + 1)
		return;
	xmin = be(data + 1, 8) >> 1;	/* below 2^63, as PostgreSQL's */
	xmax = xmin + (be(data + 9, 3) & 0xfffff);
	delta = (int64_t) (be(data + 12, 4) & 0x7fffffff) - 0x40000000;
	if (xmax > UINT64_MAX / 4 || (delta < 0 && (uint64_t) -delta > xmax))
		return;
	x = xmax + (uint64_t) delta;
	nxip = data[16] % 17;
	len = snprintf(text, sizeof(text), "%llu:%llu:", (unsigned long long) xmin,
				   (unsigned long long) xmax);
	seen = x < xmin || x < xmax;
	for (int i = 0; i < nxip; i++)
	{
		size_t		at = 17 + 3 * (size_t) i;
		uint64_t	off = at + 3 <= size ? be(data + at, 3) : (uint64_t) i;

		xip[i] = xmax > xmin ? xmin + off % (xmax - xmin) : xmin;
		if (xmax == xmin)
			break;				/* nothing can run in an empty range */
		len += snprintf(text + len, sizeof(text) - (size_t) len, "%s%llu", i ? "," : "",
						(unsigned long long) xip[i]);
		if (x == xip[i] && x >= xmin)
			seen = false;
	}
	check(pgo_snapshot_sees(text, (uint32_t) x) == seen, "snapshot visibility");
}
