/*
 * backfill.c: copying tables. Full refresh streams are one COPY; CDC streams are copied in
 * key-ordered chunks (keyset pagination), each chunk one short COPY statement, with a STATE
 * after every chunk so a resumed read continues after the last copied key. Keyless tables under
 * REPLICA IDENTITY FULL are copied in ctid block ranges (PostgreSQL 14+: TID range scans).
 */
#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airbyte.h"
#include "commands.h"
#include "copybin.h"
#include "copytext.h"
#include "error.h"
#include "log.h"
#include "pgconn.h"
#include "reader.h"

/* A chunk's lock wait, while the change stream is open, is polled this often (see copy_begin). */
#define LOCK_POLL_MS 1000

/* more rows than this per wake-up means the server outpaces us: read in batches */
#define BATCH_ROWS 32
/* how long a batched COPY read waits for PGC_BATCH_BYTES before taking what came */
#define COPY_BATCH_MS 5

/* Append the quoted names of the selected columns, then key columns not selected. */
static bool
append_select_list(reader *r, buf_t *sql, const rd_stream *s, int *keypos)
{
	int			n = s->nsel;

	for (int i = 0; i < s->nsel; i++)
	{
		char	   *q = pgc_ident(r->conn, s->table->cols[s->sel[i]].name);

		if (q == NULL)
			return false;
		buf_puts(sql, i ? ", " : "");
		buf_puts(sql, q);
		PQfreemem(q);
	}
	for (int k = 0; keypos && k < s->table->nkey; k++)
	{
		int			ci = s->table->key[k];

		keypos[k] = -1;
		for (int i = 0; i < s->nsel; i++)
			if (s->sel[i] == ci)
				keypos[k] = i;
		if (keypos[k] < 0)
		{
			char	   *q = pgc_ident(r->conn, s->table->cols[ci].name);

			if (q == NULL)
				return false;
			buf_puts(sql, ", ");
			buf_puts(sql, q);
			PQfreemem(q);
			keypos[k] = n++;
		}
	}
	return true;
}

/* Append "k1, k2" (quoted key column names). */
static bool
append_key_list(reader *r, buf_t *sql, const rd_stream *s)
{
	for (int k = 0; k < s->table->nkey; k++)
	{
		char	   *q = pgc_ident(r->conn, s->table->cols[s->table->key[k]].name);

		if (q == NULL)
			return false;
		buf_puts(sql, k ? ", " : "");
		buf_puts(sql, q);
		PQfreemem(q);
	}
	return true;
}

/*
 * Whether a copy of s reads the table without its inheritance children. A CDC stream of a plain
 * table is its own rows: its children's changes come under their own names (they are streams of
 * their own), so copying their rows too would leave copies no change ever updates. The other
 * modes read what SELECT returns, children included (a partitioned table's partitions are its
 * rows, and its changes come under its name).
 */
static bool
copies_only(const rd_stream *s)
{
	return s->incremental && s->table->relkind == 'r' && s->table->has_children;
}

/* "COPY (SELECT <selected columns>[, key columns] FROM <qt>": the start of every copy. */
static bool
copy_select_from(reader *r, buf_t *sql, const rd_stream *s, const char *qt, int *keypos)
{
	buf_puts(sql, "COPY (SELECT ");
	if (!append_select_list(r, sql, s, keypos))
		return false;
	buf_printf(sql, " FROM %s%s", copies_only(s) ? "ONLY " : "", qt);
	return true;
}

/* A COPY's error result, recorded as a statement's is (pgc_fail). */
static void
copy_failed(const rd_stream *s, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	char		what[600];
	char		internal[2048];

	snprintf(what, sizeof(what), "copying %s.%s", s->table->ns, s->table->name);
	snprintf(internal, sizeof(internal), "SQLSTATE %s: %s", state ? state : "none",
			 PQresultErrorMessage(res));
	pgc_fail(what, state ? state : "", primary ? primary : "no message from the server", internal);
}

/*
 * Emit one parsed COPY row of stream s (binary when wire is set) as a RECORD, with the CDC
 * columns when lsn_json is set.
 */
static void
emit_row(reader *r, rd_stream *s, const tc_wire *wire, const copy_field *f, const char *lsn_json)
{
	buf_t	   *out = reader_record_begin(r, s);

	for (int i = 0; i < s->nsel; i++)
		if (wire)
			reader_emit_binary_value(r, out, s, i, &s->table->cols[s->sel[i]].type, i == 0,
									 f[i].data, f[i].len, f[i].is_null);
		else
			reader_emit_value(r, out, s, i, &s->table->cols[s->sel[i]].type, i == 0, f[i].data,
							  f[i].len, f[i].is_null);
	if (lsn_json)
	{
		buf_append(out, ",\"_ab_cdc_lsn\":", 15);
		buf_puts(out, lsn_json);
		buf_append(out, ",\"_ab_cdc_updated_at\":\"", 23);
		buf_puts(out, r->backfill_updated_at);
		buf_append(out, "\",\"_ab_cdc_deleted_at\":null", 27);
	}
	reader_record_end(r);
	s->records++;
	r->records_since_state++;
}

/*
 * Parse a COPY row into f: a text row, or with wire a binary tuple. 1 for a row, 0 for the binary
 * trailer, -1 (an error recorded, naming the stream) when it does not fit.
 */
static int
parse_row(reader *r, const rd_stream *s, const tc_wire *wire, const char *row, size_t len,
		  copy_field *f, int nfields)
{
	int			got;

	if (wire)
		got = copybin_split_row(row, len, wire, nfields, f);
	else
		got = copy_parse_row(row, len, &r->scratch, f, nfields) ? 1 : -1;
	if (got < 0 && wire)
		err_set(ERR_SYSTEM, NULL, "a binary COPY row of %s.%s is not %d fields of the types the "
				"read expects", s->table->ns, s->table->name, nfields);
	else if (got < 0)
		err_set(ERR_SYSTEM, NULL, "could not parse a COPY row of %s.%s (expected %d fields)",
				s->table->ns, s->table->name, nfields);
	return got;
}

/* Whether a copy of s can take table column i: a selected, key or cursor column. */
static bool
copy_may_take(const rd_stream *s, int i)
{
	bool		taken = i == s->cursor_col;

	for (int k = 0; k < s->nsel; k++)
		taken |= s->sel[k] == i;
	for (int k = 0; k < s->table->nkey; k++)
		taken |= s->table->key[k] == i;
	return taken;
}

/* Whether every column a copy of s can take has a binary form. */
static bool
copies_binary(const rd_stream *s)
{
	for (int i = 0; i < s->table->ncols; i++)
		if (s->table->cols[i].type.wire == TC_WIRE_NONE && copy_may_take(s, i))
			return false;
	return true;
}

/* The binary forms of a COPY's fields: the selected columns, then the table columns at extra. */
static tc_wire *
copy_wires(const rd_stream *s, int nfields, const int *extra)
{
	tc_wire    *w = calloc((size_t) nfields + 1, sizeof(tc_wire));

	if (w == NULL)
		abort();
	for (int i = 0; i < nfields; i++)
		w[i] = s->table->cols[i < s->nsel ? s->sel[i] : extra[i - s->nsel]].type.wire;
	return w;
}

/*
 * A relation c (of pg_class, left-joined to rel) that the transaction's snapshot does not know
 * (created since: a table swapped in under the name) or whose file is not the one its snapshot
 * sees (a rewrite or TRUNCATE committed since): pg_relation_filenode reads the current catalog,
 * a SELECT of pg_class the snapshot's. CHANGED_SINCE_SNAPSHOT_SQL counts the relations the
 * transaction has locked that are so.
 */
#define NOT_AS_SNAPSHOT_SEES(rel) \
	"(c.oid IS NULL OR (c.relkind IN ('r', 'm') AND c.relfilenode <> 0 AND " \
	"pg_catalog.pg_relation_filenode(" rel ") IS DISTINCT FROM c.relfilenode))"
#define CHANGED_SINCE_SNAPSHOT_SQL \
	"SELECT count(*) FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_class c ON c.oid = " \
	"l.relation WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND " \
	NOT_AS_SNAPSHOT_SEES("l.relation")

/* Whether s's copies import the reader's exported snapshot (see reader.h snap_conn). */
static bool
in_copy_snapshot(const reader *r, const rd_stream *s)
{
	return r->snap_conn != NULL && s->in_snapshot;
}

/*
 * In a copy's transaction that imported the exported snapshot (the slot's, or one taken as the
 * table joined), holding its lock: whether the table is as the snapshot sees it. Rewritten or
 * truncated since, the snapshot cannot see its rows (MVCC-unsafe operations): its copies then
 * take snapshots of their own (at least once: a row changed since the snapshot can be both copied
 * and streamed). -1 if the server cannot be asked (error recorded).
 */
static int
copy_snapshot_holds(reader *r, rd_stream *s)
{
	char		oid[16];
	const char *p[1] = {oid};
	PGresult   *res;
	int			holds;

	/* the table and its partitions (not its indexes: one made since changes no row) */
	snprintf(oid, sizeof(oid), "%u", s->table->oid);
	res = pgc_query(r->conn, "checking the table against the copy's snapshot",
					"SELECT count(*) FROM (SELECT $1::oid AS relid UNION SELECT relid FROM "
					"pg_catalog.pg_partition_tree($1::oid::regclass)) AS t LEFT JOIN "
					"pg_catalog.pg_class c ON c.oid = t.relid WHERE "
					NOT_AS_SNAPSHOT_SEES("t.relid"), 1, p);
	if (res == NULL)
		return -1;
	holds = strcmp(PQgetvalue(res, 0, 0), "0") == 0;
	PQclear(res);
	if (!holds)
	{
		log_warn("stream %s.%s: the table was rewritten or truncated since the snapshot its copy "
				 "reads in was taken (as the replication slot was made, or as the table joined), "
				 "so its rows cannot be read in it: copying it as it is now (a row changed since "
				 "may come twice)", s->table->ns, s->table->name);
		s->in_snapshot = false;
	}
	return holds;
}

/*
 * Open the transaction a copy of s runs in (REPEATABLE READ when repeatable, else READ COMMITTED),
 * taking an ACCESS SHARE lock on qt first (on ONLY qt when the copy reads the table without its
 * children).
 *
 * - A COPY takes its snapshot before it locks its table. Waiting for a table rewrite (ALTER
 *   COLUMN TYPE, for one), it would read the new file under a snapshot that cannot see the
 *   rewritten rows, and copy none of them: a backfill would end early and its rows never come.
 *   With the lock taken first, the copy's snapshot is of after any rewrite the lock waited for.
 * - Holding the lock, the column types cannot change until the copy ends. They are checked
 *   against the read's catalog, and *binary is set when the copy can be made in binary format
 *   (a binary value carries no type: one of another type would be read as garbage).
 *
 * The lock is LOCK TABLE, which takes no snapshot. A role with column privileges only may not
 * LOCK a table: its copies lock it with "SELECT FROM qt LIMIT 0" instead, which any column
 * privilege allows, and are made in text format. That statement takes a snapshot before it waits
 * for the lock: harmless in READ COMMITTED, where the COPY takes a new one, but in REPEATABLE READ
 * it is the transaction's. So there the relations locked are checked for one the snapshot does
 * not know (a table swapped in under the name since) or whose file (relfilenode) is not the one
 * the snapshot sees (a rewrite or TRUNCATE committed since); if one is found the transaction
 * starts again, with a snapshot of after it. Materialized views and foreign tables are copied
 * without a lock: LOCK does not take them, and nothing hides their rows (REFRESH writes its rows
 * frozen, visible to every snapshot).
 *
 * A keyless table's copy may import the reader's exported snapshot (in_copy_snapshot) as its
 * transaction begins; one the table no longer matches (copy_snapshot_holds), or that cannot be
 * imported, is let go, and the transaction starts again without it.
 *
 * Returns 1 in the transaction, holding the lock; 0 when there is no lock to take (nothing is
 * open: the copy runs as before); -1 (error recorded) on failure, nothing open.
 */
static int
copy_begin(reader *r, rd_stream *s, const char *qt, bool repeatable, bool *binary)
{
	const char *only = copies_only(s) ? "ONLY " : "";
	char		kind = s->table->relkind;
	char		state[6];
	char		msg[512];
	char	   *lit;
	buf_t		sql;
	PGresult   *res;
	bool		want = copies_binary(s);

	*binary = false;
	if (s->cannot_lock || (kind != 'r' && kind != 'p' && kind != 'v'))
		return 0;
	if ((lit = PQescapeLiteral(r->conn, qt, strlen(qt))) == NULL)
	{
		err_set(ERR_SYSTEM, PQerrorMessage(r->conn), "could not quote a table name");
		return -1;
	}
	buf_init(&sql, 0);
	for (int rewrites = 0, waits = 0;;)
	{
		bool		snap = in_copy_snapshot(r, s);

		buf_reset(&sql);
		buf_puts(&sql, repeatable || snap ? "BEGIN ISOLATION LEVEL REPEATABLE READ" : "BEGIN");
		/* first in the transaction, before anything takes a snapshot (the name is the server's) */
		if (snap)
			buf_printf(&sql, "; SET TRANSACTION SNAPSHOT '%s'", r->snapshot);
		/*
		 * While the change stream is open (a chunk), the lock is waited for a second at a time,
		 * keeping the stream alive in between, up to the session's lock_timeout (pgconn.c)
		 */
		if (r->keepalive)
			buf_printf(&sql, "; SET LOCAL lock_timeout = %d", LOCK_POLL_MS);
		if (!s->lock_by_select)
		{
			buf_printf(&sql, "; LOCK TABLE %s%s IN ACCESS SHARE MODE", only, qt);
			if (want)
				buf_printf(&sql, "; SELECT attname, atttypid FROM pg_catalog.pg_attribute WHERE "
						   "attrelid = %s::pg_catalog.regclass AND attnum > 0 AND NOT attisdropped",
						   lit);
		}
		else
		{
			buf_printf(&sql, "; SELECT FROM %s%s LIMIT 0", only, qt);
			if (repeatable && !snap)
				buf_puts(&sql, "; " CHANGED_SINCE_SNAPSHOT_SQL);
		}
		if (!pgc_cancel_arm(r->conn))
		{
			err_set(ERR_TRANSIENT, NULL, "stopped before locking %s.%s for its copy",
					s->table->ns, s->table->name);
			break;
		}
		res = pgc_try(r->conn, sql.data, 0, NULL, state, msg, sizeof(msg));
		pgc_cancel_disarm();
		if (res == NULL)
		{
			PQclear(PQexec(r->conn, "ROLLBACK"));
			/*
			 * the snapshot cannot be imported (its connection was lost, say), or is too old
			 * (old_snapshot_threshold): copy without
			 */
			if (snap && (strcmp(state, "22023") == 0 || strcmp(state, "55000") == 0 ||
						 strcmp(state, "72000") == 0))
			{
				log_warn("stream %s.%s: the snapshot its copy reads in could not be imported "
						 "(%s): copying the table as it is now (a row changed since it was taken "
						 "may come twice)", s->table->ns, s->table->name, msg);
				s->in_snapshot = false;
				continue;
			}
			if (strcmp(state, "55P03") == 0 && r->keepalive &&
				++waits < PGC_LOCK_TIMEOUT_MS / LOCK_POLL_MS)
			{
				if (!r->keepalive(r->keepalive_ctx))
					break;		/* error recorded */
				continue;
			}
			/* 42501: column privileges only, and so no LOCK TABLE */
			if (strcmp(state, "42501") == 0 && !s->lock_by_select)
			{
				log_info("stream %s.%s: the role may not LOCK the table (%s): its copies lock it "
						 "with a SELECT instead, in text format", s->table->ns, s->table->name, msg);
				s->lock_by_select = true;
				continue;
			}
			/*
			 * 42501 again: not a column the role may read, and its COPY will say so, as it always
			 * did. 42809: a kind of relation LOCK does not take (none of those tried here).
			 */
			if (strcmp(state, "42501") == 0 || strcmp(state, "42809") == 0)
			{
				if (strcmp(state, "42809") == 0)
					log_info("stream %s.%s: the table cannot be locked for its copies (%s): "
							 "copying it without the lock", s->table->ns, s->table->name, msg);
				s->cannot_lock = true;
				break;
			}
			/* a lock timeout or a deadlock: the next attempt may well get the lock */
			err_set(pgc_transient(state) || strcmp(state, "55P03") == 0 ||
					strcmp(state, "40P01") == 0 ? ERR_TRANSIENT : ERR_SYSTEM,
					NULL, "locking %s.%s for its copy failed: %s (SQLSTATE %s)", s->table->ns,
					s->table->name, msg, state);
			break;
		}
		if (snap)
		{
			int			holds = copy_snapshot_holds(r, s);

			if (holds > 0)
				break;
			PQclear(res);
			res = NULL;
			PQclear(PQexec(r->conn, "ROLLBACK"));
			if (holds < 0)
				break;			/* error recorded */
			continue;			/* again, without the snapshot */
		}
		if (!s->lock_by_select || !repeatable || strcmp(PQgetvalue(res, 0, 0), "0") == 0)
			break;
		PQclear(res);
		res = NULL;
		PQclear(PQexec(r->conn, "ROLLBACK"));
		if (++rewrites == 5)
		{
			err_set(ERR_TRANSIENT, NULL, "stream %s.%s: the table was rewritten or replaced each of "
					"%d times the read waited to lock it: the next attempt tries again",
					s->table->ns, s->table->name, rewrites);
			break;
		}
		log_info("stream %s.%s: the table was rewritten or replaced while the read waited to lock "
				 "it: starting its transaction again", s->table->ns, s->table->name);
	}
	buf_free(&sql);
	PQfreemem(lit);
	if (res == NULL)
		return s->cannot_lock ? 0 : -1;	/* it could lock until now (see the top) */
	for (int i = 0; want && !s->lock_by_select && i < s->table->ncols; i++)
	{
		const sp_column *c = &s->table->cols[i];
		bool		same = false;

		for (int row = 0; row < PQntuples(res); row++)
			if (strcmp(PQgetvalue(res, row, 0), c->name) == 0)
				same = strtoul(PQgetvalue(res, row, 1), NULL, 10) == c->type_oid;
		if (!same && copy_may_take(s, i))
		{
			PQclear(res);
			PQclear(PQexec(r->conn, "ROLLBACK"));
			err_set(ERR_TRANSIENT, NULL, "stream %s.%s: column %s is no longer of type %s (its "
					"type changed, or it was dropped, during the read): the next attempt reads "
					"the table as it is now", s->table->ns, s->table->name, c->name, c->type_name);
			return -1;
		}
	}
	PQclear(res);
	*binary = want && !s->lock_by_select;
	return 1;
}

/* Close copy_begin's transaction (when it opened one): COMMIT after a copy, else ROLLBACK. */
static bool
copy_end(reader *r, int begun, bool ok)
{
	if (begun <= 0)
		return ok;
	if (!ok)
	{
		PQclear(PQexec(r->conn, "ROLLBACK"));
		return false;
	}
	return pgc_command(r->conn, "ending a copy", "COMMIT");
}

/*
 * Field i of a parsed row as the server's text, *len bytes (not NUL-terminated): the field
 * itself, or when wire is set and its binary form is not the text, its rendering in r->scratch
 * (valid until the next call). A text row's fields may point into r->scratch, but those are
 * returned as they are; a binary row's never do.
 */
static const char *
value_text(reader *r, tc_wire w, const copy_field *v, size_t *len)
{
	buf_t	   *scratch = &r->scratch;
	long		n;

	if (w == TC_WIRE_RAW || v->is_null)
	{
		/* a NULL is empty, as the text format's \N gives (a key is never NULL) */
		*len = v->len;
		return v->data;
	}
	buf_reset(scratch);
	if (!buf_grow(scratch, (size_t) copybin_text_bound(w, v->data, v->len)))
		abort();
	n = copybin_render(w, v->data, v->len, scratch->data);
	*len = n < 0 ? 0 : (size_t) n;	/* split_row checked the value: it renders */
	return scratch->data;
}

static const char *
field_text(reader *r, const tc_wire *wire, const copy_field *f, int i, size_t *len)
{
	return value_text(r, wire ? wire[i] : TC_WIRE_RAW, &f[i], len);
}

/* Replace *cursor with the key fields of a parsed row. */
static void
set_cursor(reader *r, char ***cursor, int *ncursor, const tc_wire *wire, const copy_field *f,
		   const int *keypos, int nkeys)
{
	for (int k = 0; k < *ncursor; k++)
		free((*cursor)[k]);
	free(*cursor);
	*cursor = calloc((size_t) nkeys, sizeof(char *));
	if (*cursor == NULL)
		abort();
	for (int k = 0; k < nkeys; k++)
	{
		size_t		len;
		const char *t = field_text(r, wire, f, keypos[k], &len);

		if (((*cursor)[k] = strndup(t, len)) == NULL)
			abort();
	}
	*ncursor = nkeys;
}

static bool spool_row(reader *r, wm_chunk *ch, const char *row, size_t len, const copy_field *f,
					  buf_t *key);

/*
 * A Standard read's checkpoints. Rows come in cursor order: once a row's cursor value is sent
 * differently from the row's before it, every row below that value has been emitted, and a state
 * saying so is emitted when one is due: the value, and how many rows had it when those are all
 * the rows equal to it (equal_means_same_bytes), else no count (rows at the value come again).
 */
typedef struct cursor_ckpt
{
	int			pos;			/* the cursor's field in the row */
	buf_t		value;			/* the previous row's cursor field, as received */
	long long	group;			/* the rows with it, in a row */
	bool		stopped;		/* stopped by a signal, at a state */
} cursor_ckpt;

/* A table's partitions or inheritance children in a Standard or Xmin state (see catalog.h). */
static json_t *
with_partitions(json_t *st, const sp_table *tb)
{
	if (tb->partitions)
		json_object_set_new(st, "partitions", json_string(tb->partitions));
	return st;
}

/*
 * Whether the rows of partitions that joined tb since the state saved were must all be read
 * (reader_partitions_joined): 1, 0, or -1 (error recorded).
 */
static int
partitions_joined(reader *r, const sp_table *tb, const json_t *saved)
{
	const json_t *was = json_object_get(saved, "partitions");

	return reader_partitions_joined(r, tb, json_is_string(was) ? json_string_value(was) : NULL);
}

/* A Standard stream's state; without cursor_record_count when count < 0. */
static json_t *
cursor_state(const rd_stream *s, const char *value, long long count)
{
	const sp_column *cc = &s->table->cols[s->cursor_col];
	json_t	   *st = json_pack("{s:[s],s:o,s:s}", "cursor_field", cc->name, "cursor",
							   value ? json_string(value) : json_null(), "cursor_type",
							   cc->type_name);

	if (count >= 0)
		json_object_set_new(st, "cursor_record_count", json_integer((json_int_t) count));
	return with_partitions(st, s->table);
}

/*
 * Whether two values of cc's type are equal exactly when they are sent the same (so a run of
 * rows with the same bytes is every row equal to them). Not so for numeric (1.0 = 1.00), float
 * (0 = -0), interval ('1 day' = '24 hours'), text under a nondeterministic collation, citext.
 */
static bool
equal_means_same_bytes(const sp_column *cc)
{
	switch (cc->type.kind)
	{
		case TC_INTEGER:
		case TC_BOOLEAN:
		case TC_DATE:
		case TC_TIME:
		case TC_TIMESTAMP:
		case TC_TIMESTAMPTZ:
			return true;
		default:
			return cc->type.wire == TC_WIRE_UUID;
	}
}

/*
 * Before emitting a row of a Standard read: a state for the rows before it, when its cursor
 * value starts a new group and a state is due (or a stop was requested). False when stopped.
 */
static bool
cursor_ckpt_row(reader *r, rd_stream *s, cursor_ckpt *ck, const tc_wire *wire, const copy_field *f)
{
	const copy_field *c = &f[ck->pos];
	const sp_column *cc = &s->table->cols[s->cursor_col];

	if (ck->group > 0 && (c->len != ck->value.len || memcmp(c->data, ck->value.data, c->len) != 0))
	{
		if (sp_stop_requested || s->records >= r->cfg->checkpoint_records ||
			ab_mono_ms() - r->last_state_ms >= (int64_t) r->cfg->checkpoint_interval_seconds * 1000)
		{
			copy_field	prev = {ck->value.data, ck->value.len, false};
			size_t		len;
			const char *t = value_text(r, wire ? wire[ck->pos] : TC_WIRE_RAW, &prev, &len);
			char	   *v = strndup(t, len);

			if (v == NULL)
				abort();
			/*
			 * Rows equal to the value may come after this run of the same bytes: without a
			 * count, a read resumed here reads the rows at the value again (rows >= it)
			 */
			reader_emit_stream_state(r, s, cursor_state(s, v, equal_means_same_bytes(cc) ?
														ck->group : -1));
			free(v);
			if (sp_stop_requested)
			{
				ck->stopped = true;
				return false;
			}
		}
		ck->group = 0;
	}
	if (ck->group++ == 0)
	{
		buf_reset(&ck->value);
		buf_append(&ck->value, c->data, c->len);
	}
	return true;
}

/*
 * Run sql (a COPY ... TO STDOUT, of the selected columns and then the nfields - nsel table
 * columns at extra) and emit its rows, or spool them into the watermark chunk into when it is
 * given. With binary (copy_begin's answer) the COPY is made in binary format (the option is
 * appended to sql). When keypos is given, the nkeys fields it names are taken
 * from the last row into the cursor (the stream's, or the chunk's). *nrows counts the rows.
 * limit is the most rows the COPY can return (its LIMIT; 0 when unknown): near it, reads stop
 * batching, so the last rows are not left waiting for a batch that will never fill. With ck (a
 * Standard read), states are emitted between rows as they fall due; stopped by a signal at one,
 * the copy ends there and copy_rows returns true with ck->stopped.
 */
static bool
copy_rows(reader *r, rd_stream *s, buf_t *sql, bool binary, const int *extra, long long limit,
		  int nfields, const int *keypos, int nkeys, long long *nrows, bool cdc_meta, wm_chunk *into,
		  cursor_ckpt *ck)
{
	buf_t		key;
	PGresult   *res;
	char	   *row = NULL;
	char	   *last = NULL;
	int			lastlen = 0;
	long		lastskip = 0;
	int			n;
	bool		ok = false;
	copy_field *f = calloc((size_t) nfields, sizeof(copy_field));
	tc_wire    *wire = binary ? copy_wires(s, nfields, extra) : NULL;
	long		skip = 0;		/* a binary COPY's header, at the start of its first message */
	bool		trailer = false;	/* a binary COPY's end: nothing may follow it */
	bool		truncated = false;	/* a binary COPY that ended before it */
	char		lsn_json[24];
	bool		lowat = false;
	int			rows_since_wait = 0;
	long long	bytes = 0;

	if (f == NULL)
		abort();
	buf_init(&key, 0);
	snprintf(lsn_json, sizeof(lsn_json), "%llu", (unsigned long long) r->lsn);
	*nrows = 0;
	if (wire)
		buf_puts(sql, " (FORMAT binary)");
	if (into)
	{
		free(into->wire);
		into->wire = wire;
	}
	res = PQexec(r->conn, sql->data);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
	{
		copy_failed(s, res);
		PQclear(res);
		free(f);
		if (!into)
			free(wire);
		buf_free(&key);
		return false;
	}
	PQclear(res);
	skip = wire ? -1 : 0;
	for (;;)
	{
		int			got;

		n = PQgetCopyData(r->conn, &row, 1);
		if (n == 0)
		{
			/*
			 * While COPY data arrives faster than we take it (many rows per wake-up), read it
			 * in large batches; when it trickles (a slow query), or the rows still to come
			 * would not fill a batch, take what comes.
			 */
			bool		batch = rows_since_wait > BATCH_ROWS &&
				(limit <= 0 || (limit - *nrows) * (bytes / *nrows) > PGC_BATCH_BYTES);

			/* a chunk copied while the change stream is open must keep it alive */
			if (into && r->keepalive && !r->keepalive(r->keepalive_ctx))
				goto drain;
			if (pgc_wait_input(r->conn, 1000, batch ? COPY_BATCH_MS : 0, &lowat) < 0)
				goto drain;
			rows_since_wait = 0;
			continue;
		}
		if (n < 0)
			break;
		rows_since_wait++;
		bytes += n;
		if (skip < 0 && (skip = copybin_header_len(row, (size_t) n)) < 0)
		{
			err_set(ERR_SYSTEM, NULL, "copying %s.%s: the binary COPY has no header",
					s->table->ns, s->table->name);
			PQfreemem(row);
			goto drain;
		}
		/* a header alone in its message (the server sends it with the first tuple) is no row */
		got = n == skip ? 0 : parse_row(r, s, wire, row + skip, (size_t) (n - skip), f, nfields);
		if (got != 0 && trailer)
		{
			err_set(ERR_SYSTEM, NULL, "copying %s.%s: data after the binary COPY's trailer",
					s->table->ns, s->table->name);
			got = -1;
		}
		if (got < 0 || (got > 0 && into && !spool_row(r, into, row + skip, (size_t) (n - skip), f, &key)))
		{
			PQfreemem(row);
			goto drain;
		}
		if (got == 0)
		{
			/* the binary trailer, or a header alone */
			trailer |= n != skip;
			PQfreemem(row);
			row = NULL;
			skip = 0;
			continue;
		}
		if (ck && !cursor_ckpt_row(r, s, ck, wire, f))
		{
			PQfreemem(row);
			goto drain;
		}
		if (!into)
		{
			if (*nrows == 0)
				reader_mark_running(r, s);
			emit_row(r, s, wire, f, cdc_meta ? lsn_json : NULL);
		}
		PQfreemem(last);
		last = row;
		lastlen = n;
		lastskip = skip;
		row = NULL;
		skip = 0;				/* later messages are whole tuples */
		(*nrows)++;
		if (ab_broken())
		{
			err_set(ERR_SYSTEM, NULL, "stdout was closed while copying %s.%s", s->table->ns,
					s->table->name);
			goto drain;
		}
	}
	if (n == -2)
	{
		err_set(ERR_TRANSIENT, PQerrorMessage(r->conn), "the connection failed while copying %s.%s",
				s->table->ns, s->table->name);
		pgc_batch_end(r->conn, &lowat);
		goto done;
	}
	/* a binary COPY the server ended early: its error, read below, says why */
	truncated = wire && !trailer;
	ok = !truncated;
drain:
	pgc_batch_end(r->conn, &lowat);
	/* collect the COPY's final result (and any error) */
	if (!ok && !truncated)
	{
		PQrequestCancel(r->conn);
		while (PQgetCopyData(r->conn, &row, 0) > 0)
			PQfreemem(row);
	}
	while ((res = PQgetResult(r->conn)) != NULL)
	{
		if ((ok || truncated) && PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			copy_failed(s, res);
			ok = truncated = false;
		}
		PQclear(res);
	}
	if (truncated)
		err_set(ERR_SYSTEM, NULL, "copying %s.%s: the binary COPY ended without its trailer",
				s->table->ns, s->table->name);
	if (ok && keypos && last)
	{
		if (parse_row(r, s, wire, last + lastskip, (size_t) (lastlen - lastskip), f, nfields) != 1)
			ok = false;
		else if (into)
			set_cursor(r, &into->cursor, &into->ncursor, wire, f, keypos, nkeys);
		else
			set_cursor(r, &s->st.cursor, &s->st.ncursor, wire, f, keypos, nkeys);
	}
done:
	PQfreemem(last);
	free(f);
	if (!into)
		free(wire);
	buf_free(&key);
	return ok || (ck && ck->stopped);
}

/*
 * In a chunk's REPEATABLE READ transaction, before its copy: the xids of ch->delivered its
 * snapshot cannot see (running, or committed but not yet visible, when it was taken) into unseen
 * as a text array, "{}" when none. False (error recorded) if the server cannot be asked.
 */
static bool
chunk_unseen(reader *r, const wm_chunk *ch, buf_t *unseen)
{
	PGresult   *res;
	int			n = 0;

	buf_reset(unseen);
	buf_putc(unseen, '{');
	if (ch->ndelivered > 0)
	{
		res = pgc_query(r->conn, "reading a backfill chunk's snapshot", RD_SNAPSHOT_SQL(r), 0,
						NULL);
		if (res == NULL)
			return false;
		for (int i = 0; i < ch->ndelivered; i++)
			if (!pgo_snapshot_sees(PQgetvalue(res, 0, 0), ch->delivered[i]))
				buf_printf(unseen, "%s%u", n++ ? "," : "", ch->delivered[i]);
		PQclear(res);
	}
	buf_putc(unseen, '}');
	return true;
}

/*
 * Open a watermark chunk's transaction: copy_begin's, in REPEATABLE READ (opened here when there
 * is no lock to take), once its snapshot sees every transaction in ch->delivered (see
 * wm_chunk_fill). Until then it rolls back and waits for them. Returns 1 in the transaction;
 * 0 when a stop was requested meanwhile (nothing open: no chunk); -1 (error recorded) on
 * failure, nothing open.
 */
static int
chunk_begin(reader *r, rd_stream *s, const char *qt, wm_chunk *ch, bool *binary)
{
	buf_t		unseen;
	buf_t		what;
	int			begun;

	buf_init(&unseen, 0);
	buf_init(&what, 0);
	for (int tries = 0;; tries++)
	{
		begun = copy_begin(r, s, qt, true, binary);
		if (begun == 0 && !pgc_command(r->conn, "starting a backfill chunk",
									   "BEGIN ISOLATION LEVEL REPEATABLE READ"))
			begun = -1;
		if (begun < 0)
			break;
		begun = 1;
		if (!chunk_unseen(r, ch, &unseen))
			begun = -1;
		else if (strcmp(unseen.data, "{}") == 0)
			break;
		PQclear(PQexec(r->conn, "ROLLBACK"));
		if (begun < 0)
			break;
		/*
		 * They have committed (the stream delivered them) and end (become visible) soon, or
		 * after a synchronous standby confirms them. Each holds its xid's lock until it is
		 * visible; one that holds none but is still unseen is retried for a while.
		 */
		if (tries == 1000)
		{
			err_set(ERR_TRANSIENT, NULL, "stream %s.%s: a backfill chunk's snapshot still cannot "
					"see transaction(s) %s, which the change stream has delivered: the next "
					"attempt tries again", s->table->ns, s->table->name, unseen.data);
			begun = -1;
			break;
		}
		if (what.len == 0)
			buf_printf(&what, "that changed %s.%s, which the change stream has delivered, to "
					   "become visible to its backfill chunk's copy: copied without them, the "
					   "chunk would overwrite their changes with older rows", s->table->ns,
					   s->table->name);
		if (!reader_wait_xids(r, unseen.data, true, what.data))
		{
			begun = -1;
			break;
		}
		if (sp_stop_requested)
		{
			begun = 0;
			break;
		}
		nanosleep(&(struct timespec) {0, 10000000}, NULL);
	}
	buf_free(&unseen);
	buf_free(&what);
	return begun;
}

/*
 * copy_rows in a transaction of its own, opened by copy_begin (a chunk's by chunk_begin): how a
 * copy of qt runs. A chunk's copy stopped before it began leaves the chunk empty.
 */
static bool
locked_copy(reader *r, rd_stream *s, const char *qt, buf_t *sql, const int *extra, long long limit,
			int nfields, const int *keypos, int nkeys, long long *nrows, bool cdc_meta,
			wm_chunk *into)
{
	bool		binary;
	int			begun = into ? chunk_begin(r, s, qt, into, &binary)
		: copy_begin(r, s, qt, false, &binary);

	if (begun < 0)
		return false;
	if (into && begun == 0)
		return true;			/* stopped: no chunk (see wm_chunk_fill) */
	return copy_end(r, begun, copy_rows(r, s, sql, binary, extra, limit, nfields, keypos, nkeys,
										nrows, cdc_meta, into, NULL));
}

/*
 * An Xmin pass under way: xmin_raw_value stays the value it reads from (a reader that does not
 * know xmin_pass reads the rows from it again, at least once), xmin_pass where it is.
 */
static json_t *
xmin_pass_state(const rd_stream *s)
{
	return with_partitions(json_pack("{s:I,s:{s:I,s:I,s:I}}", "xmin_raw_value",
									 (json_int_t) s->xmin_from, "xmin_pass", "xmin_next",
									 (json_int_t) s->xmin_next, "ctid_block",
									 (json_int_t) s->st.ctid_block, "relation_filenode",
									 (json_int_t) s->st.ctid_filenode), s->table);
}

/*
 * After a chunk: mark the stream's backfill finished when it was the last, and checkpoint (the
 * state holds the new cursor). False when a stop was requested.
 */
static bool
chunk_done(reader *r, rd_stream *s, bool last)
{
	if (last)
		s->st.streaming = true;
	r->load_chunks++;
	if (r->cdc)
		reader_emit_state(r);
	else if (!last)
		reader_emit_stream_state(r, s, xmin_pass_state(s));
	return !sp_stop_requested;
}

/*
 * The COPY of the next keyset chunk of s: WHERE (k1, k2) > (cursor) ORDER BY k1, k2 LIMIT n.
 * keypos receives the key columns' positions in the row, and extra the table columns of the
 * fields after the selected ones (the key columns not selected); returns the number of fields,
 * or -1.
 */
static int
keyset_chunk_sql(reader *r, const rd_stream *s, const char *qt, int limit, buf_t *sql,
				 int keypos[32], int extra[32])
{
	int			nfields = s->nsel;

	buf_reset(sql);
	if (!copy_select_from(r, sql, s, qt, keypos))
		return -1;
	for (int k = 0; k < s->table->nkey; k++)
		if (keypos[k] >= s->nsel)
		{
			extra[keypos[k] - s->nsel] = s->table->key[k];
			nfields++;
		}
	if (s->st.ncursor == s->table->nkey && s->st.ncursor > 0)
	{
		buf_puts(sql, " WHERE (");
		if (!append_key_list(r, sql, s))
			return -1;
		buf_puts(sql, ") > (");
		for (int k = 0; k < s->table->nkey; k++)
		{
			/* COPY takes no parameters: the value goes as an escaped literal */
			char	   *lit = PQescapeLiteral(r->conn, s->st.cursor[k], strlen(s->st.cursor[k]));

			if (lit == NULL)
			{
				err_set(ERR_SYSTEM, PQerrorMessage(r->conn), "could not quote a key value");
				return -1;
			}
			buf_printf(sql, "%s%s::%s", k ? ", " : "", lit,
					   s->table->cols[s->table->key[k]].type_name);
			PQfreemem(lit);
		}
		buf_puts(sql, ")");
	}
	buf_puts(sql, " ORDER BY ");
	if (!append_key_list(r, sql, s))
		return -1;
	buf_printf(sql, " LIMIT %d) TO STDOUT", limit);
	return nfields;
}

/*
 * Keyset chunks, copied and checkpointed one after the other, until the table ends or the initial
 * load timeout passes (the stream then carries the table's changes, and the next attempt
 * continues after the cursor).
 */
static bool
backfill_by_key(reader *r, rd_stream *s, const char *qt)
{
	int			keypos[32];
	int			extra[32];
	long long	total = 0;
	buf_t		sql;
	bool		ok = false;

	buf_init(&sql, 0);
	while (!s->st.streaming)
	{
		long long	nrows;
		int			nfields = keyset_chunk_sql(r, s, qt, r->cfg->backfill_chunk_size, &sql, keypos,
											   extra);

		if (nfields < 0 ||
			!locked_copy(r, s, qt, &sql, extra, r->cfg->backfill_chunk_size, nfields, keypos,
						 s->table->nkey, &nrows, true, NULL))
			goto done;
		total += nrows;
		if (!chunk_done(r, s, nrows < r->cfg->backfill_chunk_size))
			break;
		if (!s->st.streaming && reader_load_expired(r))
		{
			log_info("stream %s.%s: the initial load timeout has passed: its backfill stops here, "
					 "after this chunk's state, and continues in the next attempt",
					 s->table->ns, s->table->name);
			break;
		}
	}
	log_info("stream %s.%s: backfilled %lld rows in this read", s->table->ns, s->table->name, total);
	ok = true;
done:
	buf_free(&sql);
	return ok;
}

/*
 * The table's relfilenode and size in blocks. A rewrite (VACUUM FULL, CLUSTER, a rewriting ALTER
 * TABLE, pg_repack) gives the table a new relfilenode and moves every row to a new ctid.
 *
 * The inner query's pg_relation_size opens the table, which waits for a rewrite in progress and
 * then takes in its catalog changes; only after that does the outer query read the relfilenode
 * (pg_relation_filenode takes no lock). Read the other way round, a rewrite committing in between
 * would pair the old relfilenode with the new file's size, and go unnoticed.
 */
static bool
table_layout(reader *r, const rd_stream *s, long long *filenode, long long *nblocks)
{
	char		oid[16];
	const char *p[1] = {oid};
	PGresult   *res;

	snprintf(oid, sizeof(oid), "%u", s->table->oid);
	res = pgc_query(r->conn, "reading the table's size",
					"SELECT pg_relation_filenode($1::oid), n FROM (SELECT pg_relation_size($1::oid) "
					"/ current_setting('block_size')::int8 AS n OFFSET 0) AS size", 1, p);
	if (res == NULL)
		return false;
	if (PQgetisnull(res, 0, 0))
	{
		err_set(ERR_SYSTEM, NULL, "%s.%s was dropped during its backfill", s->table->ns,
				s->table->name);
		PQclear(res);
		return false;
	}
	*filenode = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*nblocks = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return true;
}

/* Start a ctid-range backfill again from block 0 of the table's new relfilenode. */
static void
ctid_restart(rd_stream *s, long long filenode, const char *when)
{
	log_warn("stream %s.%s: the table was rewritten (VACUUM FULL, CLUSTER or ALTER TABLE) %s: "
			 "copying it again from the start", s->table->ns, s->table->name, when);
	s->st.ctid_block = 0;
	s->st.ctid_filenode = filenode;
}

/* Blocks per ctid range: about backfill_chunk_size rows at a guessed 50 rows per 8 kB block. */
static long long
ctid_range_blocks(const reader *r)
{
	return r->cfg->backfill_chunk_size / 50 + 1;
}

/*
 * "COPY (SELECT <selected columns> FROM qt WHERE true [AND ctid in [from, to)] [AND filter])
 * TO STDOUT" into sql; from < 0 for no range. Both bounds always: with one, the planner may
 * choose a whole-table scan.
 */
static bool
ctid_copy_sql(reader *r, buf_t *sql, const rd_stream *s, const char *qt, long long from,
			  long long to, const char *filter)
{
	buf_reset(sql);
	if (!copy_select_from(r, sql, s, qt, NULL))
		return false;
	buf_puts(sql, " WHERE true");
	if (from >= 0)
		buf_printf(sql, " AND ctid >= '(%lld,0)'::tid AND ctid < '(%lld,0)'::tid", from, to);
	if (filter)
		buf_printf(sql, " AND %s", filter);
	buf_puts(sql, ") TO STDOUT");
	return true;
}

/*
 * Keyless tables: ctid block ranges on PostgreSQL 14+, else one pass. A row's ctid is stable
 * unless the row changes (then the stream carries the change) or the table is rewritten: the
 * relfilenode is checked after every chunk, and the state keeps it, so a rewrite at any point,
 * within this read or between reads, starts the copy again from block 0. Rows copied before it
 * are sent again (at least once, never lost).
 *
 * An Xmin pass is made the same way, of the rows filter (a condition on xmin) keeps, without
 * the CDC columns: a row that changes during it is read by the next pass, since its new
 * version's xmin is at least the pass's xmin_next. *total counts the rows.
 */
static bool
copy_by_ctid(reader *r, rd_stream *s, const char *qt, const char *filter, long long *total)
{
	buf_t		sql;
	long long	nblocks = 0;
	long long	end = 0;		/* the table's blocks when its copy began: later rows are streamed */
	long long	filenode = 0;
	long long	step;
	bool		ok = false;
	/* a table copied with its inheritance children has their blocks too: no ranges */
	bool		ranges = r->server_version >= 140000 && s->table->relkind == 'r' &&
		(copies_only(s) || !s->table->has_children);

	buf_init(&sql, 0);
	if (s->st.ctid_block < 0)
		s->st.ctid_block = 0;
	if (ranges)
	{
		if (!table_layout(r, s, &filenode, &nblocks))
			goto done;
		if (s->st.ctid_block > 0 && s->st.ctid_filenode != filenode)
		{
			if (s->st.ctid_filenode > 0)
				ctid_restart(s, filenode, "since its backfill began");
			else
			{
				/* a state from before the relfilenode was kept: nothing shows there was no rewrite */
				log_info("stream %s.%s: the saved backfill position has no relfilenode to check it "
						 "against: copying the table again from the start", s->table->ns,
						 s->table->name);
				s->st.ctid_block = 0;
			}
		}
		s->st.ctid_filenode = filenode;
		end = nblocks;
	}
	step = ctid_range_blocks(r);
	while (!s->st.streaming)
	{
		long long	nrows;

		if (!ctid_copy_sql(r, &sql, s, qt, ranges ? s->st.ctid_block : -1,
						   s->st.ctid_block + step, filter))
			goto done;
		if (!locked_copy(r, s, qt, &sql, NULL, 0, s->nsel, NULL, 0, &nrows, r->cdc, NULL))
			goto done;
		*total += nrows;
		s->st.ctid_block += step;
		if (ranges)
		{
			/* unchanged since the check before this chunk: the chunk read that file's blocks */
			if (!table_layout(r, s, &filenode, &nblocks))
				goto done;
			if (filenode != s->st.ctid_filenode)
			{
				ctid_restart(s, filenode, "during its backfill");
				end = nblocks;
			}
		}
		if (!chunk_done(r, s, !ranges || s->st.ctid_block >= end))
			break;
	}
	ok = true;
done:
	buf_free(&sql);
	return ok;
}

bool
backfill_stream(reader *r, rd_stream *s)
{
	char	   *qt = pgc_qualified(r->conn, s->table->ns, s->table->name);
	bool		ok;

	if (qt == NULL)
		return false;
	if (s->table->nkey > 0)
		ok = backfill_by_key(r, s, qt);
	else
	{
		long long	total = 0;

		ok = copy_by_ctid(r, s, qt, NULL, &total);
		if (ok)
			log_info("stream %s.%s: backfilled %lld rows in this read", s->table->ns,
					 s->table->name, total);
	}
	free(qt);
	return ok;
}

/* Append ", col" unless col is selected; returns its position in the COPY row. */
static int
append_extra_column(reader *r, buf_t *sql, const rd_stream *s, int ci)
{
	char	   *q;

	for (int i = 0; i < s->nsel; i++)
		if (s->sel[i] == ci)
			return i;
	q = pgc_ident(r->conn, s->table->cols[ci].name);
	if (q == NULL)
		return -1;
	buf_puts(sql, ", ");
	buf_puts(sql, q);
	PQfreemem(q);
	return s->nsel;
}

/* The number of rows of qt whose cursor column cq equals value (cast to type); -1 on failure. */
static long long
count_at(reader *r, const char *qt, const char *cq, const char *type, const char *value)
{
	buf_t		sql;
	const char *p[1] = {value};
	PGresult   *res;
	long long	n = -1;

	buf_init(&sql, 0);
	buf_printf(&sql, "SELECT count(*) FROM %s WHERE %s = $1::%s", qt, cq, type);
	res = pgc_query(r->conn, "counting the rows at the saved cursor value", sql.data, 1, p);
	if (res != NULL)
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	buf_free(&sql);
	return n;
}

/*
 * Standard: rows past the saved cursor value, in cursor order, in one REPEATABLE READ snapshot.
 * The state keeps the largest value read and how many rows had it (cursor_record_count, as
 * Airbyte's connector does): when more rows have that value next time (committed later with the
 * same value), the read takes the rows at the value again as well as those past it (those
 * already sent come again). A state whose cursor is of another column is not used. States are
 * also emitted during the read, between rows of different values (cursor_ckpt_row): a read
 * killed midway resumes after the last.
 */
static bool
incremental_by_cursor(reader *r, rd_stream *s, const char *qt, const json_t *saved,
					  json_t **new_state)
{
	const sp_column *cc = &s->table->cols[s->cursor_col];
	const json_t *prev = json_object_get(saved, "cursor");
	const json_t *prev_field = json_array_get(json_object_get(saved, "cursor_field"), 0);
	const json_t *prev_count = json_object_get(saved, "cursor_record_count");
	const json_t *prev_type = json_object_get(saved, "cursor_type");
	char	   *cq = pgc_ident(r->conn, cc->name);
	const char *op = ">";
	const char *last;
	buf_t		sql;
	int			pos;
	long long	nrows;
	long long	at_prev = 0;	/* rows at the saved value (0 without one) */
	long long	at_last;
	PGresult   *res;
	int			begun;
	bool		binary;
	bool		in_txn = false;
	bool		ok = false;
	cursor_ckpt ck = {0};

	buf_init(&sql, 0);
	buf_init(&ck.value, 0);
	if (cq == NULL)
		goto done;
	if (json_is_string(prev) && json_is_string(prev_field) &&
		strcmp(json_string_value(prev_field), cc->name) != 0)
	{
		log_warn("stream %s.%s: the saved cursor is of column %s and the cursor field is now %s: "
				 "reading every row", s->table->ns, s->table->name, json_string_value(prev_field),
				 cc->name);
		prev = NULL;
	}
	else if (json_is_string(prev) && json_is_string(prev_type) &&
			 strcmp(json_string_value(prev_type), cc->type_name) != 0)
	{
		/* as text, '99' sorts after '100': a value of another type would skip rows */
		log_warn("stream %s.%s: the saved cursor is of type %s and column %s is now %s: reading "
				 "every row", s->table->ns, s->table->name, json_string_value(prev_type),
				 cc->name, cc->type_name);
		prev = NULL;
	}
	else if (prev != NULL && !json_is_null(prev) && !json_is_string(prev))
	{
		log_warn("stream %s.%s: the saved cursor is a JSON %s, not a string as this connector and "
				 "Airbyte's write it: reading every row", s->table->ns, s->table->name,
				 json_is_number(prev) ? "number" : json_is_boolean(prev) ? "boolean" :
				 json_is_array(prev) ? "array" : "object");
		prev = NULL;
	}
	else if (prev == NULL && json_object_get(saved, "xmin_raw_value") != NULL)
		log_warn("stream %s.%s: the saved state is an Xmin read's (replication_method was "
				 "changed): reading every row", s->table->ns, s->table->name);
	if (json_is_string(prev))
	{
		int			pj = partitions_joined(r, s->table, saved);

		if (pj < 0)
			goto done;
		if (pj > 0)
			prev = NULL;		/* rows of any cursor value joined: every row */
	}
	/* the lock first: every statement of the read then sees the table as it is while locked */
	begun = copy_begin(r, s, qt, true, &binary);
	if (begun < 0 || (begun == 0 && !pgc_command(r->conn, "starting the incremental read",
												 "BEGIN ISOLATION LEVEL REPEATABLE READ")))
		goto done;
	in_txn = true;
	{
		char		what[200];

		/* a type without an ordering (json, point, xml) fails here, named as the cursor's */
		snprintf(what, sizeof(what), "ordering by the cursor field %s (choose a cursor column "
				 "whose type has an ordering)", cc->name);
		buf_printf(&sql, "SELECT %s FROM %s WHERE false ORDER BY 1", cq, qt);
		res = pgc_query(r->conn, what, sql.data, 0, NULL);
		buf_reset(&sql);
		if (res == NULL)
			goto done;
		PQclear(res);
	}
	if (!cc->not_null)
	{
		/* as Airbyte's connector does: a row without a cursor value could never be read */
		buf_printf(&sql, "SELECT EXISTS (SELECT 1 FROM %s WHERE %s IS NULL)", qt, cq);
		res = pgc_query(r->conn, "looking for rows without a cursor value", sql.data, 0, NULL);
		buf_reset(&sql);
		if (res == NULL)
			goto done;
		if (PQgetvalue(res, 0, 0)[0] == 't')
		{
			err_set(ERR_CONFIG, NULL, "stream %s.%s: rows with no value in the cursor column %s "
					"could never be read incrementally: choose a cursor column without NULLs (or "
					"fill them), or sync the stream as full refresh", s->table->ns, s->table->name,
					cc->name);
			PQclear(res);
			goto done;
		}
		PQclear(res);
	}
	if (json_is_string(prev))
	{
		at_prev = count_at(r, qt, cq, cc->type_name, json_string_value(prev));
		if (at_prev < 0)
			goto done;
		/* without a count (an older state) the rows at the value are read again too */
		if (!json_is_integer(prev_count) || at_prev != json_integer_value(prev_count))
			op = ">=";
	}
	buf_puts(&sql, "COPY (SELECT ");
	if (!append_select_list(r, &sql, s, NULL) || (pos = append_extra_column(r, &sql, s, s->cursor_col)) < 0)
		goto done;
	buf_printf(&sql, " FROM %s WHERE %s IS NOT NULL", qt, cq);
	if (json_is_string(prev))
	{
		char	   *lit = PQescapeLiteral(r->conn, json_string_value(prev), json_string_length(prev));

		if (lit == NULL)
		{
			err_set(ERR_SYSTEM, PQerrorMessage(r->conn), "could not quote the cursor value");
			goto done;
		}
		buf_printf(&sql, " AND %s %s %s::%s", cq, op, lit, cc->type_name);
		PQfreemem(lit);
	}
	buf_printf(&sql, " ORDER BY %s) TO STDOUT", cq);
	ck.pos = pos;
	r->last_state_ms = ab_mono_ms();
	if (!copy_rows(r, s, &sql, binary, &s->cursor_col, 0, pos == s->nsel ? s->nsel + 1 : s->nsel,
				   &pos, 1, &nrows, false, NULL, &ck))
		goto done;
	if (ck.stopped)
	{
		log_info("stream %s.%s: stopped after %lld rows past the cursor", s->table->ns,
				 s->table->name, nrows);
		*new_state = NULL;
		ok = true;
		goto done;
	}
	/* the largest cursor value read (rows came in cursor order), else the previous one */
	last = nrows > 0 ? s->st.cursor[0] : json_is_string(prev) ? json_string_value(prev) : NULL;
	/* nothing read: the value is the saved one, counted above in the same snapshot */
	at_last = nrows == 0 ? at_prev : count_at(r, qt, cq, cc->type_name, last);
	if (at_last < 0 || !pgc_command(r->conn, "ending the incremental read", "COMMIT"))
		goto done;
	in_txn = false;
	*new_state = cursor_state(s, last, at_last);
	log_info("stream %s.%s: %lld rows past the cursor", s->table->ns, s->table->name, nrows);
	ok = true;
done:
	if (in_txn)
		PQclear(PQexec(r->conn, "ROLLBACK"));
	PQfreemem(cq);
	buf_free(&sql);
	buf_free(&ck.value);
	return ok;
}

/* The current snapshot's xmin and xmax, as 64-bit transaction ids. */
static bool
snapshot_horizon(reader *r, unsigned long long *xmin, unsigned long long *xmax)
{
	PGresult   *res = pgc_query(r->conn, "reading the transaction horizon",
								"SELECT txid_snapshot_xmin(s)::text, txid_snapshot_xmax(s)::text "
								"FROM txid_current_snapshot() AS s", 0, NULL);

	if (res == NULL)
		return false;
	*xmin = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	*xmax = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return true;
}

/* A state's transaction id ahead of the server's next one (xmax): a config error naming field. */
static void
xid_ahead(const rd_stream *s, const char *field, unsigned long long xid, unsigned long long xmax)
{
	err_set(ERR_CONFIG, NULL, "stream %s.%s: the state's %s %llu is ahead of this server's "
			"transactions (next %llu): the state was saved on another server, or this one was "
			"restored from a backup; reset the stream to read it again", s->table->ns,
			s->table->name, field, xid, xmax);
}

/*
 * The condition "the row's xmin, widened to 64 bits, is at least from", for a snapshot whose
 * xmax is top. A row's 32-bit xmin is below the snapshot's xmax: below xmax's low half it is of
 * xmax's epoch, at or above it of the one before. (Split at xmin instead, every transaction
 * committed since the oldest one still running would count as an epoch older.)
 */
static void
xmin_at_least(buf_t *sql, unsigned long long top, unsigned long long from)
{
	buf_printf(sql, "(CASE WHEN xmin::text::int8 < %llu THEN %llu ELSE %llu END) "
			   "* 4294967296 + xmin::text::int8 >= %llu",
			   top & 0xFFFFFFFFULL, top >> 32, (top >> 32) ? (top >> 32) - 1 : 0, from);
}

/*
 * Xmin: rows written by transactions at or after the oldest one still running when the previous
 * read started. xmin is 32 bits and wraps around: its 64-bit value is rebuilt from the current
 * epoch (an xmin above the current 32-bit counter belongs to the previous epoch).
 *
 * A pass reads the table in ctid block ranges where it can (copy_by_ctid), emitting a state
 * after each (xmin_pass_state): a read stopped or killed midway resumes the pass at its next
 * block, and the pass's state at its end is the horizon of the read that began it.
 */
static bool
incremental_by_xmin(reader *r, rd_stream *s, const char *qt, const json_t *saved,
					json_t **new_state)
{
	const json_t *prev = json_object_get(saved, "xmin_raw_value");
	const json_t *pass = json_object_get(saved, "xmin_pass");
	const json_t *next = json_object_get(pass, "xmin_next");
	const json_t *block = json_object_get(pass, "ctid_block");
	const json_t *filenode = json_object_get(pass, "relation_filenode");
	unsigned long long cur;
	unsigned long long top;
	buf_t		filter;
	long long	nrows = 0;
	bool		ok = false;

	if (!snapshot_horizon(r, &cur, &top))
		return false;
	buf_init(&filter, 0);
	s->xmin_from = json_is_integer(prev) && json_integer_value(prev) > 0 ?
		(unsigned long long) json_integer_value(prev) : 0;
	/* (a first pass under way saves 0: it reads every row) */
	if (prev != NULL && s->xmin_from == 0 &&
		!(json_is_integer(prev) && json_integer_value(prev) == 0 && json_is_object(pass)))
		log_warn("stream %s.%s: the saved xmin_raw_value is not a positive integer: reading every "
				 "row", s->table->ns, s->table->name);
	else if (prev == NULL && json_object_get(saved, "cursor") != NULL)
		log_warn("stream %s.%s: the saved state is a Standard read's (replication_method was "
				 "changed): reading every row", s->table->ns, s->table->name);
	if (s->xmin_from > top)
	{
		xid_ahead(s, "xmin_raw_value", s->xmin_from, top);
		goto done;
	}
	if (json_is_integer(next) && json_integer_value(next) > 0 &&
		(unsigned long long) json_integer_value(next) > top)
	{
		xid_ahead(s, "xmin_pass.xmin_next", (unsigned long long) json_integer_value(next), top);
		goto done;
	}
	if (s->xmin_from > 0)
	{
		int			pj = partitions_joined(r, s->table, saved);

		if (pj < 0)
			goto done;
		if (pj > 0)
		{
			/* rows of any age joined: a pass over every row, begun now */
			s->xmin_from = 0;
			next = NULL;		/* no pass to resume */
		}
	}
	s->st.streaming = false;
	if (json_is_integer(next) && json_integer_value(next) >= 0 && json_is_integer(block) &&
		json_integer_value(block) >= 0 && json_is_integer(filenode) &&
		json_integer_value(filenode) >= 0)
	{
		/* a pass under way: on from its next block, reading what it was reading */
		s->xmin_next = (unsigned long long) json_integer_value(next);
		s->st.ctid_block = json_integer_value(block);
		s->st.ctid_filenode = json_integer_value(filenode);
		log_info("stream %s.%s: resuming the Xmin pass at block %lld", s->table->ns,
				 s->table->name, s->st.ctid_block);
	}
	else
	{
		s->xmin_next = cur;
		s->st.ctid_block = 0;
		s->st.ctid_filenode = 0;
	}
	/* the state keeps the snapshot's xmin, so rows of transactions running now are read next time */
	if (s->xmin_from > 0)
		xmin_at_least(&filter, top, s->xmin_from);
	if (!copy_by_ctid(r, s, qt, filter.len > 0 ? filter.data : NULL, &nrows))
		goto done;
	*new_state = s->st.streaming ? with_partitions(json_pack("{s:I}", "xmin_raw_value",
															  (json_int_t) s->xmin_next), s->table)
		: NULL;
	log_info("stream %s.%s: %lld rows changed since the last read (xmin)%s", s->table->ns,
			 s->table->name, nrows, s->st.streaming ? "" : ", stopped before the end of the table");
	ok = true;
done:
	buf_free(&filter);
	return ok;
}

bool
incremental_stream(reader *r, rd_stream *s, const json_t *saved, json_t **new_state)
{
	char	   *qt = pgc_qualified(r->conn, s->table->ns, s->table->name);
	bool		ok;

	if (qt == NULL)
		return false;
	ok = s->xmin ? incremental_by_xmin(r, s, qt, saved, new_state) :
		incremental_by_cursor(r, s, qt, saved, new_state);
	free(qt);
	return ok;
}

/* ---- interleaved backfill: watermark chunks ---- */

const char *
sp_tmpdir(void)
{
	const char *dir = getenv("TMPDIR");

	return dir && *dir ? dir : "/tmp";
}

int
sp_tmpfd(void)
{
	char		path[4096];
	int			fd;

	snprintf(path, sizeof(path), "%s/source-postgres-XXXXXX", sp_tmpdir());
	fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	return fd;
}

FILE *
sp_tmpfile(char **iobuf)
{
	int			fd = sp_tmpfd();
	FILE	   *f;

	*iobuf = NULL;
	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w+");
	if (f == NULL)
	{
		close(fd);
		return NULL;
	}
	/* stdio's own buffer is one page: a syscall per 4 kB on a file of hundreds of MB */
	*iobuf = malloc(SP_TMPFILE_BUFSIZE);
	if (*iobuf != NULL && setvbuf(f, *iobuf, _IOFBF, SP_TMPFILE_BUFSIZE) != 0)
	{
		free(*iobuf);
		*iobuf = NULL;
	}
	/* one thread uses it: no stdio lock around each of the many small writes */
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	return f;
}

void
sp_tmpfile_close(FILE *f, char *iobuf)
{
	if (f != NULL)
		fclose(f);
	free(iobuf);
}

void
wm_key_append(buf_t *key, const char *text, size_t len)
{
	buf_put_uint64(key, len);
	buf_putc(key, ':');
	buf_append(key, text, len);
}

static uint64_t
key_hash(const char *k, size_t n)
{
	uint64_t	h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char) k[i]) * 1099511628211ULL;
	return h;
}

/* Slot of key in the set: where it is, or the empty slot where it would go. */
static size_t
key_slot(const wm_chunk *ch, const char *k, size_t n, bool *found)
{
	size_t		i = key_hash(k, n) & (ch->cap - 1);

	for (;; i = (i + 1) & (ch->cap - 1))
	{
		if (!ch->used[i])
		{
			*found = false;
			return i;
		}
		if (ch->keys[i] && strlen(ch->keys[i]) == n && memcmp(ch->keys[i], k, n) == 0)
		{
			*found = true;
			return i;
		}
	}
}

void
wm_chunk_forget(wm_chunk *ch, const char *key, size_t len)
{
	bool		found;
	size_t		i;

	if (ch->cap == 0)
		return;
	i = key_slot(ch, key, len, &found);
	if (found)
	{
		free(ch->keys[i]);
		ch->keys[i] = NULL;		/* a tombstone: the slot stays used */
	}
}

void
wm_chunk_free(wm_chunk *ch)
{
	rd_stream  *s = ch->s;

	for (size_t i = 0; i < ch->cap; i++)
		free(ch->keys[i]);
	free(ch->keys);
	free(ch->used);
	for (int k = 0; k < ch->ncursor; k++)
		free(ch->cursor[k]);
	free(ch->cursor);
	free(ch->wire);
	sp_tmpfile_close(ch->rows, ch->rows_iobuf);
	memset(ch, 0, sizeof(*ch));
	ch->s = s;
}

/* The encoded key of a COPY row whose key columns sit at keypos (binary when wire is set). */
static void
row_key(reader *r, buf_t *key, const rd_stream *s, const tc_wire *wire, const copy_field *f,
		const int *keypos)
{
	buf_reset(key);
	for (int k = 0; k < s->table->nkey; k++)
	{
		size_t		len;
		const char *t = field_text(r, wire, f, keypos[k], &len);

		wm_key_append(key, t, len);
	}
}

/* Spool one parsed chunk row and put its key in the chunk's set. */
static bool
spool_row(reader *r, wm_chunk *ch, const char *row, size_t len, const copy_field *f, buf_t *key)
{
	uint32_t	n = (uint32_t) len;
	bool		found;
	size_t		slot;

	row_key(r, key, ch->s, ch->wire, f, ch->keypos);
	slot = key_slot(ch, key->data, key->len, &found);
	ch->used[slot] = true;
	ch->keys[slot] = strndup(key->data, key->len);
	if (fwrite(&n, sizeof(n), 1, ch->rows) != 1 || fwrite(row, 1, len, ch->rows) != len)
	{
		err_set(ERR_SYSTEM, NULL, "could not spool a backfill chunk in %s: %s (TMPDIR must be "
				"writable, with free space)", sp_tmpdir(), strerror(errno));
		return false;
	}
	return true;
}

bool
wm_chunk_fill(reader *r, wm_chunk *ch, int chunk_rows, const uint32_t *delivered, int ndelivered)
{
	rd_stream  *s = ch->s;
	char	   *qt = pgc_qualified(r->conn, s->table->ns, s->table->name);
	int			extra[32];
	buf_t		sql;
	bool		ok = false;

	wm_chunk_free(ch);
	buf_init(&sql, 0);
	ch->cap = 1;
	while (ch->cap < (size_t) chunk_rows * 2)
		ch->cap *= 2;
	ch->keys = calloc(ch->cap, sizeof(char *));
	ch->used = calloc(ch->cap, sizeof(bool));
	ch->rows = sp_tmpfile(&ch->rows_iobuf);
	if (ch->rows == NULL)
	{
		err_set(ERR_SYSTEM, NULL, "could not create a temporary file in %s for a backfill chunk: "
				"%s (TMPDIR must be writable, with free space)", sp_tmpdir(), strerror(errno));
		goto done;
	}
	if (qt == NULL || ch->keys == NULL || ch->used == NULL)
	{
		err_set(ERR_SYSTEM, NULL, "could not set up a backfill chunk (out of memory)");
		goto done;
	}
	ch->nfields = keyset_chunk_sql(r, s, qt, chunk_rows, &sql, ch->keypos, extra);
	ch->delivered = delivered;
	ch->ndelivered = ndelivered;
	ok = ch->nfields >= 0 &&
		locked_copy(r, s, qt, &sql, extra, chunk_rows, ch->nfields, ch->keypos, s->table->nkey,
					&ch->nrows, false, ch);
	ch->delivered = NULL;
	ch->ndelivered = 0;
	if (!ok)
		goto done;
	ch->last = ch->nrows < chunk_rows;
	ok = true;
done:
	free(qt);
	buf_free(&sql);
	return ok;
}

bool
wm_chunk_emit(reader *r, wm_chunk *ch, pg_lsn lsn)
{
	rd_stream  *s = ch->s;
	buf_t		key;
	buf_t		row;
	copy_field *f = calloc((size_t) ch->nfields, sizeof(copy_field));
	char		lsn_json[24];
	uint32_t	len;
	bool		ok = false;

	buf_init(&key, 0);
	buf_init(&row, 0);
	snprintf(lsn_json, sizeof(lsn_json), "%llu", (unsigned long long) lsn);
	if (f == NULL || fflush(ch->rows) != 0 || fseek(ch->rows, 0, SEEK_SET) != 0)
	{
		err_set(ERR_SYSTEM, NULL, "could not read back a backfill chunk");
		goto done;
	}
	if (ch->nrows > 0)
		reader_mark_running(r, s);
	while (fread(&len, sizeof(len), 1, ch->rows) == 1)
	{
		bool		found;

		buf_reset(&row);
		if (!buf_grow(&row, len) || fread(row.data, 1, len, ch->rows) != len)
		{
			err_set(ERR_SYSTEM, NULL, "could not read back a backfill chunk");
			goto done;
		}
		row.len = len;
		if (parse_row(r, s, ch->wire, row.data, len, f, ch->nfields) != 1)
			goto done;
		row_key(r, &key, s, ch->wire, f, ch->keypos);
		key_slot(ch, key.data, key.len, &found);
		if (!found)
			continue;			/* changed since the copy began: the stream has it */
		emit_row(r, s, ch->wire, f, lsn_json);
	}
	/* the stream's cursor moves past this chunk (an empty chunk keeps it) */
	if (ch->ncursor > 0)
	{
		for (int k = 0; k < s->st.ncursor; k++)
			free(s->st.cursor[k]);
		free(s->st.cursor);
		s->st.cursor = ch->cursor;
		s->st.ncursor = ch->ncursor;
		ch->cursor = NULL;
		ch->ncursor = 0;
	}
	if (ch->last)
		s->st.streaming = true;
	r->load_chunks++;
	ok = true;
done:
	free(f);
	buf_free(&key);
	buf_free(&row);
	return ok;
}

/* The full refresh of s as one COPY: by name when it can be (see full_refresh_stream). */
static bool
full_refresh_whole(reader *r, rd_stream *s, const char *qt, long long *nrows)
{
	buf_t		sql;
	bool		ok = false;

	buf_init(&sql, 0);
	if (s->table->relkind == 'r' && !s->table->has_children && !s->table->has_generated &&
		s->nsel > 0)
	{
		/*
		 * A plain table is copied by name: the server's COPY then reads the heap directly, about
		 * 20% less of its CPU than the same rows through a query (measured on 10M rows). Views,
		 * partitioned tables and the rest can only be copied through a query, and so is a table
		 * with inheritance children (COPY by name leaves their rows out, a query includes them)
		 * or with a stored generated column (COPY by name refuses to name it).
		 */
		buf_printf(&sql, "COPY %s (", qt);
		if (!append_select_list(r, &sql, s, NULL))
			goto done;
	}
	else if (!copy_select_from(r, &sql, s, qt, NULL))
		goto done;
	buf_puts(&sql, ") TO STDOUT");
	ok = locked_copy(r, s, qt, &sql, NULL, 0, s->nsel, NULL, 0, nrows, false, NULL);
done:
	buf_free(&sql);
	return ok;
}

/* A resumable full refresh under way: where it is, and the horizon of its first snapshot. */
static json_t *
full_refresh_state(const rd_stream *s, unsigned long long horizon)
{
	return json_pack("{s:I,s:I,s:I}", "ctid_block", (json_int_t) s->st.ctid_block,
					 "relation_filenode", (json_int_t) s->st.ctid_filenode, "xmin_horizon",
					 (json_int_t) horizon);
}

/*
 * A resumable full refresh (Standard and Xmin configs; PostgreSQL 14+, a plain table larger than
 * a chunk): ctid block ranges, all in one REPEATABLE READ snapshot as the single COPY is (chunks
 * in snapshots of their own would miss a row an update moves into a range already copied), a
 * STREAM state after each. A read resumed from one, in a new snapshot, copies the ranges left
 * and, in those copied before, the rows written since the first snapshot: an update may have
 * moved a row there (a row updated in place comes in its new version too, at least once).
 * A rewrite (its relfilenode changed) starts again from block 0.
 */
static bool
full_refresh_by_ctid(reader *r, rd_stream *s, const char *qt, const json_t *saved,
					 long long *total, bool *finished)
{
	const json_t *block = json_object_get(saved, "ctid_block");
	const json_t *node = json_object_get(saved, "relation_filenode");
	const json_t *hz = json_object_get(saved, "xmin_horizon");
	long long	step = ctid_range_blocks(r);
	unsigned long long horizon;
	unsigned long long top;
	long long	filenode;
	long long	nblocks;
	buf_t		sql;
	bool		binary;
	int			begun;
	bool		ok = false;

	buf_init(&sql, 0);
	begun = copy_begin(r, s, qt, true, &binary);
	if (begun < 0 || (begun == 0 && !pgc_command(r->conn, "starting the full refresh",
												 "BEGIN ISOLATION LEVEL REPEATABLE READ")))
		goto done;
	if (!snapshot_horizon(r, &horizon, &top))
		goto done;
	/* the size as of the lock, which holds off a rewrite until the COMMIT */
	if (!table_layout(r, s, &filenode, &nblocks))
		goto done;
	s->st.ctid_block = 0;
	s->st.ctid_filenode = filenode;
	/* a block number is 32 bits: a larger one is no position of ours (from the start, then) */
	if (json_is_integer(block) && json_integer_value(block) > 0 &&
		json_integer_value(block) <= 0xFFFFFFFFLL && json_is_integer(node) &&
		json_is_integer(hz) && json_integer_value(hz) > 0)
	{
		if (json_integer_value(node) != filenode)
			ctid_restart(s, filenode, "since its full refresh began");
		else if ((unsigned long long) json_integer_value(hz) > top)
		{
			xid_ahead(s, "xmin_horizon", (unsigned long long) json_integer_value(hz), top);
			goto done;
		}
		else
		{
			long long	nrows = 0;
			buf_t		since;
			bool		built;

			/* the ranges copied before: only what was written since their snapshot */
			s->st.ctid_block = json_integer_value(block);
			horizon = (unsigned long long) json_integer_value(hz);
			log_info("stream %s.%s: resuming the full refresh at block %lld (and the rows "
					 "written since in the blocks before it)", s->table->ns, s->table->name,
					 s->st.ctid_block);
			buf_init(&since, 0);
			xmin_at_least(&since, top, horizon);
			built = ctid_copy_sql(r, &sql, s, qt, 0, s->st.ctid_block, since.data);
			buf_free(&since);
			if (!built)
				goto done;
			if (!copy_rows(r, s, &sql, binary, NULL, 0, s->nsel, NULL, 0, &nrows, false, NULL,
						   NULL))
				goto done;
			*total += nrows;
		}
	}
	while (s->st.ctid_block < nblocks)
	{
		long long	nrows = 0;

		/* the last range ends at the size read after the snapshot, which holds every row it sees */
		if (!ctid_copy_sql(r, &sql, s, qt, s->st.ctid_block,
						   s->st.ctid_block + step < nblocks ? s->st.ctid_block + step : nblocks,
						   NULL))
			goto done;
		if (!copy_rows(r, s, &sql, binary, NULL, 0, s->nsel, NULL, 0, &nrows, false, NULL, NULL))
			goto done;
		*total += nrows;
		s->st.ctid_block += step;
		if (s->st.ctid_block >= nblocks)
			break;
		reader_emit_stream_state(r, s, full_refresh_state(s, horizon));
		if (sp_stop_requested)
		{
			ok = true;
			goto done;			/* stopped at a state: the next read resumes from it */
		}
	}
	*finished = true;
	ok = true;
done:
	buf_free(&sql);
	return copy_end(r, begun, ok);
}

bool
full_refresh_stream(reader *r, rd_stream *s, const json_t *saved, bool *finished)
{
	char	   *qt = pgc_qualified(r->conn, s->table->ns, s->table->name);
	long long	nrows = 0;
	bool		ok = false;

	*finished = false;
	if (qt == NULL)
		return false;
	/*
	 * Resumable in ctid ranges where those are TID range scans (14+) of the table's own heap, and
	 * with Standard and Xmin configs, whose states are STREAM states (a CDC config's are GLOBAL
	 * once it captures a table), for tables of full_refresh_checkpoint_min_mb
	 * and more: a TID range scan has no bulk-read buffer ring, and takes about 25% more of the
	 * server's CPU than COPY by name's sequential scan (measured on PostgreSQL 15), which is what
	 * a full refresh waits for; a small table's restart costs less than that. A table of one
	 * chunk needs no state. A saved position is resumed whatever the size. The size is the
	 * catalog's (as of the last VACUUM or ANALYZE): pg_relation_size would wait for a lock
	 * before the copy's own lock handling (copy_begin) can. Conditions on ctid and xmin need
	 * SELECT on the table: a role granted only columns reads it in one COPY.
	 */
	if (r->cfg->method != REPL_CDC && r->server_version >= 140000 && s->table->relkind == 'r' &&
		!s->table->has_children && !s->cannot_lock && s->table->table_select &&
		((s->table->relbytes / 8192 > ctid_range_blocks(r) &&
		  s->table->relbytes / 1048576 >= r->cfg->full_refresh_checkpoint_min_mb) ||
		 json_is_integer(json_object_get(saved, "ctid_block"))))
		ok = full_refresh_by_ctid(r, s, qt, saved, &nrows, finished);
	else
	{
		ok = full_refresh_whole(r, s, qt, &nrows);
		*finished = ok;
	}
	if (ok)
		log_info("stream %s.%s: full refresh copied %lld rows%s", s->table->ns, s->table->name,
				 nrows, *finished ? "" : ", stopped before the end of the table");
	free(qt);
	return ok;
}
