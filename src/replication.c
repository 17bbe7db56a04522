/*
 * replication.c: the streaming loop over a replication=database connection (in the manner of
 * pg_recvlogical's StreamLogicalLog). START_REPLICATION with pgoutput, CopyData 'w' decoded by
 * the pure decoder into records, keepalives 'k' answered, standby status updates 'r' sent on a
 * timer and on request (never per message), and the batch end rule: stop once every transaction
 * committed before the read began has been delivered.
 *
 * Records are written as changes arrive (pgoutput protocol 1 sends a transaction only once it
 * has committed, and Begin already carries its commit LSN and time), so memory does not grow
 * with transaction size; STATE is emitted only between transactions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <time.h>

#include "airbyte.h"
#include "commands.h"
#include "error.h"
#include "log.h"
#include "pgconn.h"
#include "pgoutput.h"
#include "reader.h"
#include "slot.h"

#include <uuid/uuid.h>

#define STATUS_INTERVAL_US (INT64_C(10) * 1000000)
#define END_MARKER_PREFIX "source-postgres"
/* a stream that yielded this many messages since it last ran dry is busy: read it in batches */
#define BUSY_BATCH_MESSAGES 32
/* how long a busy stream's read waits for PGC_BATCH_BYTES before taking what came */
#define STREAM_BATCH_MS 10
/* after this long without a message, ask the walsender for a keepalive */
#define PING_AFTER_US (INT64_C(5) * 1000000)
/* a caught-up stream checkpoints its last records this soon (and no sooner after a state) */
#define IDLE_STATE_MS 100
/* logical_decoding_work_mem for our walsender when it streams (kB): see cap_decoding_memory */
#define STREAM_DECODING_MEM_KB "8192"

/*
 * A streamed (in-progress) transaction's messages, spooled raw to a temporary file until its
 * Stream Commit (replayed into records) or Stream Abort (dropped). Subtransactions aborted inside
 * it are remembered and their messages skipped on replay. Writes go through one buffer shared by
 * all spools (a stream block holds one transaction's messages), so memory does not grow with the
 * number of transactions streamed at once: the server streams up to one per connection.
 */
typedef struct spool
{
	uint32_t	xid;
	int			fd;
	uint64_t	bytes;			/* appended, with what still waits in the write buffer */
	int			naborted;
	int			abortedcap;
	uint32_t   *aborted;
} spool;

/* Spools may not exceed this many bytes together (a bounded temp file, not memory). */
#define SPOOL_MAX_BYTES (UINT64_C(64) << 30)
/* Largest single pgoutput message we replay (a row with 1 GB values). */
#define SPOOL_MAX_MESSAGE ((size_t) 1 << 31)
/* The shared write buffer: a larger message bypasses it. */
#define SPOOL_WRITE_BYTES ((size_t) 256 * 1024)

/* A relation announced by pgoutput, mapped to the stream that captures it. */
typedef struct rel_map
{
	pg_oid		oid;
	rd_stream  *stream;			/* NULL: not captured */
	int			ncols;
	int		   *selidx;			/* per relation column: index into stream->sel, or -1 */
	tc_type    *types;			/* per relation column: resolved now (the table may have changed) */
	int			keycol[32];		/* per key column of the table: the relation column, or -1 */
	char	   *qname;			/* its "schema"."name" now, for re-reads (NULL: look it up) */
	int			key_missing;	/* a stream key column its replica identity lacks (its index in
								 * the relation), or -1 */
	bool		key_warned;		/* that was said for an UPDATE or DELETE */
} rel_map;

#define WM_DELIVERED 4096

typedef struct repl_ctx
{
	reader	   *r;
	PGconn	   *conn;
	pgo_decoder *dec;
	rel_map    *rels;
	int			nrels;
	int			relcap;
	bool		in_txn;
	char		txn_lsn[24];	/* commit LSN of the open transaction, as a JSON number */
	pg_lsn		txn_commit;		/* the same, as a number */
	uint32_t	txn_xid;		/* its xid */
	bool		txn_visible;	/* others are known to see it (see wait_txn_visible) */
	bool		txn_touched_wm; /* it changed a table still to be backfilled in chunks */
	char		txn_time[40];	/* its commit time, RFC 3339 UTC */
	bool		done;
	int64_t		last_status_us;
	long long	changes;
	buf_t		sql;
	int			proto;			/* pgoutput protocol version in use (1, or 2 with streaming) */
	uint32_t	stream_xid;		/* inside a stream block: its transaction, else 0 */
	spool	   *spools;			/* streamed transactions not yet committed or aborted */
	int			nspools;
	uint64_t	spool_bytes;	/* over all spools */
	char	   *spool_wbuf;		/* the write buffer (SPOOL_WRITE_BYTES), allocated on first use */
	size_t		spool_wlen;
	uint32_t	spool_wxid;		/* the transaction whose messages spool_wbuf holds */
	buf_t		spool_msg;		/* replay buffer */
	/* interleaved backfill (see wm_chunk in reader.h) */
	wm_chunk	wm;
	int			wm_phase;		/* 0 no chunk, 1 waiting for its low mark, 2 between the marks */
	bool		wm_none;		/* no stream is left to backfill in chunks */
	unsigned	wm_seq;
	char		wm_low[96];
	char		wm_high[96];
	char		wm_id[40];
	/*
	 * xids of the transactions delivered since the last chunk's copy began that changed a table
	 * still to be backfilled in chunks (the newest WM_DELIVERED, and one more for the
	 * transaction being delivered): see wm_chunk_fill
	 */
	uint32_t	wm_delivered[WM_DELIVERED + 1];
	int			wm_ndelivered;
	int			wm_delivered_next;
} repl_ctx;

/* keys of an interleaved chunk are held in memory: bound the chunk */
#define WM_MAX_CHUNK 50000

/* A cheap monotonic clock for the loop's timers (a few ms of resolution is plenty). */
static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Microseconds since 2000-01-01, as the replication protocol counts. */
static int64_t
pg_now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec - INT64_C(946684800) * 1000000;
}

/*
 * After the server ended the stream: whether the slot is gone or has lost (or is about to lose)
 * its WAL, as when it outgrew max_slot_wal_keep_size and the server ended its walsender to
 * invalidate it. The server marks it a moment after the walsender has gone, so a slot still held
 * or not yet marked is looked at again for up to a second.
 */
static bool
slot_gone(reader *r)
{
	for (int i = 0; i < 10; i++)
	{
		slot_info	slot;

		if (!slot_get(r->conn, r->cfg->replication_slot, &slot))
		{
			err_clear();
			return false;
		}
		if (!slot.exists || strcmp(slot.wal_status, "lost") == 0)
			return true;
		if (strcmp(slot.wal_status, "unreserved") != 0 && !slot.active)
			return false;
		usleep(100 * 1000);
	}
	return false;
}

static bool
send_status(repl_ctx *c, bool reply_requested)
{
	uint8_t		msg[34];
	pg_lsn		ack = c->r->ack_lsn;

	/*
	 * write = flush = apply = the acknowledged position: the slot's confirmed_flush_lsn follows
	 * flush, and reporting write below what the server has sent makes an idle walsender send
	 * keepalives carrying its position, which lets an idle read advance and end.
	 */
	pgo_build_status(msg, ack, ack, ack, pg_now_us(), reply_requested);
	if (PQputCopyData(c->conn, (const char *) msg, sizeof(msg)) <= 0 || PQflush(c->conn) != 0)
	{
		err_set(ERR_TRANSIENT, PQerrorMessage(c->conn), "could not send a standby status update");
		return false;
	}
	c->last_status_us = now_us();
	return true;
}

static rel_map *
rel_lookup(repl_ctx *c, pg_oid oid)
{
	for (int i = 0; i < c->nrels; i++)
		if (c->rels[i].oid == oid)
			return &c->rels[i];
	return NULL;
}

/*
 * Find the table's key columns among a Relation's, by name; a key column renamed since the change
 * was made has its old name there. When the key is the replica identity (not FULL), the Relation
 * flags it: the one flagged column no name matched is the one key column no name found.
 */
static void
map_key_columns(rel_map *m, const sp_table *t, const pgo_relation *rel)
{
	int			unmatched = -1;
	int			nunmatched = 0;
	int			flagged = -1;
	int			nflagged = 0;

	for (int k = 0; k < t->nkey && k < 32; k++)
	{
		m->keycol[k] = -1;
		for (int j = 0; j < rel->ncols && m->keycol[k] < 0; j++)
			if (strcmp(rel->cols[j].name, t->cols[t->key[k]].name) == 0)
				m->keycol[k] = j;
		if (m->keycol[k] < 0)
		{
			unmatched = k;
			nunmatched++;
		}
	}
	if (nunmatched != 1 || t->replident == 'f')
		return;
	for (int j = 0; j < rel->ncols; j++)
	{
		bool		taken = false;

		for (int k = 0; k < t->nkey && k < 32; k++)
			taken |= m->keycol[k] == j;
		if (rel->cols[j].is_key && !taken)
		{
			flagged = j;
			nflagged++;
		}
	}
	if (nflagged == 1)
		m->keycol[unmatched] = flagged;
}

/* (Re)build the mapping for a Relation message: every 'R' replaces the previous one. */
static bool
on_relation(repl_ctx *c, const pgo_relation *rel)
{
	rel_map    *m = rel_lookup(c, rel->oid);
	rd_stream  *s = NULL;

	if (m == NULL)
	{
		if (c->nrels == c->relcap)
		{
			int			ncap = c->relcap ? c->relcap * 2 : 16;
			rel_map    *n = realloc(c->rels, sizeof(rel_map) * (size_t) ncap);

			if (n == NULL)
				abort();
			c->rels = n;
			c->relcap = ncap;
		}
		m = &c->rels[c->nrels++];
		memset(m, 0, sizeof(*m));
	}
	free(m->selidx);
	free(m->types);
	m->oid = rel->oid;
	m->ncols = rel->ncols;
	m->selidx = calloc((size_t) (rel->ncols ? rel->ncols : 1), sizeof(int));
	m->types = calloc((size_t) (rel->ncols ? rel->ncols : 1), sizeof(tc_type));
	if (m->selidx == NULL || m->types == NULL)
		abort();
	for (int i = 0; i < c->r->nstreams; i++)
	{
		rd_stream  *cand = &c->r->streams[i];

		/*
		 * By OID, not by name: changes of a table since dropped (or renamed away) whose name a new
		 * table took are not the new table's, and changes made before a rename are the table's
		 * own (a partitioned table's come under its root's OID, publish_via_partition_root).
		 */
		if (cand->incremental && cand->table->oid == rel->oid)
			s = cand;
		else if (cand->incremental && strcmp(cand->table->ns, rel->nspname) == 0 &&
				 strcmp(cand->table->name, rel->relname) == 0)
			log_warn("stream %s.%s: changes of another table of that name (OID %u, not %u: created "
					 "since this read began, or dropped before it) are not read; the next read "
					 "compares the table's OID with its state's", rel->nspname, rel->relname,
					 rel->oid, cand->table->oid);
	}
	m->stream = s;
	for (int j = 0; j < rel->ncols; j++)
	{
		m->selidx[j] = -1;
		if (s == NULL)
			continue;
		/* the configured columns: the table's, then those it no longer has (see add_gone_columns) */
		for (int k = 0; k < s->nsel + s->ngone && m->selidx[j] < 0; k++)
			if (strcmp(rd_col_name(s, k), rel->cols[j].name) == 0)
				m->selidx[j] = k;
		if (m->selidx[j] >= 0 &&
			!typecache_resolve(c->r->types, c->r->conn, rel->cols[j].type_oid, 0, &m->types[j]))
			return false;
		if (m->selidx[j] >= 0 && typecache_missing(c->r->types, rel->cols[j].type_oid))
		{
			/*
			 * The change's type was dropped since (the column was retyped, the old type dropped):
			 * read its text as the column's type now (a value that type refuses is null, and the
			 * record says so), or as a string for a column that is gone, never a read that stops
			 * at this change every time.
			 */
			if (m->selidx[j] < s->nsel)
				m->types[j] = s->table->cols[s->sel[m->selidx[j]]].type;
			log_warn("stream %s.%s: the type (OID %u) of column %s in changes before it was "
					 "changed no longer exists; its values are read as %s", rel->nspname,
					 rel->relname, rel->cols[j].type_oid, rel->cols[j].name,
					 m->selidx[j] < s->nsel ? "the column's type now" : "strings");
		}
		/* keep the discovered array depth for the schema's sake; values convert the same */
		if (m->selidx[j] >= 0 && m->selidx[j] < s->nsel)
			m->types[j].ndims = s->table->cols[s->sel[m->selidx[j]]].type.ndims;
	}
	if (s)
		map_key_columns(m, s->table, rel);
	/*
	 * The replica identity changed while streaming (ALTER TABLE ... REPLICA IDENTITY, a primary
	 * key dropped or replaced): a stream key column it no longer holds is missing from DELETEs, and
	 * a change to it comes without the old row. Said when an UPDATE or DELETE of the stream comes
	 * (see warn_key_missing), not here: INSERTs need no old key, and changes a reset stream drops
	 * do not matter. Not an error: these changes stay in the WAL, and no fix made since would get
	 * a read past them; a read starting while the identity still lacks the key fails there
	 * (read.c key_in_identity) until the table or the stream is fixed.
	 */
	m->key_missing = -1;
	m->key_warned = false;
	if (s && rel->replident != 'f' && s->table->relkind != 'p')
		for (int j = 0; j < rel->ncols && m->key_missing < 0; j++)
			if (m->selidx[j] >= 0 && m->selidx[j] < s->nsel && s->is_key[m->selidx[j]] &&
				!rel->cols[j].is_key)
				m->key_missing = j;
	return true;
}

/*
 * Before a re-read for the open transaction: wait until others can see it. Its commit record is
 * written, but it becomes visible only a moment later (under synchronous replication, once the
 * standby confirms it), and a re-read before would give a value from before it. Asked once per
 * transaction. False (error recorded) if the server cannot be asked.
 */
static bool
wait_txn_visible(repl_ctx *c)
{
	reader	   *r = c->r;
	PGresult   *res;
	char		xids[16];
	bool		seen;

	if (c->txn_visible)
		return true;
	res = pgc_query(r->conn, "reading a snapshot before re-reading a row", RD_SNAPSHOT_SQL(r), 0,
					NULL);
	if (res == NULL)
		return false;
	seen = pgo_snapshot_sees(PQgetvalue(res, 0, 0), c->txn_xid);
	PQclear(res);
	snprintf(xids, sizeof(xids), "{%u}", c->txn_xid);
	if (!seen && !reader_wait_xids(r, xids, true, "to become visible: it did not send an "
								   "unchanged TOASTed value, and re-reading its row before "
								   "would give the value from before it"))
		return false;
	/* stopped while waiting: false with no error, and the stream ends before this transaction */
	if (!seen && sp_stop_requested)
		return false;
	c->txn_visible = true;
	return true;
}

/*
 * The relation's "schema"."name" now, looked up by its OID: the name a change came under (or the
 * read began with) may belong to another table since (a rename, a swap). False with *gone when the
 * relation no longer exists; false with an error recorded when the server cannot be asked.
 */
static bool
resolve_name(repl_ctx *c, rel_map *m, bool *gone)
{
	char		oid[16];
	const char *params[1] = {oid};
	PGresult   *res;

	*gone = false;
	free(m->qname);
	m->qname = NULL;
	snprintf(oid, sizeof(oid), "%u", m->oid);
	res = pgc_query(c->r->conn, "looking up a table by its OID for a re-read",
					"SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c "
					"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::pg_catalog.oid",
					1, params);
	if (res == NULL)
		return false;
	if (PQntuples(res) == 1)
		m->qname = strdup(PQgetvalue(res, 0, 0));
	else
		*gone = true;
	PQclear(res);
	if (m->qname == NULL && !*gone)
		abort();
	return m->qname != NULL;
}

/*
 * An unchanged TOASTed value that pgoutput did not send: read the row's current value by key,
 * once others see the transaction, from the relation the change is of (by OID: not another table
 * that took its name since, and ONLY the table, not its inheritance children). Returns the result
 * (caller clears) or NULL when the row is gone (a later change deletes it, or the table is gone).
 */
static PGresult *
refetch_row(repl_ctx *c, rel_map *m, const pgo_tuple *newtup, const pgo_tuple *oldtup,
			bool *failed)
{
	rd_stream  *s = m->stream;
	const sp_table *t = s->table;
	const char *params[34];
	char	   *owned[32];
	char		oid[16];
	int			np = 0;
	bool		looked_up = false;
	bool		gone;
	PGresult   *res = NULL;

	*failed = false;
	for (int k = 0; k < t->nkey && k < 32; k++)
	{
		const pgo_value *v = NULL;
		int			j = m->keycol[k];

		if (j >= 0)
		{
			if (newtup->cols[j].kind == PGO_COL_TEXT)
				v = &newtup->cols[j];
			else if (oldtup && oldtup->ncols > j && oldtup->cols[j].kind == PGO_COL_TEXT)
				v = &oldtup->cols[j];
		}
		if (v == NULL)
		{
			for (int i = 0; i < np; i++)
				free(owned[i]);
			return NULL;
		}
		owned[np] = strndup(v->data, v->len);
		params[np] = owned[np];
		np++;
	}
	if (np == 0)
		return NULL;
	if (!wait_txn_visible(c))
	{
		*failed = true;
		goto done;
	}
	snprintf(oid, sizeof(oid), "%u", m->oid);
	/*
	 * With the name known, then, if it is no table's now, lacks a column, or gives no row of this
	 * very table, once more with the name looked up again by OID
	 */
	for (bool lookup = m->qname == NULL;; lookup = true)
	{
		char		state[6];
		char		msg[1024];

		if (lookup)
		{
			if (!resolve_name(c, m, &gone))
			{
				*failed = !gone;
				goto done;
			}
			looked_up = true;
		}
		buf_reset(&c->sql);
		buf_puts(&c->sql, "SELECT ");
		for (int k = 0; k < s->nsel; k++)
		{
			char	   *q = pgc_ident(c->r->conn, t->cols[s->sel[k]].name);

			buf_puts(&c->sql, k ? ", " : "");
			buf_puts(&c->sql, q ? q : "NULL");
			PQfreemem(q);
		}
		/* whether the name is the change's table now, compared below */
		buf_printf(&c->sql, ", pg_catalog.to_regclass($%d)::pg_catalog.oid = $%d::pg_catalog.oid "
				   "FROM %s%s WHERE ", np + 1, np + 2, t->relkind == 'p' ? "" : "ONLY ", m->qname);
		for (int k = 0; k < np; k++)
		{
			const sp_column *kc = &t->cols[t->key[k]];
			char	   *q = pgc_ident(c->r->conn, kc->name);

			buf_printf(&c->sql, "%s%s = $%d::%s", k ? " AND " : "", q ? q : "NULL", k + 1,
					   kc->type_name);
			PQfreemem(q);
		}
		params[np] = m->qname;
		params[np + 1] = oid;
		res = pgc_try(c->r->conn, c->sql.data, np + 2, params, state, msg, sizeof(msg));
		if (res == NULL)
		{
			/* the name is no table's now (renamed away), or lacks a column: look it up again */
			if (!looked_up && (strcmp(state, "42P01") == 0 || strcmp(state, "42703") == 0))
				continue;
			pgc_fail("re-reading a row for an unchanged TOASTed value", state, msg, NULL);
			*failed = true;
			goto done;
		}
		if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, s->nsel), "t") == 0)
			goto done;			/* the row, of this very table */
		PQclear(res);
		res = NULL;
		if (looked_up)
			goto done;			/* the name is right: the row is gone */
	}
done:
	for (int i = 0; i < np; i++)
		free(owned[i]);
	return res;
}

static void
append_meta(repl_ctx *c, buf_t *out, bool deleted)
{
	buf_append(out, ",\"_ab_cdc_lsn\":", 15);
	buf_puts(out, c->txn_lsn);
	buf_append(out, ",\"_ab_cdc_updated_at\":\"", 23);
	buf_puts(out, c->txn_time);
	if (deleted)
	{
		buf_append(out, "\",\"_ab_cdc_deleted_at\":\"", 24);
		buf_puts(out, c->txn_time);
		buf_putc(out, '"');
	}
	else
		buf_append(out, "\",\"_ab_cdc_deleted_at\":null", 27);
}

/*
 * The stream a change of relation m makes a record of (RUNNING once it does), or NULL: none
 * captured, or a table backfilled again, whose changes committed before changes_from are in its
 * copy (see prepare_cdc), or for a keyless one, those of transactions its copy's snapshot sees
 * (see export_copy_snapshot). A change of a table still to be chunked marks the transaction even when
 * not emitted: the copy's rows hold it, once their snapshot sees it (wm_chunk_fill).
 */
static rd_stream *
change_stream(repl_ctx *c, const rel_map *m)
{
	rd_stream  *s = m ? m->stream : NULL;

	if (s == NULL)
		return NULL;
	c->txn_touched_wm |= s->interleaved && !s->st.streaming;
	if (s->st.copy_snapshot ? pgo_snapshot_sees(s->st.copy_snapshot, c->txn_xid) :
		c->txn_commit < s->st.changes_from)
		return NULL;
	reader_mark_running(c->r, s);
	return s;
}

/* An UPDATE or DELETE of a stream whose key its replica identity lacked when it was made */
static void
warn_key_missing(rel_map *m, const pgo_relation *rel, const rd_stream *s)
{
	if (m->key_missing < 0 || m->key_warned)
		return;
	m->key_warned = true;
	log_warn("stream %s.%s: changes made while the table's replica identity did not hold its key "
			 "column %s: their DELETEs cannot name the row (they are left out), and an UPDATE "
			 "changing the key comes without the old row, so the destination may keep rows the "
			 "source no longer has; run ALTER TABLE ... "
			 "REPLICA IDENTITY DEFAULT (or FULL) if it still lacks it, and refresh the stream to "
			 "re-sync it", s->table->ns, s->table->name, rel->cols[m->key_missing].name);
}

/* Insert or update: the full new row. */
static bool
emit_row(repl_ctx *c, const pgo_relation *rel, const pgo_tuple *newtup, const pgo_tuple *oldtup,
		 char old_kind)
{
	rel_map    *m = rel_lookup(c, rel->oid);
	reader	   *r = c->r;
	rd_stream  *s = change_stream(c, m);
	buf_t	   *out;
	bool		first = true;
	PGresult   *refetched = NULL;
	bool		tried_refetch = false;

	if (s == NULL)
		return true;
	if (oldtup != NULL || old_kind != 0)
		warn_key_missing(m, rel, s);
	/*
	 * Resolve unchanged TOAST values before the record is opened (the re-read is a query). A
	 * column the table no longer has cannot be re-read: it is null, and the record says so.
	 */
	for (int j = 0; j < rel->ncols && !tried_refetch; j++)
		if (m->selidx[j] >= 0 && m->selidx[j] < s->nsel &&
			newtup->cols[j].kind == PGO_COL_UNCHANGED &&
			!(old_kind == 'O' && oldtup->cols[j].kind == PGO_COL_TEXT))
		{
			bool		failed;

			tried_refetch = true;
			refetched = refetch_row(c, m, newtup, old_kind ? oldtup : NULL, &failed);
			if (failed)
				return false;
		}
	out = reader_record_begin(r, s);
	for (int j = 0; j < rel->ncols; j++)
	{
		const pgo_value *v = &newtup->cols[j];
		int			k = m->selidx[j];

		if (k < 0)
			continue;
		if (v->kind == PGO_COL_UNCHANGED)
		{
			if (old_kind == 'O' && oldtup->cols[j].kind == PGO_COL_TEXT)
				v = &oldtup->cols[j];	/* REPLICA IDENTITY FULL: the old row has it */
			else if (refetched && k < s->nsel)
			{
				reader_emit_value(r, out, s, k, &m->types[j], first, PQgetvalue(refetched, 0, k),
						   (size_t) PQgetlength(refetched, 0, k), PQgetisnull(refetched, 0, k));
				first = false;
				continue;
			}
			else
			{
				/* the row is gone now (a later change in the stream deletes it), or the column */
				reader_emit_value(r, out, s, k, &m->types[j], first, NULL, 0, true);
				if (r->nnulled < 64)
					r->nulled[r->nnulled++] = rd_col_name(s, k);
				first = false;
				continue;
			}
		}
		reader_emit_value(r, out, s, k, &m->types[j], first, v->data, v->len, v->kind == PGO_COL_NULL);
		first = false;
	}
	append_meta(c, out, false);
	reader_record_end(r);
	PQclear(refetched);
	r->records_since_state++;
	return true;
}

/* Delete: the old key (or the whole old row under REPLICA IDENTITY FULL). */
static void
emit_delete(repl_ctx *c, const pgo_relation *rel, const pgo_tuple *oldtup, char old_kind)
{
	rel_map    *m = rel_lookup(c, rel->oid);
	reader	   *r = c->r;
	rd_stream  *s = change_stream(c, m);
	buf_t	   *out;
	bool		first = true;

	if (s == NULL)
		return;
	warn_key_missing(m, rel, s);
	/* a delete without the stream's key would name no row (and a null key breaks some destinations) */
	if (m->key_missing >= 0 && old_kind != 'O')
		return;
	out = reader_record_begin(r, s);
	for (int j = 0; j < rel->ncols; j++)
	{
		const pgo_value *v = &oldtup->cols[j];
		int			k = m->selidx[j];

		if (k < 0 || (old_kind == 'K' && !rel->cols[j].is_key) || v->kind == PGO_COL_UNCHANGED)
			continue;
		reader_emit_value(r, out, s, k, &m->types[j], first, v->data, v->len, v->kind == PGO_COL_NULL);
		first = false;
	}
	append_meta(c, out, true);
	reader_record_end(r);
	r->records_since_state++;
}

/*
 * Whether an update changes the row's identity in the destination, so the old identity must be
 * deleted first: compare the key columns of the old tuple ('K': the replica identity, sent when
 * it changed or is stored out of line; 'O': the whole old row) with the new ones. For a keyless
 * table the whole row is the identity.
 */
static bool
update_moves_identity(repl_ctx *c, const pgo_msg *msg)
{
	const pgo_relation *rel = msg->u.update.rel;
	const pgo_tuple *o = &msg->u.update.oldtup;
	const pgo_tuple *n = &msg->u.update.newtup;
	rel_map    *m = rel_lookup(c, rel->oid);

	if (m == NULL || m->stream == NULL || msg->u.update.old_kind == 0)
		return false;
	if (m->stream->table->nkey == 0)
		return true;
	for (int k = 0; k < m->stream->table->nkey && k < 32; k++)
	{
		int			j = m->keycol[k];

		if (j >= 0 && n->cols[j].kind == PGO_COL_TEXT && o->cols[j].kind == PGO_COL_TEXT &&
			(o->cols[j].len != n->cols[j].len ||
			 memcmp(o->cols[j].data, n->cols[j].data, n->cols[j].len) != 0))
			return true;
	}
	return false;
}

/*
 * Without a deliverable end marker (PostgreSQL 12/13, standbys), a batch read ends once the
 * position reaches the target taken at start.
 */
static void
check_end_position(repl_ctx *c)
{
	reader	   *r = c->r;

	if (!r->follow && r->end_marker[0] == '\0' && r->lsn >= r->target_lsn)
		c->done = true;
}

static void
maybe_state(repl_ctx *c)
{
	reader	   *r = c->r;

	if (r->records_since_state >= r->cfg->checkpoint_records ||
		ab_mono_ms() - r->last_state_ms >= (int64_t) r->cfg->checkpoint_interval_seconds * 1000)
		reader_emit_state(r);
}

static bool handle_msg(repl_ctx *c, const pgo_msg *in);

/* Whether msg is one of our own non-transactional markers, with exactly this content. */
static bool
is_marker(const pgo_msg *msg, const char *content)
{
	size_t		n = msg->u.message.content_len;

	return !msg->u.message.transactional && content[0] != '\0' &&
		strcmp(msg->u.message.prefix, END_MARKER_PREFIX) == 0 && n == strlen(content) &&
		memcmp(msg->u.message.content, content, n) == 0;
}

/* Every transaction committed before a marker has been delivered once the marker arrives. */
static void
passed_marker(repl_ctx *c, pg_lsn lsn)
{
	if (!c->in_txn && lsn > c->r->lsn)
		c->r->lsn = lsn;
}

/*
 * The next stream to backfill in watermark chunks, or NULL. Asked before every message: once none
 * is left, none can be again (a backfill only ever finishes), so that answer is kept. None is
 * started past the initial load timeout.
 */
static rd_stream *
wm_pending(repl_ctx *c)
{
	if (c->wm_none)
		return NULL;
	/* past the initial load timeout, the rest waits for the next attempt (see cmd_read) */
	if (reader_load_expired(c->r))
		return NULL;
	for (int i = 0; i < c->r->nstreams; i++)
		if (c->r->streams[i].interleaved && !c->r->streams[i].st.streaming)
			return &c->r->streams[i];
	c->wm_none = true;
	return NULL;
}

/* Low watermark, chunk, high watermark: the stream then decides what of the chunk is current. */
static bool
wm_start_chunk(repl_ctx *c, rd_stream *s)
{
	reader	   *r = c->r;
	pg_lsn		unused;
	int			rows = r->cfg->backfill_chunk_size < WM_MAX_CHUNK ? r->cfg->backfill_chunk_size : WM_MAX_CHUNK;
	int			n;

	c->wm_seq++;
	snprintf(c->wm_low, sizeof(c->wm_low), "wm:%s:%u:low", c->wm_id, c->wm_seq);
	snprintf(c->wm_high, sizeof(c->wm_high), "wm:%s:%u:high", c->wm_id, c->wm_seq);
	c->wm.s = s;
	/*
	 * A transaction whose commit record is written before the chunk's copy but which the copy
	 * cannot see yet (it becomes visible a moment after its commit record, or once a synchronous
	 * standby confirms it) would have its change overwritten by the copy's older row. Those the
	 * stream delivers from now on remove their keys from the chunk (wm_observe). Those it has
	 * delivered already are waited for by the copy until it sees them (wm_chunk_fill). Those
	 * from before this read are delivered again: no state moves past one still unseen
	 * (reader_delivered).
	 */
	if (!reader_emit_marker(r, c->wm_low, &unused))
		goto failed;
	/* the transaction being delivered, if it changed the table, must be visible to the copy too */
	n = c->wm_ndelivered;
	if (c->in_txn && c->txn_touched_wm)
		c->wm_delivered[n++] = c->txn_xid;
	if (!wm_chunk_fill(r, &c->wm, rows, c->wm_delivered, n))
		goto failed;
	if (sp_stop_requested)
		return true;			/* stopped while waiting: no chunk */
	/* the copy sees them all: what it could not see from now on is delivered after it began */
	c->wm_ndelivered = 0;
	c->wm_delivered_next = 0;
	if (!reader_emit_marker(r, c->wm_high, &unused))
		goto failed;
	c->wm_phase = 1;
	return true;
failed:
	if (!err_isset())
		err_set(ERR_SYSTEM, NULL, "could not write a backfill watermark");
	return false;
}

/* The chunk's encoded key of tuple t into key; false when t lacks a key column's value. */
static bool
wm_tuple_key(const rd_stream *s, const rel_map *m, const pgo_relation *rel, const pgo_tuple *t,
			 buf_t *key)
{
	buf_reset(key);
	if (t == NULL || t->ncols != rel->ncols || s->table->nkey > 32)
		return false;
	for (int k = 0; k < s->table->nkey; k++)
	{
		int			j = m->keycol[k];

		if (j < 0 || t->cols[j].kind != PGO_COL_TEXT)
			return false;
		wm_key_append(key, t->cols[j].data, t->cols[j].len);
	}
	return true;
}

/*
 * A change delivered after the chunk's copy began (committed before the low watermark, which the
 * copy may not have seen, or between the marks): the chunk's copy of that row may be older than
 * the change, which is streamed before the chunk goes out. The stream's records of the row are
 * its last word, and the chunk's copy is dropped. The row's key is t's, or else alt's (a new
 * tuple's unchanged TOASTed key is in the old one). A change whose key cannot be read (a key
 * column renamed during the read) cannot be reconciled with the chunk: false, error recorded.
 */
static bool
wm_observe(repl_ctx *c, const pgo_relation *rel, const pgo_tuple *t, const pgo_tuple *alt)
{
	rd_stream  *s = c->wm.s;
	rel_map    *m;
	buf_t		key;
	bool		found;

	if (c->wm_phase == 0)
		return true;
	/*
	 * Only a change the stream emits for the chunk's table: one from before the table's
	 * changes_from is not emitted (see emit_row), and already visible to the copy
	 */
	m = rel_lookup(c, rel->oid);
	if (m == NULL || m->stream != s || c->txn_commit < s->st.changes_from)
		return true;
	buf_init(&key, 0);
	found = wm_tuple_key(s, m, rel, t, &key) || wm_tuple_key(s, m, rel, alt, &key);
	if (found)
		wm_chunk_forget(&c->wm, key.data, key.len);
	else
		err_set(ERR_CONFIG, NULL, "stream %s.%s: a change at LSN %s does not carry the "
				"table's key (key columns renamed or changed while it was backfilled?), so its "
				"backfill chunk cannot be reconciled with it, and a retry would resume before "
				"the same change: reset the stream, so that its backfill starts again from the "
				"table as it is now", s->table->ns, s->table->name, c->txn_lsn);
	buf_free(&key);
	return found;
}

static spool *
spool_find(repl_ctx *c, uint32_t xid)
{
	for (int i = 0; i < c->nspools; i++)
		if (c->spools[i].xid == xid)
			return &c->spools[i];
	return NULL;
}

static void
spool_drop(repl_ctx *c, spool *sp)
{
	if (c->spool_wxid == sp->xid)
		c->spool_wlen = 0;
	if (sp->fd >= 0)
		close(sp->fd);
	free(sp->aborted);
	c->spool_bytes -= sp->bytes;
	*sp = c->spools[--c->nspools];
}

static void
spool_write_failed(void)
{
	err_set(ERR_SYSTEM, NULL, "could not write the spool of a streamed transaction in %s: %s "
			"(TMPDIR must be writable, with free space)", sp_tmpdir(),
			errno ? strerror(errno) : "short write");
}

/* Write the shared buffer out to its transaction's spool. */
static bool
spool_flush(repl_ctx *c)
{
	spool	   *sp = c->spool_wlen > 0 ? spool_find(c, c->spool_wxid) : NULL;

	if (sp != NULL && !fd_write_all(sp->fd, c->spool_wbuf, c->spool_wlen))
	{
		spool_write_failed();
		return false;
	}
	c->spool_wlen = 0;
	return true;
}

/* Append one in-block message to its transaction's spool. */
static bool
spool_append(repl_ctx *c, uint32_t xid, const uint8_t *data, size_t len)
{
	spool	   *sp = spool_find(c, xid);
	uint32_t	n = (uint32_t) len;

	if (sp == NULL)
	{
		spool	   *grown = realloc(c->spools, sizeof(spool) * (size_t) (c->nspools + 1));

		if (grown == NULL)
			abort();
		c->spools = grown;
		sp = &c->spools[c->nspools++];
		memset(sp, 0, sizeof(*sp));
		sp->xid = xid;
		sp->fd = sp_tmpfd();
		if (sp->fd < 0)
		{
			err_set(ERR_SYSTEM, NULL, "could not create a temporary file in %s to spool a "
					"streamed transaction: %s (TMPDIR must be writable, with free space)",
					sp_tmpdir(), strerror(errno));
			return false;
		}
	}
	if (c->spool_bytes + len + 4 > SPOOL_MAX_BYTES || len > SPOOL_MAX_MESSAGE)
	{
		err_set(ERR_SYSTEM, NULL, "streamed transactions in flight exceed the %llu GiB spool limit",
				(unsigned long long) (SPOOL_MAX_BYTES >> 30));
		return false;
	}
	if (c->spool_wbuf == NULL && (c->spool_wbuf = malloc(SPOOL_WRITE_BYTES)) == NULL)
		abort();
	if (c->spool_wlen > 0 && (c->spool_wxid != xid || c->spool_wlen + sizeof(n) + len > SPOOL_WRITE_BYTES) &&
		!spool_flush(c))
		return false;
	if (sizeof(n) + len > SPOOL_WRITE_BYTES)
	{
		if (!fd_write_all(sp->fd, &n, sizeof(n)) || !fd_write_all(sp->fd, data, len))
		{
			spool_write_failed();
			return false;
		}
	}
	else
	{
		memcpy(c->spool_wbuf + c->spool_wlen, &n, sizeof(n));
		memcpy(c->spool_wbuf + c->spool_wlen + sizeof(n), data, len);
		c->spool_wlen += sizeof(n) + len;
		c->spool_wxid = xid;
	}
	sp->bytes += len + 4;
	c->spool_bytes += len + 4;
	return true;
}

/* Stream Abort: the whole transaction, or one of its subtransactions. */
static void
spool_abort(repl_ctx *c, uint32_t xid, uint32_t subxid)
{
	spool	   *sp = spool_find(c, xid);

	if (sp == NULL)
		return;
	if (subxid == xid || subxid == 0)
	{
		spool_drop(c, sp);
		return;
	}
	if (sp->naborted == sp->abortedcap)
	{
		int			ncap = sp->abortedcap ? sp->abortedcap * 2 : 8;
		uint32_t   *n = realloc(sp->aborted, sizeof(uint32_t) * (size_t) ncap);

		if (n == NULL)
			abort();
		sp->aborted = n;
		sp->abortedcap = ncap;
	}
	sp->aborted[sp->naborted++] = subxid;
}

static bool
spool_skips(const spool *sp, uint32_t xid)
{
	for (int i = 0; i < sp->naborted; i++)
		if (sp->aborted[i] == xid)
			return true;
	return false;
}

/*
 * Replay reads a spool at least SPOOL_READ_BYTES at a time into buf (from file offset *pos) and
 * decodes its messages where they lie. spool_fill makes buf hold at least need bytes from *off
 * on, moving the unread rest to the front first; 1 when it does, 0 at the end of the file, -1 on
 * a read error or when memory runs out.
 */
#define SPOOL_READ_BYTES ((size_t) 256 * 1024)

static int
spool_fill(const spool *sp, buf_t *buf, off_t *pos, size_t *off, size_t need)
{
	if (buf->len - *off >= need)
		return 1;
	if (*off > 0)
	{
		memmove(buf->data, buf->data + *off, buf->len - *off);
		buf->len -= *off;
		*off = 0;
	}
	if (!buf_grow(buf, (need > SPOOL_READ_BYTES ? need : SPOOL_READ_BYTES) - buf->len))
		return -1;
	while (buf->len < need)
	{
		ssize_t		n = pread(sp->fd, buf->data + buf->len, buf->cap - 1 - buf->len, *pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : 0;
		buf->len += (size_t) n;
		buf->data[buf->len] = '\0';	/* buf_t's invariant (the byte is reserved) */
		*pos += n;
	}
	return 1;
}

/*
 * Stream Commit: replay the spooled messages, in order, through the main decoder inside a
 * synthetic stream block, as one transaction with this commit's LSN and time. The main decoder
 * must see the spooled Relation and Type messages: once the transaction commits, pgoutput counts
 * those schemas as sent and will not send them again for later transactions.
 */
static bool
spool_commit(repl_ctx *c, const pgo_msg *commit)
{
	spool	   *sp = spool_find(c, commit->u.stream_commit.xid);
	pgo_decoder *d = c->dec;
	uint8_t		start[6] = {PGO_STREAM_START, 0, 0, 0, 0, 1};
	uint8_t		stop[1] = {PGO_STREAM_STOP};
	pgo_msg		m;
	bool		ok = false;
	uint32_t	len;
	long long	replayed = 0;
	off_t		pos = 0;		/* the spool's next unread byte */
	size_t		off = 0;		/* the next message's offset in c->spool_msg */
	pgo_msg		fake_commit;

	c->in_txn = true;
	c->txn_xid = commit->u.stream_commit.xid;
	c->txn_visible = false;
	c->txn_touched_wm = false;
	c->txn_commit = commit->u.stream_commit.commit_lsn;
	snprintf(c->txn_lsn, sizeof(c->txn_lsn), "%llu", (unsigned long long) c->txn_commit);
	format_pg_timestamp(commit->u.stream_commit.commit_time, c->txn_time);
	if (sp == NULL)
		goto finish;			/* a streamed transaction with nothing we capture */
	start[1] = (uint8_t) (sp->xid >> 24);
	start[2] = (uint8_t) (sp->xid >> 16);
	start[3] = (uint8_t) (sp->xid >> 8);
	start[4] = (uint8_t) sp->xid;
	buf_reset(&c->spool_msg);
	if (c->spool_wxid == sp->xid && !spool_flush(c))
		return false;
	if (!pgo_decode(d, start, sizeof(start), &m))
	{
		err_set(ERR_SYSTEM, pgo_error(d), "could not replay the spool of a streamed transaction");
		return false;
	}
	for (;;)
	{
		const uint8_t *msg;
		int			got = spool_fill(sp, &c->spool_msg, &pos, &off, sizeof(len));

		if (got == 0 && c->spool_msg.len == off)
			break;				/* the end, at a message boundary */
		if (got > 0)
		{
			memcpy(&len, c->spool_msg.data + off, sizeof(len));
			got = spool_fill(sp, &c->spool_msg, &pos, &off, sizeof(len) + (size_t) len);
		}
		if (got <= 0)
		{
			err_set(ERR_SYSTEM, NULL, "could not read back the spool of a streamed transaction");
			goto done;
		}
		msg = (const uint8_t *) c->spool_msg.data + off + sizeof(len);
		off += sizeof(len) + len;
		if (!pgo_decode(d, msg, len, &m))
		{
			err_set(ERR_SYSTEM, pgo_error(d), "could not decode a streamed pgoutput message: %s",
					pgo_error(d));
			goto done;
		}
		if (m.xid != sp->xid && spool_skips(sp, m.xid) &&
			(m.type == PGO_INSERT || m.type == PGO_UPDATE || m.type == PGO_DELETE ||
			 m.type == PGO_TRUNCATE || m.type == PGO_MESSAGE))
			continue;			/* an aborted subtransaction's change */
		if (!handle_msg(c, &m))
			goto done;
		/* a long replay must not let the walsender time out waiting for our status */
		if (++replayed % 4096 == 0 && now_us() - c->last_status_us >= STATUS_INTERVAL_US &&
			!send_status(c, false))
			goto done;
	}
	ok = true;
done:
	/* leave the synthetic stream block (the decoder accepts Stream Stop only inside one) */
	if (!pgo_decode(d, stop, sizeof(stop), &m) && ok)
	{
		err_set(ERR_SYSTEM, pgo_error(d), "could not replay the spool of a streamed transaction");
		ok = false;
	}
	spool_drop(c, sp);
	if (!ok)
		return false;
finish:
	/* then exactly what a Commit does */
	memset(&fake_commit, 0, sizeof(fake_commit));
	fake_commit.type = PGO_COMMIT;
	fake_commit.u.commit.commit_lsn = commit->u.stream_commit.commit_lsn;
	fake_commit.u.commit.end_lsn = commit->u.stream_commit.end_lsn;
	fake_commit.u.commit.commit_time = commit->u.stream_commit.commit_time;
	return handle_msg(c, &fake_commit);
}

static bool
on_message(repl_ctx *c, const uint8_t *data, size_t len)
{
	pgo_msg		msg;

	/* inside a stream block, everything but its end goes to the transaction's spool */
	if (c->stream_xid != 0 && len > 0 && data[0] != PGO_STREAM_STOP && data[0] != PGO_STREAM_START)
		return spool_append(c, c->stream_xid, data, len);
	if (!pgo_decode(c->dec, data, len, &msg))
	{
		err_set(ERR_SYSTEM, pgo_error(c->dec), "could not decode a pgoutput message: %s",
				pgo_error(c->dec));
		return false;
	}
	switch (msg.type)
	{
		case PGO_STREAM_START:
			c->stream_xid = msg.u.stream_start.xid;
			return true;
		case PGO_STREAM_STOP:
			c->stream_xid = 0;
			return true;
		case PGO_STREAM_COMMIT:
			return spool_commit(c, &msg);
		case PGO_STREAM_ABORT:
			spool_abort(c, msg.u.stream_abort.xid, msg.u.stream_abort.subxid);
			return true;
		default:
			return handle_msg(c, &msg);
	}
}

/* One decoded message of a transaction (received directly, or replayed from a spool). */
static bool
handle_msg(repl_ctx *c, const pgo_msg *in)
{
	const pgo_msg msg = *in;
	reader	   *r = c->r;

	switch (msg.type)
	{
		case PGO_BEGIN:
			c->in_txn = true;
			c->txn_xid = msg.u.begin.xid;
			c->txn_visible = false;
			c->txn_touched_wm = false;
			c->txn_commit = msg.u.begin.final_lsn;
			snprintf(c->txn_lsn, sizeof(c->txn_lsn), "%llu", (unsigned long long) c->txn_commit);
			format_pg_timestamp(msg.u.begin.commit_time, c->txn_time);
			break;
		case PGO_COMMIT:
			c->in_txn = false;
			if (c->txn_touched_wm)
			{
				c->wm_delivered[c->wm_delivered_next] = c->txn_xid;
				c->wm_delivered_next = (c->wm_delivered_next + 1) % WM_DELIVERED;
				if (c->wm_ndelivered < WM_DELIVERED)
					c->wm_ndelivered++;
			}
			reader_delivered(r, c->txn_xid, c->txn_commit);
			if (msg.u.commit.end_lsn > r->lsn)
				r->lsn = msg.u.commit.end_lsn;
			check_end_position(c);
			maybe_state(c);
			break;
		case PGO_RELATION:
			return on_relation(c, msg.u.relation);
		case PGO_INSERT:
			c->changes++;
			if (!wm_observe(c, msg.u.insert.rel, &msg.u.insert.newtup, NULL))
				return false;
			return emit_row(c, msg.u.insert.rel, &msg.u.insert.newtup, NULL, 0);
		case PGO_UPDATE:
			c->changes++;
			if (!wm_observe(c, msg.u.update.rel, &msg.u.update.newtup,
							msg.u.update.old_kind ? &msg.u.update.oldtup : NULL) ||
				(msg.u.update.old_kind &&
				 !wm_observe(c, msg.u.update.rel, &msg.u.update.oldtup, NULL)))
				return false;
			if (update_moves_identity(c, &msg))
				emit_delete(c, msg.u.update.rel, &msg.u.update.oldtup, msg.u.update.old_kind);
			return emit_row(c, msg.u.update.rel, &msg.u.update.newtup, &msg.u.update.oldtup,
							msg.u.update.old_kind);
		case PGO_DELETE:
			c->changes++;
			if (!wm_observe(c, msg.u.del.rel, &msg.u.del.oldtup, NULL))
				return false;
			emit_delete(c, msg.u.del.rel, &msg.u.del.oldtup, msg.u.del.old_kind);
			break;
		case PGO_TRUNCATE:
			for (int i = 0; i < msg.u.truncate.nrels; i++)
			{
				rel_map    *m = rel_lookup(c, msg.u.truncate.relids[i]);

				if (m && m->stream)
					log_warn("TRUNCATE of %s.%s at LSN %s: Airbyte records cannot express a "
							 "truncate, so the destination keeps the rows it has; refresh this "
							 "stream (or clear it in the destination) to drop them",
							 m->stream->table->ns, m->stream->table->name, c->txn_lsn);
			}
			break;
		case PGO_MESSAGE:
			if (c->wm_phase == 1 && is_marker(&msg, c->wm_low))
				c->wm_phase = 2;
			else if (c->wm_phase == 2 && is_marker(&msg, c->wm_high))
			{
				passed_marker(c, msg.u.message.lsn);
				if (!wm_chunk_emit(r, &c->wm, msg.u.message.lsn))
					return false;
				c->wm_phase = 0;
				reader_emit_state(r);
			}
			if (is_marker(&msg, r->end_marker))
			{
				passed_marker(c, msg.u.message.lsn);
				if (!r->follow && (c->wm_phase != 0 || wm_pending(c)))
				{
					/* an interleaved backfill is still going: end at a marker written after it */
					pg_lsn		unused;

					snprintf(r->end_marker, sizeof(r->end_marker), "end:%s:%u", c->wm_id, c->wm_seq);
					if (!reader_emit_marker(r, r->end_marker, &unused))
						return false;
				}
				else if (!r->follow)
					c->done = true;
			}
			break;
		case PGO_ORIGIN:
		case PGO_TYPE:
			break;
		default:
			err_set(ERR_SYSTEM, NULL, "unexpected pgoutput message '%c' with protocol version %d",
					(char) msg.type, c->proto);
			return false;
	}
	return true;
}

/*
 * With streaming, the walsender holds a large transaction's changes until they reach
 * logical_decoding_work_mem (64 MB by default) and sends them in one block; what it still holds
 * at the COMMIT is decoded and sent after it, before the Stream Commit. Measured here (a live
 * 1M-row transaction): COMMIT to first record 0.93-1.90 s at 64 MB, 0.75-0.81 s at 8 MB, and
 * no more walsender CPU in all. So lower it for this connection (the setting is per session),
 * never raise it, and keep a value set for the connector's role or database or in its
 * connection options (jdbc_url_params). Best effort: a failure costs only latency.
 */
static void
cap_decoding_memory(PGconn *conn)
{
	PGresult   *res;

	res = PQexec(conn, "SELECT pg_catalog.set_config('logical_decoding_work_mem', '"
				 STREAM_DECODING_MEM_KB "kB', false), setting FROM pg_catalog.pg_settings "
				 "WHERE name = 'logical_decoding_work_mem' AND setting::bigint > "
				 STREAM_DECODING_MEM_KB " AND source IN ('default', 'configuration file')");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		log_debug("could not lower logical_decoding_work_mem: %s", PQerrorMessage(conn));
	else if (PQntuples(res) == 1)
		log_debug("logical_decoding_work_mem lowered from %s kB to %s kB for this connection",
				  PQgetvalue(res, 0, 1), STREAM_DECODING_MEM_KB);
	PQclear(res);
}

static bool
start_replication(repl_ctx *c)
{
	reader	   *r = c->r;
	char	   *slot = pgc_ident(c->conn, r->cfg->replication_slot);
	char	   *pubid = pgc_ident(c->conn, r->cfg->publication);
	char	   *publit = pubid ? PQescapeLiteral(c->conn, pubid, strlen(pubid)) : NULL;
	char		lsn[18];
	PGresult   *res;
	bool		ok = false;

	if (slot == NULL || publit == NULL)
		goto done;
	pgo_lsn_format(r->lsn, lsn);
	buf_reset(&c->sql);
	/*
	 * PostgreSQL 14+: protocol 2 with streaming, so a large transaction reaches us (and our
	 * spool) while it is decoded instead of being spilled by the server until its commit; and
	 * logical messages, for the end-of-batch marker.
	 */
	buf_printf(&c->sql, "START_REPLICATION SLOT %s LOGICAL %s (proto_version '%d', "
			   "publication_names %s%s)", slot, lsn, c->proto, publit,
			   c->proto >= 2 ? ", streaming 'on', messages 'true'" : "");
	pgc_widen_input(c->conn);
	if (c->proto >= 2)
		cap_decoding_memory(c->conn);
	res = PQexec(c->conn, c->sql.data);
	if (PQresultStatus(res) != PGRES_COPY_BOTH)
	{
		const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		err_set(st && strcmp(st, "55006") == 0 ? ERR_TRANSIENT : ERR_SYSTEM,
				PQresultErrorMessage(res), "could not start replication from slot \"%s\": %s",
				r->cfg->replication_slot, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?
				PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(c->conn));
		PQclear(res);
		goto done;
	}
	PQclear(res);
	log_info("streaming changes from slot \"%s\" at %s", r->cfg->replication_slot, lsn);
	ok = true;
done:
	PQfreemem(slot);
	PQfreemem(pubid);
	PQfreemem(publit);
	return ok;
}

static bool
stream_loop(repl_ctx *c)
{
	reader	   *r = c->r;
	int64_t		last_data_us = now_us();
	int64_t		idle_limit_us = (int64_t) r->cfg->initial_waiting_seconds * 1000000;
	int			busy_batch = 0;		/* messages read since the buffer last ran dry */
	int64_t		last_ping_us = 0;
	bool		low_water_set = false;

	if (!send_status(c, false))
		return false;
	/* nothing to wait for: the state is already at or past the end of this batch */
	check_end_position(c);
	while (!c->done && !sp_stop_requested)
	{
		char	   *buf = NULL;
		int			n;
		int64_t		now;
		rd_stream  *pending;
		pgo_frame	f;
		const char *ferr;

		if (now_us() - c->last_status_us >= STATUS_INTERVAL_US && !send_status(c, false))
			return false;
		if (c->wm_phase == 0 && (pending = wm_pending(c)) != NULL)
		{
			if (!wm_start_chunk(c, pending))
				return false;
			last_data_us = now_us();	/* its waits are not an idle server */
		}
		n = PQgetCopyData(c->conn, &buf, 1);
		if (n == 0)
		{
			int64_t		wait_ms = (STATUS_INTERVAL_US - (now_us() - c->last_status_us)) / 1000;
			bool		busy = busy_batch > BUSY_BATCH_MESSAGES;

			busy_batch = 0;
			if (wait_ms > 1000)
				wait_ms = 1000;
			if (wait_ms < 1)
				wait_ms = 1;
			if (!busy && !c->in_txn)
			{
				int64_t		since = ab_mono_ms() - r->last_state_ms;

				/*
				 * Caught up, between transactions. Records waiting for a state (a destination
				 * commits only at one) are checkpointed now rather than when
				 * checkpoint_interval_seconds comes round, so a quiet database's changes arrive
				 * within IDLE_STATE_MS of their commit. States stay IDLE_STATE_MS apart, so a
				 * trickle of small transactions does not bring one state each.
				 */
				if (r->records_since_state == 0)
				{
					/* idle: make what we have durable before sleeping */
					if (since >= (int64_t) r->cfg->checkpoint_interval_seconds * 1000)
						ab_flush();
				}
				else if (since >= IDLE_STATE_MS)
					reader_emit_state(r);
				else if (wait_ms > IDLE_STATE_MS - since)
					wait_ms = IDLE_STATE_MS - since;
			}
			if (pgc_wait_input(c->conn, (int) wait_ms, busy ? STREAM_BATCH_MS : 0, &low_water_set) < 0)
				return false;
			now = now_us();
			/*
			 * Silence can mean the walsender is decoding a long stretch of WAL with nothing for
			 * us. Ask for a reply: its keepalive carries its position, which is progress (and
			 * moves the state past that WAL). Only a server that stops answering is idle.
			 */
			if (now - last_data_us > PING_AFTER_US && now - last_ping_us > PING_AFTER_US)
			{
				if (!send_status(c, true))
					return false;
				last_ping_us = now;
			}
			if (!r->follow && now - last_data_us > idle_limit_us)
			{
				log_warn("nothing arrived from the server for %d seconds "
						 "(initial_waiting_seconds); ending this read",
						 r->cfg->initial_waiting_seconds);
				break;
			}
			continue;
		}
		if (n == -1)
		{
			PGresult   *res = PQgetResult(c->conn);

			if (PQresultStatus(res) != PGRES_COMMAND_OK)
			{
				const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
				const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

				/*
				 * pgoutput reads the publication as of each change: one dropped and created
				 * again since the state was saved is unknown to the changes before it, and no
				 * retry gets past them
				 */
				if (code && strcmp(code, "42704") == 0 && msg && strstr(msg, "publication"))
					err_set(ERR_CONFIG, PQresultErrorMessage(res), "replication stopped: %s; "
							"was the publication dropped and created again since the state was "
							"saved? The changes from before cannot be decoded with it: reset the "
							"streams, or drop the replication slot and set "
							"invalid_cdc_cursor_position_behavior to \"Re-sync data\"", msg);
				else if (pgc_error_kind(code) == ERR_CONFIG)
					err_set(ERR_CONFIG, PQresultErrorMessage(res), "replication stopped: %s (SQLSTATE "
							"%s); no retry gets past it", msg ? msg : "the server ended the stream",
							code);
				else if (slot_gone(c->r))
					err_set(ERR_CONFIG, PQresultErrorMessage(res), "replication stopped (%s): the "
							"replication slot \"%s\" was dropped or lost WAL it needs while this "
							"read ran (its WAL outgrew max_slot_wal_keep_size?), and no retry can "
							"resume it; set invalid_cdc_cursor_position_behavior to \"Re-sync "
							"data\" to re-sync the streams, or reset them",
							msg ? msg : "the server ended the stream", c->r->cfg->replication_slot);
				else
					err_set(ERR_TRANSIENT, PQresultErrorMessage(res), "replication stopped: %s",
							msg ? msg : "the server ended the stream");
				PQclear(res);
				return false;
			}
			PQclear(res);
			break;
		}
		if (n < 0)
		{
			err_set(ERR_TRANSIENT, PQerrorMessage(c->conn), "the replication connection failed: %s",
					PQerrorMessage(c->conn));
			return false;
		}
		busy_batch++;
		if (!pgo_parse_frame((const uint8_t *) buf, (size_t) n, &f, &ferr))
		{
			err_set(ERR_SYSTEM, ferr, "malformed replication message: %s", ferr);
			PQfreemem(buf);
			return false;
		}
		if (f.type == PGO_FRAME_KEEPALIVE)
		{
			/* between transactions the sent position is a safe place to resume from */
			if (!c->in_txn && f.wal_end > r->lsn)
			{
				r->lsn = f.wal_end;
				check_end_position(c);
				maybe_state(c);
			}
			if (f.reply_requested && !send_status(c, false))
			{
				PQfreemem(buf);
				return false;
			}
		}
		else if (!on_message(c, f.payload, f.payload_len))
		{
			PQfreemem(buf);
			/* a stop requested during a wait for a transaction: end before it, cleanly */
			if (sp_stop_requested && err_get_kind() == ERR_NONE)
				break;
			return false;
		}
		PQfreemem(buf);
		/* from the end of its handling: a streamed transaction replayed is no idle time */
		last_data_us = now_us();
		if (ab_broken())
		{
			err_set(ERR_SYSTEM, NULL, "stdout was closed while streaming");
			return false;
		}
	}
	return true;
}

/*
 * reader.keepalive: a standby status update a second after the last. While the loop waits it
 * reads nothing, so it cannot see the walsender's requests for one; a status update that often
 * keeps it within any practical wal_sender_timeout.
 */
static bool
keepalive(void *ctx)
{
	repl_ctx   *c = ctx;

	return now_us() - c->last_status_us < INT64_C(1000000) || send_status(c, false);
}

/*
 * While a slow reader of stdout holds up the output: keep the walsender from timing out (it
 * counts the time since our last reply). A failure shows again at the next receive.
 */
static void
output_wait_keepalive(void *ctx)
{
	if (!keepalive(ctx))
		err_clear();
}

bool
replication_run(reader *r)
{
	repl_ctx	c;
	bool		ok = false;

	memset(&c, 0, sizeof(c));
	c.r = r;
	buf_init(&c.sql, 0);
	c.conn = pgc_connect(r->cfg, true);
	if (c.conn == NULL)
		goto done;
	c.proto = r->server_version >= 140000 ? 2 : 1;
	{
		uuid_t		u;

		uuid_generate(u);
		uuid_unparse_lower(u, c.wm_id);
	}
	buf_init(&c.spool_msg, SPOOL_MAX_MESSAGE + SPOOL_READ_BYTES);
	c.dec = pgo_decoder_new(c.proto);
	if (!start_replication(&c))
		goto done;
	/* a chunk's waits (see wm_start_chunk) must not let the walsender time out */
	r->keepalive = keepalive;
	r->keepalive_ctx = &c;
	ab_set_wait_hook(output_wait_keepalive, &c);
	if (!stream_loop(&c))
		goto done;
	/* the last word to the server: what the slot may confirm */
	if (!send_status(&c, false))
		goto done;
	log_info("streamed %lld changes; position %llu", c.changes, (unsigned long long) r->lsn);
	ok = true;
done:
	ab_set_wait_hook(NULL, NULL);
	r->keepalive = NULL;
	r->keepalive_ctx = NULL;
	if (c.conn)
	{
		PQputCopyEnd(c.conn, NULL);
		PQfinish(c.conn);
	}
	pgo_decoder_free(c.dec);
	for (int i = 0; i < c.nrels; i++)
	{
		free(c.rels[i].selidx);
		free(c.rels[i].types);
		free(c.rels[i].qname);
	}
	free(c.rels);
	buf_free(&c.sql);
	while (c.nspools > 0)
		spool_drop(&c, &c.spools[0]);
	free(c.spools);
	free(c.spool_wbuf);
	buf_free(&c.spool_msg);
	wm_chunk_free(&c.wm);
	return ok;
}
