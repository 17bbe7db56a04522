/*
 * test_pgoutput.c: unit tests of the pgoutput decoder (src/pgoutput.c): every message type field
 * by field, the relation cache, protocol-2 stream blocks, CopyData frames, the standby status
 * update, LSN text, strictness (every strict prefix, trailing bytes, lying lengths and counts)
 * and payloads captured from a real PostgreSQL 15 server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"

/* ---- building messages ---- */

#define MB_CAP (1 << 16)

typedef struct msgbuf
{
	uint8_t		data[MB_CAP];
	size_t		len;
} msgbuf;

static msgbuf *
mb_new(void)
{
	msgbuf	   *mb = calloc(1, sizeof(msgbuf));

	assert_non_null(mb);
	return mb;
}

static void
mb_reset(msgbuf *mb)
{
	mb->len = 0;
}

static void
mb_u8(msgbuf *mb, uint8_t v)
{
	assert_true(mb->len + 1 <= MB_CAP);
	mb->data[mb->len++] = v;
}

static void
mb_u16(msgbuf *mb, uint16_t v)
{
	mb_u8(mb, (uint8_t) (v >> 8));
	mb_u8(mb, (uint8_t) v);
}

static void
mb_u32(msgbuf *mb, uint32_t v)
{
	mb_u16(mb, (uint16_t) (v >> 16));
	mb_u16(mb, (uint16_t) v);
}

static void
mb_u64(msgbuf *mb, uint64_t v)
{
	mb_u32(mb, (uint32_t) (v >> 32));
	mb_u32(mb, (uint32_t) v);
}

static void
mb_bytes(msgbuf *mb, const void *p, size_t n)
{
	assert_true(mb->len + n <= MB_CAP);
	memcpy(mb->data + mb->len, p, n);
	mb->len += n;
}

/* A NUL-terminated string */
static void
mb_str(msgbuf *mb, const char *s)
{
	mb_bytes(mb, s, strlen(s) + 1);
}

/* The type byte, and the xid when inside a stream block (xid != 0) */
static void
mb_start(msgbuf *mb, char type, uint32_t xid)
{
	mb_reset(mb);
	mb_u8(mb, (uint8_t) type);
	if (xid != 0)
		mb_u32(mb, xid);
}

static void
mb_col_null(msgbuf *mb)
{
	mb_u8(mb, 'n');
}

static void
mb_col_unchanged(msgbuf *mb)
{
	mb_u8(mb, 'u');
}

static void
mb_col_text(msgbuf *mb, const char *s)
{
	mb_u8(mb, 't');
	mb_u32(mb, (uint32_t) strlen(s));
	mb_bytes(mb, s, strlen(s));
}

static void
mb_col_binary(msgbuf *mb, const void *p, size_t n)
{
	mb_u8(mb, 'b');
	mb_u32(mb, (uint32_t) n);
	mb_bytes(mb, p, n);
}

typedef struct colspec
{
	uint8_t		flags;
	const char *name;
	uint32_t	type_oid;
	int32_t		type_mod;
} colspec;

static void
build_relation(msgbuf *mb, uint32_t xid, uint32_t oid, const char *nsp, const char *rel,
			   char replident, int ncols, const colspec *cols)
{
	mb_start(mb, 'R', xid);
	mb_u32(mb, oid);
	mb_str(mb, nsp);
	mb_str(mb, rel);
	mb_u8(mb, (uint8_t) replident);
	mb_u16(mb, (uint16_t) ncols);
	for (int i = 0; i < ncols; i++)
	{
		mb_u8(mb, cols[i].flags);
		mb_str(mb, cols[i].name);
		mb_u32(mb, cols[i].type_oid);
		mb_u32(mb, (uint32_t) cols[i].type_mod);
	}
}

static void
build_begin(msgbuf *mb, uint64_t final_lsn, int64_t ts, uint32_t xid)
{
	mb_start(mb, 'B', 0);
	mb_u64(mb, final_lsn);
	mb_u64(mb, (uint64_t) ts);
	mb_u32(mb, xid);
}

static void
build_commit(msgbuf *mb, uint8_t flags, uint64_t commit_lsn, uint64_t end_lsn, int64_t ts)
{
	mb_start(mb, 'C', 0);
	mb_u8(mb, flags);
	mb_u64(mb, commit_lsn);
	mb_u64(mb, end_lsn);
	mb_u64(mb, (uint64_t) ts);
}

static void
build_message(msgbuf *mb, uint32_t xid, uint8_t flags, uint64_t lsn, const char *prefix,
			  const void *content, uint32_t n)
{
	mb_start(mb, 'M', xid);
	mb_u8(mb, flags);
	mb_u64(mb, lsn);
	mb_str(mb, prefix);
	mb_u32(mb, n);
	mb_bytes(mb, content, n);
}

/* The standard test table: public.t (id int4 key, name text, data bytea), OID 16384 */
#define T_OID 16384
#define F_OID 16390

static const colspec t_cols[] = {
	{1, "id", 23, -1},
	{0, "name", 25, -1},
	{0, "data", 17, -1},
};

/* public.f (a int8, b varchar(20)) with replica identity full, OID 16390 */
static const colspec f_cols[] = {
	{1, "a", 20, -1},
	{1, "b", 1043, 24},
};

static void
decode_ok(pgo_decoder *d, const msgbuf *mb, pgo_msg *m)
{
	bool		ok = pgo_decode(d, mb->data, mb->len, m);

	if (!ok)
		print_error("unexpected decode failure: %s\n", pgo_error(d));
	assert_true(ok);
	assert_string_equal(pgo_error(d), "");
}

/* Decode from an exactly sized heap copy so that ASan sees any overread; expect failure. */
static void
decode_fails_with(pgo_decoder *d, const uint8_t *data, size_t len, const char *needle)
{
	uint8_t    *copy = malloc(len ? len : 1);
	pgo_msg		m;
	bool		ok;

	assert_non_null(copy);
	if (len)
		memcpy(copy, data, len);
	memset(&m, 0x5a, sizeof(m));
	ok = pgo_decode(d, copy, len, &m);
	free(copy);
	if (ok)
		print_error("decode unexpectedly succeeded (len %zu)\n", len);
	assert_false(ok);
	assert_true(strlen(pgo_error(d)) > 0);
	if (needle && strstr(pgo_error(d), needle) == NULL)
	{
		print_error("error \"%s\" lacks \"%s\"\n", pgo_error(d), needle);
		fail();
	}
	/* a failed decode leaves no garbage behind */
	assert_int_equal(m.type, 0);
	assert_int_equal(m.xid, 0);
}

static void
mb_fails_with(pgo_decoder *d, const msgbuf *mb, const char *needle)
{
	decode_fails_with(d, mb->data, mb->len, needle);
}

/*
 * The strictness contract for one valid message: every strict prefix fails, the message with
 * one extra byte fails, and (since failures change no state) the message itself then decodes.
 */
static void
check_strict(pgo_decoder *d, const msgbuf *mb, pgo_msg *m)
{
	uint8_t    *longer = malloc(mb->len + 1);

	for (size_t n = 0; n < mb->len; n++)
		decode_fails_with(d, mb->data, n, NULL);
	assert_non_null(longer);
	memcpy(longer, mb->data, mb->len);
	longer[mb->len] = 0;
	decode_fails_with(d, longer, mb->len + 1, "trailing");
	free(longer);
	decode_ok(d, mb, m);
}

static void
assert_value(const pgo_value *v, pgo_col_kind kind, const void *data, size_t len)
{
	assert_int_equal(v->kind, kind);
	if (kind == PGO_COL_TEXT || kind == PGO_COL_BINARY)
	{
		assert_int_equal(v->len, len);
		assert_non_null(v->data);
		assert_memory_equal(v->data, data, len);
	}
	else
	{
		assert_null(v->data);
		assert_int_equal(v->len, 0);
	}
}

static void
assert_text(const pgo_value *v, const char *s)
{
	assert_value(v, PGO_COL_TEXT, s, strlen(s));
}

static void
assert_null_col(const pgo_value *v)
{
	assert_value(v, PGO_COL_NULL, NULL, 0);
}

/* A decoder that knows public.t and public.f */
static pgo_decoder *
setup_decoder(int proto)
{
	pgo_decoder *d = pgo_decoder_new(proto);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;

	assert_non_null(d);
	build_relation(mb, 0, T_OID, "public", "t", 'd', 3, t_cols);
	decode_ok(d, mb, &m);
	build_relation(mb, 0, F_OID, "public", "f", 'f', 2, f_cols);
	decode_ok(d, mb, &m);
	free(mb);
	return d;
}

/* ---- decoder lifecycle ---- */

static void
test_decoder_new(void **state)
{
	pgo_decoder *d;

	(void) state;
	assert_null(pgo_decoder_new(0));
	assert_null(pgo_decoder_new(3));
	assert_null(pgo_decoder_new(-1));
	d = pgo_decoder_new(1);
	assert_non_null(d);
	assert_string_equal(pgo_error(d), "");
	assert_null(pgo_relation_get(d, 1));
	pgo_decoder_free(d);
	d = pgo_decoder_new(2);
	assert_non_null(d);
	pgo_decoder_free(d);
	pgo_decoder_free(NULL);
}

/* ---- every message type, field by field ---- */

static void
test_begin_commit(void **state)
{
	pgo_decoder *d = pgo_decoder_new(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;

	(void) state;
	build_begin(mb, UINT64_C(0x0000001600ABCDEF), INT64_C(757382400123456), 0xFEDCBA98u);
	assert_int_equal(mb->len, 21);
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_BEGIN);
	assert_int_equal(m.xid, 0);
	assert_int_equal(m.u.begin.final_lsn, UINT64_C(0x0000001600ABCDEF));
	assert_int_equal(m.u.begin.commit_time, INT64_C(757382400123456));
	assert_int_equal(m.u.begin.xid, 0xFEDCBA98u);

	/* negative timestamps (before 2000) survive */
	build_begin(mb, 1, -5, 7);
	decode_ok(d, mb, &m);
	assert_int_equal(m.u.begin.commit_time, -5);

	build_commit(mb, 0, UINT64_C(0x16B374D848), UINT64_C(0x16B374D8A0), INT64_C(1234567));
	assert_int_equal(mb->len, 26);
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_COMMIT);
	assert_int_equal(m.u.commit.flags, 0);
	assert_int_equal(m.u.commit.commit_lsn, UINT64_C(0x16B374D848));
	assert_int_equal(m.u.commit.end_lsn, UINT64_C(0x16B374D8A0));
	assert_int_equal(m.u.commit.commit_time, INT64_C(1234567));

	/* PostgreSQL rejects a begin without final LSN and commit flags it does not know */
	build_begin(mb, 0, 1, 1);
	mb_fails_with(d, mb, "begin: final lsn not set");
	build_commit(mb, 1, 1, 2, 3);
	mb_fails_with(d, mb, "commit: unknown flags");

	pgo_decoder_free(d);
	free(mb);
}

static void
test_origin(void **state)
{
	pgo_decoder *d = pgo_decoder_new(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;

	(void) state;
	mb_start(mb, 'O', 0);
	mb_u64(mb, UINT64_C(0xAB00000012));
	mb_str(mb, "upstream");
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_ORIGIN);
	assert_int_equal(m.u.origin.lsn, UINT64_C(0xAB00000012));
	assert_string_equal(m.u.origin.name, "upstream");
	/* borrowed from the input */
	assert_ptr_equal(m.u.origin.name, (const char *) mb->data + 9);

	/* the name must be terminated inside the message */
	mb->len--;
	mb_fails_with(d, mb, "origin: string not nul-terminated");
	pgo_decoder_free(d);
	free(mb);
}

static void
test_relation(void **state)
{
	pgo_decoder *d = pgo_decoder_new(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;
	const pgo_relation *r;

	(void) state;
	build_relation(mb, 0, T_OID, "public", "t", 'd', 3, t_cols);
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_RELATION);
	r = m.u.relation;
	assert_non_null(r);
	assert_ptr_equal(r, pgo_relation_get(d, T_OID));
	assert_int_equal(r->oid, T_OID);
	assert_string_equal(r->nspname, "public");
	assert_string_equal(r->relname, "t");
	assert_int_equal(r->replident, 'd');
	assert_int_equal(r->ncols, 3);
	assert_true(r->cols[0].is_key);
	assert_string_equal(r->cols[0].name, "id");
	assert_int_equal(r->cols[0].type_oid, 23);
	assert_int_equal(r->cols[0].type_mod, -1);
	assert_false(r->cols[1].is_key);
	assert_string_equal(r->cols[1].name, "name");
	assert_int_equal(r->cols[1].type_oid, 25);
	assert_false(r->cols[2].is_key);
	assert_string_equal(r->cols[2].name, "data");
	assert_int_equal(r->cols[2].type_oid, 17);

	/* names are copies: scribbling over the input does not change them */
	memset(mb->data, 'X', mb->len);
	assert_string_equal(pgo_relation_get(d, T_OID)->relname, "t");
	assert_string_equal(pgo_relation_get(d, T_OID)->cols[1].name, "name");

	/* an empty namespace means pg_catalog, as in logicalrep_read_namespace */
	build_relation(mb, 0, 1259, "", "pg_class", 'n', 0, NULL);
	decode_ok(d, mb, &m);
	assert_string_equal(m.u.relation->nspname, "pg_catalog");
	assert_int_equal(m.u.relation->ncols, 0);
	assert_int_equal(m.u.relation->replident, 'n');

	/* every replica identity kind, and a typmod and flags with other bits */
	{
		const char	kinds[] = {'d', 'n', 'f', 'i'};
		const colspec odd[] = {{0xff, "k", 1043, 260}, {0xfe, "v", 1700, 0x000a0006}};

		for (int i = 0; i < 4; i++)
		{
			build_relation(mb, 0, 77, "s", "r", kinds[i], 2, odd);
			decode_ok(d, mb, &m);
			assert_int_equal(m.u.relation->replident, kinds[i]);
			assert_true(m.u.relation->cols[0].is_key);
			assert_false(m.u.relation->cols[1].is_key);
			assert_int_equal(m.u.relation->cols[0].type_mod, 260);
			assert_int_equal(m.u.relation->cols[1].type_mod, 0x000a0006);
		}
	}

	build_relation(mb, 0, 78, "s", "r", 'x', 0, NULL);
	mb_fails_with(d, mb, "relation: unknown replica identity");
	assert_null(pgo_relation_get(d, 78));

	pgo_decoder_free(d);
	free(mb);
}

static void
test_type(void **state)
{
	pgo_decoder *d = pgo_decoder_new(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;

	(void) state;
	mb_start(mb, 'Y', 0);
	mb_u32(mb, 16385);
	mb_str(mb, "public");
	mb_str(mb, "mood");
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_TYPE);
	assert_int_equal(m.u.type.oid, 16385);
	assert_string_equal(m.u.type.nspname, "public");
	assert_string_equal(m.u.type.typname, "mood");

	mb_start(mb, 'Y', 0);
	mb_u32(mb, 3802);
	mb_str(mb, "");
	mb_str(mb, "jsonb");
	decode_ok(d, mb, &m);
	assert_string_equal(m.u.type.nspname, "pg_catalog");
	assert_string_equal(m.u.type.typname, "jsonb");
	pgo_decoder_free(d);
	free(mb);
}

static void
test_insert(void **state)
{
	pgo_decoder *d = setup_decoder(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;
	const uint8_t bin[] = {0x00, 0x01, 0xff, 0x00};
	const pgo_value *first_cols;

	(void) state;
	mb_start(mb, 'I', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "42");
	mb_col_text(mb, "");
	mb_col_binary(mb, bin, sizeof(bin));
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_INSERT);
	assert_int_equal(m.xid, 0);
	assert_ptr_equal(m.u.insert.rel, pgo_relation_get(d, T_OID));
	assert_int_equal(m.u.insert.newtup.ncols, 3);
	assert_text(&m.u.insert.newtup.cols[0], "42");
	assert_text(&m.u.insert.newtup.cols[1], "");
	assert_value(&m.u.insert.newtup.cols[2], PGO_COL_BINARY, bin, sizeof(bin));
	/* values borrow from the input */
	assert_ptr_equal(m.u.insert.newtup.cols[0].data, (const char *) mb->data + 13);
	first_cols = m.u.insert.newtup.cols;

	/* null and unchanged-TOAST columns */
	mb_start(mb, 'I', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "1");
	mb_col_null(mb);
	mb_col_unchanged(mb);
	decode_ok(d, mb, &m);
	assert_text(&m.u.insert.newtup.cols[0], "1");
	assert_null_col(&m.u.insert.newtup.cols[1]);
	assert_value(&m.u.insert.newtup.cols[2], PGO_COL_UNCHANGED, NULL, 0);
	/* the scratch column array is reused, not reallocated per message */
	assert_ptr_equal(m.u.insert.newtup.cols, first_cols);

	/* an insert must carry 'N' */
	mb->data[5] = 'K';
	mb_fails_with(d, mb, "insert: expected new tuple");

	pgo_decoder_free(d);
	free(mb);
}

static void
test_update(void **state)
{
	pgo_decoder *d = setup_decoder(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;

	(void) state;
	/* no old tuple */
	mb_start(mb, 'U', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "1");
	mb_col_text(mb, "new");
	mb_col_unchanged(mb);
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_UPDATE);
	assert_ptr_equal(m.u.update.rel, pgo_relation_get(d, T_OID));
	assert_int_equal(m.u.update.old_kind, 0);
	assert_int_equal(m.u.update.oldtup.ncols, 0);
	assert_null(m.u.update.oldtup.cols);
	assert_int_equal(m.u.update.newtup.ncols, 3);
	assert_text(&m.u.update.newtup.cols[0], "1");
	assert_text(&m.u.update.newtup.cols[1], "new");
	assert_int_equal(m.u.update.newtup.cols[2].kind, PGO_COL_UNCHANGED);

	/* old key: the key column changed; non-key columns are sent as null */
	mb_start(mb, 'U', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'K');
	mb_u16(mb, 3);
	mb_col_text(mb, "1");
	mb_col_null(mb);
	mb_col_null(mb);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "2");
	mb_col_text(mb, "n");
	mb_col_null(mb);
	decode_ok(d, mb, &m);
	assert_int_equal(m.u.update.old_kind, 'K');
	assert_int_equal(m.u.update.oldtup.ncols, 3);
	assert_text(&m.u.update.oldtup.cols[0], "1");
	assert_null_col(&m.u.update.oldtup.cols[1]);
	assert_null_col(&m.u.update.oldtup.cols[2]);
	assert_int_equal(m.u.update.newtup.ncols, 3);
	assert_text(&m.u.update.newtup.cols[0], "2");
	assert_text(&m.u.update.newtup.cols[1], "n");
	assert_null_col(&m.u.update.newtup.cols[2]);
	/* two distinct scratch arrays */
	assert_ptr_not_equal(m.u.update.oldtup.cols, m.u.update.newtup.cols);

	/* old row (replica identity full) */
	mb_start(mb, 'U', 0);
	mb_u32(mb, F_OID);
	mb_u8(mb, 'O');
	mb_u16(mb, 2);
	mb_col_text(mb, "10");
	mb_col_text(mb, "old");
	mb_u8(mb, 'N');
	mb_u16(mb, 2);
	mb_col_text(mb, "10");
	mb_col_text(mb, "new");
	decode_ok(d, mb, &m);
	assert_ptr_equal(m.u.update.rel, pgo_relation_get(d, F_OID));
	assert_int_equal(m.u.update.old_kind, 'O');
	assert_text(&m.u.update.oldtup.cols[0], "10");
	assert_text(&m.u.update.oldtup.cols[1], "old");
	assert_text(&m.u.update.newtup.cols[0], "10");
	assert_text(&m.u.update.newtup.cols[1], "new");

	/* old tuple but then no 'N' */
	mb_start(mb, 'U', 0);
	mb_u32(mb, F_OID);
	mb_u8(mb, 'O');
	mb_u16(mb, 2);
	mb_col_text(mb, "10");
	mb_col_text(mb, "old");
	mb_u8(mb, 'O');
	mb_u16(mb, 2);
	mb_col_text(mb, "10");
	mb_col_text(mb, "new");
	mb_fails_with(d, mb, "update: expected new tuple");

	/* unknown action byte */
	mb_start(mb, 'U', 0);
	mb_u32(mb, F_OID);
	mb_u8(mb, 'X');
	mb_u16(mb, 2);
	mb_col_null(mb);
	mb_col_null(mb);
	mb_fails_with(d, mb, "update: expected new tuple");

	pgo_decoder_free(d);
	free(mb);
}

static void
test_delete(void **state)
{
	pgo_decoder *d = setup_decoder(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;

	(void) state;
	mb_start(mb, 'D', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'K');
	mb_u16(mb, 3);
	mb_col_text(mb, "7");
	mb_col_null(mb);
	mb_col_null(mb);
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_DELETE);
	assert_ptr_equal(m.u.del.rel, pgo_relation_get(d, T_OID));
	assert_int_equal(m.u.del.old_kind, 'K');
	assert_int_equal(m.u.del.oldtup.ncols, 3);
	assert_text(&m.u.del.oldtup.cols[0], "7");
	assert_null_col(&m.u.del.oldtup.cols[1]);
	assert_null_col(&m.u.del.oldtup.cols[2]);

	mb_start(mb, 'D', 0);
	mb_u32(mb, F_OID);
	mb_u8(mb, 'O');
	mb_u16(mb, 2);
	mb_col_text(mb, "-9223372036854775808");
	mb_col_text(mb, "bye");
	decode_ok(d, mb, &m);
	assert_int_equal(m.u.del.old_kind, 'O');
	assert_text(&m.u.del.oldtup.cols[0], "-9223372036854775808");
	assert_text(&m.u.del.oldtup.cols[1], "bye");

	/* a delete needs K or O */
	mb->data[5] = 'N';
	mb_fails_with(d, mb, "delete: expected old key or old tuple");

	pgo_decoder_free(d);
	free(mb);
}

static void
test_truncate(void **state)
{
	pgo_decoder *d = setup_decoder(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;

	(void) state;
	mb_start(mb, 'T', 0);
	mb_u32(mb, 2);
	mb_u8(mb, 3);
	mb_u32(mb, T_OID);
	mb_u32(mb, F_OID);
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_TRUNCATE);
	assert_int_equal(m.u.truncate.options, 3);
	assert_int_equal(m.u.truncate.nrels, 2);
	assert_int_equal(m.u.truncate.relids[0], T_OID);
	assert_int_equal(m.u.truncate.relids[1], F_OID);

	/* many relids: the scratch array grows */
	{
		msgbuf	   *rel = mb_new();

		for (uint32_t oid = 20000; oid < 20100; oid++)
		{
			build_relation(rel, 0, oid, "public", "x", 'd', 0, NULL);
			decode_ok(d, rel, &m);
		}
		free(rel);
	}
	mb_start(mb, 'T', 0);
	mb_u32(mb, 100);
	mb_u8(mb, 1);
	for (uint32_t oid = 20000; oid < 20100; oid++)
		mb_u32(mb, oid);
	decode_ok(d, mb, &m);
	assert_int_equal(m.u.truncate.options, 1);
	assert_int_equal(m.u.truncate.nrels, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(m.u.truncate.relids[i], 20000 + i);

	/* a truncate of a relation never announced */
	mb_start(mb, 'T', 0);
	mb_u32(mb, 2);
	mb_u8(mb, 0);
	mb_u32(mb, T_OID);
	mb_u32(mb, 999);
	mb_fails_with(d, mb, "truncate: unknown relation oid");

	/* unknown option bits */
	mb_start(mb, 'T', 0);
	mb_u32(mb, 1);
	mb_u8(mb, 4);
	mb_u32(mb, T_OID);
	mb_fails_with(d, mb, "truncate: unknown truncate options");

	/* lying counts */
	mb_start(mb, 'T', 0);
	mb_u32(mb, 0xffffffffu);
	mb_u8(mb, 0);
	mb_u32(mb, T_OID);
	mb_fails_with(d, mb, "truncate: negative relation count");
	mb_start(mb, 'T', 0);
	mb_u32(mb, 0x7fffffffu);
	mb_u8(mb, 0);
	mb_u32(mb, T_OID);
	mb_fails_with(d, mb, "truncate: relation count exceeds message");
	mb_start(mb, 'T', 0);
	mb_u32(mb, 2);
	mb_u8(mb, 0);
	mb_u32(mb, T_OID);
	mb_fails_with(d, mb, "truncate: relation count exceeds message");

	pgo_decoder_free(d);
	free(mb);
}

static void
test_message(void **state)
{
	pgo_decoder *d = pgo_decoder_new(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;
	const char	content[] = {'a', '\0', 'b'};

	(void) state;
	build_message(mb, 0, 1, UINT64_C(0x1551BA0), "my.prefix", content, sizeof(content));
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_MESSAGE);
	assert_true(m.u.message.transactional);
	assert_int_equal(m.u.message.lsn, UINT64_C(0x1551BA0));
	assert_string_equal(m.u.message.prefix, "my.prefix");
	assert_int_equal(m.u.message.content_len, 3);
	assert_memory_equal(m.u.message.content, content, 3);
	assert_ptr_equal(m.u.message.content, (const char *) mb->data + mb->len - 3);

	build_message(mb, 0, 0, 5, "", "", 0);
	decode_ok(d, mb, &m);
	assert_false(m.u.message.transactional);
	assert_int_equal(m.u.message.lsn, 5);
	assert_string_equal(m.u.message.prefix, "");
	assert_int_equal(m.u.message.content_len, 0);
	assert_non_null(m.u.message.content);

	build_message(mb, 0, 2, 5, "p", "x", 1);
	mb_fails_with(d, mb, "message: unknown message flags");

	/* content length: negative, larger than what remains, off by one */
	build_message(mb, 0, 0, 5, "p", "xyz", 3);
	mb->data[mb->len - 7] = 0xff;
	mb->data[mb->len - 6] = 0xff;
	mb->data[mb->len - 5] = 0xff;
	mb->data[mb->len - 4] = 0xff;
	mb_fails_with(d, mb, "message: negative length");
	build_message(mb, 0, 0, 5, "p", "xyz", 3);
	mb->data[mb->len - 7] = 0x7f;
	mb_fails_with(d, mb, "message: length exceeds message");
	build_message(mb, 0, 0, 5, "p", "xyz", 3);
	mb->data[mb->len - 4] = 4;
	mb_fails_with(d, mb, "message: length exceeds message");
	build_message(mb, 0, 0, 5, "p", "xyz", 3);
	mb->data[mb->len - 4] = 2;
	mb_fails_with(d, mb, "message: trailing bytes after message");

	pgo_decoder_free(d);
	free(mb);
}

/* ---- relation cache ---- */

static void
test_relation_replaced(void **state)
{
	pgo_decoder *d = pgo_decoder_new(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;
	const pgo_relation *r;
	const colspec two[] = {{1, "id", 23, -1}, {0, "a", 25, -1}};
	const colspec three[] = {{0, "x", 20, -1}, {1, "y", 1043, 14}, {0, "z", 16, -1}};

	(void) state;
	build_relation(mb, 0, 500, "public", "old_name", 'd', 2, two);
	decode_ok(d, mb, &m);
	mb_start(mb, 'I', 0);
	mb_u32(mb, 500);
	mb_u8(mb, 'N');
	mb_u16(mb, 2);
	mb_col_text(mb, "1");
	mb_col_text(mb, "a");
	decode_ok(d, mb, &m);
	assert_int_equal(m.u.insert.newtup.ncols, 2);

	/* ALTER TABLE ...: the same OID announced again with another shape replaces the first */
	build_relation(mb, 0, 500, "other", "new_name", 'f', 3, three);
	decode_ok(d, mb, &m);
	r = pgo_relation_get(d, 500);
	assert_ptr_equal(r, m.u.relation);
	assert_string_equal(r->nspname, "other");
	assert_string_equal(r->relname, "new_name");
	assert_int_equal(r->replident, 'f');
	assert_int_equal(r->ncols, 3);
	assert_string_equal(r->cols[0].name, "x");
	assert_false(r->cols[0].is_key);
	assert_string_equal(r->cols[1].name, "y");
	assert_true(r->cols[1].is_key);
	assert_int_equal(r->cols[1].type_mod, 14);
	assert_string_equal(r->cols[2].name, "z");

	/* the old shape no longer fits */
	mb_start(mb, 'I', 0);
	mb_u32(mb, 500);
	mb_u8(mb, 'N');
	mb_u16(mb, 2);
	mb_col_text(mb, "1");
	mb_col_text(mb, "a");
	mb_fails_with(d, mb, "insert: column count does not match relation");

	mb_start(mb, 'I', 0);
	mb_u32(mb, 500);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "9");
	mb_col_null(mb);
	mb_col_text(mb, "t");
	decode_ok(d, mb, &m);
	assert_ptr_equal(m.u.insert.rel, r);
	assert_int_equal(m.u.insert.newtup.ncols, 3);
	assert_text(&m.u.insert.newtup.cols[0], "9");
	assert_null_col(&m.u.insert.newtup.cols[1]);
	assert_text(&m.u.insert.newtup.cols[2], "t");

	/* a malformed Relation for a cached OID leaves the cached one alone */
	build_relation(mb, 0, 500, "public", "broken", 'd', 2, two);
	mb_u8(mb, 0);
	mb_fails_with(d, mb, "relation: trailing bytes after message");
	assert_ptr_equal(pgo_relation_get(d, 500), r);
	assert_string_equal(r->relname, "new_name");

	pgo_decoder_free(d);
	free(mb);
}

static void
test_relation_cache_many(void **state)
{
	pgo_decoder *d = pgo_decoder_new(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;
	char		name[32];

	(void) state;
	/* OIDs with equal low bits and a few extremes, enough to force several rehashes */
	for (uint32_t i = 0; i < 1000; i++)
	{
		uint32_t	oid = (i < 3) ? (i == 0 ? 0 : (i == 1 ? 0xffffffffu : 0x80000000u)) : i * 1024;

		snprintf(name, sizeof(name), "rel%u", i);
		build_relation(mb, 0, oid, "public", name, 'd', 0, NULL);
		decode_ok(d, mb, &m);
	}
	for (uint32_t i = 0; i < 1000; i++)
	{
		uint32_t	oid = (i < 3) ? (i == 0 ? 0 : (i == 1 ? 0xffffffffu : 0x80000000u)) : i * 1024;
		const pgo_relation *r = pgo_relation_get(d, oid);

		snprintf(name, sizeof(name), "rel%u", i);
		assert_non_null(r);
		assert_int_equal(r->oid, oid);
		assert_string_equal(r->relname, name);
	}
	assert_null(pgo_relation_get(d, 1));
	assert_null(pgo_relation_get(d, 1025));
	/* replace every other one */
	for (uint32_t i = 3; i < 1000; i += 2)
	{
		build_relation(mb, 0, i * 1024, "s2", "again", 'f', 1, t_cols);
		decode_ok(d, mb, &m);
	}
	for (uint32_t i = 3; i < 1000; i++)
	{
		const pgo_relation *r = pgo_relation_get(d, i * 1024);

		assert_non_null(r);
		assert_int_equal(r->ncols, (i % 2) ? 1 : 0);
	}
	pgo_decoder_free(d);
	free(mb);
}

/* ---- column counts ---- */

static void
test_wide_relation(void **state)
{
	pgo_decoder *d = pgo_decoder_new(1);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;
	colspec    *cols = calloc(1665, sizeof(colspec));
	char	  (*names)[8] = calloc(1665, 8);

	(void) state;
	assert_non_null(cols);
	assert_non_null(names);
	for (int i = 0; i < 1665; i++)
	{
		snprintf(names[i], 8, "c%d", i);
		cols[i].name = names[i];
		cols[i].type_oid = 23;
		cols[i].type_mod = -1;
	}
	/* 1664 (MaxTupleAttributeNumber) is the limit */
	build_relation(mb, 0, 1, "public", "wide", 'd', 1665, cols);
	mb_fails_with(d, mb, "relation: column count out of range");
	build_relation(mb, 0, 1, "public", "wide", 'd', 1664, cols);
	decode_ok(d, mb, &m);
	assert_int_equal(m.u.relation->ncols, 1664);
	assert_string_equal(m.u.relation->cols[1663].name, "c1663");

	mb_start(mb, 'I', 0);
	mb_u32(mb, 1);
	mb_u8(mb, 'N');
	mb_u16(mb, 1664);
	for (int i = 0; i < 1664; i++)
	{
		if (i % 3 == 0)
			mb_col_null(mb);
		else
			mb_col_text(mb, names[i]);
	}
	decode_ok(d, mb, &m);
	assert_int_equal(m.u.insert.newtup.ncols, 1664);
	assert_null_col(&m.u.insert.newtup.cols[1662]);
	assert_text(&m.u.insert.newtup.cols[1663], "c1663");

	/* tuple counts out of range are rejected before the relation is even compared */
	mb->data[6] = 0x06;
	mb->data[7] = 0x81;			/* 1665 */
	mb_fails_with(d, mb, "insert: column count out of range");
	mb->data[6] = 0xff;
	mb->data[7] = 0xff;			/* -1 */
	mb_fails_with(d, mb, "insert: column count out of range");

	/* negative relation column count */
	build_relation(mb, 0, 2, "public", "neg", 'd', 0, NULL);
	mb->data[mb->len - 2] = 0x80;
	mb_fails_with(d, mb, "relation: column count out of range");

	free(cols);
	free(names);
	pgo_decoder_free(d);
	free(mb);
}

static void
test_tuple_errors(void **state)
{
	pgo_decoder *d = setup_decoder(1);
	msgbuf	   *mb = mb_new();

	(void) state;
	/* unknown relation */
	mb_start(mb, 'I', 0);
	mb_u32(mb, 4242);
	mb_u8(mb, 'N');
	mb_u16(mb, 1);
	mb_col_null(mb);
	mb_fails_with(d, mb, "insert: unknown relation oid");
	mb->data[0] = 'D';
	mb->data[5] = 'K';
	mb_fails_with(d, mb, "delete: unknown relation oid");
	mb->data[0] = 'U';
	mb->data[5] = 'N';
	mb_fails_with(d, mb, "update: unknown relation oid");

	/* column count mismatch, both ways */
	mb_start(mb, 'I', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 2);
	mb_col_null(mb);
	mb_col_null(mb);
	mb_fails_with(d, mb, "insert: column count does not match relation");
	mb_start(mb, 'I', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 4);
	for (int i = 0; i < 4; i++)
		mb_col_null(mb);
	mb_fails_with(d, mb, "insert: column count does not match relation");
	/* ... also in the old tuple of an update */
	mb_start(mb, 'U', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'K');
	mb_u16(mb, 1);
	mb_col_text(mb, "1");
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_null(mb);
	mb_col_null(mb);
	mb_col_null(mb);
	mb_fails_with(d, mb, "update: column count does not match relation");

	/* unknown column kind */
	mb_start(mb, 'I', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_null(mb);
	mb_u8(mb, 'x');
	mb_col_null(mb);
	mb_fails_with(d, mb, "insert: unknown column kind");

	/* value lengths: negative, huge, one past the end */
	{
		const uint32_t bad[] = {0xffffffffu, 0x80000000u, 0x7fffffffu, 2};
		const char *why[] = {"negative length", "negative length", "length exceeds message",
		"length exceeds message"};

		for (int i = 0; i < 4; i++)
		{
			mb_start(mb, 'I', 0);
			mb_u32(mb, T_OID);
			mb_u8(mb, 'N');
			mb_u16(mb, 3);
			mb_col_null(mb);
			mb_col_null(mb);
			mb_u8(mb, (i % 2) ? 'b' : 't');
			mb_u32(mb, bad[i]);
			mb_u8(mb, 'z');
			mb_fails_with(d, mb, why[i]);
		}
	}

	/* unknown message types */
	{
		const uint8_t types[] = {0, 'Z', 'b', 'P', 'K', 'r', 'w', 0xff};

		for (size_t i = 0; i < sizeof(types); i++)
		{
			uint8_t		buf[32] = {types[i]};

			decode_fails_with(d, buf, sizeof(buf), "unknown message type");
		}
	}
	/* protocol 1 has no stream messages */
	{
		const uint8_t start[] = {'S', 0, 0, 0, 1, 1};

		decode_fails_with(d, start, sizeof(start), "stream start: stream message needs protocol version 2");
	}
	decode_fails_with(d, NULL, 0, "empty message");

	pgo_decoder_free(d);
	free(mb);
}

/* ---- protocol 2 stream blocks ---- */

static void
test_stream_block(void **state)
{
	pgo_decoder *d = setup_decoder(2);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;

	(void) state;
	mb_start(mb, 'S', 0);
	mb_u32(mb, 1000);
	mb_u8(mb, 1);
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_STREAM_START);
	assert_int_equal(m.u.stream_start.xid, 1000);
	assert_true(m.u.stream_start.first_segment);
	assert_int_equal(m.xid, 1000);

	/* inside the block data messages carry the (sub)transaction's xid */
	mb_start(mb, 'I', 1001);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "1");
	mb_col_null(mb);
	mb_col_null(mb);
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_INSERT);
	assert_int_equal(m.xid, 1001);
	assert_text(&m.u.insert.newtup.cols[0], "1");

	build_relation(mb, 1000, 600, "public", "streamed", 'd', 1, t_cols);
	decode_ok(d, mb, &m);
	assert_int_equal(m.xid, 1000);
	assert_string_equal(m.u.relation->relname, "streamed");

	mb_start(mb, 'Y', 1000);
	mb_u32(mb, 16385);
	mb_str(mb, "public");
	mb_str(mb, "mood");
	decode_ok(d, mb, &m);
	assert_int_equal(m.xid, 1000);
	assert_string_equal(m.u.type.typname, "mood");

	mb_start(mb, 'U', 1000);
	mb_u32(mb, F_OID);
	mb_u8(mb, 'O');
	mb_u16(mb, 2);
	mb_col_text(mb, "1");
	mb_col_text(mb, "a");
	mb_u8(mb, 'N');
	mb_u16(mb, 2);
	mb_col_text(mb, "1");
	mb_col_text(mb, "b");
	decode_ok(d, mb, &m);
	assert_int_equal(m.xid, 1000);
	assert_int_equal(m.u.update.old_kind, 'O');
	assert_text(&m.u.update.newtup.cols[1], "b");

	mb_start(mb, 'D', 1000);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'K');
	mb_u16(mb, 3);
	mb_col_text(mb, "1");
	mb_col_null(mb);
	mb_col_null(mb);
	decode_ok(d, mb, &m);
	assert_int_equal(m.xid, 1000);
	assert_int_equal(m.u.del.old_kind, 'K');

	mb_start(mb, 'T', 1000);
	mb_u32(mb, 1);
	mb_u8(mb, 0);
	mb_u32(mb, T_OID);
	decode_ok(d, mb, &m);
	assert_int_equal(m.xid, 1000);
	assert_int_equal(m.u.truncate.relids[0], T_OID);

	build_message(mb, 1000, 1, 77, "pfx", "hi", 2);
	decode_ok(d, mb, &m);
	assert_int_equal(m.xid, 1000);
	assert_true(m.u.message.transactional);
	assert_string_equal(m.u.message.prefix, "pfx");

	/* an Origin may follow Stream Start, without an xid */
	mb_start(mb, 'O', 0);
	mb_u64(mb, 0);
	mb_str(mb, "o");
	decode_ok(d, mb, &m);
	assert_int_equal(m.xid, 0);
	assert_string_equal(m.u.origin.name, "o");

	/* the protocol forbids these inside a block; the failures leave us inside it */
	mb_start(mb, 'S', 0);
	mb_u32(mb, 1000);
	mb_u8(mb, 0);
	mb_fails_with(d, mb, "stream start: already inside a stream block");
	build_begin(mb, 1, 2, 3);
	mb_fails_with(d, mb, "begin: inside a stream block");
	build_commit(mb, 0, 1, 2, 3);
	mb_fails_with(d, mb, "commit: inside a stream block");
	mb_start(mb, 'A', 0);
	mb_u32(mb, 1000);
	mb_u32(mb, 1000);
	mb_fails_with(d, mb, "stream abort: inside a stream block");

	/* a data message without the xid is misread inside a block: never silently accepted */
	mb_start(mb, 'I', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "1");
	mb_col_null(mb);
	mb_col_null(mb);
	mb_fails_with(d, mb, "insert: ");

	mb_start(mb, 'E', 0);
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_STREAM_STOP);
	assert_int_equal(m.xid, 1000);

	/* outside the block: no xid */
	mb_start(mb, 'I', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "2");
	mb_col_null(mb);
	mb_col_null(mb);
	decode_ok(d, mb, &m);
	assert_int_equal(m.xid, 0);
	assert_text(&m.u.insert.newtup.cols[0], "2");

	mb_start(mb, 'E', 0);
	mb_fails_with(d, mb, "stream stop: outside a stream block");

	/* a later segment */
	mb_start(mb, 'S', 0);
	mb_u32(mb, 1000);
	mb_u8(mb, 0);
	decode_ok(d, mb, &m);
	assert_false(m.u.stream_start.first_segment);
	mb_start(mb, 'c', 0);
	mb_u32(mb, 1000);
	mb_u8(mb, 0);
	mb_u64(mb, 10);
	mb_u64(mb, 20);
	mb_u64(mb, 30);
	mb_fails_with(d, mb, "stream commit: inside a stream block");
	mb_start(mb, 'E', 0);
	decode_ok(d, mb, &m);

	mb_start(mb, 'c', 0);
	mb_u32(mb, 1000);
	mb_u8(mb, 0);
	mb_u64(mb, UINT64_C(0x100000010));
	mb_u64(mb, UINT64_C(0x100000020));
	mb_u64(mb, 30);
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_STREAM_COMMIT);
	assert_int_equal(m.xid, 0);
	assert_int_equal(m.u.stream_commit.xid, 1000);
	assert_int_equal(m.u.stream_commit.flags, 0);
	assert_int_equal(m.u.stream_commit.commit_lsn, UINT64_C(0x100000010));
	assert_int_equal(m.u.stream_commit.end_lsn, UINT64_C(0x100000020));
	assert_int_equal(m.u.stream_commit.commit_time, 30);
	mb->data[5] = 1;
	mb_fails_with(d, mb, "stream commit: unknown flags");

	mb_start(mb, 'A', 0);
	mb_u32(mb, 2000);
	mb_u32(mb, 2001);
	decode_ok(d, mb, &m);
	assert_int_equal(m.type, PGO_STREAM_ABORT);
	assert_int_equal(m.u.stream_abort.xid, 2000);
	assert_int_equal(m.u.stream_abort.subxid, 2001);

	mb_start(mb, 'S', 0);
	mb_u32(mb, 1);
	mb_u8(mb, 2);
	mb_fails_with(d, mb, "stream start: bad first-segment flag");

	pgo_decoder_free(d);
	free(mb);
}

/* ---- strictness: every strict prefix fails, trailing bytes fail ---- */

static void
test_strict_prefixes(void **state)
{
	pgo_decoder *d = setup_decoder(2);
	msgbuf	   *mb = mb_new();
	pgo_msg		m;
	const uint8_t bin[] = {1, 2, 3};

	(void) state;
	build_begin(mb, 100, 200, 300);
	check_strict(d, mb, &m);
	assert_int_equal(m.type, PGO_BEGIN);
	build_commit(mb, 0, 100, 200, 300);
	check_strict(d, mb, &m);
	assert_int_equal(m.type, PGO_COMMIT);
	mb_start(mb, 'O', 0);
	mb_u64(mb, 5);
	mb_str(mb, "origin");
	check_strict(d, mb, &m);
	build_relation(mb, 0, T_OID, "public", "t", 'd', 3, t_cols);
	check_strict(d, mb, &m);
	assert_ptr_equal(m.u.relation, pgo_relation_get(d, T_OID));
	mb_start(mb, 'Y', 0);
	mb_u32(mb, 9);
	mb_str(mb, "public");
	mb_str(mb, "ty");
	check_strict(d, mb, &m);

	mb_start(mb, 'I', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "abc");
	mb_col_unchanged(mb);
	mb_col_binary(mb, bin, sizeof(bin));
	check_strict(d, mb, &m);
	assert_int_equal(m.u.insert.newtup.ncols, 3);

	mb_start(mb, 'U', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "abc");
	mb_col_null(mb);
	mb_col_binary(mb, bin, sizeof(bin));
	check_strict(d, mb, &m);

	mb_start(mb, 'U', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'K');
	mb_u16(mb, 3);
	mb_col_text(mb, "1");
	mb_col_null(mb);
	mb_col_null(mb);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "2");
	mb_col_text(mb, "x");
	mb_col_unchanged(mb);
	check_strict(d, mb, &m);
	assert_int_equal(m.u.update.old_kind, 'K');

	mb_start(mb, 'U', 0);
	mb_u32(mb, F_OID);
	mb_u8(mb, 'O');
	mb_u16(mb, 2);
	mb_col_text(mb, "1");
	mb_col_text(mb, "x");
	mb_u8(mb, 'N');
	mb_u16(mb, 2);
	mb_col_text(mb, "1");
	mb_col_text(mb, "y");
	check_strict(d, mb, &m);
	assert_int_equal(m.u.update.old_kind, 'O');

	mb_start(mb, 'D', 0);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'K');
	mb_u16(mb, 3);
	mb_col_text(mb, "1");
	mb_col_null(mb);
	mb_col_null(mb);
	check_strict(d, mb, &m);
	mb_start(mb, 'D', 0);
	mb_u32(mb, F_OID);
	mb_u8(mb, 'O');
	mb_u16(mb, 2);
	mb_col_text(mb, "1");
	mb_col_text(mb, "x");
	check_strict(d, mb, &m);

	mb_start(mb, 'T', 0);
	mb_u32(mb, 2);
	mb_u8(mb, 1);
	mb_u32(mb, T_OID);
	mb_u32(mb, F_OID);
	check_strict(d, mb, &m);
	assert_int_equal(m.u.truncate.nrels, 2);

	build_message(mb, 0, 1, 9, "prefix", "content", 7);
	check_strict(d, mb, &m);
	build_message(mb, 0, 0, 9, "prefix", "content", 7);
	check_strict(d, mb, &m);

	mb_start(mb, 'c', 0);
	mb_u32(mb, 1000);
	mb_u8(mb, 0);
	mb_u64(mb, 10);
	mb_u64(mb, 20);
	mb_u64(mb, 30);
	check_strict(d, mb, &m);
	mb_start(mb, 'A', 0);
	mb_u32(mb, 1000);
	mb_u32(mb, 1001);
	check_strict(d, mb, &m);

	/* the same inside a stream block, where data messages carry an xid */
	mb_start(mb, 'S', 0);
	mb_u32(mb, 1000);
	mb_u8(mb, 1);
	check_strict(d, mb, &m);
	assert_int_equal(m.type, PGO_STREAM_START);

	build_relation(mb, 1000, F_OID, "public", "f", 'f', 2, f_cols);
	check_strict(d, mb, &m);
	mb_start(mb, 'Y', 1000);
	mb_u32(mb, 9);
	mb_str(mb, "");
	mb_str(mb, "ty");
	check_strict(d, mb, &m);
	mb_start(mb, 'I', 1000);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'N');
	mb_u16(mb, 3);
	mb_col_text(mb, "abc");
	mb_col_null(mb);
	mb_col_binary(mb, bin, sizeof(bin));
	check_strict(d, mb, &m);
	assert_int_equal(m.xid, 1000);
	mb_start(mb, 'U', 1000);
	mb_u32(mb, F_OID);
	mb_u8(mb, 'O');
	mb_u16(mb, 2);
	mb_col_text(mb, "1");
	mb_col_text(mb, "x");
	mb_u8(mb, 'N');
	mb_u16(mb, 2);
	mb_col_text(mb, "1");
	mb_col_text(mb, "y");
	check_strict(d, mb, &m);
	mb_start(mb, 'D', 1000);
	mb_u32(mb, T_OID);
	mb_u8(mb, 'K');
	mb_u16(mb, 3);
	mb_col_text(mb, "1");
	mb_col_null(mb);
	mb_col_null(mb);
	check_strict(d, mb, &m);
	mb_start(mb, 'T', 1000);
	mb_u32(mb, 1);
	mb_u8(mb, 0);
	mb_u32(mb, T_OID);
	check_strict(d, mb, &m);
	build_message(mb, 1000, 1, 9, "prefix", "content", 7);
	check_strict(d, mb, &m);
	mb_start(mb, 'O', 0);
	mb_u64(mb, 5);
	mb_str(mb, "origin");
	check_strict(d, mb, &m);

	mb_start(mb, 'E', 0);
	check_strict(d, mb, &m);
	assert_int_equal(m.type, PGO_STREAM_STOP);

	pgo_decoder_free(d);
	free(mb);
}

/* ---- CopyData frames and the status update ---- */

static void
test_frames(void **state)
{
	msgbuf	   *mb = mb_new();
	pgo_frame	f;
	const char *err = "unset";

	(void) state;
	mb_reset(mb);
	mb_u8(mb, 'w');
	mb_u64(mb, UINT64_C(0x0000000100000000));
	mb_u64(mb, UINT64_C(0x00000001000000FF));
	mb_u64(mb, (uint64_t) INT64_C(-2));
	mb_bytes(mb, "Exyz", 4);
	assert_true(pgo_parse_frame(mb->data, mb->len, &f, &err));
	assert_null(err);
	assert_int_equal(f.type, PGO_FRAME_XLOGDATA);
	assert_int_equal(f.wal_start, UINT64_C(0x0000000100000000));
	assert_int_equal(f.wal_end, UINT64_C(0x00000001000000FF));
	assert_int_equal(f.send_time, -2);
	assert_false(f.reply_requested);
	assert_ptr_equal(f.payload, mb->data + 25);
	assert_int_equal(f.payload_len, 4);

	/* an empty payload is a valid frame (the decoder will reject the empty message) */
	assert_true(pgo_parse_frame(mb->data, 25, &f, NULL));
	assert_int_equal(f.payload_len, 0);
	for (size_t n = 0; n < 25; n++)
	{
		err = NULL;
		assert_false(pgo_parse_frame(mb->data, n, &f, &err));
		assert_non_null(err);
		assert_int_equal(f.type, 0);
	}

	mb_reset(mb);
	mb_u8(mb, 'k');
	mb_u64(mb, UINT64_C(0x16B374D848));
	mb_u64(mb, 123456789);
	mb_u8(mb, 1);
	assert_int_equal(mb->len, 18);
	assert_true(pgo_parse_frame(mb->data, mb->len, &f, &err));
	assert_int_equal(f.type, PGO_FRAME_KEEPALIVE);
	assert_int_equal(f.wal_end, UINT64_C(0x16B374D848));
	assert_int_equal(f.send_time, 123456789);
	assert_true(f.reply_requested);
	assert_null(f.payload);
	assert_int_equal(f.payload_len, 0);
	mb->data[17] = 0;
	assert_true(pgo_parse_frame(mb->data, mb->len, &f, &err));
	assert_false(f.reply_requested);
	mb->data[17] = 2;
	assert_false(pgo_parse_frame(mb->data, mb->len, &f, &err));
	assert_string_equal(err, "bad keepalive reply flag");
	mb->data[17] = 0;
	for (size_t n = 0; n < 18; n++)
	{
		uint8_t    *copy = malloc(n ? n : 1);

		memcpy(copy, mb->data, n);
		assert_false(pgo_parse_frame(copy, n, &f, &err));
		free(copy);
	}
	mb_u8(mb, 0);
	assert_false(pgo_parse_frame(mb->data, mb->len, &f, &err));
	assert_string_equal(err, "trailing bytes after keepalive frame");

	mb->data[0] = 'r';
	assert_false(pgo_parse_frame(mb->data, mb->len, &f, &err));
	assert_string_equal(err, "unknown frame type");
	assert_false(pgo_parse_frame(NULL, 0, &f, &err));
	assert_string_equal(err, "empty frame");
	free(mb);
}

static void
test_status_update(void **state)
{
	uint8_t		out[34];
	const uint8_t expect[34] = {
		'r',
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0x00, 0x00, 0x00, 0x16, 0xB3, 0x74, 0xD8, 0x48,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
		1,
	};

	(void) state;
	memset(out, 0xaa, sizeof(out));
	pgo_build_status(out, UINT64_C(0x0102030405060708), UINT64_C(0x16B374D848), 0, -2, true);
	assert_memory_equal(out, expect, 34);
	pgo_build_status(out, 1, 2, 3, INT64_C(757382400000000), false);
	assert_int_equal(out[0], 'r');
	assert_int_equal(out[8], 1);
	assert_int_equal(out[16], 2);
	assert_int_equal(out[24], 3);
	assert_int_equal(out[33], 0);
	/* 757382400000000 = 0x0002B0D5D4E94000 */
	assert_int_equal(out[25], 0x00);
	assert_int_equal(out[26], 0x02);
	assert_int_equal(out[27], 0xB0);
	assert_int_equal(out[28], 0xD5);
	assert_int_equal(out[31], 0x40);
	assert_int_equal(out[32], 0x00);
}

/* ---- LSNs ---- */

static void
test_lsn(void **state)
{
	char		buf[18];
	pg_lsn		lsn;
	const pg_lsn values[] = {0, 1, UINT64_C(0x16B374D848), UINT64_C(0xFFFFFFFF), UINT64_C(0x100000000),
	UINT64_C(0xFFFFFFFFFFFFFFFF), UINT64_C(0xABCDEF0012345678)};
	const char *bad[] = {"", "/", "0", "0/", "/0", "0//0", "0/0/", "0/0/0", "123456789/0",
		"0/123456789", " 0/0", "0/0 ", "0 /0", "0/ 0", "g/0", "0/G", "0x1/0", "-1/0", "+1/0",
	"1/-0", "1.0/0", "1/0\n", "\xef\xbc\x91/0"};

	(void) state;
	pgo_lsn_format(0, buf);
	assert_string_equal(buf, "0/0");
	pgo_lsn_format(UINT64_C(0x16B374D848), buf);
	assert_string_equal(buf, "16/B374D848");
	pgo_lsn_format(UINT64_C(0xFFFFFFFFFFFFFFFF), buf);
	assert_string_equal(buf, "FFFFFFFF/FFFFFFFF");
	pgo_lsn_format(UINT64_C(0x0000000A0000000B), buf);
	assert_string_equal(buf, "A/B");
	pgo_lsn_format(UINT64_C(0x154C9C0), buf);
	assert_string_equal(buf, "0/154C9C0");

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
	{
		pgo_lsn_format(values[i], buf);
		lsn = 42;
		assert_true(pgo_lsn_parse(buf, &lsn));
		assert_int_equal(lsn, values[i]);
	}
	assert_true(pgo_lsn_parse("16/b374d848", &lsn));
	assert_int_equal(lsn, UINT64_C(0x16B374D848));
	assert_true(pgo_lsn_parse("00000000/00000001", &lsn));
	assert_int_equal(lsn, 1);
	assert_true(pgo_lsn_parse("ffffffff/FFFFFFFF", &lsn));
	assert_int_equal(lsn, UINT64_MAX);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		lsn = 42;
		if (pgo_lsn_parse(bad[i], &lsn))
		{
			print_error("accepted bad lsn \"%s\"\n", bad[i]);
			fail();
		}
		assert_int_equal(lsn, 42);
	}
	assert_false(pgo_lsn_parse(NULL, &lsn));
}

/* pg_current_snapshot()::text against xids from the stream (32 bits), across wraparound too. */
static void
test_snapshot_sees(void **state)
{
	(void) state;
	/* below xmin: committed before every running transaction */
	assert_true(pgo_snapshot_sees("100:105:100,103", 99));
	/* xmin itself and the listed ones were running; the others below xmax had ended */
	assert_false(pgo_snapshot_sees("100:105:100,103", 100));
	assert_true(pgo_snapshot_sees("100:105:100,103", 101));
	assert_true(pgo_snapshot_sees("100:105:100,103", 102));
	assert_false(pgo_snapshot_sees("100:105:100,103", 103));
	assert_true(pgo_snapshot_sees("100:105:100,103", 104));
	/* at or past xmax: not yet ended when it was taken */
	assert_false(pgo_snapshot_sees("100:105:100,103", 105));
	assert_false(pgo_snapshot_sees("100:105:100,103", 4000));
	/* nothing running: xmin = xmax */
	assert_true(pgo_snapshot_sees("740:740:", 739));
	assert_false(pgo_snapshot_sees("740:740:", 740));
	/* a prefix of a listed xid is not that xid */
	assert_true(pgo_snapshot_sees("100:2000:1000", 100 + 0));
	assert_true(pgo_snapshot_sees("100:2000:1000", 10));
	assert_false(pgo_snapshot_sees("100:2000:1000", 1000));
	assert_true(pgo_snapshot_sees("100:2000:1000", 1001));
	/* 64-bit xids (xmin 2^33 - 2, 2^33 running, xmax 2^33 + 4), the stream's low 32 bits wrapping */
#define SNAP "8589934590:8589934596:8589934590,8589934592"
	assert_true(pgo_snapshot_sees(SNAP, 4294967293u));
	assert_false(pgo_snapshot_sees(SNAP, 4294967294u));
	assert_true(pgo_snapshot_sees(SNAP, 4294967295u));
	assert_false(pgo_snapshot_sees(SNAP, 0));
	assert_true(pgo_snapshot_sees(SNAP, 1));
	assert_true(pgo_snapshot_sees(SNAP, 3));
	assert_false(pgo_snapshot_sees(SNAP, 4));
	assert_false(pgo_snapshot_sees(SNAP, 5));
	assert_true(pgo_snapshot_sees(SNAP, 3000000000u));
#undef SNAP
	/* not a snapshot: not seen */
	assert_false(pgo_snapshot_sees(NULL, 1));
	assert_false(pgo_snapshot_sees("", 1));
	assert_false(pgo_snapshot_sees("100", 1));
	assert_false(pgo_snapshot_sees("100:105", 1));
	assert_false(pgo_snapshot_sees("x:105:", 1));
}

/*
 * ---- real payloads ----
 *
 * Captured from a throwaway PostgreSQL 15 cluster (wal_level=logical) with
 * pg_logical_slot_peek_binary_changes(slot, NULL, NULL, 'proto_version', '1' or '2',
 * 'publication_names', 'pub', 'messages', 'true' [, 'binary', 'true'] [, 'streaming', 'on'])
 * after:
 *
 *   CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
 *   CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), ok bool,
 *                       ts timestamptz, blob bytea, doc jsonb, m mood);      -- OID 16391
 *   CREATE TABLE full_t (id int, v text);                                    -- OID 16398
 *   ALTER TABLE full_t REPLICA IDENTITY FULL;
 *   CREATE TABLE toasty (id int PRIMARY KEY, big text, n int);              -- OID 16403
 *   INSERT INTO items VALUES (1, 'widget', 9.99, true, '2024-01-02 03:04:05+00', '\xdeadbeef',
 *                             '{"a": 1}', 'happy'), (2, NULL, ...);
 *   UPDATE items SET name = 'gadget' WHERE id = 1;   UPDATE items SET id = 3 WHERE id = 2;
 *   DELETE FROM items WHERE id = 3;
 *   INSERT INTO full_t VALUES (1, 'one'); UPDATE ... SET v = 'uno'; DELETE ...;
 *   INSERT INTO toasty (12800 bytes of md5 text); UPDATE toasty SET n = 1;
 *   TRUNCATE items, full_t;
 *   SELECT pg_logical_emit_message(true, 'txpfx', 'hello');
 *   SELECT pg_logical_emit_message(false, 'ntpfx', '\x00ff01'::bytea);
 *   -- logical_decoding_work_mem = 64kB, protocol 2 with streaming:
 *   BEGIN; INSERT INTO full_t (3000 rows 'row N'); emit_message(true, 'spfx', 'in stream'); COMMIT;
 *   BEGIN; INSERT INTO full_t (3000 rows); ROLLBACK;
 *   INSERT INTO full_t VALUES (-1, 'after');
 *
 * The CopyData frames were read from START_REPLICATION ... LOGICAL (proto_version '1') after a
 * transaction with replication origin 'upstream_a' (pg_replication_origin_xact_setup).
 */


/* Begin */
static const uint8_t real_v1_begin[] = {
	0x42, 0x00, 0x00, 0x00, 0x00, 0x01, 0x54, 0xc9, 0xc0, 0x00, 0x03, 0x03,
	0xc1, 0xbd, 0x57, 0xe4, 0xe7, 0x00, 0x00, 0x02, 0xda,
};

/* Type: public.mood (an enum) */
static const uint8_t real_v1_type_mood[] = {
	0x59, 0x00, 0x00, 0x40, 0x01, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x00,
	0x6d, 0x6f, 0x6f, 0x64, 0x00,
};

/* Relation: public.items, replica identity default */
static const uint8_t real_v1_rel_items[] = {
	0x52, 0x00, 0x00, 0x40, 0x07, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x00,
	0x69, 0x74, 0x65, 0x6d, 0x73, 0x00, 0x64, 0x00, 0x08, 0x01, 0x69, 0x64,
	0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff, 0xff, 0xff, 0x00, 0x6e, 0x61,
	0x6d, 0x65, 0x00, 0x00, 0x00, 0x00, 0x19, 0xff, 0xff, 0xff, 0xff, 0x00,
	0x70, 0x72, 0x69, 0x63, 0x65, 0x00, 0x00, 0x00, 0x06, 0xa4, 0x00, 0x0a,
	0x00, 0x06, 0x00, 0x6f, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x10, 0xff, 0xff,
	0xff, 0xff, 0x00, 0x74, 0x73, 0x00, 0x00, 0x00, 0x04, 0xa0, 0xff, 0xff,
	0xff, 0xff, 0x00, 0x62, 0x6c, 0x6f, 0x62, 0x00, 0x00, 0x00, 0x00, 0x11,
	0xff, 0xff, 0xff, 0xff, 0x00, 0x64, 0x6f, 0x63, 0x00, 0x00, 0x00, 0x0e,
	0xda, 0xff, 0xff, 0xff, 0xff, 0x00, 0x6d, 0x00, 0x00, 0x00, 0x40, 0x01,
	0xff, 0xff, 0xff, 0xff,
};

/* Insert into items, all columns as text */
static const uint8_t real_v1_ins_items1[] = {
	0x49, 0x00, 0x00, 0x40, 0x07, 0x4e, 0x00, 0x08, 0x74, 0x00, 0x00, 0x00,
	0x01, 0x31, 0x74, 0x00, 0x00, 0x00, 0x06, 0x77, 0x69, 0x64, 0x67, 0x65,
	0x74, 0x74, 0x00, 0x00, 0x00, 0x04, 0x39, 0x2e, 0x39, 0x39, 0x74, 0x00,
	0x00, 0x00, 0x01, 0x74, 0x74, 0x00, 0x00, 0x00, 0x16, 0x32, 0x30, 0x32,
	0x34, 0x2d, 0x30, 0x31, 0x2d, 0x30, 0x32, 0x20, 0x30, 0x33, 0x3a, 0x30,
	0x34, 0x3a, 0x30, 0x35, 0x2b, 0x30, 0x30, 0x74, 0x00, 0x00, 0x00, 0x0a,
	0x5c, 0x78, 0x64, 0x65, 0x61, 0x64, 0x62, 0x65, 0x65, 0x66, 0x74, 0x00,
	0x00, 0x00, 0x08, 0x7b, 0x22, 0x61, 0x22, 0x3a, 0x20, 0x31, 0x7d, 0x74,
	0x00, 0x00, 0x00, 0x05, 0x68, 0x61, 0x70, 0x70, 0x79,
};

/* Insert into items, seven NULLs */
static const uint8_t real_v1_ins_items2[] = {
	0x49, 0x00, 0x00, 0x40, 0x07, 0x4e, 0x00, 0x08, 0x74, 0x00, 0x00, 0x00,
	0x01, 0x32, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e,
};

/* Commit */
static const uint8_t real_v1_commit[] = {
	0x43, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x54, 0xc9, 0xc0, 0x00, 0x00,
	0x00, 0x00, 0x01, 0x54, 0xc9, 0xf0, 0x00, 0x03, 0x03, 0xc1, 0xbd, 0x57,
	0xe4, 0xe7,
};

/* Update of a non-key column: no old tuple */
static const uint8_t real_v1_upd_nokey[] = {
	0x55, 0x00, 0x00, 0x40, 0x07, 0x4e, 0x00, 0x08, 0x74, 0x00, 0x00, 0x00,
	0x01, 0x31, 0x74, 0x00, 0x00, 0x00, 0x06, 0x67, 0x61, 0x64, 0x67, 0x65,
	0x74, 0x74, 0x00, 0x00, 0x00, 0x04, 0x39, 0x2e, 0x39, 0x39, 0x74, 0x00,
	0x00, 0x00, 0x01, 0x74, 0x74, 0x00, 0x00, 0x00, 0x16, 0x32, 0x30, 0x32,
	0x34, 0x2d, 0x30, 0x31, 0x2d, 0x30, 0x32, 0x20, 0x30, 0x33, 0x3a, 0x30,
	0x34, 0x3a, 0x30, 0x35, 0x2b, 0x30, 0x30, 0x74, 0x00, 0x00, 0x00, 0x0a,
	0x5c, 0x78, 0x64, 0x65, 0x61, 0x64, 0x62, 0x65, 0x65, 0x66, 0x74, 0x00,
	0x00, 0x00, 0x08, 0x7b, 0x22, 0x61, 0x22, 0x3a, 0x20, 0x31, 0x7d, 0x74,
	0x00, 0x00, 0x00, 0x05, 0x68, 0x61, 0x70, 0x70, 0x79,
};

/* Update changing the primary key: old key (K) */
static const uint8_t real_v1_upd_key[] = {
	0x55, 0x00, 0x00, 0x40, 0x07, 0x4b, 0x00, 0x08, 0x74, 0x00, 0x00, 0x00,
	0x01, 0x32, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x4e, 0x00, 0x08,
	0x74, 0x00, 0x00, 0x00, 0x01, 0x33, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e,
	0x6e,
};

/* Delete with replica identity default: old key (K) */
static const uint8_t real_v1_del_key[] = {
	0x44, 0x00, 0x00, 0x40, 0x07, 0x4b, 0x00, 0x08, 0x74, 0x00, 0x00, 0x00,
	0x01, 0x33, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e,
};

/* Relation: public.full_t, replica identity full */
static const uint8_t real_v1_rel_full[] = {
	0x52, 0x00, 0x00, 0x40, 0x0e, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x00,
	0x66, 0x75, 0x6c, 0x6c, 0x5f, 0x74, 0x00, 0x66, 0x00, 0x02, 0x01, 0x69,
	0x64, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff, 0xff, 0xff, 0x01, 0x76,
	0x00, 0x00, 0x00, 0x00, 0x19, 0xff, 0xff, 0xff, 0xff,
};

/* Update with replica identity full: old row (O) */
static const uint8_t real_v1_upd_full[] = {
	0x55, 0x00, 0x00, 0x40, 0x0e, 0x4f, 0x00, 0x02, 0x74, 0x00, 0x00, 0x00,
	0x01, 0x31, 0x74, 0x00, 0x00, 0x00, 0x03, 0x6f, 0x6e, 0x65, 0x4e, 0x00,
	0x02, 0x74, 0x00, 0x00, 0x00, 0x01, 0x31, 0x74, 0x00, 0x00, 0x00, 0x03,
	0x75, 0x6e, 0x6f,
};

/* Delete with replica identity full: old row (O) */
static const uint8_t real_v1_del_full[] = {
	0x44, 0x00, 0x00, 0x40, 0x0e, 0x4f, 0x00, 0x02, 0x74, 0x00, 0x00, 0x00,
	0x01, 0x31, 0x74, 0x00, 0x00, 0x00, 0x03, 0x75, 0x6e, 0x6f,
};

/* Relation: public.toasty */
static const uint8_t real_v1_rel_toasty[] = {
	0x52, 0x00, 0x00, 0x40, 0x13, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x00,
	0x74, 0x6f, 0x61, 0x73, 0x74, 0x79, 0x00, 0x64, 0x00, 0x03, 0x01, 0x69,
	0x64, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff, 0xff, 0xff, 0x00, 0x62,
	0x69, 0x67, 0x00, 0x00, 0x00, 0x00, 0x19, 0xff, 0xff, 0xff, 0xff, 0x00,
	0x6e, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff, 0xff, 0xff,
};

/* Update leaving a TOASTed column unchanged (u) */
static const uint8_t real_v1_upd_toast[] = {
	0x55, 0x00, 0x00, 0x40, 0x13, 0x4e, 0x00, 0x03, 0x74, 0x00, 0x00, 0x00,
	0x01, 0x31, 0x75, 0x74, 0x00, 0x00, 0x00, 0x01, 0x31,
};

/* Truncate items, full_t */
static const uint8_t real_v1_truncate[] = {
	0x54, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, 0x07, 0x00, 0x00,
	0x40, 0x0e,
};

/* pg_logical_emit_message(true, txpfx, hello) */
static const uint8_t real_v1_msg_tx[] = {
	0x4d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x55, 0x1b, 0xa0, 0x74, 0x78,
	0x70, 0x66, 0x78, 0x00, 0x00, 0x00, 0x00, 0x05, 0x68, 0x65, 0x6c, 0x6c,
	0x6f,
};

/* pg_logical_emit_message(false, ntpfx, 00ff01) */
static const uint8_t real_v1_msg_notx[] = {
	0x4d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x55, 0x1c, 0x10, 0x6e, 0x74,
	0x70, 0x66, 0x78, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0xff, 0x01,
};

/* Insert into items with binary 'true' */
static const uint8_t real_v1_bin_ins_items1[] = {
	0x49, 0x00, 0x00, 0x40, 0x07, 0x4e, 0x00, 0x08, 0x62, 0x00, 0x00, 0x00,
	0x04, 0x00, 0x00, 0x00, 0x01, 0x62, 0x00, 0x00, 0x00, 0x06, 0x77, 0x69,
	0x64, 0x67, 0x65, 0x74, 0x62, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x02, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x09, 0x26, 0xac, 0x62, 0x00, 0x00,
	0x00, 0x01, 0x01, 0x62, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0xb0, 0xec,
	0x85, 0x15, 0xf3, 0x40, 0x62, 0x00, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe,
	0xef, 0x62, 0x00, 0x00, 0x00, 0x09, 0x01, 0x7b, 0x22, 0x61, 0x22, 0x3a,
	0x20, 0x31, 0x7d, 0x62, 0x00, 0x00, 0x00, 0x05, 0x68, 0x61, 0x70, 0x70,
	0x79,
};

/* Stream Start xid 741, first segment */
static const uint8_t real_v2_stream_start1[] = {
	0x53, 0x00, 0x00, 0x02, 0xe5, 0x01,
};

/* Relation inside the stream block (xid 741) */
static const uint8_t real_v2_stream_rel[] = {
	0x52, 0x00, 0x00, 0x02, 0xe5, 0x00, 0x00, 0x40, 0x0e, 0x70, 0x75, 0x62,
	0x6c, 0x69, 0x63, 0x00, 0x66, 0x75, 0x6c, 0x6c, 0x5f, 0x74, 0x00, 0x66,
	0x00, 0x02, 0x01, 0x69, 0x64, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff,
	0xff, 0xff, 0x01, 0x76, 0x00, 0x00, 0x00, 0x00, 0x19, 0xff, 0xff, 0xff,
	0xff,
};

/* Insert inside the stream block (xid 741) */
static const uint8_t real_v2_stream_ins1[] = {
	0x49, 0x00, 0x00, 0x02, 0xe5, 0x00, 0x00, 0x40, 0x0e, 0x4e, 0x00, 0x02,
	0x74, 0x00, 0x00, 0x00, 0x01, 0x31, 0x74, 0x00, 0x00, 0x00, 0x05, 0x72,
	0x6f, 0x77, 0x20, 0x31,
};

/* Stream Stop */
static const uint8_t real_v2_stream_stop[] = {
	0x45,
};

/* Stream Start xid 741, later segment */
static const uint8_t real_v2_stream_start2[] = {
	0x53, 0x00, 0x00, 0x02, 0xe5, 0x00,
};

/* Insert inside the second segment */
static const uint8_t real_v2_stream_ins445[] = {
	0x49, 0x00, 0x00, 0x02, 0xe5, 0x00, 0x00, 0x40, 0x0e, 0x4e, 0x00, 0x02,
	0x74, 0x00, 0x00, 0x00, 0x03, 0x34, 0x34, 0x35, 0x74, 0x00, 0x00, 0x00,
	0x07, 0x72, 0x6f, 0x77, 0x20, 0x34, 0x34, 0x35,
};

/* Transactional message inside the stream block */
static const uint8_t real_v2_stream_msg[] = {
	0x4d, 0x00, 0x00, 0x02, 0xe5, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x58,
	0x6a, 0xd0, 0x73, 0x70, 0x66, 0x78, 0x00, 0x00, 0x00, 0x00, 0x09, 0x69,
	0x6e, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d,
};

/* Stream Commit xid 741 */
static const uint8_t real_v2_stream_commit[] = {
	0x63, 0x00, 0x00, 0x02, 0xe5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x58,
	0x6a, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x01, 0x58, 0x6b, 0x00, 0x00, 0x03,
	0x03, 0xc1, 0xbd, 0xbf, 0x49, 0xaa,
};

/* Stream Start xid 742, first segment */
static const uint8_t real_v2_stream_start3[] = {
	0x53, 0x00, 0x00, 0x02, 0xe6, 0x01,
};

/* Stream Abort xid 742 (top level) */
static const uint8_t real_v2_stream_abort[] = {
	0x41, 0x00, 0x00, 0x02, 0xe6, 0x00, 0x00, 0x02, 0xe6,
};

/* Begin of a small transaction after the streams */
static const uint8_t real_v2_begin[] = {
	0x42, 0x00, 0x00, 0x00, 0x00, 0x01, 0x5b, 0xb9, 0xa0, 0x00, 0x03, 0x03,
	0xc1, 0xbd, 0xbf, 0x51, 0x1a, 0x00, 0x00, 0x02, 0xe7,
};

/* Insert outside any stream block: no xid */
static const uint8_t real_v2_ins_after[] = {
	0x49, 0x00, 0x00, 0x40, 0x0e, 0x4e, 0x00, 0x02, 0x74, 0x00, 0x00, 0x00,
	0x02, 0x2d, 0x31, 0x74, 0x00, 0x00, 0x00, 0x05, 0x61, 0x66, 0x74, 0x65,
	0x72,
};

/* Commit */
static const uint8_t real_v2_commit[] = {
	0x43, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x5b, 0xb9, 0xa0, 0x00, 0x00,
	0x00, 0x00, 0x01, 0x5b, 0xb9, 0xd0, 0x00, 0x03, 0x03, 0xc1, 0xbd, 0xbf,
	0x51, 0x1a,
};

/* Keepalive */
static const uint8_t real_frame_k1[] = {
	0x6b, 0x00, 0x00, 0x00, 0x00, 0x01, 0x5b, 0xba, 0x08, 0x00, 0x03, 0x03,
	0xc1, 0xbe, 0x48, 0xfb, 0x4b, 0x00,
};

/* XLogData: Begin (walStart = walEnd = 0!) */
static const uint8_t real_frame_w_begin[] = {
	0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0xc1, 0xbe, 0x48, 0xfc,
	0x84, 0x42, 0x00, 0x00, 0x00, 0x00, 0x01, 0x5b, 0xbc, 0xc0, 0x00, 0x03,
	0x03, 0xc1, 0xbd, 0xf7, 0xf7, 0x17, 0x00, 0x00, 0x02, 0xe9,
};

/* XLogData: Origin */
static const uint8_t real_frame_w_origin[] = {
	0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x5b, 0xbc, 0x70, 0x00, 0x00, 0x00,
	0x00, 0x01, 0x5b, 0xbc, 0x70, 0x00, 0x03, 0x03, 0xc1, 0xbe, 0x48, 0xfc,
	0x86, 0x4f, 0x00, 0x00, 0x00, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x75, 0x70,
	0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x5f, 0x61, 0x00,
};

/* XLogData: Relation (walStart = walEnd = 0) */
static const uint8_t real_frame_w_rel[] = {
	0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0xc1, 0xbe, 0x48, 0xfc,
	0x9a, 0x52, 0x00, 0x00, 0x40, 0x0e, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63,
	0x00, 0x66, 0x75, 0x6c, 0x6c, 0x5f, 0x74, 0x00, 0x66, 0x00, 0x02, 0x01,
	0x69, 0x64, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff, 0xff, 0xff, 0x01,
	0x76, 0x00, 0x00, 0x00, 0x00, 0x19, 0xff, 0xff, 0xff, 0xff,
};

/* XLogData: Insert */
static const uint8_t real_frame_w_insert[] = {
	0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x5b, 0xbc, 0x70, 0x00, 0x00, 0x00,
	0x00, 0x01, 0x5b, 0xbc, 0x70, 0x00, 0x03, 0x03, 0xc1, 0xbe, 0x48, 0xfc,
	0xbf, 0x49, 0x00, 0x00, 0x40, 0x0e, 0x4e, 0x00, 0x02, 0x74, 0x00, 0x00,
	0x00, 0x01, 0x37, 0x74, 0x00, 0x00, 0x00, 0x0b, 0x66, 0x72, 0x6f, 0x6d,
	0x20, 0x6f, 0x72, 0x69, 0x67, 0x69, 0x6e,
};

/* XLogData: Commit */
static const uint8_t real_frame_w_commit[] = {
	0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x5b, 0xbd, 0x08, 0x00, 0x00, 0x00,
	0x00, 0x01, 0x5b, 0xbd, 0x08, 0x00, 0x03, 0x03, 0xc1, 0xbe, 0x48, 0xfc,
	0xc0, 0x43, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x5b, 0xbc, 0xc0, 0x00,
	0x00, 0x00, 0x00, 0x01, 0x5b, 0xbd, 0x08, 0x00, 0x03, 0x03, 0xc1, 0xbd,
	0xf7, 0xf7, 0x17,
};

/* Keepalive */
static const uint8_t real_frame_k2[] = {
	0x6b, 0x00, 0x00, 0x00, 0x00, 0x01, 0x5b, 0xbd, 0x40, 0x00, 0x03, 0x03,
	0xc1, 0xbe, 0x48, 0xfc, 0xd6, 0x00,
};


/* Decode one captured payload, expecting success. */
#define DECODE_REAL(d, arr, m) decode_real((d), (arr), sizeof(arr), (m))

static void
decode_real(pgo_decoder *d, const uint8_t *data, size_t len, pgo_msg *m)
{
	bool		ok = pgo_decode(d, data, len, m);

	if (!ok)
		print_error("real payload rejected: %s\n", pgo_error(d));
	assert_true(ok);
}

/* The strictness contract on a captured payload. */
#define STRICT_REAL(d, arr, m) strict_real((d), (arr), sizeof(arr), (m))

static void
strict_real(pgo_decoder *d, const uint8_t *data, size_t len, pgo_msg *m)
{
	msgbuf	   *mb = mb_new();

	mb_bytes(mb, data, len);
	check_strict(d, mb, m);
	free(mb);
}

static void
test_real_v1(void **state)
{
	pgo_decoder *d = pgo_decoder_new(1);
	pgo_msg		m;
	const pgo_relation *items;
	const pgo_relation *full;
	const pgo_relation *toasty;
	const uint8_t ntcontent[] = {0x00, 0xff, 0x01};

	(void) state;
	DECODE_REAL(d, real_v1_begin, &m);
	assert_int_equal(m.type, PGO_BEGIN);
	assert_int_equal(m.u.begin.final_lsn, UINT64_C(0x154C9C0));
	assert_int_equal(m.u.begin.commit_time, INT64_C(0x000303c1bd57e4e7));
	assert_int_equal(m.u.begin.xid, 730);

	/* a user-defined enum column makes pgoutput send its type first */
	DECODE_REAL(d, real_v1_type_mood, &m);
	assert_int_equal(m.type, PGO_TYPE);
	assert_int_equal(m.u.type.oid, 16385);
	assert_string_equal(m.u.type.nspname, "public");
	assert_string_equal(m.u.type.typname, "mood");

	DECODE_REAL(d, real_v1_rel_items, &m);
	items = m.u.relation;
	assert_int_equal(items->oid, 16391);
	assert_string_equal(items->nspname, "public");
	assert_string_equal(items->relname, "items");
	assert_int_equal(items->replident, 'd');
	assert_int_equal(items->ncols, 8);
	{
		const char *names[] = {"id", "name", "price", "ok", "ts", "blob", "doc", "m"};
		const uint32_t types[] = {23, 25, 1700, 16, 1184, 17, 3802, 16385};

		for (int i = 0; i < 8; i++)
		{
			assert_string_equal(items->cols[i].name, names[i]);
			assert_int_equal(items->cols[i].type_oid, types[i]);
			assert_int_equal(items->cols[i].is_key, i == 0);
			/* numeric(10,2): ((10 << 16) | 2) + VARHDRSZ */
			assert_int_equal(items->cols[i].type_mod, i == 2 ? 0x000a0006 : -1);
		}
	}

	DECODE_REAL(d, real_v1_ins_items1, &m);
	assert_int_equal(m.type, PGO_INSERT);
	assert_ptr_equal(m.u.insert.rel, items);
	assert_int_equal(m.u.insert.newtup.ncols, 8);
	assert_text(&m.u.insert.newtup.cols[0], "1");
	assert_text(&m.u.insert.newtup.cols[1], "widget");
	assert_text(&m.u.insert.newtup.cols[2], "9.99");
	assert_text(&m.u.insert.newtup.cols[3], "t");
	assert_text(&m.u.insert.newtup.cols[4], "2024-01-02 03:04:05+00");
	assert_text(&m.u.insert.newtup.cols[5], "\\xdeadbeef");
	assert_text(&m.u.insert.newtup.cols[6], "{\"a\": 1}");
	assert_text(&m.u.insert.newtup.cols[7], "happy");

	DECODE_REAL(d, real_v1_ins_items2, &m);
	assert_text(&m.u.insert.newtup.cols[0], "2");
	for (int i = 1; i < 8; i++)
		assert_null_col(&m.u.insert.newtup.cols[i]);

	DECODE_REAL(d, real_v1_commit, &m);
	assert_int_equal(m.type, PGO_COMMIT);
	assert_int_equal(m.u.commit.flags, 0);
	assert_int_equal(m.u.commit.commit_lsn, UINT64_C(0x154C9C0));
	assert_int_equal(m.u.commit.end_lsn, UINT64_C(0x154C9F0));
	assert_int_equal(m.u.commit.commit_time, INT64_C(0x000303c1bd57e4e7));

	DECODE_REAL(d, real_v1_upd_nokey, &m);
	assert_int_equal(m.type, PGO_UPDATE);
	assert_int_equal(m.u.update.old_kind, 0);
	assert_text(&m.u.update.newtup.cols[1], "gadget");
	assert_text(&m.u.update.newtup.cols[7], "happy");

	DECODE_REAL(d, real_v1_upd_key, &m);
	assert_int_equal(m.u.update.old_kind, 'K');
	assert_int_equal(m.u.update.oldtup.ncols, 8);
	assert_text(&m.u.update.oldtup.cols[0], "2");
	assert_text(&m.u.update.newtup.cols[0], "3");
	for (int i = 1; i < 8; i++)
	{
		assert_null_col(&m.u.update.oldtup.cols[i]);
		assert_null_col(&m.u.update.newtup.cols[i]);
	}

	DECODE_REAL(d, real_v1_del_key, &m);
	assert_int_equal(m.type, PGO_DELETE);
	assert_int_equal(m.u.del.old_kind, 'K');
	assert_text(&m.u.del.oldtup.cols[0], "3");

	DECODE_REAL(d, real_v1_rel_full, &m);
	full = m.u.relation;
	assert_int_equal(full->oid, 16398);
	assert_string_equal(full->relname, "full_t");
	assert_int_equal(full->replident, 'f');
	/* replica identity full: every column is flagged as key */
	assert_true(full->cols[0].is_key);
	assert_true(full->cols[1].is_key);

	DECODE_REAL(d, real_v1_upd_full, &m);
	assert_int_equal(m.u.update.old_kind, 'O');
	assert_text(&m.u.update.oldtup.cols[0], "1");
	assert_text(&m.u.update.oldtup.cols[1], "one");
	assert_text(&m.u.update.newtup.cols[1], "uno");

	DECODE_REAL(d, real_v1_del_full, &m);
	assert_int_equal(m.u.del.old_kind, 'O');
	assert_text(&m.u.del.oldtup.cols[1], "uno");

	DECODE_REAL(d, real_v1_rel_toasty, &m);
	toasty = m.u.relation;
	assert_int_equal(toasty->oid, 16403);
	DECODE_REAL(d, real_v1_upd_toast, &m);
	assert_ptr_equal(m.u.update.rel, toasty);
	assert_int_equal(m.u.update.old_kind, 0);
	assert_text(&m.u.update.newtup.cols[0], "1");
	assert_value(&m.u.update.newtup.cols[1], PGO_COL_UNCHANGED, NULL, 0);
	assert_text(&m.u.update.newtup.cols[2], "1");

	DECODE_REAL(d, real_v1_truncate, &m);
	assert_int_equal(m.type, PGO_TRUNCATE);
	assert_int_equal(m.u.truncate.options, 0);
	assert_int_equal(m.u.truncate.nrels, 2);
	assert_int_equal(m.u.truncate.relids[0], 16391);
	assert_int_equal(m.u.truncate.relids[1], 16398);

	DECODE_REAL(d, real_v1_msg_tx, &m);
	assert_int_equal(m.type, PGO_MESSAGE);
	assert_true(m.u.message.transactional);
	assert_int_equal(m.u.message.lsn, UINT64_C(0x1551BA0));
	assert_string_equal(m.u.message.prefix, "txpfx");
	assert_int_equal(m.u.message.content_len, 5);
	assert_memory_equal(m.u.message.content, "hello", 5);

	DECODE_REAL(d, real_v1_msg_notx, &m);
	assert_false(m.u.message.transactional);
	assert_int_equal(m.u.message.lsn, UINT64_C(0x1551C10));
	assert_string_equal(m.u.message.prefix, "ntpfx");
	assert_int_equal(m.u.message.content_len, 3);
	assert_memory_equal(m.u.message.content, ntcontent, 3);

	/* and every captured message obeys the strictness contract */
	STRICT_REAL(d, real_v1_begin, &m);
	STRICT_REAL(d, real_v1_type_mood, &m);
	STRICT_REAL(d, real_v1_rel_items, &m);
	STRICT_REAL(d, real_v1_ins_items1, &m);
	STRICT_REAL(d, real_v1_ins_items2, &m);
	STRICT_REAL(d, real_v1_commit, &m);
	STRICT_REAL(d, real_v1_upd_nokey, &m);
	STRICT_REAL(d, real_v1_upd_key, &m);
	STRICT_REAL(d, real_v1_del_key, &m);
	STRICT_REAL(d, real_v1_rel_full, &m);
	STRICT_REAL(d, real_v1_upd_full, &m);
	STRICT_REAL(d, real_v1_del_full, &m);
	STRICT_REAL(d, real_v1_rel_toasty, &m);
	STRICT_REAL(d, real_v1_upd_toast, &m);
	STRICT_REAL(d, real_v1_truncate, &m);
	STRICT_REAL(d, real_v1_msg_tx, &m);
	STRICT_REAL(d, real_v1_msg_notx, &m);
	STRICT_REAL(d, real_v1_bin_ins_items1, &m);

	pgo_decoder_free(d);
}

static void
test_real_v1_binary(void **state)
{
	pgo_decoder *d = pgo_decoder_new(1);
	pgo_msg		m;
	const uint8_t id[] = {0, 0, 0, 1};
	/* numeric send format: ndigits 2, weight 0, sign +, dscale 2, base-10000 digits 9 and 9900 */
	const uint8_t price[] = {0, 2, 0, 0, 0, 0, 0, 2, 0, 9, 0x26, 0xac};
	const uint8_t ok[] = {1};
	const uint8_t ts[] = {0x00, 0x02, 0xb0, 0xec, 0x85, 0x15, 0xf3, 0x40};
	const uint8_t blob[] = {0xde, 0xad, 0xbe, 0xef};
	/* jsonb send format: version byte 1, then the text */
	const uint8_t doc[] = {1, '{', '"', 'a', '"', ':', ' ', '1', '}'};

	(void) state;
	DECODE_REAL(d, real_v1_rel_items, &m);
	DECODE_REAL(d, real_v1_bin_ins_items1, &m);
	assert_int_equal(m.u.insert.newtup.ncols, 8);
	assert_value(&m.u.insert.newtup.cols[0], PGO_COL_BINARY, id, sizeof(id));
	assert_value(&m.u.insert.newtup.cols[1], PGO_COL_BINARY, "widget", 6);
	assert_value(&m.u.insert.newtup.cols[2], PGO_COL_BINARY, price, sizeof(price));
	assert_value(&m.u.insert.newtup.cols[3], PGO_COL_BINARY, ok, sizeof(ok));
	assert_value(&m.u.insert.newtup.cols[4], PGO_COL_BINARY, ts, sizeof(ts));
	assert_value(&m.u.insert.newtup.cols[5], PGO_COL_BINARY, blob, sizeof(blob));
	assert_value(&m.u.insert.newtup.cols[6], PGO_COL_BINARY, doc, sizeof(doc));
	assert_value(&m.u.insert.newtup.cols[7], PGO_COL_BINARY, "happy", 5);
	pgo_decoder_free(d);
}

static void
test_real_v2_stream(void **state)
{
	pgo_decoder *d = pgo_decoder_new(2);
	pgo_msg		m;

	(void) state;
	DECODE_REAL(d, real_v2_stream_start1, &m);
	assert_int_equal(m.type, PGO_STREAM_START);
	assert_int_equal(m.u.stream_start.xid, 741);
	assert_true(m.u.stream_start.first_segment);

	DECODE_REAL(d, real_v2_stream_rel, &m);
	assert_int_equal(m.type, PGO_RELATION);
	assert_int_equal(m.xid, 741);
	assert_int_equal(m.u.relation->oid, 16398);
	assert_string_equal(m.u.relation->relname, "full_t");

	DECODE_REAL(d, real_v2_stream_ins1, &m);
	assert_int_equal(m.type, PGO_INSERT);
	assert_int_equal(m.xid, 741);
	assert_text(&m.u.insert.newtup.cols[0], "1");
	assert_text(&m.u.insert.newtup.cols[1], "row 1");

	DECODE_REAL(d, real_v2_stream_stop, &m);
	assert_int_equal(m.type, PGO_STREAM_STOP);
	assert_int_equal(m.xid, 741);

	DECODE_REAL(d, real_v2_stream_start2, &m);
	assert_int_equal(m.u.stream_start.xid, 741);
	assert_false(m.u.stream_start.first_segment);
	DECODE_REAL(d, real_v2_stream_ins445, &m);
	assert_int_equal(m.xid, 741);
	assert_text(&m.u.insert.newtup.cols[0], "445");
	assert_text(&m.u.insert.newtup.cols[1], "row 445");
	DECODE_REAL(d, real_v2_stream_msg, &m);
	assert_int_equal(m.type, PGO_MESSAGE);
	assert_int_equal(m.xid, 741);
	assert_true(m.u.message.transactional);
	assert_int_equal(m.u.message.lsn, UINT64_C(0x1586AD0));
	assert_string_equal(m.u.message.prefix, "spfx");
	assert_int_equal(m.u.message.content_len, 9);
	assert_memory_equal(m.u.message.content, "in stream", 9);
	DECODE_REAL(d, real_v2_stream_stop, &m);

	DECODE_REAL(d, real_v2_stream_commit, &m);
	assert_int_equal(m.type, PGO_STREAM_COMMIT);
	assert_int_equal(m.u.stream_commit.xid, 741);
	assert_int_equal(m.u.stream_commit.flags, 0);
	assert_int_equal(m.u.stream_commit.commit_lsn, UINT64_C(0x1586AD0));
	assert_int_equal(m.u.stream_commit.end_lsn, UINT64_C(0x1586B00));
	assert_int_equal(m.u.stream_commit.commit_time, INT64_C(0x000303c1bdbf49aa));

	/* a second big transaction, rolled back after being streamed */
	DECODE_REAL(d, real_v2_stream_start3, &m);
	assert_int_equal(m.u.stream_start.xid, 742);
	assert_true(m.u.stream_start.first_segment);
	DECODE_REAL(d, real_v2_stream_stop, &m);
	assert_int_equal(m.xid, 742);
	DECODE_REAL(d, real_v2_stream_abort, &m);
	assert_int_equal(m.type, PGO_STREAM_ABORT);
	assert_int_equal(m.u.stream_abort.xid, 742);
	assert_int_equal(m.u.stream_abort.subxid, 742);

	/* then an ordinary transaction: no xid on its insert */
	DECODE_REAL(d, real_v2_begin, &m);
	assert_int_equal(m.u.begin.xid, 743);
	assert_int_equal(m.u.begin.final_lsn, UINT64_C(0x15BB9A0));
	DECODE_REAL(d, real_v2_ins_after, &m);
	assert_int_equal(m.xid, 0);
	assert_int_equal(m.u.insert.rel->oid, 16398);
	assert_text(&m.u.insert.newtup.cols[0], "-1");
	assert_text(&m.u.insert.newtup.cols[1], "after");
	DECODE_REAL(d, real_v2_commit, &m);
	assert_int_equal(m.u.commit.end_lsn, UINT64_C(0x15BB9D0));

	/* read with the wrong framing, a streamed insert is rejected, not misread */
	assert_false(pgo_decode(d, real_v2_stream_ins1, sizeof(real_v2_stream_ins1), &m));
	/* and a stream start is nonsense to a protocol 1 decoder */
	{
		pgo_decoder *d1 = pgo_decoder_new(1);

		assert_false(pgo_decode(d1, real_v2_stream_start1, sizeof(real_v2_stream_start1), &m));
		pgo_decoder_free(d1);
	}

	/* strictness of the captured stream messages, in a valid order */
	STRICT_REAL(d, real_v2_stream_start1, &m);
	STRICT_REAL(d, real_v2_stream_rel, &m);
	STRICT_REAL(d, real_v2_stream_ins1, &m);
	STRICT_REAL(d, real_v2_stream_ins445, &m);
	STRICT_REAL(d, real_v2_stream_msg, &m);
	STRICT_REAL(d, real_v2_stream_stop, &m);
	STRICT_REAL(d, real_v2_stream_commit, &m);
	STRICT_REAL(d, real_v2_stream_abort, &m);
	STRICT_REAL(d, real_v2_begin, &m);
	STRICT_REAL(d, real_v2_ins_after, &m);
	STRICT_REAL(d, real_v2_commit, &m);

	pgo_decoder_free(d);
}

static void
test_real_frames(void **state)
{
	pgo_decoder *d = pgo_decoder_new(1);
	pgo_frame	f;
	pgo_msg		m;
	const char *err;

	(void) state;
	assert_true(pgo_parse_frame(real_frame_k1, sizeof(real_frame_k1), &f, &err));
	assert_int_equal(f.type, PGO_FRAME_KEEPALIVE);
	assert_int_equal(f.wal_end, UINT64_C(0x15BBA08));
	assert_int_equal(f.send_time, INT64_C(0x000303c1be48fb4b));
	assert_false(f.reply_requested);

	/* the walsender sent walStart = walEnd = 0 with this Begin: never trust them as progress */
	assert_true(pgo_parse_frame(real_frame_w_begin, sizeof(real_frame_w_begin), &f, &err));
	assert_int_equal(f.type, PGO_FRAME_XLOGDATA);
	assert_int_equal(f.wal_start, 0);
	assert_int_equal(f.wal_end, 0);
	assert_int_equal(f.payload_len, sizeof(real_frame_w_begin) - 25);
	decode_real(d, f.payload, f.payload_len, &m);
	assert_int_equal(m.type, PGO_BEGIN);
	assert_int_equal(m.u.begin.xid, 745);
	assert_int_equal(m.u.begin.final_lsn, UINT64_C(0x15BBCC0));

	assert_true(pgo_parse_frame(real_frame_w_origin, sizeof(real_frame_w_origin), &f, &err));
	assert_int_equal(f.wal_start, UINT64_C(0x15BBC70));
	assert_int_equal(f.wal_end, UINT64_C(0x15BBC70));
	decode_real(d, f.payload, f.payload_len, &m);
	assert_int_equal(m.type, PGO_ORIGIN);
	/* pg_replication_origin_xact_setup('AB/CDEF0123', ...) */
	assert_int_equal(m.u.origin.lsn, UINT64_C(0xABCDEF0123));
	assert_string_equal(m.u.origin.name, "upstream_a");

	assert_true(pgo_parse_frame(real_frame_w_rel, sizeof(real_frame_w_rel), &f, &err));
	assert_int_equal(f.wal_start, 0);
	decode_real(d, f.payload, f.payload_len, &m);
	assert_int_equal(m.type, PGO_RELATION);
	assert_string_equal(m.u.relation->relname, "full_t");

	assert_true(pgo_parse_frame(real_frame_w_insert, sizeof(real_frame_w_insert), &f, &err));
	decode_real(d, f.payload, f.payload_len, &m);
	assert_int_equal(m.type, PGO_INSERT);
	assert_text(&m.u.insert.newtup.cols[0], "7");
	assert_text(&m.u.insert.newtup.cols[1], "from origin");

	assert_true(pgo_parse_frame(real_frame_w_commit, sizeof(real_frame_w_commit), &f, &err));
	assert_int_equal(f.wal_start, UINT64_C(0x15BBD08));
	decode_real(d, f.payload, f.payload_len, &m);
	assert_int_equal(m.type, PGO_COMMIT);
	assert_int_equal(m.u.commit.commit_lsn, UINT64_C(0x15BBCC0));
	assert_int_equal(m.u.commit.end_lsn, UINT64_C(0x15BBD08));

	assert_true(pgo_parse_frame(real_frame_k2, sizeof(real_frame_k2), &f, &err));
	assert_int_equal(f.wal_end, UINT64_C(0x15BBD40));

	pgo_decoder_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoder_new),
		cmocka_unit_test(test_begin_commit),
		cmocka_unit_test(test_origin),
		cmocka_unit_test(test_relation),
		cmocka_unit_test(test_type),
		cmocka_unit_test(test_insert),
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_relation_replaced),
		cmocka_unit_test(test_relation_cache_many),
		cmocka_unit_test(test_wide_relation),
		cmocka_unit_test(test_tuple_errors),
		cmocka_unit_test(test_stream_block),
		cmocka_unit_test(test_strict_prefixes),
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_status_update),
		cmocka_unit_test(test_lsn),
		cmocka_unit_test(test_snapshot_sees),
		cmocka_unit_test(test_real_v1),
		cmocka_unit_test(test_real_v1_binary),
		cmocka_unit_test(test_real_v2_stream),
		cmocka_unit_test(test_real_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
