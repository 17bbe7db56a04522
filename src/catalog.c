/*
 * catalog.c: tables, columns, keys, publication membership and types from pg_catalog
 * (see catalog.h). Every query takes names as parameters; nothing is interpolated into SQL.
 */
#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "pgconn.h"

/* Build a PostgreSQL text[] literal ({"a","b"}) from names; caller frees. */
static char *
text_array_literal(char *const *items, size_t n)
{
	buf_t		b;

	buf_init(&b, 0);
	buf_putc(&b, '{');
	for (size_t i = 0; i < n; i++)
	{
		if (i)
			buf_putc(&b, ',');
		buf_putc(&b, '"');
		for (const char *p = items[i]; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				buf_putc(&b, '\\');
			buf_putc(&b, *p);
		}
		buf_putc(&b, '"');
	}
	buf_putc(&b, '}');
	if (b.failed)
	{
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

static char *
xstrdup(const char *s)
{
	char	   *d = strdup(s ? s : "");

	if (d == NULL)
	{
		err_set(ERR_SYSTEM, NULL, "out of memory");
		abort();
	}
	return d;
}

static void *
xcalloc(size_t n, size_t sz)
{
	void	   *p = calloc(n ? n : 1, sz);

	if (p == NULL)
	{
		err_set(ERR_SYSTEM, NULL, "out of memory");
		abort();
	}
	return p;
}

/* Whether schema ns (a pg_namespace row) is one of $1, or any user schema when $1 is empty. */
#define IN_SCHEMAS(ns) \
	"(" ns ".nspname = ANY($1::text[]) OR (cardinality($1::text[]) = 0 AND " ns ".nspname NOT IN " \
	"('pg_catalog', 'information_schema') AND " ns ".nspname NOT LIKE 'pg\\_%'))"

/*
 * Nothing here may take a lock on a table: a table locked by another session (ALTER TABLE,
 * VACUUM FULL, a long LOCK TABLE), anywhere in the schemas, would hold up discover, check and
 * every read until lock_timeout. pg_relation_size and pg_partition_tree lock the tables they
 * look at, so sizes come from relpages (as of the last VACUUM or ANALYZE, like reltuples) and a
 * partitioned table's leaves from one walk of pg_inherits (lv, empty for other relations), which
 * gives what the table's leaves add up to:
 * - their rows and pages;
 * - those whose UPDATEs and DELETEs would fail once the root is published (no identity);
 * - those whose changes are not in the WAL, so not decoded (UNLOGGED, or foreign tables);
 * - each with the newest xmin of the pg_inherits rows on its way to the table (the transaction
 *   that made it, or an ancestor, a partition): "oid/xid,...".
 */
static const char tables_sql[] =
	"SELECT c.oid, n.nspname, c.relname, c.relkind, c.relreplident, "
	"  CASE WHEN c.relkind = 'p' THEN coalesce(lv.tuples, 0) "
	"  ELSE greatest(c.reltuples, 0) END::float8, "
	"  (CASE WHEN c.relkind = 'p' THEN coalesce(lv.pages, 0) "
	"  WHEN c.relkind IN ('r', 'm') THEN c.relpages ELSE 0 END::int8 "
	"  * current_setting('block_size')::int8), "
	"  CASE WHEN c.relkind = 'p' THEN lv.without_identity END, "
	"  c.relhassubclass, "
	"  CASE WHEN c.relpersistence = 'u' THEN format('%I.%I', n.nspname, c.relname) "
	"  WHEN c.relkind = 'p' THEN lv.not_in_wal END, "
	"  CASE WHEN c.relkind = 'p' OR (c.relkind = 'r' AND c.relhassubclass) "
	"  THEN coalesce(lv.leaves, '') END, "
	"  c.relispartition, c.relkind = 'm' AND NOT c.relispopulated, "
	"  has_table_privilege(c.oid, 'SELECT') "
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	"CROSS JOIN LATERAL (WITH RECURSIVE tree(relid, inhx) AS ("
	"    SELECT c.oid, NULL::xid WHERE c.relkind = 'p' OR (c.relkind = 'r' AND c.relhassubclass) "
	"    UNION ALL SELECT i.inhrelid, CASE WHEN tree.inhx IS NULL OR age(i.xmin) < age(tree.inhx) "
	"    THEN i.xmin ELSE tree.inhx END FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid) "
	"  SELECT sum(greatest(l.reltuples, 0)) AS tuples, sum(l.relpages) AS pages, "
	"    string_agg(format('%I.%I', ln.nspname, l.relname), ', ' ORDER BY ln.nspname, l.relname) "
	"      FILTER (WHERE l.relkind = 'r' AND l.relreplident <> 'f' AND NOT EXISTS ("
	"        SELECT 1 FROM pg_index i WHERE i.indrelid = l.oid AND i.indisvalid AND CASE "
	"        l.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident "
	"        ELSE false END)) AS without_identity, "
	"    string_agg(format('%I.%I', ln.nspname, l.relname), ', ' ORDER BY ln.nspname, l.relname) "
	"      FILTER (WHERE l.relpersistence = 'u' OR l.relkind = 'f') AS not_in_wal, "
	"    string_agg(tree.relid::text || '/' || tree.inhx::text, ',' ORDER BY tree.relid) AS leaves "
	"  FROM tree JOIN pg_class l ON l.oid = tree.relid "
	"    JOIN pg_namespace ln ON ln.oid = l.relnamespace "
	"  WHERE l.relkind <> 'p') AS lv "
	"WHERE " IN_SCHEMAS("n") " AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
	"  AND has_schema_privilege(n.oid, 'USAGE') AND has_any_column_privilege(c.oid, 'SELECT') "
	/*
	 * A partition is read through an ancestor that is listed too; one whose ancestors are all
	 * out of the schemas, or unreadable, is listed itself
	 */
	"  AND NOT (c.relispartition AND EXISTS (SELECT 1 FROM pg_partition_ancestors(c.oid) a "
	"    JOIN pg_class ac ON ac.oid = a.relid JOIN pg_namespace an ON an.oid = ac.relnamespace "
	"    WHERE a.relid <> c.oid AND " IN_SCHEMAS("an")
	"      AND has_schema_privilege(an.oid, 'USAGE') AND has_any_column_privilege(ac.oid, 'SELECT'))) "
	"ORDER BY n.nspname, c.relname";

/* The schemas of $1 that do not exist or that the role cannot use. */
static const char missing_schemas_sql[] =
	"SELECT s FROM unnest($1::text[]) AS s WHERE NOT EXISTS (SELECT 1 FROM pg_namespace n "
	"WHERE n.nspname = s AND has_schema_privilege(n.oid, 'USAGE')) ORDER BY s";

static const char columns_sql[] =
	"SELECT a.attrelid, a.attnum, a.attname, a.atttypid, format_type(a.atttypid, a.atttypmod), "
	"  a.attnotnull, a.attndims, a.attgenerated <> '', "
	"  has_column_privilege(a.attrelid, a.attnum, 'SELECT'), "
	"  (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_collation co "
	"     JOIN pg_namespace cn ON cn.oid = co.collnamespace JOIN pg_type ct ON ct.oid = a.atttypid "
	"     WHERE co.oid = a.attcollation AND a.attcollation <> ct.typcollation) "
	"FROM pg_attribute a "
	"WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped "
	"ORDER BY a.attrelid, a.attnum";

/* Primary keys first, then unique immediate non-partial plain indexes, fewest columns first. */
static const char keys_sql[] =
	"SELECT i.indrelid, array_to_string((i.indkey::int2[])[0:i.indnkeyatts - 1], ' '), "
	"  i.indisprimary, i.indisreplident "
	"FROM pg_index i "
	"WHERE i.indrelid = ANY($1::oid[]) AND i.indisvalid AND i.indisready AND i.indisunique "
	"  AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL "
	/*
	 * Not unique under the column's own collation when that one is nondeterministic and the
	 * index's is another ('a' and 'A' both present): keyset pages, in the column's collation,
	 * would skip one of them.
	 */
	"  AND NOT EXISTS (SELECT 1 FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1], "
	"      (i.indcollation::oid[])[0:i.indnkeyatts - 1]) AS k(attnum, coll) "
	"    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
	"    JOIN pg_collation ac ON ac.oid = a.attcollation "
	"    WHERE k.coll <> a.attcollation AND NOT ac.collisdeterministic) "
	"ORDER BY i.indrelid, i.indisprimary DESC, i.indisreplident DESC, i.indnkeyatts, i.indexrelid";

/*
 * The tables of $2 the publication holds: FOR ALL TABLES, FOR TABLE, or (15+) FOR TABLES IN
 * SCHEMA. Read from the catalogs, not pg_publication_tables, which on 16+ opens (locks) every
 * table it lists. A partitioned table is held when it is named, whatever publish_via_partition_root
 * says (publication_fits refuses the publication if that is off).
 */
#define PUBTABLES_SQL(in_schema) \
	"SELECT c.oid, (SELECT pr.oid FROM pg_publication_rel pr WHERE pr.prpubid = p.oid AND " \
	"pr.prrelid = c.oid) FROM pg_publication p, pg_class c WHERE p.pubname = $1 " \
	"AND c.oid = ANY($2::oid[]) AND (p.puballtables OR EXISTS (SELECT 1 FROM pg_publication_rel pr " \
	"WHERE pr.prpubid = p.oid AND pr.prrelid = c.oid)" in_schema ")"

static int
find_table_by_oid(sp_catalog *cat, uint32_t oid)
{
	/* tables are few; catalogs of thousands of tables still load in milliseconds */
	for (int i = 0; i < cat->ntables; i++)
		if (cat->tables[i].oid == oid)
			return i;
	return -1;
}

bool
catalog_load(PGconn *conn, const config_t *cfg, sp_catalog *out)
{
	PGresult   *res = NULL;
	char	   *schemas = NULL;
	buf_t		oids;
	sp_typecache *types = typecache_new();
	bool		ok = false;

	memset(out, 0, sizeof(*out));
	buf_init(&oids, 0);

	schemas = text_array_literal(cfg->schemas, cfg->n_schemas);
	{
		const char *p[1] = {schemas};

		res = pgc_query(conn, "listing tables", tables_sql, 1, p);
	}
	if (res == NULL)
		goto done;
	out->ntables = PQntuples(res);
	out->tables = xcalloc((size_t) out->ntables, sizeof(sp_table));
	buf_putc(&oids, '{');
	for (int i = 0; i < out->ntables; i++)
	{
		sp_table   *t = &out->tables[i];

		t->oid = (uint32_t) strtoul(PQgetvalue(res, i, 0), NULL, 10);
		t->ns = xstrdup(PQgetvalue(res, i, 1));
		t->name = xstrdup(PQgetvalue(res, i, 2));
		t->relkind = PQgetvalue(res, i, 3)[0];
		t->replident = PQgetvalue(res, i, 4)[0];
		t->reltuples = strtod(PQgetvalue(res, i, 5), NULL);
		t->relbytes = strtoll(PQgetvalue(res, i, 6), NULL, 10);
		if (!PQgetisnull(res, i, 7))
			t->partition_without_identity = xstrdup(PQgetvalue(res, i, 7));
		t->has_children = PQgetvalue(res, i, 8)[0] == 't';
		if (!PQgetisnull(res, i, 9))
			t->unlogged = xstrdup(PQgetvalue(res, i, 9));
		/* an inheritance parent's children, read with it except by CDC (which reads it ONLY) */
		if (!PQgetisnull(res, i, 10) && (t->relkind == 'p' || cfg->method != REPL_CDC))
			t->partitions = xstrdup(PQgetvalue(res, i, 10));
		t->is_partition = PQgetvalue(res, i, 11)[0] == 't';
		t->unpopulated = PQgetvalue(res, i, 12)[0] == 't';
		t->table_select = PQgetvalue(res, i, 13)[0] == 't';
		/* 12 publishes a partitioned table's changes under its partitions' names only */
		t->unpublishable = t->relkind == 'p' && PQserverVersion(conn) < 130000;
		if (i)
			buf_putc(&oids, ',');
		buf_puts(&oids, PQgetvalue(res, i, 0));
	}
	buf_putc(&oids, '}');
	PQclear(res);
	res = NULL;

	/* a misspelt schema would otherwise just list nothing of it */
	{
		const char *p[1] = {schemas};

		res = pgc_query(conn, "listing schemas", missing_schemas_sql, 1, p);
		if (res == NULL)
			goto done;
		for (int i = 0; i < PQntuples(res); i++)
			log_warn("schema \"%s\" of the config does not exist or the role has no USAGE on it "
					 "(GRANT USAGE ON SCHEMA): it has no streams", PQgetvalue(res, i, 0));
		PQclear(res);
		res = NULL;
	}

	/* columns */
	{
		const char *p[1] = {oids.data};
		int			n;
		int			start = 0;

		res = pgc_query(conn, "listing columns", columns_sql, 1, p);
		if (res == NULL)
			goto done;
		n = PQntuples(res);
		while (start < n)
		{
			uint32_t	relid = (uint32_t) strtoul(PQgetvalue(res, start, 0), NULL, 10);
			int			end = start;
			int			ti = find_table_by_oid(out, relid);
			sp_table   *t;

			while (end < n && (uint32_t) strtoul(PQgetvalue(res, end, 0), NULL, 10) == relid)
				end++;
			if (ti < 0)
			{
				start = end;
				continue;
			}
			t = &out->tables[ti];
			t->cols = xcalloc((size_t) (end - start), sizeof(sp_column));
			t->unread = xcalloc((size_t) (end - start), sizeof(char *));
			for (int r = start; r < end; r++)
			{
				sp_column  *c;

				/*
				 * Columns the role may not read, and (pgoutput does not send them) stored
				 * generated ones in CDC, are left out, by name.
				 */
				if (PQgetvalue(res, r, 8)[0] != 't' ||
					(cfg->method == REPL_CDC && PQgetvalue(res, r, 7)[0] == 't'))
				{
					t->unread[t->nunread++] = xstrdup(PQgetvalue(res, r, 2));
					continue;
				}
				t->has_generated |= PQgetvalue(res, r, 7)[0] == 't';
				c = &t->cols[t->ncols++];
				c->attnum = (int) strtol(PQgetvalue(res, r, 1), NULL, 10);
				c->name = xstrdup(PQgetvalue(res, r, 2));
				c->type_oid = (uint32_t) strtoul(PQgetvalue(res, r, 3), NULL, 10);
				c->type_name = xstrdup(PQgetvalue(res, r, 4));
				c->collation = PQgetisnull(res, r, 9) ? NULL : xstrdup(PQgetvalue(res, r, 9));
				c->not_null = PQgetvalue(res, r, 5)[0] == 't';
				if (!typecache_resolve(types, conn, c->type_oid, (int) strtol(PQgetvalue(res, r, 6), NULL, 10), &c->type))
					goto done;
			}
			start = end;
		}
		PQclear(res);
		res = NULL;
	}

	/* keys: the first usable index per table wins (primary key first) */
	{
		const char *p[1] = {oids.data};

		res = pgc_query(conn, "listing keys", keys_sql, 1, p);
		if (res == NULL)
			goto done;
		for (int r = 0; r < PQntuples(res); r++)
		{
			int			ti = find_table_by_oid(out, (uint32_t) strtoul(PQgetvalue(res, r, 0), NULL, 10));
			sp_table   *t;
			int			idx[32];
			int			nidx = 0;
			bool		usable = true;
			char	   *s;
			char	   *e;

			if (ti < 0 || out->tables[ti].nkey > 0)
				continue;
			t = &out->tables[ti];
			s = PQgetvalue(res, r, 1);
			while (*s && nidx < 32)
			{
				long		attnum = strtol(s, &e, 10);
				int			ci = -1;

				if (e == s)
					break;
				s = e;
				for (int k = 0; k < t->ncols; k++)
					if (t->cols[k].attnum == attnum)
						ci = k;
				if (ci < 0 || !t->cols[ci].not_null)
					usable = false;
				idx[nidx++] = ci;
			}
			if (!usable || nidx == 0)
				continue;
			t->key = xcalloc((size_t) nidx, sizeof(int));
			memcpy(t->key, idx, sizeof(int) * (size_t) nidx);
			t->nkey = nidx;
			t->key_is_pk = PQgetvalue(res, r, 2)[0] == 't';
			t->key_is_replident = PQgetvalue(res, r, 3)[0] == 't';
		}
		PQclear(res);
		res = NULL;
	}

	/* publication membership */
	if (cfg->method == REPL_CDC && cfg->publication)
	{
		const char *p[2] = {cfg->publication, oids.data};

		res = pgc_query(conn, "listing publication tables", PQserverVersion(conn) >= 150000 ?
						PUBTABLES_SQL(" OR EXISTS (SELECT 1 FROM pg_publication_namespace pn "
									  "WHERE pn.pnpubid = p.oid AND pn.pnnspid = c.relnamespace)") :
						PUBTABLES_SQL(""), 2, p);
		if (res == NULL)
			goto done;
		for (int r = 0; r < PQntuples(res); r++)
		{
			int			i = find_table_by_oid(out, (uint32_t) strtoul(PQgetvalue(res, r, 0), NULL, 10));

			if (i >= 0)
			{
				out->tables[i].in_publication = true;
				if (!PQgetisnull(res, r, 1))
					out->tables[i].publication_rel = (uint32_t) strtoul(PQgetvalue(res, r, 1), NULL, 10);
			}
		}
		PQclear(res);
		res = NULL;
	}
	ok = true;

done:
	PQclear(res);
	free(schemas);
	buf_free(&oids);
	typecache_free(types);
	if (!ok)
		catalog_free(out);
	return ok;
}

void
catalog_free(sp_catalog *cat)
{
	for (int i = 0; i < cat->ntables; i++)
	{
		sp_table   *t = &cat->tables[i];

		for (int c = 0; c < t->ncols; c++)
		{
			free(t->cols[c].name);
			free(t->cols[c].type_name);
			free(t->cols[c].collation);
		}
		free(t->cols);
		for (int c = 0; c < t->nunread; c++)
			free(t->unread[c]);
		free(t->unread);
		free(t->key);
		free(t->ns);
		free(t->name);
		free(t->partition_without_identity);
		free(t->unlogged);
		free(t->partitions);
	}
	free(cat->tables);
	cat->tables = NULL;
	cat->ntables = 0;
}

sp_table *
catalog_find(sp_catalog *cat, const char *ns, const char *name)
{
	for (int i = 0; i < cat->ntables; i++)
		if (strcmp(cat->tables[i].ns, ns) == 0 && strcmp(cat->tables[i].name, name) == 0)
			return &cat->tables[i];
	return NULL;
}

sp_table *
catalog_find_name(sp_catalog *cat, const char *name, int *nfound)
{
	sp_table   *found = NULL;

	*nfound = 0;
	for (int i = 0; i < cat->ntables; i++)
		if (strcmp(cat->tables[i].name, name) == 0 && (*nfound)++ == 0)
			found = &cat->tables[i];
	return found;
}

int
table_column(const sp_table *t, const char *name)
{
	for (int i = 0; i < t->ncols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return i;
	return -1;
}

bool
table_cdc_capable(const sp_table *t)
{
	if (t->relkind != 'r' && t->relkind != 'p')
		return false;
	/*
	 * A partition listed itself: a publication that holds an ancestor of it (FOR ALL TABLES,
	 * say) with publish_via_partition_root sends its changes under the ancestor's name
	 */
	if (t->is_partition || t->unpublishable)
		return false;
	/* a partition's identity is its own: the root's does not reach it */
	if (t->partition_without_identity || t->unlogged)
		return false;
	if (t->replident == 'f')
		return true;
	/*
	 * DEFAULT identifies rows by the primary key (none without one: adding such a table to a
	 * publication would make its UPDATEs and DELETEs fail); USING INDEX by that index, which
	 * must be the stream's key so that deletes carry it.
	 */
	if (t->replident == 'd')
		return t->nkey > 0 && t->key_is_pk;
	if (t->replident == 'i')
		return t->nkey > 0 && t->key_is_replident;
	return false;
}

static json_t *
cdc_meta_schema(bool is_lsn)
{
	if (is_lsn)
		return json_pack("{s:[s,s]}", "type", "null", "number");
	return json_pack("{s:[s,s],s:s,s:s}", "type", "null", "string", "format", "date-time",
					 "airbyte_type", "timestamp_with_timezone");
}

json_t *
table_stream_json(const sp_table *t, const config_t *cfg)
{
	json_t	   *props = json_object();
	json_t	   *stream;
	json_t	   *modes = json_array();
	bool		is_table = t->relkind == 'r' || t->relkind == 'p';
	bool		cdc = cfg->method == REPL_CDC;

	for (int i = 0; i < t->ncols; i++)
		json_object_set_new(props, t->cols[i].name, tc_json_schema(&t->cols[i].type));
	if (cdc)
	{
		json_object_set_new(props, "_ab_cdc_lsn", cdc_meta_schema(true));
		json_object_set_new(props, "_ab_cdc_updated_at", cdc_meta_schema(false));
		json_object_set_new(props, "_ab_cdc_deleted_at", cdc_meta_schema(false));
	}
	stream = json_pack("{s:s,s:s,s:{s:s,s:o}}", "name", t->name, "namespace", t->ns,
					   "json_schema", "type", "object", "properties", props);
	json_array_append_new(modes, json_string("full_refresh"));
	if (is_table && (!cdc || table_cdc_capable(t)))
		json_array_append_new(modes, json_string("incremental"));
	json_object_set_new(stream, "supported_sync_modes", modes);
	if (is_table && cdc && table_cdc_capable(t))
	{
		json_object_set_new(stream, "source_defined_cursor", json_true());
		json_object_set_new(stream, "default_cursor_field", json_pack("[s]", "_ab_cdc_lsn"));
	}
	else if (is_table && cfg->method == REPL_XMIN)
		json_object_set_new(stream, "source_defined_cursor", json_true());
	else
		json_object_set_new(stream, "source_defined_cursor", json_false());
	if (t->nkey > 0)
	{
		json_t	   *pk = json_array();

		for (int k = 0; k < t->nkey; k++)
			json_array_append_new(pk, json_pack("[s]", t->cols[t->key[k]].name));
		json_object_set_new(stream, "source_defined_primary_key", pk);
	}
	json_object_set_new(stream, "is_resumable", json_boolean(is_table));
	return stream;
}

/* ---- type cache ---- */

typedef struct tc_entry
{
	uint32_t	oid;
	uint32_t	base;			/* after stripping domains */
	uint32_t	elem;			/* base's array element, after stripping domains, or 0 */
	char		elem_delim;
	int			ndims;			/* array dimensions a domain on the way declares */
} tc_entry;

struct sp_typecache
{
	tc_entry   *e;
	int			n;
	int			cap;
};

sp_typecache *
typecache_new(void)
{
	return xcalloc(1, sizeof(sp_typecache));
}

void
typecache_free(sp_typecache *tc)
{
	if (tc == NULL)
		return;
	free(tc->e);
	free(tc);
}

static const char type_sql[] =
	"SELECT typtype, typbasetype, typelem, typcategory, typdelim, typndims FROM pg_type "
	"WHERE oid = $1";

/*
 * Follow domains down to the base type; also report the base's element and typdelim, and the
 * most array dimensions a domain on the way declares (CREATE DOMAIN m AS int[][]: 2; a column of
 * a domain type has attndims 0).
 */
static bool
lookup_base(PGconn *conn, uint32_t oid, uint32_t *base, uint32_t *elem, char *delim, int *ndims)
{
	*ndims = 0;
	for (int depth = 0; depth < 32; depth++)
	{
		char		oidtxt[16];
		const char *p[1] = {oidtxt};
		PGresult   *res;

		snprintf(oidtxt, sizeof(oidtxt), "%u", oid);
		res = pgc_query(conn, "looking up a type", type_sql, 1, p);
		if (res == NULL)
			return false;
		if (PQntuples(res) != 1)
		{
			/* dropped since a change carrying it was made: see typecache_missing */
			PQclear(res);
			*base = 0;
			*elem = 0;
			*delim = ',';
			return true;
		}
		if (PQgetvalue(res, 0, 0)[0] == 'd')
		{
			int			nd = (int) strtol(PQgetvalue(res, 0, 5), NULL, 10);

			if (nd > *ndims)
				*ndims = nd;
			oid = (uint32_t) strtoul(PQgetvalue(res, 0, 1), NULL, 10);
			PQclear(res);
			continue;
		}
		*base = oid;
		/* int2vector and oidvector print as "1 2 3", not as arrays: strings, then */
		*elem = PQgetvalue(res, 0, 3)[0] == 'A' && oid != 22 && oid != 30 ?
			(uint32_t) strtoul(PQgetvalue(res, 0, 2), NULL, 10) : 0;
		*delim = PQgetvalue(res, 0, 4)[0];
		PQclear(res);
		return true;
	}
	err_set(ERR_SYSTEM, NULL, "type with OID %u nests domains too deeply", oid);
	return false;
}

bool
typecache_resolve(sp_typecache *tc, PGconn *conn, uint32_t oid, int ndims, tc_type *out)
{
	tc_entry   *e = NULL;

	for (int i = 0; i < tc->n; i++)
		if (tc->e[i].oid == oid)
			e = &tc->e[i];
	if (e == NULL)
	{
		tc_entry	ne = {oid, 0, 0, ',', 0};
		uint32_t	unused;
		int			unused_ndims;

		if (!lookup_base(conn, oid, &ne.base, &ne.elem, &ne.elem_delim, &ne.ndims))
			return false;
		if (ne.elem)
		{
			uint32_t	elem_base;
			char		elem_delim;

			if (!lookup_base(conn, ne.elem, &elem_base, &unused, &elem_delim, &unused_ndims))
				return false;
			ne.elem = elem_base;
			ne.elem_delim = elem_delim;
		}
		if (tc->n == tc->cap)
		{
			int			ncap = tc->cap ? tc->cap * 2 : 32;
			tc_entry   *ne_arr = realloc(tc->e, sizeof(tc_entry) * (size_t) ncap);

			if (ne_arr == NULL)
			{
				err_set(ERR_SYSTEM, NULL, "out of memory");
				return false;
			}
			tc->e = ne_arr;
			tc->cap = ncap;
		}
		tc->e[tc->n] = ne;
		e = &tc->e[tc->n++];
	}
	*out = tc_resolve(e->base ? e->base : TC_OID_TEXT, e->elem, e->elem_delim,
					  ndims > e->ndims ? ndims : e->ndims);
	return true;
}

bool
typecache_missing(const sp_typecache *tc, uint32_t oid)
{
	for (int i = 0; i < tc->n; i++)
		if (tc->e[i].oid == oid)
			return tc->e[i].base == 0;
	return false;
}
