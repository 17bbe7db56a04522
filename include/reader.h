/*
 * reader.h: the state of one `read` run, shared by its parts: read.c (orchestration: catalog,
 * state, slot, publication, order of work), backfill.c (full refresh and chunked backfill over
 * COPY) and replication.c (the pgoutput streaming loop). Records from both paths go through
 * reader_emit_value() so backfilled and streamed values are byte-identical.
 */
#ifndef SP_READER_H
#define SP_READER_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "catalog.h"
#include "config.h"
#include "pgoutput.h"
#include "state.h"

typedef struct rd_stream rd_stream;

/*
 * One chunk of an interleaved backfill (a table added while others stream), reconciled with the
 * change stream DBLog-style: copied between a low and a high watermark, spooled, its keys kept in
 * a set from which every change the stream emits for the table after the copy began (before the
 * low watermark or between the marks) removes its key; at the high watermark the surviving rows
 * go out with that LSN (see docs/design.md).
 */
typedef struct wm_chunk
{
	rd_stream  *s;
	int			nfields;		/* the chunk's COPY row layout */
	int			keypos[32];
	tc_wire    *wire;			/* its fields' binary forms, or NULL for a text-format COPY */
	FILE	   *rows;			/* the chunk's COPY rows (binary: tuples), length-prefixed (a temp file) */
	char	   *rows_iobuf;		/* its stdio buffer */
	long long	nrows;
	char	  **keys;			/* open-addressing set of encoded keys; a removed key is freed */
	bool	   *used;
	size_t		cap;
	int			ncursor;		/* the chunk's last key: the stream's cursor once it is emitted */
	char	  **cursor;
	bool		last;			/* fewer rows than asked: the backfill ends with this chunk */
	const uint32_t *delivered;	/* during wm_chunk_fill only: xids of transactions the stream */
	int			ndelivered;		/* has delivered (borrowed) */
} wm_chunk;

struct rd_stream
{
	sp_table   *table;			/* borrowed from the reader's catalog */
	bool		incremental;	/* a CDC incremental stream */
	int			cursor_col;		/* Standard incremental: the cursor column (index in table), else -1 */
	bool		xmin;			/* Xmin incremental */
	/* an Xmin pass: the rows from transactions at or after xmin_from; then the state's xmin_next */
	unsigned long long xmin_from;
	unsigned long long xmin_next;
	bool		ns_given;		/* the configured stream has a namespace */
	bool	   *is_key;			/* per selected column: in the configured (or the table's) key */
	int			nsel;			/* selected columns, in table order */
	int		   *sel;			/* indexes into table->cols */
	/*
	 * CDC: columns of the configured catalog the table no longer has (renamed or dropped since
	 * it was configured). Changes made before carry them: their index is nsel + i.
	 */
	int			ngone;
	char	  **gone;
	char	  **json_keys;		/* per selected column, then per gone one: the JSON-escaped key */
	size_t	   *json_key_lens;
	char	   *rec_prefix;		/* ab_record_prefix() of this stream */
	size_t		rec_prefix_len;
	stream_state st;			/* runtime backfill/streaming position */
	bool		interleaved;	/* backfilled by watermark chunks while the others stream */
	/*
	 * Its copy must hold every change committed before the read's start (and first waits for the
	 * transactions writing on it): it joins a read that resumes, or its saved position is of
	 * another table or has a gap
	 */
	bool		backfill_again;
	bool		running;		/* STREAM_STATUS RUNNING emitted */
	bool		cannot_lock;	/* its copies run without the lock (see backfill.c copy_begin) */
	bool		lock_by_select; /* its copies lock it with SELECT, not LOCK TABLE (same) */
	bool		complete;		/* STREAM_STATUS COMPLETE emitted */
	bool		in_snapshot;	/* its copies import the reader's snapshot (see snap_conn) */
	long long	records;		/* emitted since its last STREAM state (Xmin, Standard) */
};

/* The name of a stream's column k: a selected column, or (k >= nsel) one it no longer has. */
static inline const char *
rd_col_name(const rd_stream *s, int k)
{
	return k < s->nsel ? s->table->cols[s->sel[k]].name : s->gone[k - s->nsel];
}

typedef struct reader
{
	const config_t *cfg;
	PGconn	   *conn;			/* a normal connection: catalog, backfill, TOAST re-reads */
	int			server_version;
	char		system_id[24];	/* the server's system identifier (CDC; "" if unreadable) */
	sp_catalog	cat;
	sp_typecache *types;
	int			nstreams;
	rd_stream  *streams;
	bool		cdc;			/* any CDC incremental stream selected */
	bool		follow;

	pg_lsn		lsn;			/* everything before this has been emitted (the state's LSN) */
	pg_lsn		ack_lsn;		/* what the slot may confirm (per lsn_commit_behaviour) */
	pg_lsn		state_lsn;		/* the last state's position (the start's before any) */
	pg_lsn		target_lsn;		/* batch end: the WAL insert position at read start */
	char		end_marker[64]; /* content of our end-of-batch logical message ("" if none) */

	/*
	 * Keyless tables to copy: a connection kept idle so that the snapshot it exported can be
	 * imported by their copies, which then hold exactly what the stream does not. The
	 * replication connection that created the slot (its consistent point's snapshot), or
	 * (export_copy_snapshot) one whose transaction exported one for tables that join.
	 */
	PGconn	   *snap_conn;
	char		snapshot[64];

	long long	records_since_state;
	int64_t		last_state_ms;
	/*
	 * A batch CDC read starts no backfill chunk after this (ab_mono_ms; 0: no limit), once it has
	 * copied one (load_chunks, so that every attempt makes progress): it streams the changes so
	 * far and fails with a transient error (initial_load_timeout_hours)
	 */
	int64_t		load_deadline_ms;
	long long	load_chunks;
	char		backfill_updated_at[40];	/* _ab_cdc_updated_at of backfilled rows */
	buf_t		scratch;		/* COPY unescaping */
	bool		key_nulled_warned;	/* a key column's value was nulled (warned once) */
	const rd_stream *key_nulled_stream; /* ... in this record (warned after it) */
	int			key_nulled_col;
	int			nnulled;
	const char *nulled[64];		/* fields nulled in the current record */
	/*
	 * While the change stream is open: keeps it alive (a standby status update when one is due)
	 * during a wait that holds up the streaming loop; false (error recorded) if it cannot
	 */
	bool		(*keepalive) (void *ctx);
	void	   *keepalive_ctx;
	/*
	 * The transactions the stream has delivered that new snapshots are not yet known to see, in
	 * commit order: xids and commit LSNs, RD_DELIVERED at most (see reader_emit_state)
	 */
	uint32_t   *dl_xid;
	pg_lsn	   *dl_commit;
	int			ndl;
	bool		dl_overflowed;
} reader;

/*
 * Write `"key":value` for one selected column (with a leading comma unless first), converting
 * with type t; a value that cannot be represented is nulled and noted for the record's meta.
 */
void		reader_emit_value(reader *r, buf_t *out, const rd_stream *s, int selidx, const tc_type *t,
							  bool first, const char *text, size_t len, bool is_null);
/* The same for a value in COPY's binary form (checked by copybin_split_row). */
void		reader_emit_binary_value(reader *r, buf_t *out, const rd_stream *s, int selidx,
									 const tc_type *t, bool first, const char *bin, size_t len,
									 bool is_null);
/* Begin a RECORD of stream s (see ab_record_begin). */
buf_t	   *reader_record_begin(reader *r, const rd_stream *s);
/* Close the record begun (its meta changes), then log what its values called for. */
void		reader_record_end(reader *r);
/* Emit STREAM_STATUS RUNNING once per stream. */
void		reader_mark_running(reader *r, rd_stream *s);
/*
 * Emit a GLOBAL STATE for the current position and streams' progress. Its position stops at the
 * commit of the first delivered transaction that new snapshots cannot see yet (reader_delivered).
 */
void		reader_emit_state(reader *r);
/*
 * Whether partitions that may have brought rows of their own joined partitioned table tb since a
 * state listing was (its "partitions"; NULL: unknown): 1 (warned about), 0, or -1 on failure.
 */
int			reader_partitions_joined(reader *r, const sp_table *tb, const char *was);
/* Close the connection holding the slot's exported snapshot, if open. */
void		reader_drop_snapshot(reader *r);
/*
 * Emit s's STREAM state (Xmin, Standard, and their full refresh streams), stream_state ss
 * (reference taken), counting the stream's records since its last state.
 */
void		reader_emit_stream_state(reader *r, rd_stream *s, json_t *ss);

/*
 * The stream delivered transaction xid, whose commit record is at commit. Until new snapshots see
 * it, no state moves past it. A transaction becomes visible to others a moment after its commit
 * record is written (under synchronous replication, once a standby confirms it), and the
 * walsender may send it in between. A read resuming past it would not receive it again, and a
 * copy the read then takes (a table joining, a chunked backfill resuming) could still miss it:
 * the destination would keep the older row. Held at its commit, the next read receives it again
 * and its copies wait until they see it.
 */
#define RD_DELIVERED 8192
void		reader_delivered(reader *r, uint32_t xid, pg_lsn commit);
/* A query giving a snapshot taken now as text (for pgo_snapshot_sees), on r's server. */
#define RD_SNAPSHOT_SQL(r) ((r)->server_version >= 130000 ? \
	"SELECT pg_catalog.pg_current_snapshot()::text" : \
	"SELECT pg_catalog.txid_current_snapshot()::text")
/* "2024-01-15T05:00:45.5Z" from microseconds since 2000-01-01 (PostgreSQL's epoch). */
void		format_pg_timestamp(int64_t pg_us, char out[40]);
/* The initial load timeout has passed: start no more backfill chunks (see load_deadline_ms). */
bool		reader_load_expired(const reader *r);

bool		backfill_stream(reader *r, rd_stream *s);

/*
 * An anonymous temporary file in $TMPDIR (default /tmp), gone when closed or at exit, buffered
 * in *iobuf (SP_TMPFILE_BUFSIZE bytes, or NULL when stdio's own buffer is used). Close it with
 * sp_tmpfile_close.
 */
#define SP_TMPFILE_BUFSIZE (256 * 1024)
FILE	   *sp_tmpfile(char **iobuf);
/* The same, unbuffered: its descriptor, or -1 (errno set). */
int			sp_tmpfd(void);
/* The directory those files go to, for messages. */
const char *sp_tmpdir(void);
void		sp_tmpfile_close(FILE *f, char *iobuf);
/* Append one key column's text to an encoded key ("<len>:<text>" per column). */
void		wm_key_append(buf_t *key, const char *text, size_t len);
/*
 * Copy the next chunk of ch->s into ch (spool and key set); false (error recorded) on failure.
 * delivered: the xids of the last transactions the stream has delivered (and of the one it is
 * delivering). A copy whose snapshot cannot see one of them yet would overwrite its change with
 * the older row, and nothing later in the stream would correct it: the copy waits until it can
 * see them (they have committed: they are about to become visible, or wait for a synchronous
 * standby). A stop requested meanwhile leaves the chunk empty.
 */
bool		wm_chunk_fill(reader *r, wm_chunk *ch, int chunk_rows, const uint32_t *delivered,
						  int ndelivered);
/* A change to this key was delivered after the chunk's copy began: the copy may be stale. */
void		wm_chunk_forget(wm_chunk *ch, const char *key, size_t len);
/* Emit the surviving rows with _ab_cdc_lsn = lsn and advance the stream's cursor. */
bool		wm_chunk_emit(reader *r, wm_chunk *ch, pg_lsn lsn);
void		wm_chunk_free(wm_chunk *ch);
/* Write a flushed non-transactional logical message; *lsn receives its LSN. */
bool		reader_emit_marker(reader *r, const char *content, pg_lsn *lsn);
/*
 * Wait until the transactions xids (a text array of xids) have ended: none holds its xid's lock
 * (a prepared one's too when prepared_too), polling every 100 ms and then every second, logging
 * "waiting for N transaction(s) (server processes ...) <what>" after a second and every minute.
 * True when they have ended or a stop is requested; false (error recorded) if the server cannot
 * be asked.
 */
bool		reader_wait_xids(reader *r, const char *xids, bool prepared_too, const char *what);
/*
 * Xmin or Standard incremental: the rows changed since saved (the stream_state a previous read
 * emitted, or NULL), then *new_state (new reference) to emit as the stream's STREAM state. A
 * Standard read emits STREAM states of its own as it goes (every checkpoint_records rows or
 * checkpoint_interval_seconds); stopped by a signal, it ends at the next one, true with
 * *new_state NULL.
 */
bool		incremental_stream(reader *r, rd_stream *s, const json_t *saved, json_t **new_state);
/*
 * A full refresh of s; with Standard and Xmin configs, resumable from saved (the stream_state a
 * previous read emitted, or NULL), emitting STREAM states as it goes. *finished is false when
 * it stopped at a state (a signal).
 */
bool		full_refresh_stream(reader *r, rd_stream *s, const json_t *saved, bool *finished);
bool		replication_run(reader *r);

#endif
