/*
 * read.c: the read command's orchestration. Loads config, catalog and state; prepares the
 * publication and slot; decides the start, acknowledgement and end positions; then runs full
 * refreshes, backfills and the replication loop in that order, and ends with a final STATE.
 *
 * Consistency of backfill and stream: every backfilled row of a CDC stream is read after the
 * stream's start position (the state's LSN, or the slot's), and every change after that position
 * is streamed after the backfill; backfilled rows carry that start position as _ab_cdc_lsn, so a
 * deduplicating destination that orders by _ab_cdc_lsn (or by arrival) ends with the source's
 * rows. docs/design.md explains it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "airbyte.h"
#include "commands.h"
#include "copybin.h"
#include "error.h"
#include "log.h"
#include "pgconn.h"
#include "reader.h"
#include "slot.h"
#include "typeconv.h"

volatile int sp_stop_requested = 0;

bool
reader_load_expired(const reader *r)
{
	return r->load_deadline_ms > 0 && r->load_chunks > 0 && ab_mono_ms() >= r->load_deadline_ms;
}

void
format_pg_timestamp(int64_t pg_us, char out[40])
{
	/* 946684800 = seconds from 1970-01-01 to 2000-01-01 */
	int64_t		us = pg_us + INT64_C(946684800) * 1000000;
	time_t		secs = (time_t) (us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
	int			frac = (int) (us - (int64_t) secs * 1000000);
	struct tm	tm;
	size_t		n;

	gmtime_r(&secs, &tm);
	n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac > 0)
	{
		char		f[8];
		int			k = 6;

		snprintf(f, sizeof(f), "%06d", frac);
		while (k > 0 && f[k - 1] == '0')
			k--;
		f[k] = '\0';
		n += (size_t) snprintf(out + n, 40 - n, ".%s", f);
	}
	snprintf(out + n, 40 - n, "Z");
}

/* Whether selected column selidx is one of the stream's key columns. */
static bool
is_key_column(const rd_stream *s, int selidx)
{
	return selidx < s->nsel && s->is_key[selidx];
}

/*
 * "infinity" or "-infinity" when value (text, or COPY binary: rendered as the server's text by
 * copybin) is a date's or timestamp's, else NULL. Nulled, as other columns have it, a key
 * column's infinity would make rows that differ only in it (valid_to = 'infinity' in a temporal
 * table's key) one row to a deduplicating destination; so a key column keeps it, as PostgreSQL
 * prints it (Airbyte's connector gives infinity strings in every column).
 */
static const char *
key_infinity(const tc_type *t, const char *value, size_t len, bool binary)
{
	char		text[64];

	if (t->kind != TC_DATE && t->kind != TC_TIMESTAMP && t->kind != TC_TIMESTAMPTZ)
		return NULL;
	if (binary)
	{
		long		n = copybin_text_bound(t->wire, value, len);

		if (n < 0 || (size_t) n > sizeof(text) ||
			(n = copybin_render(t->wire, value, len, text)) < 0)
			return NULL;
		value = text;
		len = (size_t) n;
	}
	if (len == 8 && memcmp(value, "infinity", 8) == 0)
		return "infinity";
	if (len == 9 && memcmp(value, "-infinity", 9) == 0)
		return "-infinity";
	return NULL;
}

/* A value that could not be written (null was): kept as text in a key column, else noted. */
static void
unrepresentable(reader *r, buf_t *out, size_t at, const rd_stream *s, int selidx,
				const tc_type *t, const char *value, size_t len, bool binary)
{
	bool		key = is_key_column(s, selidx);
	const char *inf = key ? key_infinity(t, value, len, binary) : NULL;

	if (inf != NULL)
	{
		out->len = at;
		buf_putc(out, '"');
		buf_puts(out, inf);
		buf_putc(out, '"');
		return;
	}
	if (key && !r->key_nulled_warned)
	{
		/* not now: a log line would land inside the record */
		r->key_nulled_warned = true;
		r->key_nulled_stream = s;
		r->key_nulled_col = selidx;
	}
	if (r->nnulled < 64)
		r->nulled[r->nnulled++] = rd_col_name(s, selidx);
}

static inline void
emit_value(reader *r, buf_t *out, const rd_stream *s, int selidx, const tc_type *t, bool first,
		   const char *value, size_t len, bool is_null, bool binary)
{
	size_t		at;

	if (!first)
		buf_putc(out, ',');
	buf_append(out, s->json_keys[selidx], s->json_key_lens[selidx]);
	at = out->len;
	if (is_null)
		buf_append(out, "null", 4);
	else if (!(binary ? copybin_write_json(out, t, value, len) : tc_write(out, t, value, len)))
		unrepresentable(r, out, at, s, selidx, t, value, len, binary);
}

void
reader_emit_value(reader *r, buf_t *out, const rd_stream *s, int selidx, const tc_type *t,
				  bool first, const char *text, size_t len, bool is_null)
{
	emit_value(r, out, s, selidx, t, first, text, len, is_null, false);
}

void
reader_emit_binary_value(reader *r, buf_t *out, const rd_stream *s, int selidx, const tc_type *t,
						 bool first, const char *bin, size_t len, bool is_null)
{
	emit_value(r, out, s, selidx, t, first, bin, len, is_null, true);
}

void
reader_record_end(reader *r)
{
	const rd_stream *s = r->key_nulled_stream;

	ab_record_end(r->nulled, r->nnulled);
	if (s != NULL)
	{
		r->key_nulled_stream = NULL;
		log_warn("stream %s.%s: key column %s holds a value JSON cannot carry (NaN or Infinity): "
				 "it is null with a meta change, and rows that differ only in it share a key in "
				 "a deduplicating destination (warned once a read)", s->table->ns, s->table->name,
				 rd_col_name(s, r->key_nulled_col));
	}
}

buf_t *
reader_record_begin(reader *r, const rd_stream *s)
{
	r->nnulled = 0;
	return ab_record_begin(s->rec_prefix, s->rec_prefix_len, ab_now_ms());
}

void
reader_mark_running(reader *r, rd_stream *s)
{
	if (!s->running)
	{
		s->running = true;
		ab_stream_status(s->table->ns, s->table->name, "RUNNING");
	}
}

/*
 * Forget the delivered transactions a snapshot taken now sees: once seen, a transaction stays
 * visible to every later snapshot. When the server cannot be asked (the connection is in a
 * transaction, or the query fails), all are kept, and states wait: safe, only later.
 */
static void
forget_seen(reader *r)
{
	PGresult   *res;
	char		errmsg[256];
	const char *snap;
	int			n = 0;

	if (r->ndl == 0 || PQtransactionStatus(r->conn) != PQTRANS_IDLE)
		return;
	res = pgc_try(r->conn, RD_SNAPSHOT_SQL(r), 0, NULL, NULL, errmsg, sizeof(errmsg));
	if (res == NULL)
	{
		log_warn("could not read a snapshot to check that the transactions delivered are "
				 "visible (the state's position waits for them meanwhile): %s", errmsg);
		return;
	}
	snap = PQgetvalue(res, 0, 0);
	for (int i = 0; i < r->ndl; i++)
		if (!pgo_snapshot_sees(snap, r->dl_xid[i]))
		{
			r->dl_xid[n] = r->dl_xid[i];
			r->dl_commit[n] = r->dl_commit[i];
			n++;
		}
	r->ndl = n;
	PQclear(res);
}

void
reader_delivered(reader *r, uint32_t xid, pg_lsn commit)
{
	if (r->dl_xid == NULL)
	{
		r->dl_xid = malloc(RD_DELIVERED * sizeof(*r->dl_xid));
		r->dl_commit = malloc(RD_DELIVERED * sizeof(*r->dl_commit));
		if (r->dl_xid == NULL || r->dl_commit == NULL)
			abort();
	}
	if (r->ndl == RD_DELIVERED)
		forget_seen(r);
	if (r->ndl == RD_DELIVERED)
	{
		/* thousands at once still unseen: the oldest is no longer waited for */
		if (!r->dl_overflowed)
			log_warn("more than %d transactions delivered are not yet visible to others "
					 "(waiting for a synchronous standby?): states no longer wait for the "
					 "oldest of them", RD_DELIVERED);
		r->dl_overflowed = true;
		r->ndl--;
		memmove(r->dl_xid, r->dl_xid + 1, (size_t) r->ndl * sizeof(*r->dl_xid));
		memmove(r->dl_commit, r->dl_commit + 1, (size_t) r->ndl * sizeof(*r->dl_commit));
	}
	r->dl_xid[r->ndl] = xid;
	r->dl_commit[r->ndl] = commit;
	r->ndl++;
}

void
reader_emit_state(reader *r)
{
	json_t	   *streams = json_array();
	pg_lsn		lsn = r->lsn;

	if (!r->cdc)
	{
		json_decref(streams);
		return;
	}
	/*
	 * Not past a delivered commit others cannot see yet (see reader_delivered): just before its
	 * start, so that a read resuming here receives it again (the walsender skips only commits
	 * that start before its start), and rows that read copies before its stream carry a smaller
	 * LSN than the transaction's. Never behind an earlier state, or the read's start (the slot
	 * may have confirmed it): a transaction delivered after it commits at or after it, and is
	 * received again from there.
	 */
	forget_seen(r);
	if (r->ndl > 0 && r->dl_commit[0] - 1 < lsn)
		lsn = r->dl_commit[0] - 1;
	if (lsn < r->state_lsn)
		lsn = r->state_lsn;
	r->state_lsn = lsn;
	for (int i = 0; i < r->nstreams; i++)
		if (r->streams[i].incremental)
		{
			if (r->streams[i].st.changes_from <= lsn)
			{
				r->streams[i].st.changes_from = 0;
				free(r->streams[i].st.copy_snapshot);
				r->streams[i].st.copy_snapshot = NULL;
			}
			json_array_append_new(streams, state_stream_json(&r->streams[i].st));
		}
	ab_state(state_global_json(lsn, r->cfg->replication_slot, r->cfg->publication,
							   r->system_id[0] ? r->system_id : NULL, streams, r->records_since_state));
	r->records_since_state = 0;
	r->last_state_ms = ab_mono_ms();
	if (r->cfg->lsn_commit == LSN_COMMIT_WHILE_READING)
		r->ack_lsn = lsn;
}

void
reader_emit_stream_state(reader *r, rd_stream *s, json_t *ss)
{
	ab_state(json_pack("{s:s,s:{s:{s:s,s:s},s:o},s:{s:I}}", "type", "STREAM", "stream",
					   "stream_descriptor", "name", s->table->name, "namespace", s->table->ns,
					   "stream_state", ss, "sourceStats", "recordCount", (json_int_t) s->records));
	s->records = 0;
	r->last_state_ms = ab_mono_ms();
}

/*
 * The key a backfill cursor is of, as text: each key column's quoted name and declared type
 * ("id" bigint, "line" integer). NULL for a keyless table.
 */
static char *
key_signature(const sp_table *t)
{
	buf_t		b;

	if (t->nkey == 0)
		return NULL;
	buf_init(&b, 0);
	for (int k = 0; k < t->nkey; k++)
	{
		const sp_column *c = &t->cols[t->key[k]];

		buf_puts(&b, k ? ", \"" : "\"");
		for (const char *p = c->name; *p; p++)
		{
			if (*p == '"')
				buf_putc(&b, '"');
			buf_putc(&b, *p);
		}
		buf_printf(&b, "\" %s", c->type_name);
		/* a key's order is its collation's too: a cursor saved under another would skip rows */
		if (c->collation)
			buf_printf(&b, " COLLATE %s", c->collation);
	}
	if (b.failed)
		abort();
	return b.data;
}

/* The JSON key for a column: "name": escaped once, reused for every record. */
static char *
json_key(const char *name)
{
	buf_t		b;

	buf_init(&b, 0);
	buf_json_string(&b, name, strlen(name));
	buf_putc(&b, ':');
	return b.data;
}

/* "a view", "a materialized view", "a foreign table" for a relkind not a table's */
static const char *
relkind_name(char relkind)
{
	switch (relkind)
	{
		case 'v':
			return "a view";
		case 'm':
			return "a materialized view";
		case 'f':
			return "a foreign table";
		default:
			return "not a table";
	}
}

/* The names of the metadata fields a CDC record carries. */
static bool
is_cdc_meta(const char *name)
{
	return strcmp(name, "_ab_cdc_lsn") == 0 || strcmp(name, "_ab_cdc_updated_at") == 0 ||
		strcmp(name, "_ab_cdc_deleted_at") == 0;
}

/*
 * A CDC stream's configured columns that the table no longer has: renamed or dropped since the
 * catalog was configured. The changes made before still carry them, under the configured name,
 * so they are read (after the selected columns, in json_keys) rather than silently left out.
 */
static void
add_gone_columns(rd_stream *s, const json_t *props)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *) props, key, v)
	{
		int			k = s->nsel + s->ngone;
		bool		has = table_column(s->table, key) >= 0;

		(void) v;
		for (int i = 0; i < s->table->nunread && !has; i++)
			has = strcmp(s->table->unread[i], key) == 0;
		if (is_cdc_meta(key) || has)
			continue;
		s->gone[s->ngone++] = strdup(key);
		s->json_keys[k] = json_key(key);
		s->json_key_lens[k] = strlen(s->json_keys[k]);
		if (s->gone[s->ngone - 1] == NULL)
			abort();
		log_warn("stream %s.%s: column %s of the configured catalog is no longer in the table "
				 "(renamed or dropped); changes made before still carry it and are read with it, "
				 "and refreshing the stream's schema in the platform picks up the table's columns "
				 "as they are now", s->table->ns, s->table->name, key);
	}
}

/*
 * The selected columns the destination deduplicates on: the configured primary_key (the user's
 * choice, for a table or view without a key of its own), else the table's.
 */
static void
mark_key_columns(rd_stream *s, const json_t *pk)
{
	bool		configured = json_array_size(pk) > 0;

	s->is_key = calloc((size_t) (s->nsel ? s->nsel : 1), sizeof(bool));
	if (s->is_key == NULL)
		abort();
	for (int i = 0; i < s->nsel; i++)
	{
		const char *name = s->table->cols[s->sel[i]].name;
		size_t		j;
		const json_t *path;

		if (!configured)
		{
			for (int k = 0; k < s->table->nkey; k++)
				s->is_key[i] |= s->table->key[k] == s->sel[i];
			continue;
		}
		json_array_foreach(pk, j, path)
		{
			const json_t *first = json_array_get(path, 0);

			s->is_key[i] |= json_is_string(first) && strcmp(json_string_value(first), name) == 0;
		}
	}
}

/*
 * A CDC stream's key (the configured primary_key, else the table's) must be in the changes'
 * replica identity, or its DELETEs and key UPDATEs would not carry it: a destination
 * deduplicating by it could not remove the row. The identity is the table's key (see
 * table_cdc_capable) unless it is FULL (every column); a partitioned table's changes carry its
 * partitions' identities. False (config error) otherwise.
 */
static bool
key_in_identity(const rd_stream *s)
{
	const sp_table *t = s->table;

	if (t->replident == 'f' || t->relkind == 'p')
		return true;
	for (int i = 0; i < s->nsel; i++)
	{
		bool		in = false;

		if (!s->is_key[i])
			continue;
		for (int k = 0; k < t->nkey; k++)
			in |= t->key[k] == s->sel[i];
		if (!in)
		{
			char		ident[512] = "";
			size_t		len = 0;

			for (int k = 0; k < t->nkey && len < sizeof(ident); k++)
				len += (size_t) snprintf(ident + len, sizeof(ident) - len, "%s%s", k ? ", " : "",
										 t->cols[t->key[k]].name);
			err_set(ERR_CONFIG, NULL, "stream %s.%s cannot be captured by CDC: its primary key "
					"column %s is not in the table's replica identity (%s), so its DELETEs would "
					"not carry it; refresh the source schema and reset the stream if the table's "
					"key changed, or run ALTER TABLE ... REPLICA IDENTITY FULL", t->ns, t->name,
					t->cols[s->sel[i]].name, ident);
			return false;
		}
	}
	return true;
}

static bool
add_stream(reader *r, const json_t *cs)
{
	const json_t *stream = json_object_get(cs, "stream");
	const json_t *name = json_object_get(stream, "name");
	const json_t *ns = json_object_get(stream, "namespace");
	const json_t *mode = json_object_get(cs, "sync_mode");
	const json_t *props = json_object_get(json_object_get(stream, "json_schema"), "properties");
	sp_table   *t;
	rd_stream  *s;
	size_t		nkeys;

	if (!json_is_string(name) || !json_is_string(mode))
	{
		err_set(ERR_CONFIG, NULL, "the configured catalog has a stream without stream.name or "
				"sync_mode; pass the catalog Airbyte configured from discover's output");
		return false;
	}
	if (json_is_string(ns))
		t = catalog_find(&r->cat, json_string_value(ns), json_string_value(name));
	else
	{
		/* discover always gives a namespace: without one, the name must say which table */
		int			nfound;

		t = catalog_find_name(&r->cat, json_string_value(name), &nfound);
		if (nfound > 1)
		{
			err_set(ERR_CONFIG, NULL, "stream %s has no namespace, and %d schemas of the config "
					"have a table of that name; give the stream its namespace (the schema)",
					json_string_value(name), nfound);
			return false;
		}
	}
	if (t == NULL)
	{
		log_warn("stream %s%s%s is in the catalog but is not a table or view the role can read "
				 "in schemas of the config; skipping it", json_is_string(ns) ? json_string_value(ns) : "",
				 json_is_string(ns) ? "." : "", json_string_value(name));
		return true;
	}
	if (t->ncols == 0)
	{
		/* discover leaves such tables out: nothing of a row could be read */
		log_warn("stream %s.%s has no column the role can read%s; skipping it", t->ns, t->name,
				 r->cfg->method == REPL_CDC ? " (stored generated columns are left out in CDC mode)" : "");
		return true;
	}
	if (t->unpopulated)
	{
		err_set(ERR_CONFIG, NULL, "stream %s.%s is a materialized view that has not been populated; "
				"run REFRESH MATERIALIZED VIEW on it, or deselect the stream", t->ns, t->name);
		return false;
	}
	for (int i = 0; i < r->nstreams; i++)
		if (r->streams[i].table == t)
		{
			err_set(ERR_CONFIG, NULL, "stream %s.%s is in the configured catalog twice; keep one",
					t->ns, t->name);
			return false;
		}
	s = &r->streams[r->nstreams++];
	memset(s, 0, sizeof(*s));
	s->table = t;
	s->ns_given = json_is_string(ns);
	s->cursor_col = -1;
	s->st.ns = t->ns;
	s->st.name = t->name;
	s->st.ctid_block = -1;
	s->st.table_oid = t->oid;
	s->st.publication_rel = t->publication_rel;
	s->st.partitions = t->partitions;	/* borrowed from the catalog */
	s->st.cursor_key = key_signature(t);
	if (strcmp(json_string_value(mode), "incremental") == 0 && r->cfg->method != REPL_CDC)
	{
		const json_t *cf = json_object_get(cs, "cursor_field");

		if (t->relkind != 'r' && t->relkind != 'p')
		{
			err_set(ERR_CONFIG, NULL, "stream %s.%s is %s: sync it as full refresh", t->ns, t->name,
					relkind_name(t->relkind));
			return false;
		}
		if (r->cfg->method == REPL_XMIN)
			s->xmin = true;
		else if (json_array_size(cf) > 1)
		{
			err_set(ERR_CONFIG, NULL, "stream %s.%s has a cursor_field of %zu names, a path into a "
					"column; the cursor must be one of the table's columns", t->ns, t->name,
					json_array_size(cf));
			return false;
		}
		else if (!json_is_string(json_array_get(cf, 0)) ||
				 (s->cursor_col = table_column(t, json_string_value(json_array_get(cf, 0)))) < 0)
		{
			err_set(ERR_CONFIG, NULL, "stream %s.%s is incremental with replication_method "
					"Standard, so its cursor_field must name one of the table's columns", t->ns,
					t->name);
			return false;
		}
	}
	else if (strcmp(json_string_value(mode), "incremental") == 0)
	{
		if (t->relkind != 'r' && t->relkind != 'p')
		{
			err_set(ERR_CONFIG, NULL, "stream %s.%s cannot be captured by CDC: it is %s, whose "
					"changes logical replication does not decode; sync it as full refresh",
					t->ns, t->name, relkind_name(t->relkind));
			return false;
		}
		if (t->unlogged)
		{
			err_set(ERR_CONFIG, NULL, "stream %s.%s cannot be captured by CDC: %s is UNLOGGED (or a "
					"foreign table), so its changes are not written to the WAL that logical "
					"replication decodes; run ALTER TABLE ... SET LOGGED (a foreign partition's "
					"changes cannot be captured), or sync it as full refresh", t->ns, t->name,
					t->unlogged);
			return false;
		}
		if (t->partition_without_identity)
		{
			err_set(ERR_CONFIG, NULL, "stream %s.%s cannot be captured by CDC: partitions without "
					"a replica identity (%s) would fail UPDATEs and DELETEs once the table is "
					"published (a partitioned table's REPLICA IDENTITY does not reach its "
					"partitions); run ALTER TABLE ... REPLICA IDENTITY FULL on each of them, add a "
					"primary key to %s.%s, or sync it as full refresh", t->ns, t->name,
					t->partition_without_identity, t->ns, t->name);
			return false;
		}
		if (t->unpublishable)
		{
			err_set(ERR_CONFIG, NULL, "stream %s.%s cannot be captured by CDC: it is a partitioned "
					"table, which PostgreSQL 12 cannot publish (13 can, through its root); sync it "
					"as full refresh", t->ns, t->name);
			return false;
		}
		if (t->is_partition)
		{
			err_set(ERR_CONFIG, NULL, "stream %s.%s cannot be captured by CDC: it is a partition, "
					"whose changes a publication holding its partitioned table sends under that "
					"table's name; capture the partitioned table (list its schema, GRANT SELECT on "
					"it), or sync the partition as full refresh", t->ns, t->name);
			return false;
		}
		if (!table_cdc_capable(t))
		{
			if (t->replident == 'n')
				err_set(ERR_CONFIG, NULL, "stream %s.%s cannot be captured by CDC: its REPLICA "
						"IDENTITY is NOTHING, so its UPDATEs and DELETEs carry no key; run ALTER "
						"TABLE ... REPLICA IDENTITY %s, or sync it as full refresh", t->ns, t->name,
						t->nkey > 0 && t->key_is_pk ? "DEFAULT (its primary key) or FULL" : "FULL");
			else if (t->replident == 'i' || (t->replident == 'd' && t->nkey > 0 && t->key_is_pk))
				err_set(ERR_CONFIG, NULL, "stream %s.%s cannot be captured by CDC: its REPLICA "
						"IDENTITY is an index that is not its key, so its DELETEs would not carry "
						"the key; run ALTER TABLE ... REPLICA IDENTITY DEFAULT (or FULL), or sync "
						"it as full refresh", t->ns, t->name);
			else
				err_set(ERR_CONFIG, NULL, "stream %s.%s cannot be captured by CDC: it has neither "
						"a primary key nor REPLICA IDENTITY FULL; add a primary key, run ALTER "
						"TABLE ... REPLICA IDENTITY FULL, or sync it as full refresh", t->ns,
						t->name);
			return false;
		}
		s->incremental = true;
		r->cdc = true;
	}
	else if (strcmp(json_string_value(mode), "full_refresh") != 0)
	{
		err_set(ERR_CONFIG, NULL, "stream %s.%s has unknown sync_mode \"%s\"", t->ns, t->name,
				json_string_value(mode));
		return false;
	}
	nkeys = (size_t) t->ncols + (json_is_object(props) ? json_object_size(props) : 0) + 1;
	s->sel = calloc((size_t) (t->ncols ? t->ncols : 1), sizeof(int));
	s->json_keys = calloc(nkeys, sizeof(char *));
	s->json_key_lens = calloc(nkeys, sizeof(size_t));
	s->gone = calloc(nkeys, sizeof(char *));
	if (s->sel == NULL || s->json_keys == NULL || s->json_key_lens == NULL || s->gone == NULL)
		abort();
	s->rec_prefix = ab_record_prefix(t->ns, t->name, &s->rec_prefix_len);
	for (int i = 0; i < t->ncols; i++)
	{
		if (json_is_object(props) && json_object_get(props, t->cols[i].name) == NULL)
			continue;
		if (r->cfg->method == REPL_CDC && is_cdc_meta(t->cols[i].name))
		{
			/*
			 * One key per name in a record: the change's own metadata is the stream's cursor.
			 * In full refresh too, since discover gives the name the metadata's schema.
			 */
			log_warn("stream %s.%s: its column %s has the name of a CDC metadata field, which "
					 "discover describes as that field; rename the column to read it in CDC mode",
					 t->ns, t->name, t->cols[i].name);
			continue;
		}
		s->sel[s->nsel] = i;
		s->json_keys[s->nsel] = json_key(t->cols[i].name);
		s->json_key_lens[s->nsel] = strlen(s->json_keys[s->nsel]);
		s->nsel++;
	}
	if (s->nsel == 0)
	{
		err_set(ERR_CONFIG, NULL, "stream %s.%s selects none of the table's columns", t->ns, t->name);
		return false;
	}
	if (s->incremental && json_is_object(props))
		add_gone_columns(s, props);
	mark_key_columns(s, json_object_get(cs, "primary_key"));
	if (s->incremental && !key_in_identity(s))
		return false;
	return true;
}

static bool
load_catalog(reader *r, const char *path)
{
	json_t	   *root = json_file_load(path, "catalog", 0);
	json_t	   *streams;
	bool		ok = false;

	if (root == NULL)
		return false;
	streams = json_object_get(root, "streams");
	if (!json_is_array(streams))
	{
		err_set(ERR_CONFIG, NULL, "the catalog file \"%s\" has no \"streams\" array; pass a "
				"ConfiguredAirbyteCatalog", path);
		goto done;
	}
	r->streams = calloc(json_array_size(streams) + 1, sizeof(rd_stream));
	if (r->streams == NULL)
		abort();
	for (size_t i = 0; i < json_array_size(streams); i++)
		if (!add_stream(r, json_array_get(streams, i)))
			goto done;
	ok = true;
done:
	json_decref(root);
	return ok;
}

bool
reader_emit_marker(reader *r, const char *content, pg_lsn *lsn)
{
	const char *p[1] = {content};
	PGresult   *res = NULL;
	PGresult   *rb;

	/*
	 * A non-transactional message is not flushed by itself, and the walsender sends only flushed
	 * WAL: write it in a transaction that takes an xid and commits synchronously, so the commit
	 * flushes the marker at once. Locally: the walsender does not wait for standbys, so a
	 * standby that stopped answering does not hold up the read's markers.
	 */
	if (pgc_command(r->conn, "writing a marker", "BEGIN; SET LOCAL synchronous_commit = local"))
	{
		res = pgc_query(r->conn, "writing a marker",
						"SELECT pg_logical_emit_message(false, 'source-postgres', $1), "
						"txid_current()", 1, p);
		if (res && pgc_command(r->conn, "writing a marker", "COMMIT"))
		{
			pgo_lsn_parse(PQgetvalue(res, 0, 0), lsn);
			PQclear(res);
			return true;
		}
		PQclear(res);
	}
	rb = PQexec(r->conn, "ROLLBACK");
	PQclear(rb);
	return false;
}

/* Copy a stream's saved position into its runtime state. */
static void
restore_stream(rd_stream *s, const stream_state *saved)
{
	s->st.streaming = saved->streaming;
	s->st.changes_from = saved->changes_from;
	if (saved->copy_snapshot && (s->st.copy_snapshot = strdup(saved->copy_snapshot)) == NULL)
		abort();
	if (s->table->nkey == 0)
	{
		s->st.ctid_block = saved->ctid_block;
		s->st.ctid_filenode = saved->ctid_filenode;
	}
	if (saved->ncursor > 0 &&
		(saved->ncursor != s->table->nkey || saved->cursor_key == NULL ||
		 strcmp(saved->cursor_key, s->st.cursor_key) != 0))
	{
		/* the saved key values would be compared with another key (or one of another type) */
		if (saved->cursor_key == NULL)
			log_warn("stream %s.%s: the saved backfill position does not say which key it is of: "
					 "backfilling it again from the start", s->table->ns, s->table->name);
		else
			log_warn("stream %s.%s: the saved backfill position is of the key %s, and the key is "
					 "now %s: backfilling it again from the start", s->table->ns, s->table->name,
					 saved->cursor_key, s->st.cursor_key ? s->st.cursor_key : "none");
		return;
	}
	if (saved->ncursor > 0)
	{
		s->st.cursor = calloc((size_t) saved->ncursor, sizeof(char *));
		if (s->st.cursor == NULL)
			abort();
		for (int k = 0; k < saved->ncursor; k++)
			s->st.cursor[k] = strdup(saved->cursor[k]);
		s->st.ncursor = saved->ncursor;
	}
}

static bool
lsn_query(PGconn *conn, const char *what, const char *sql, pg_lsn *out)
{
	PGresult   *res = pgc_query(conn, what, sql, 0, NULL);
	bool		ok = res && PQntuples(res) == 1 && pgo_lsn_parse(PQgetvalue(res, 0, 0), out);

	if (res && !ok)
		err_set(ERR_SYSTEM, NULL, "%s returned no LSN", what);
	PQclear(res);
	return ok;
}

/* The current WAL position; on a standby, the replay position. */
#define WAL_POSITION_SQL \
	"SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() " \
	"ELSE pg_current_wal_insert_lsn() END"

/*
 * Running transactions are those holding their own xid's lock. (A snapshot would not do: a
 * transaction that has written its commit record but is not visible yet is often the newest, at
 * or past the snapshot's xmax, which the snapshot does not list. The lock is held until after the
 * transaction has become visible. Prepared transactions, whose locks have no pid, are left out
 * (XID_LOCKS_SQL): waiting for them could mean waiting for a person. Not when the transactions
 * waited for are known to have committed (XID_LOCKS_ANY_SQL): a prepared one's lock then goes
 * as soon as its COMMIT PREPARED is visible.)
 */
#define XID_LOCKS_ANY_SQL \
	"FROM pg_locks WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' "
#define XID_LOCKS_SQL XID_LOCKS_ANY_SQL "AND pid IS NOT NULL "

/*
 * The transactions (but ours, and prepared ones) holding a lock that lets them write on one of the
 * tables $1 (an array of OIDs) or their partitions and children, as a text array of xids; and
 * whether the server is a standby. A transaction that changed a table holds such a lock until it
 * has become visible to others.
 */
#define WRITERS_XIDS_SQL \
	"WITH RECURSIVE rel(oid) AS (SELECT pg_catalog.unnest($1::pg_catalog.oid[]) UNION " \
	"SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN rel ON i.inhparent = rel.oid) " \
	"SELECT ARRAY(SELECT DISTINCT x.transactionid::text FROM pg_catalog.pg_locks l " \
	"JOIN pg_catalog.pg_locks x ON x.virtualtransaction = l.virtualtransaction " \
	"WHERE l.locktype = 'relation' AND l.relation IN (SELECT oid FROM rel) AND l.granted " \
	"AND l.database = (SELECT oid FROM pg_catalog.pg_database " \
	"WHERE datname = pg_catalog.current_database()) " \
	"AND l.mode NOT IN ('AccessShareLock', 'RowShareLock') " \
	"AND l.pid IS NOT NULL AND l.pid <> pg_catalog.pg_backend_pid() " \
	"AND x.locktype = 'transactionid' AND x.mode = 'ExclusiveLock' AND x.granted)::text, " \
	"pg_catalog.pg_is_in_recovery()"

bool
reader_wait_xids(reader *r, const char *xids, bool prepared_too, const char *what)
{
	const char *p[1] = {xids};
	int64_t		start = ab_mono_ms();
	int64_t		next_log = start + 1000;
	bool		told = false;

	while (!sp_stop_requested)
	{
		PGresult   *res;
		long		n;
		int64_t		now = ab_mono_ms();
		/* every 100 ms for a second, then every second */
		struct timespec pause = {now - start < 1000 ? 0 : 1, now - start < 1000 ? 100000000 : 0};

		if (r->keepalive && !r->keepalive(r->keepalive_ctx))
			return false;
		res = pgc_query(r->conn, "checking for transactions still running", prepared_too ?
						"SELECT count(*), string_agg(coalesce(pid::text, 'none (a prepared "
						"transaction)'), ', ' ORDER BY pid) " XID_LOCKS_ANY_SQL
						"AND transactionid::text = ANY($1::text[])" :
						"SELECT count(*), string_agg(pid::text, ', ' ORDER BY pid) "
						XID_LOCKS_SQL "AND transactionid::text = ANY($1::text[])", 1, p);
		if (res == NULL)
			return false;
		n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		if (n > 0 && now >= next_log)
		{
			log_info("waiting for %ld transaction(s) (server processes %s) %s", n,
					 PQgetvalue(res, 0, 1), what);
			next_log = now + 60000;
			told = true;
		}
		PQclear(res);
		if (n == 0)
			break;
		nanosleep(&pause, NULL);
	}
	if (told)
		log_info("those transactions have ended");
	return true;
}

/*
 * Whether a partitioned table must be read again in full because partitions joined it since the
 * state was saved (was: the state's partitions, see catalog.h): ATTACH PARTITION is not a change
 * pgoutput sends, so the rows an attached table had are in neither the copy nor the stream. A
 * partition that joined and has never held a row (made ahead of time by pg_partman, say) needs
 * nothing: whatever it holds later comes through the stream. Partitions gone (DETACH, DROP) are
 * warned about: their rows stay in the destination. 1 to read it again, 0 not, -1 on failure
 * (error recorded).
 */
int
reader_partitions_joined(reader *r, const sp_table *tb, const char *was)
{
	const char *now = tb->partitions;
	int			again = 0;
	int			gone = 0;
	/* a plain table's state lists children only once it has some (or had: then "") */
	bool		unlisted = was == NULL && tb->relkind == 'r';

	if (unlisted)
		was = "";
	if (now == NULL || was == NULL || strcmp(now, was) == 0)
		return 0;
	/* a fingerprint of an earlier form (no "oid/xid" items) tells nothing: take the list now */
	if (*was != '\0' && strchr(was, '/') == NULL)
		return 0;
	/* the lists are "oid/xid" items: one now and not then joined (or joined again) since */
	for (const char *p = now; *p && again == 0;)
	{
		size_t		len = strcspn(p, ",");
		char		item[48];
		char		oid[16];
		const char *slash;
		PGresult   *res;
		bool		listed = false;

		snprintf(item, sizeof(item), "%.*s", (int) (len < 47 ? len : 47), p);
		p += len + (p[len] == ',');
		for (const char *q = was; *q && !listed;)
		{
			size_t		l = strcspn(q, ",");

			listed = l == strlen(item) && strncmp(q, item, l) == 0;
			q += l + (q[l] == ',');
		}
		if (listed || (slash = strchr(item, '/')) == NULL || slash == item ||
			strspn(item, "0123456789") != (size_t) (slash - item))
			continue;
		snprintf(oid, sizeof(oid), "%.*s", (int) (slash - item < 15 ? slash - item : 15), item);
		/*
		 * A file never written holds no row: nothing of it can be missing (the partitions
		 * pg_partman makes ahead of time). A partition with rows, or that had some, may have had
		 * them before it joined (a row's xmin cannot tell: subtransactions, rewrites and xids
		 * taken earlier break any order), so the table is backfilled again. The size needs no
		 * privilege on the partition itself.
		 */
		res = pgc_query(r->conn, "reading a new partition's size",
						"SELECT pg_catalog.pg_relation_size($1::pg_catalog.oid) > 0", 1,
						(const char *const[]) {oid});
		if (res == NULL)
			return -1;
		again = PQgetisnull(res, 0, 0) || PQgetvalue(res, 0, 0)[0] == 't';
		PQclear(res);
	}
	for (const char *q = was; *q;)
	{
		size_t		l = strcspn(q, ",");
		size_t		ol = strcspn(q, "/,");
		bool		here = false;

		for (const char *p = now; *p && !here;)
		{
			size_t		pl = strcspn(p, "/,");

			here = pl == ol && strncmp(p, q, ol) == 0;
			p += strcspn(p, ",");
			p += *p == ',';
		}
		gone += !here;
		q += l + (q[l] == ',');
	}
	if (gone > 0)
		log_warn("stream %s.%s: %d partition(s) or inheritance child(ren) were detached or dropped "
				 "since the state was saved "
				 "(not changes the stream carries): their rows stay in the destination until the "
				 "stream is refreshed", tb->ns, tb->name, gone);
	if (again && unlisted)
		log_warn("stream %s.%s: the saved state does not list the table's inheritance children "
				 "(it was saved when the table had none, or by an earlier version), and one that "
				 "holds rows may have joined since, with rows never read: reading the table again "
				 "in full", tb->ns, tb->name);
	else if (again)
		log_warn("stream %s.%s: a partition or inheritance child that holds (or held) rows joined "
				 "the table since the state was saved, and the rows it had before it joined were "
				 "never read: reading the table again in full", tb->ns, tb->name);
	return again;
}

/*
 * Whether s's copy is to read in an exported snapshot: a keyless table copied from the start
 * (backfilled again, or all of them when fresh: the slot is new or was moved to now).
 */
static bool
copies_in_export(const rd_stream *s, bool fresh)
{
	return s->incremental && s->table->nkey == 0 && !s->st.streaming &&
		(s->backfill_again || fresh);
}

/*
 * Keyless tables backfilled again (joining a read that resumes, say), or all of them on a fresh
 * start with a slot that exists, once the writers on them have ended: a snapshot taken now,
 * exported from a transaction kept open on a connection of its own (reader.h snap_conn) for
 * their copies to import. Each such table's changes are then those of the transactions that
 * snapshot does not see (stream_state copy_snapshot), until the stream passes the WAL position
 * read with it (every transaction it sees committed before that). A snapshot that cannot be
 * exported leaves them copied as before (at least once), and so does a standby (see the caller).
 * False only on a failure that ends the read (error recorded).
 */
static bool
export_copy_snapshot(reader *r, bool fresh)
{
	PGconn	   *conn;
	PGresult   *res;
	char		code[6];
	char		msg[512];
	buf_t		sql;
	pg_lsn		at = 0;
	bool		any = false;

	for (int i = 0; i < r->nstreams; i++)
		any |= copies_in_export(&r->streams[i], fresh);
	if (!any || r->snap_conn != NULL)
		return true;
	if ((conn = pgc_connect(r->cfg, false)) == NULL)
		return false;
	buf_init(&sql, 0);
	buf_printf(&sql, "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT "
			   "pg_catalog.pg_export_snapshot(), (%s), (%s)::text", RD_SNAPSHOT_SQL(r),
			   WAL_POSITION_SQL);
	res = pgc_try(conn, sql.data, 0, NULL, code, msg, sizeof(msg));
	buf_free(&sql);
	if (res == NULL || PQgetisnull(res, 0, 2) || !pgo_lsn_parse(PQgetvalue(res, 0, 2), &at) ||
		strlen(PQgetvalue(res, 0, 0)) >= sizeof(r->snapshot))
	{
		log_warn("could not export a snapshot for the copies of keyless tables (%s): a row "
				 "changed while they are copied may come twice", res ? "no WAL position" : msg);
		PQclear(res);
		PQfinish(conn);
		return true;
	}
	snprintf(r->snapshot, sizeof(r->snapshot), "%s", PQgetvalue(res, 0, 0));
	for (int i = 0; i < r->nstreams; i++)
	{
		rd_stream  *s = &r->streams[i];

		if (!copies_in_export(s, fresh))
			continue;
		s->in_snapshot = true;
		free(s->st.copy_snapshot);
		if ((s->st.copy_snapshot = strdup(PQgetvalue(res, 0, 1))) == NULL)
			abort();
		if (s->st.changes_from < at)
			s->st.changes_from = at;
	}
	PQclear(res);
	r->snap_conn = conn;
	return true;
}

/*
 * The end of a batch read: everything acknowledged before now. A logical message written now
 * marks it. On PostgreSQL 14+ it arrives through pgoutput's messages option; on 12 and 13 its LSN
 * (the end of a real WAL record, which the walsender's position reaches) is the target. A standby
 * cannot write: there the replay position is the target.
 */
static bool
set_batch_end(reader *r)
{
	uuid_t		u;
	char		us[37];

	uuid_generate(u);
	uuid_unparse_lower(u, us);
	snprintf(r->end_marker, sizeof(r->end_marker), "end:%s", us);
	if (reader_emit_marker(r, r->end_marker, &r->target_lsn))
	{
		if (r->server_version < 140000)
			r->end_marker[0] = '\0';	/* not delivered before 14: use its LSN */
		return true;
	}
	err_clear();
	r->end_marker[0] = '\0';
	return lsn_query(r->conn, "reading the WAL position", WAL_POSITION_SQL, &r->target_lsn);
}

/*
 * Prepare CDC: publication, slot, start position (from the state or the slot), lost-position
 * handling, and the end-of-batch position.
 */
/* The states say which pg_publication_rel row each table is in the publication by, as of now */
static void
note_publication_rels(reader *r)
{
	for (int i = 0; i < r->nstreams; i++)
		r->streams[i].st.publication_rel = r->streams[i].table->publication_rel;
}

static bool
prepare_cdc(reader *r, const sp_state *state)
{
	const config_t *cfg = r->cfg;
	sp_table  **tables = calloc((size_t) r->nstreams + 1, sizeof(sp_table *));
	int			ntables = 0;
	slot_info	slot;
	bool		pub_existed;
	bool		all;
	bool		resync = false;
	bool		again = false;		/* a stream is backfilled again */
	bool		created = false;	/* the slot was created by this read */
	bool		fresh = false;		/* an existing slot was moved to now */
	bool		resuming;		/* from the saved state, on the slot it was saved with */
	bool		ok = false;

	if (tables == NULL)
		abort();
	for (int i = 0; i < r->nstreams; i++)
		if (r->streams[i].incremental)
			tables[ntables++] = r->streams[i].table;

	/* which server this is: a state carries it, and one from another server is not resumed */
	{
		char		errmsg[256];
		PGresult   *res = pgc_try(r->conn, "SELECT system_identifier FROM pg_catalog.pg_control_system()",
								  0, NULL, NULL, errmsg, sizeof(errmsg));

		if (res != NULL && PQntuples(res) == 1)
			snprintf(r->system_id, sizeof(r->system_id), "%s", PQgetvalue(res, 0, 0));
		else
			log_warn("could not read the server's system identifier (%s): states will not carry "
					 "it, and a state saved on another server cannot be told apart", errmsg);
		PQclear(res);
	}

	/* before creating anything: without logical decoding there can be no slot */
	if (!wal_level_logical(r->conn))
		goto done;
	/* the publication must exist before the slot: pgoutput reads it with historic snapshots */
	if (!publication_exists(r->conn, cfg->publication, &pub_existed, &all))
		goto done;
	if (pub_existed && !publication_fits(r->conn, r->server_version, cfg->publication, tables,
										 ntables, true))
		goto done;
	if (!slot_get(r->conn, cfg->replication_slot, &slot))
		goto done;
	if (slot.exists)
	{
		/* another tool's slot: fail before anything moves it */
		char		why[512];

		if (slot_foreign(&slot, cfg->replication_slot, cfg->database, why, sizeof(why)))
		{
			err_set(ERR_CONFIG, NULL, "%s", why);
			goto done;
		}
	}
	if (!slot_wait_released(r->conn, cfg->replication_slot, SLOT_RELEASE_WAIT_MS, &slot))
		goto done;
	if (slot.exists && slot.active)
	{
		/* stopped while waiting: nothing was read, and the caller ends the read cleanly */
		ok = sp_stop_requested != 0;
		if (!ok)
			err_set(ERR_TRANSIENT, NULL, "replication slot \"%s\" is still in use by process %d "
					"after %d s: another process reads from it (each connection needs a slot of "
					"its own), or a walsender whose client vanished keeps it until "
					"wal_sender_timeout", cfg->replication_slot, slot.active_pid,
					SLOT_RELEASE_WAIT_MS / 1000);
		goto done;
	}

	if (state->present && state->slot && strcmp(state->slot, cfg->replication_slot) != 0)
		log_warn("the state was made with replication slot \"%s\" but the config names \"%s\"",
				 state->slot, cfg->replication_slot);

	if (state->present)
	{
		const char *lost = NULL;
		char		why[512];
		pg_lsn		walpos = 0;

		if (slot.exists && !lsn_query(r->conn, "reading the WAL position", WAL_POSITION_SQL, &walpos))
			goto done;
		if (state->system_id && r->system_id[0] && strcmp(state->system_id, r->system_id) != 0)
		{
			/* the LSNs of another server mean nothing here, even where they fall in its WAL */
			snprintf(why, sizeof(why), "the state was saved on another server (system identifier "
					 "%.20s; this one is %s)", state->system_id, r->system_id);
			lost = why;
		}
		else if (!slot.exists)
			lost = "the replication slot no longer exists";
		else if (strcmp(slot.wal_status, "lost") == 0)
			lost = "the replication slot has lost WAL it needs (wal_status = lost)";
		else if (state->lsn < slot.confirmed_flush)
		{
			char		a[18],
						b[18];

			/*
			 * Under "While reading Data" too: the slot confirms each state as it is emitted, so a
			 * sync whose last states the platform did not keep leaves the next read behind it,
			 * and resuming from the slot would skip what came in between.
			 */
			pgo_lsn_format(state->lsn, a);
			pgo_lsn_format(slot.confirmed_flush, b);
			snprintf(why, sizeof(why), "the state's position %s is behind the slot's confirmed "
					 "position %s, so changes in between are no longer available%s", a, b,
					 cfg->lsn_commit == LSN_COMMIT_WHILE_READING ?
					 " (with lsn_commit_behaviour \"While reading Data\" the slot confirms each "
					 "state as it is read: a sync that failed after that leaves the next one "
					 "behind it)" : "");
			lost = why;
		}
		else if (state->lsn > walpos)
		{
			char		a[18],
						b[18];

			/*
			 * Restored from a backup, or another server: resuming would confirm a position the
			 * server has not written yet, and the slot would then skip the changes written up to
			 * it. (The walsender would also wait for that position before sending anything.)
			 */
			pgo_lsn_format(state->lsn, a);
			pgo_lsn_format(walpos, b);
			snprintf(why, sizeof(why), "the state's position %s is ahead of the server's WAL "
					 "(%s): the state was saved on another server, or this one was restored "
					 "from a backup since", a, b);
			lost = why;
		}
		else if (!pub_existed)
		{
			/* pgoutput reads the publication as of each change: one created again is missing */
			snprintf(why, sizeof(why), "publication \"%s\" was dropped since the state was "
					 "saved, so the changes since cannot be decoded (a publication created "
					 "again is unknown to the changes before it)", cfg->publication);
			lost = why;
		}
		if (lost)
		{
			if (cfg->invalid_cursor != INVALID_CURSOR_RESYNC)
			{
				err_set(ERR_CONFIG, NULL, "cannot resume CDC from the saved state: %s; set "
						"invalid_cdc_cursor_position_behavior to \"Re-sync data\" to re-sync the "
						"streams, or reset them", lost);
				goto done;
			}
			log_warn("cannot resume CDC from the saved state: %s; re-syncing every CDC stream "
					 "(invalid_cdc_cursor_position_behavior = Re-sync data)", lost);
			resync = true;
			/*
			 * A slot that lost WAL cannot serve anything; one from before the publication was
			 * dropped would meet the changes from before it was created again (still running,
			 * or not yet flushed when the slot moved to now): a new slot starts after it.
			 */
			if (slot.exists && (strcmp(slot.wal_status, "lost") == 0 || !pub_existed))
			{
				bool		dropped;

				if (!slot_drop(r->conn, cfg->replication_slot, &dropped))
					goto done;
				slot.exists = false;
			}
		}
	}

	/*
	 * Resuming, tables joining the publication are added to it only once a STATE says they are
	 * backfilled again (below): added by a read that stopped before it, a retry would find them
	 * in the publication and not know that their earlier changes were never decoded. Otherwise
	 * the publication is made complete now: the slot about to be created or moved to now decodes
	 * with it.
	 */
	resuming = slot.exists && state->present && !resync;
	if (!resuming &&
		!publication_ensure(r->conn, cfg->publication, tables, ntables, r->server_version))
		goto done;
	note_publication_rels(r);

	if (slot.exists && !resuming && strcmp(slot.wal_status, "lost") == 0)
	{
		bool		dropped;

		/* a fresh start on a slot that lost WAL: it cannot be moved, a new one can start now */
		log_warn("replication slot \"%s\" has lost WAL it needed (wal_status = lost): dropping it "
				 "and creating it again, as this read backfills every stream", cfg->replication_slot);
		if (!slot_drop(r->conn, cfg->replication_slot, &dropped))
			goto done;
		slot.exists = false;
	}
	if (!slot.exists)
	{
		PGconn	   *repl = pgc_connect(cfg, true);
		pg_lsn		cp = 0;
		bool		keyless = false;

		/*
		 * Keyless tables cannot be reconciled by key: copied in the slot's own snapshot, a
		 * table's copy holds exactly the changes the stream does not (see reader.h snap_conn)
		 */
		for (int i = 0; i < r->nstreams; i++)
			keyless |= copies_in_export(&r->streams[i], true);
		if (repl == NULL || !slot_create(repl, cfg->replication_slot, &cp,
										 keyless ? r->snapshot : NULL, sizeof(r->snapshot)))
		{
			PQfinish(repl);
			goto done;
		}
		if (r->snapshot[0] != '\0')
		{
			r->snap_conn = repl;
			for (int i = 0; i < r->nstreams; i++)
				r->streams[i].in_snapshot = copies_in_export(&r->streams[i], true);
		}
		else
			PQfinish(repl);
		r->lsn = cp;
		created = true;
	}
	else if (state->present && !resync)
		r->lsn = state->lsn;
	else
	{
		/*
		 * A fresh start on an existing slot: every stream is backfilled, so nothing before now
		 * is needed. Move the slot to now so decoding never meets WAL from before a publication
		 * we may just have created.
		 */
		pg_lsn		now;
		char		nowtxt[18];
		const char *p[2] = {cfg->replication_slot, nowtxt};
		PGresult   *res;

		fresh = true;
		/*
		 * Under synchronous_commit = off a commit is visible before its WAL is flushed, and the
		 * slot moves only as far as the flushed WAL: a marker's synchronous commit flushes every
		 * commit before it, so the slot moves past each one the copies see. (A role that cannot
		 * write one gets the flushed position: such commits come again, after their rows.)
		 */
		if (!reader_emit_marker(r, "flush", &now))
			err_clear();
		if (!lsn_query(r->conn, "reading the WAL position", "SELECT pg_current_wal_lsn()", &now))
			goto done;
		if (now > slot.confirmed_flush)
		{
			pgo_lsn_format(now, nowtxt);
			res = pgc_query(r->conn, "advancing the replication slot",
							"SELECT pg_replication_slot_advance($1, $2::pg_lsn)", 2, p);
			if (res == NULL)
				goto done;
			PQclear(res);
		}
		if (!slot_get(r->conn, cfg->replication_slot, &slot))
			goto done;
		r->lsn = slot.confirmed_flush;
	}
	r->ack_lsn = r->lsn;
	r->state_lsn = r->lsn;

	for (int i = 0; i < r->nstreams; i++)
	{
		rd_stream  *s = &r->streams[i];
		const stream_state *saved = state_find(state, s->table->ns, s->table->name);
		int			pc = 0;

		if (!s->incremental)
			continue;
		if (!saved || resync)
		{
			log_info("stream %s.%s: starting its backfill", s->table->ns, s->table->name);
			/*
			 * Joining a read that resumes, the table is backfilled again: the stream from the
			 * saved position may not hold its changes (it may have joined the publication only
			 * just, or been out of it for a while), and a keyless table's copy must not be
			 * followed by the changes it holds already.
			 */
			s->backfill_again = resuming;
		}
		else if (saved->table_oid != 0 && saved->table_oid != s->table->oid)
		{
			log_warn("stream %s.%s: the table was dropped and created again (or another one renamed "
					 "to its name) since the state was saved: backfilling it again; rows the old "
					 "table had and the new one lacks stay in the destination until the stream is "
					 "refreshed", s->table->ns, s->table->name);
			s->backfill_again = true;
		}
		else if ((pc = reader_partitions_joined(r, s->table, saved->partitions)) != 0)
		{
			if (pc < 0)
				goto done;
			s->backfill_again = true;
		}
		else if (saved->publication_rel != 0 && s->table->publication_rel != 0 &&
				 saved->publication_rel != s->table->publication_rel)
		{
			log_warn("stream %s.%s: the table left publication \"%s\" and was added to it again "
					 "since the state was saved, so its changes in between were not captured: "
					 "backfilling it again; rows deleted meanwhile stay in the destination until "
					 "the stream is refreshed", s->table->ns, s->table->name, cfg->publication);
			s->backfill_again = true;
		}
		else if (!s->table->in_publication)
		{
			log_warn("stream %s.%s: the table was not in publication \"%s\", so its changes since "
					 "the state was saved were not captured: backfilling it again",
					 s->table->ns, s->table->name, cfg->publication);
			s->backfill_again = true;
		}
		else
		{
			restore_stream(s, saved);
			/* backfilled again by a read that stopped before copying: it may not have waited */
			s->backfill_again = !s->st.streaming && s->st.changes_from > r->lsn &&
				s->st.ncursor == 0 && s->st.ctid_block <= 0;
		}
		again |= s->backfill_again;
	}
	if (again || (!created && fresh))
	{
		/*
		 * Copies that must hold every change committed before now, because the stream does not:
		 * the slot was moved to now; a table joins a read that resumes, and the stream may have
		 * its changes only from when it joined the publication (this read adds it, or it comes
		 * back after being out of it, or its owner may have added it only just), and drops
		 * those before now (changes_from) in any case. Changes made before that by a
		 * transaction still running are decoded as for a table outside the publication; and a
		 * transaction writes its commit record before others can see it (under synchronous
		 * replication it waits for the standby in between). Either would be in neither the copy
		 * nor the stream. So the copies wait, as creating a slot waits for the transactions
		 * running, for those that hold a lock for writing on the tables, held until they are
		 * visible. (Prepared transactions are left out: waiting for one could mean waiting for a
		 * person.)
		 *
		 * Those tables also drop their changes committed before now: they are in the copy, and
		 * replayed after it could bring back old values (some later changes were never
		 * decoded). A STATE says so at once, and only then are they added to the publication: a
		 * retry of this read must not resume them from the old position, or skip the wait.
		 */
		pg_lsn		now;
		PGresult   *res;
		buf_t		oids;
		bool		standby;

		if (!lsn_query(r->conn, "reading the WAL position", WAL_POSITION_SQL, &now))
			goto done;
		buf_init(&oids, 0);
		buf_putc(&oids, '{');
		for (int i = 0; i < r->nstreams; i++)
		{
			rd_stream  *s = &r->streams[i];

			if (s->backfill_again)
			{
				/* a filter of an earlier copy no longer says what this copy holds */
				s->st.changes_from = now;
				free(s->st.copy_snapshot);
				s->st.copy_snapshot = NULL;
			}
			if (s->incremental && (s->backfill_again || fresh))
				buf_printf(&oids, "%s%u", oids.len > 1 ? "," : "", s->table->oid);
		}
		buf_putc(&oids, '}');
		if (again)
			reader_emit_state(r);
		/* the tables join, then the transactions that may have changed them are listed */
		res = resuming && !publication_ensure(r->conn, cfg->publication, tables, ntables,
											  r->server_version) ? NULL :
			pgc_query(r->conn, "listing the transactions writing on the tables to copy",
					  WRITERS_XIDS_SQL, 1, (const char *const[]) {oids.data});
		buf_free(&oids);
		if (res == NULL)
			goto done;
		note_publication_rels(r);
		standby = PQgetvalue(res, 0, 1)[0] == 't';
		/* a standby makes a commit visible as it replays it: nothing to wait for there */
		if (!standby &&
			!reader_wait_xids(r, PQgetvalue(res, 0, 0), false, "that hold a lock for writing on a "
							  "table about to be copied to end, as creating a replication slot "
							  "waits for those running: a change made before the copy by a "
							  "transaction not yet committed, or committed but not yet visible "
							  "(waiting for a synchronous standby, say), would be in neither the "
							  "copy nor the stream"))
		{
			PQclear(res);
			goto done;
		}
		PQclear(res);
		if (sp_stop_requested)
		{
			/* stopped while waiting: end now (the end marker could wait for a standby too) */
			ok = true;
			goto done;
		}
		/*
		 * Not on a standby: a standby's snapshot lists the transactions running as it was taken
		 * among subtransactions, and prints none of them, so it would seem to see them all
		 */
		if (!standby && !export_copy_snapshot(r, fresh))
			goto done;
	}

	/* the end of this batch: everything acknowledged before now */
	if (r->follow && cfg->lsn_commit == LSN_COMMIT_AFTER_DESTINATION)
		log_info("following the stream with lsn_commit_behaviour \"After loading Data in the "
				 "destination\": the slot stays at the state this read began with, and the server "
				 "keeps the WAL since, until a later read is given a newer state (\"While reading "
				 "Data\" confirms each state as it is emitted)");
	if (!r->follow && !set_batch_end(r))
		goto done;
	if (cfg->heartbeat_action_query && cfg->heartbeat_action_query[0])
	{
		/*
		 * The user's statement, with PostgreSQL's default search_path (ours is pg_catalog): the
		 * documented form names its table unqualified. Its failure is the user's to fix, unless
		 * the connection failed.
		 */
		char		code[6];
		char		msg[512];
		PGresult   *res;

		if (!pgc_command(r->conn, "setting the heartbeat's search_path",
						 "SET search_path = \"$user\", public"))
			goto done;
		res = pgc_try(r->conn, cfg->heartbeat_action_query, 0, NULL, code, msg, sizeof(msg));
		if (res == NULL)
		{
			err_set(pgc_transient(code) ? ERR_TRANSIENT : ERR_CONFIG, NULL,
					"heartbeat_action_query failed: %s (SQLSTATE %s); fix the query, or leave it "
					"empty", msg, code);
			goto done;
		}
		PQclear(res);
		/* several statements are taken: a BEGIN without its COMMIT would wrap our own work */
		if (PQtransactionStatus(r->conn) != PQTRANS_IDLE)
		{
			if (!pgc_command(r->conn, "ending the heartbeat's transaction", "ROLLBACK"))
				err_clear();
			err_set(ERR_CONFIG, NULL, "heartbeat_action_query left a transaction open (it was "
					"rolled back): give complete statements, each committed (no BEGIN without "
					"COMMIT), or leave it empty");
			goto done;
		}
		if (!pgc_command(r->conn, "restoring the search_path", "RESET search_path"))
			goto done;
	}
	ok = true;
done:
	free(tables);
	return ok;
}

void
reader_drop_snapshot(reader *r)
{
	PQfinish(r->snap_conn);
	r->snap_conn = NULL;
	r->snapshot[0] = '\0';
}

static void
reader_free(reader *r)
{
	reader_drop_snapshot(r);
	for (int i = 0; i < r->nstreams; i++)
	{
		rd_stream  *s = &r->streams[i];

		for (int k = 0; k < s->nsel + s->ngone; k++)
			free(s->json_keys[k]);
		for (int k = 0; k < s->ngone; k++)
			free(s->gone[k]);
		free(s->gone);
		free(s->json_keys);
		free(s->json_key_lens);
		free(s->rec_prefix);
		free(s->sel);
		free(s->is_key);
		for (int k = 0; k < s->st.ncursor; k++)
			free(s->st.cursor[k]);
		free(s->st.cursor);
		free(s->st.cursor_key);
		free(s->st.copy_snapshot);
	}
	free(r->streams);
	free(r->dl_xid);
	free(r->dl_commit);
	catalog_free(&r->cat);
	typecache_free(r->types);
	buf_free(&r->scratch);
	PQfinish(r->conn);
}

bool
cmd_read(const cli_args *args)
{
	config_t	cfg;
	sp_state	state;
	reader		r;
	bool		ok = false;
	char		now[40];

	memset(&r, 0, sizeof(r));
	memset(&state, 0, sizeof(state));
	config_init(&cfg);
	r.cfg = &cfg;
	r.follow = args->follow;
	buf_init(&r.scratch, 0);
	if (!config_load(args->config, &cfg) || !state_load(args->state, &state))
		goto done;
	if (!r.follow && cfg.method == REPL_CDC && cfg.initial_load_timeout_seconds > 0)
		r.load_deadline_ms = ab_mono_ms() + (int64_t) cfg.initial_load_timeout_seconds * 1000;
	r.conn = pgc_connect(&cfg, false);
	if (r.conn == NULL)
		goto done;
	r.server_version = PQserverVersion(r.conn);
	pgc_widen_input(r.conn);
	r.types = typecache_new();
	if (!catalog_load(r.conn, &cfg, &r.cat) || !load_catalog(&r, args->catalog))
		goto done;
	if (r.cdc && state.per_stream && !state.present)
	{
		err_set(ERR_CONFIG, NULL, "the state holds per-stream (STREAM) states from Xmin or Standard "
				"replication, but CDC keeps a GLOBAL state; reset the streams after changing "
				"replication_method");
		goto done;
	}
	if (!r.cdc && state.present)
	{
		err_set(ERR_CONFIG, NULL, "the state is a GLOBAL state from CDC replication, but Xmin and "
				"Standard keep one STREAM state per stream; reset the streams after changing "
				"replication_method");
		goto done;
	}
	if (r.cdc && !prepare_cdc(&r, &state))
		goto done;
	if (sp_stop_requested)
	{
		/*
		 * stopped before anything was read (waiting for the slot, say): no state to report,
		 * beyond one saying a table is to be backfilled again
		 */
		ok = !ab_broken();
		goto done;
	}
	format_pg_timestamp((ab_now_ms() - INT64_C(946684800000)) * 1000, now);
	memcpy(r.backfill_updated_at, now, sizeof(now));
	r.last_state_ms = ab_mono_ms();

	for (int i = 0; i < r.nstreams; i++)
	{
		sp_table   *t = r.streams[i].table;

		ab_stream_status(t->ns, t->name, "STARTED");
		ab_estimate(t->ns, t->name, (int64_t) t->reltuples, t->relbytes);
	}
	/* keyless tables first, while the slot's snapshot is held for them (then let go) */
	for (int i = 0; i < r.nstreams && !sp_stop_requested; i++)
	{
		rd_stream  *s = &r.streams[i];

		if (s->incremental && !s->st.streaming && s->table->nkey == 0 && !backfill_stream(&r, s))
			goto done;
	}
	reader_drop_snapshot(&r);
	for (int i = 0; i < r.nstreams && !sp_stop_requested; i++)
	{
		rd_stream  *s = &r.streams[i];

		bool		finished;

		if (s->incremental || s->xmin || s->cursor_col >= 0)
			continue;
		if (!full_refresh_stream(&r, s, r.cdc ? NULL : state_per_stream(&state, s->table->ns,
																			s->table->name, s->ns_given),
								 &finished))
			goto done;
		if (!finished)
			break;				/* stopped by a signal, at a state */
		/* its state at once: a stop or failure later must not leave it at a range */
		if (!r.cdc)
			reader_emit_stream_state(&r, s, json_object());
		ab_stream_status(s->table->ns, s->table->name, "COMPLETE");
		s->complete = true;
	}
	if (r.cdc)
	{
		bool		others_streaming = false;
		int			stopped = 0;	/* backfills stopped by the initial load timeout */
		int			unfinished = 0; /* streams whose backfill this read did not finish */

		/*
		 * A table joining streams that already stream is backfilled in watermark chunks while
		 * they keep streaming (PostgreSQL 14+, which delivers the markers; keyed tables). On a
		 * first read, or without markers, backfills come first (docs/design.md).
		 */
		for (int i = 0; i < r.nstreams; i++)
			others_streaming |= r.streams[i].incremental && r.streams[i].st.streaming;
		for (int i = 0; i < r.nstreams && !sp_stop_requested; i++)
		{
			rd_stream  *s = &r.streams[i];

			if (!s->incremental || s->st.streaming)
				continue;
			if (others_streaming && r.server_version >= 140000 && s->table->nkey > 0)
			{
				s->interleaved = true;
				continue;
			}
			if (reader_load_expired(&r))
			{
				stopped++;		/* its backfill waits for the next attempt (below) */
				continue;
			}
			if (!backfill_stream(&r, s))
				goto done;
			stopped += !s->st.streaming;
		}
		/*
		 * Backfills stopped at the initial load timeout: stream every change up to now (those of
		 * the tables not yet copied too, which their copies will re-assert later with a later
		 * position), so that the next attempt, given the last STATE, confirms the slot past them
		 * and the server can free that WAL.
		 */
		if (stopped > 0 && !sp_stop_requested && !set_batch_end(&r))
			goto done;
		if (!replication_run(&r))
			goto done;
		reader_emit_state(&r);
		/* stopped by a signal or the timeout, a stream whose backfill is unfinished is not complete */
		for (int i = 0; i < r.nstreams; i++)
			if (r.streams[i].incremental && r.streams[i].st.streaming)
			{
				ab_stream_status(r.streams[i].table->ns, r.streams[i].table->name, "COMPLETE");
				r.streams[i].complete = true;
			}
			else if (r.streams[i].incremental)
				unfinished++;
		if (unfinished > 0 && !sp_stop_requested && reader_load_expired(&r))
		{
			int			secs = cfg.initial_load_timeout_seconds;
			bool		hours = secs == cfg.initial_load_timeout_hours * 3600;
			const char *field = hours ? "initial_load_timeout_hours" : "initial_load_timeout_seconds";

			/* as Airbyte's connector does: a transient error, so that the platform goes on */
			err_set(ERR_TRANSIENT, NULL, "the read was still backfilling when its initial load "
					"timeout (%s = %d, counted from the read's start) passed: the backfill of %d "
					"stream%s stopped, the changes so far were streamed, and the last STATE holds "
					"both positions; the next attempt continues the backfill (raise %s to do more "
					"of it per attempt)", field, hours ? secs / 3600 : secs, unfinished,
					unfinished == 1 ? "" : "s", field);
			goto done;
		}
	}
	else
	{
		/* Xmin and Standard: one STREAM state per stream, as Airbyte's sources do */
		for (int i = 0; i < r.nstreams && !sp_stop_requested; i++)
		{
			rd_stream  *s = &r.streams[i];
			json_t	   *ss = NULL;

			if (s->xmin || s->cursor_col >= 0)
			{
				if (!incremental_stream(&r, s, state_per_stream(&state, s->table->ns, s->table->name, s->ns_given), &ss))
					goto done;
				if (ss == NULL)
					break;		/* stopped by a signal, at a state */
				ab_stream_status(s->table->ns, s->table->name, "COMPLETE");
				s->complete = true;
			}
			else
				continue;		/* a full refresh stream: its (empty) state is out */
			reader_emit_stream_state(&r, s, ss);
		}
	}
	ok = !ab_broken();
	if (!ok)
		err_set(ERR_SYSTEM, NULL, "stdout was closed before the read finished");
done:
	/* a stop that cancelled a statement waiting for a lock or for transactions: a stop */
	if (!ok && pgc_stopped_by_cancel())
	{
		log_info("stopped while waiting for the server (%s)", err_message());
		err_clear();
		ok = !ab_broken();
	}
	if (!ok || sp_stop_requested)
		for (int i = 0; i < r.nstreams; i++)
			if (!r.streams[i].complete)
				ab_stream_status(r.streams[i].table->ns, r.streams[i].table->name, "INCOMPLETE");
	reader_free(&r);
	state_free(&state);
	config_free(&cfg);
	return ok;
}
