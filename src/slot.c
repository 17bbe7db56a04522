/*
 * slot.c: replication slot and publication management (see slot.h).
 */
#include "slot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airbyte.h"
#include "commands.h"
#include "buf.h"
#include "error.h"
#include "log.h"
#include "pgconn.h"

bool
wal_level_logical(PGconn *conn)
{
	PGresult   *res = pgc_query(conn, "reading wal_level", "SHOW wal_level", 0, NULL);
	bool		ok;

	if (res == NULL)
		return false;
	ok = strcmp(PQgetvalue(res, 0, 0), "logical") == 0;
	if (!ok)
		err_set(ERR_CONFIG, NULL, "wal_level is %s; CDC needs logical decoding: set wal_level = "
				"logical (ALTER SYSTEM SET wal_level = logical, or the cloud provider's parameter, "
				"e.g. rds.logical_replication = 1) and restart PostgreSQL", PQgetvalue(res, 0, 0));
	PQclear(res);
	return ok;
}

bool
slot_get(PGconn *conn, const char *name, slot_info *out)
{
	const char *p[1] = {name};
	PGresult   *res;

	memset(out, 0, sizeof(*out));
	res = pgc_query(conn, "reading pg_replication_slots",
					"SELECT slot_type, coalesce(plugin, ''), coalesce(database, ''), active, "
					"  coalesce(restart_lsn::text, ''), coalesce(confirmed_flush_lsn::text, ''), "
					"  coalesce(to_jsonb(s)->>'wal_status', ''), coalesce(active_pid, 0) "
					"FROM pg_replication_slots s WHERE slot_name = $1", 1, p);
	if (res == NULL)
		return false;
	if (PQntuples(res) == 1)
	{
		out->exists = true;
		out->logical = strcmp(PQgetvalue(res, 0, 0), "logical") == 0;
		snprintf(out->plugin, sizeof(out->plugin), "%s", PQgetvalue(res, 0, 1));
		snprintf(out->database, sizeof(out->database), "%s", PQgetvalue(res, 0, 2));
		out->active = PQgetvalue(res, 0, 3)[0] == 't';
		pgo_lsn_parse(PQgetvalue(res, 0, 4), &out->restart_lsn);
		pgo_lsn_parse(PQgetvalue(res, 0, 5), &out->confirmed_flush);
		snprintf(out->wal_status, sizeof(out->wal_status), "%s", PQgetvalue(res, 0, 6));
		out->active_pid = atoi(PQgetvalue(res, 0, 7));
	}
	PQclear(res);
	return true;
}

bool
slot_foreign(const slot_info *s, const char *name, const char *database, char *msg, size_t n)
{
	if (!s->logical)
		snprintf(msg, n, "replication slot \"%s\" is a physical slot (a standby's or a backup's, "
				 "which dropping would break), not a logical one; set replication_slot to another "
				 "name, and the connector creates that slot", name);
	else if (strcmp(s->plugin, "pgoutput") != 0)
		snprintf(msg, n, "replication slot \"%s\" exists but uses plugin \"%s\"; source-postgres "
				 "needs pgoutput: SELECT pg_drop_replication_slot('%s'); then let the connector "
				 "create it, or SELECT pg_create_logical_replication_slot('%s', 'pgoutput')",
				 name, s->plugin, name, name);
	else if (strcmp(s->database, database) != 0)
		snprintf(msg, n, "replication slot \"%s\" belongs to database \"%s\", not \"%s\"; use a "
				 "slot created in this database", name, s->database, database);
	else
		return false;
	return true;
}

bool
slot_wait_released(PGconn *conn, const char *name, int max_ms, slot_info *out)
{
	const struct timespec pause = {0, 100 * 1000 * 1000};
	int64_t		deadline = ab_mono_ms() + max_ms;

	if (!out->exists || !out->active)
		return true;
	log_info("replication slot \"%s\" is in use by process %d (a previous run's walsender "
			 "still exiting, or another reader of this slot); waiting up to %d s for it",
			 name, out->active_pid, max_ms / 1000);
	while (out->exists && out->active && ab_mono_ms() < deadline && !sp_stop_requested)
	{
		nanosleep(&pause, NULL);
		if (!slot_get(conn, name, out))
			return false;
	}
	if (!out->exists || !out->active)
		log_info("replication slot \"%s\" was released", name);
	return true;
}

/*
 * What creating the slot will wait for: a prepared transaction (it waits for it too, and one
 * forgotten would hold it for ever) fails the read naming it; open transactions are logged.
 */
static bool
slot_waits_for(PGconn *repl, const char *name)
{
	PGresult   *res = pgc_query(repl, "listing prepared transactions",
								"SELECT gid, database, owner, prepared::text FROM pg_catalog.pg_prepared_xacts "
								"ORDER BY prepared LIMIT 3", 0, NULL);
	buf_t		list;

	if (res == NULL)
		return false;
	if (PQntuples(res) > 0)
	{
		err_set(ERR_TRANSIENT, NULL, "creating replication slot \"%s\" waits for every open "
				"transaction to end, prepared ones too, and prepared transaction '%s' (database %s, "
				"owner %s, prepared at %s) is open: COMMIT PREPARED or ROLLBACK PREPARED it, then "
				"try again", name, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
				PQgetvalue(res, 0, 3));
		PQclear(res);
		return false;
	}
	PQclear(res);
	res = pgc_query(repl, "listing open transactions",
					"SELECT pid, coalesce(application_name, ''), xact_start::text FROM pg_catalog.pg_stat_activity "
					"WHERE backend_xid IS NOT NULL AND pid <> pg_catalog.pg_backend_pid() "
					"ORDER BY xact_start LIMIT 5", 0, NULL);
	if (res == NULL)
		return false;
	buf_init(&list, 0);
	for (int i = 0; i < PQntuples(res); i++)
		buf_printf(&list, "%spid %s (%s, open since %s)", i ? ", " : "", PQgetvalue(res, i, 0),
				   PQgetvalue(res, i, 1)[0] ? PQgetvalue(res, i, 1) : "no application name",
				   PQgetvalue(res, i, 2));
	if (PQntuples(res) > 0)
		log_info("creating replication slot \"%s\": it waits for the transactions open on the "
				 "server now to end: %s%s", name, list.data, PQntuples(res) == 5 ? ", ..." : "");
	else
		log_info("creating replication slot \"%s\"", name);
	buf_free(&list);
	PQclear(res);
	return true;
}

bool
slot_create(PGconn *repl, const char *name, pg_lsn *consistent_point, char *snapshot,
			size_t snapshot_len)
{
	char	   *q = pgc_ident(repl, name);
	char		sql[256];
	PGresult   *res;

	if (q == NULL)
		return false;
	snprintf(sql, sizeof(sql), "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput %s", q,
			 snapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT");
	PQfreemem(q);
	/*
	 * It waits for every transaction running on the server to end, a lock wait that the
	 * session's lock_timeout would cut short after 10 s, failing a first read whenever a long
	 * transaction is open (a report, a batch job). Waited for as long as it takes; a stop signal
	 * cancels it. Left at 0 for the connection: a command after this one would end the exported
	 * snapshot, and the stream it goes on to run waits for no lock.
	 */
	if (!pgc_command(repl, "lifting lock_timeout for the slot's creation", "SET lock_timeout = 0") ||
		!slot_waits_for(repl, name))
		return false;
	res = pgc_query_waiting(repl, "creating the replication slot", "", sql);
	if (res == NULL)
		return false;
	if (consistent_point && PQntuples(res) == 1)
		pgo_lsn_parse(PQgetvalue(res, 0, 1), consistent_point);
	if (snapshot)
	{
		snapshot[0] = '\0';
		if (PQntuples(res) == 1 && PQnfields(res) > 2 && !PQgetisnull(res, 0, 2))
			snprintf(snapshot, snapshot_len, "%s", PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	log_info("created replication slot \"%s\"", name);
	return true;
}

bool
slot_drop(PGconn *conn, const char *name, bool *dropped)
{
	const char *p[1] = {name};
	PGresult   *res;

	*dropped = false;
	res = pgc_query(conn, "dropping the replication slot",
					"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
					"WHERE slot_name = $1", 1, p);
	if (res == NULL)
		return false;
	*dropped = PQntuples(res) == 1;
	PQclear(res);
	return true;
}

bool
publication_exists(PGconn *conn, const char *name, bool *exists, bool *all_tables)
{
	const char *p[1] = {name};
	PGresult   *res = pgc_query(conn, "reading pg_publication",
								"SELECT puballtables FROM pg_publication WHERE pubname = $1", 1, p);

	if (res == NULL)
		return false;
	*exists = PQntuples(res) == 1;
	if (all_tables)
		*all_tables = *exists && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return true;
}

/* DDL that waits for a lock on each table, while the stop signal can cancel it */
static bool
publication_ddl(PGconn *conn, const char *what, const char *denied_hint, const char *sql)
{
	PGresult   *res = pgc_query_waiting(conn, what, denied_hint, sql);

	PQclear(res);
	return res != NULL;
}

/* The pg_publication_rel rows of tables this read added to the publication (sp_table) */
static bool
publication_rels(PGconn *conn, const char *name, sp_table *const *tables, int n)
{
	const char *p[1] = {name};
	PGresult   *res = NULL;

	for (int i = 0; i < n; i++)
	{
		if (!tables[i]->added_to_publication)
			continue;
		if (res == NULL && (res = pgc_query(conn, "reading the publication's tables",
											"SELECT pr.prrelid, pr.oid FROM pg_catalog.pg_publication_rel pr "
											"JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid "
											"WHERE p.pubname = $1", 1, p)) == NULL)
			return false;
		for (int r = 0; r < PQntuples(res); r++)
			if ((uint32_t) strtoul(PQgetvalue(res, r, 0), NULL, 10) == tables[i]->oid)
				tables[i]->publication_rel = (uint32_t) strtoul(PQgetvalue(res, r, 1), NULL, 10);
	}
	PQclear(res);
	return true;
}

bool
publication_ensure(PGconn *conn, const char *name, sp_table *const *tables, int n,
				   int server_version)
{
	bool		exists;
	bool		all_tables;
	char	   *pub = NULL;
	buf_t		sql;
	bool		ok = false;

	buf_init(&sql, 0);
	if (!publication_exists(conn, name, &exists, &all_tables))
		return false;
	if (exists && all_tables)
		return true;
	pub = pgc_ident(conn, name);
	if (pub == NULL)
		goto done;
	if (!exists)
	{
		buf_printf(&sql, "CREATE PUBLICATION %s", pub);
		for (int i = 0; i < n; i++)
		{
			char	   *qn = pgc_qualified(conn, tables[i]->ns, tables[i]->name);

			if (qn == NULL)
				goto done;
			buf_puts(&sql, i ? ", ONLY " : " FOR TABLE ONLY ");
			buf_puts(&sql, qn);
			free(qn);
		}
		if (server_version >= 130000)
			buf_puts(&sql, " WITH (publish_via_partition_root = true)");
		if (!publication_ddl(conn, "creating the publication", " (CREATE PUBLICATION needs the "
							 "CREATE privilege on the database and ownership of the tables)",
							 sql.data))
			goto done;
		log_info("created publication \"%s\" for %d table(s)", name, n);
		for (int i = 0; i < n; i++)
		{
			tables[i]->in_publication = true;
			tables[i]->added_to_publication = true;
		}
	}
	else
	{
		for (int i = 0; i < n; i++)
		{
			char	   *qn;

			if (tables[i]->in_publication)
				continue;
			qn = pgc_qualified(conn, tables[i]->ns, tables[i]->name);
			if (qn == NULL)
				goto done;
			buf_reset(&sql);
			buf_printf(&sql, "ALTER PUBLICATION %s ADD TABLE ONLY %s", pub, qn);
			free(qn);
			if (!publication_ddl(conn, "adding a table to the publication", " (ALTER PUBLICATION "
								 "needs ownership of the publication and of the table)", sql.data))
				goto done;
			log_info("added %s.%s to publication \"%s\"", tables[i]->ns, tables[i]->name, name);
			tables[i]->in_publication = true;
			tables[i]->added_to_publication = true;
		}
	}
	ok = publication_rels(conn, name, tables, n);
done:
	PQfreemem(pub);
	buf_free(&sql);
	return ok;
}

bool
publication_drop(PGconn *conn, const char *name, bool *dropped)
{
	bool		exists;
	bool		all;
	char	   *pub;
	char		sql[512];
	bool		ok;

	*dropped = false;
	if (!publication_exists(conn, name, &exists, &all))
		return false;
	if (!exists)
		return true;
	pub = pgc_ident(conn, name);
	if (pub == NULL)
		return false;
	snprintf(sql, sizeof(sql), "DROP PUBLICATION %s", pub);
	PQfreemem(pub);
	ok = pgc_command(conn, "dropping the publication", sql);
	*dropped = ok;
	return ok;
}

bool
publication_fits(PGconn *conn, int server_version, const char *pub, sp_table *const *tables,
				 int ntables, bool warn_truncate)
{
	const char *p[2] = {pub, NULL};
	PGresult   *res = pgc_query(conn, "reading the publication", server_version >= 130000 ?
								"SELECT pubinsert AND pubupdate AND pubdelete, pubtruncate, "
								"pubviaroot FROM pg_catalog.pg_publication WHERE pubname = $1" :
								"SELECT pubinsert AND pubupdate AND pubdelete, pubtruncate, true "
								"FROM pg_catalog.pg_publication WHERE pubname = $1", 1, p);
	bool		ok = true;
	buf_t		oids;

	if (res == NULL)
		return false;
	for (int i = 0; i < ntables && ok && PQntuples(res) == 1; i++)
		if (tables[i]->relkind == 'p' && PQgetvalue(res, 0, 2)[0] != 't')
		{
			char	   *q = pgc_ident(conn, pub);

			err_set(ERR_CONFIG, NULL, "publication \"%s\" does not publish partitioned table "
					"%s.%s through its root, so its changes would be missed: ALTER PUBLICATION "
					"%s SET (publish_via_partition_root = true)", pub, tables[i]->ns,
					tables[i]->name, q ? q : pub);
			PQfreemem(q);
			ok = false;
		}
	if (ok && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] != 't')
	{
		err_set(ERR_CONFIG, NULL, "publication \"%s\" does not publish every INSERT, UPDATE and "
				"DELETE, so changes would be missed: ALTER PUBLICATION ... SET (publish = "
				"'insert, update, delete, truncate')", pub);
		ok = false;
	}
	else if (ok && warn_truncate && PQntuples(res) == 1 && PQgetvalue(res, 0, 1)[0] != 't')
		log_warn("publication \"%s\" does not publish TRUNCATE: rows a TRUNCATE removes stay in "
				 "the destination; ALTER PUBLICATION ... SET (publish = 'insert, update, delete, "
				 "truncate') to capture it", pub);
	PQclear(res);
	if (!ok || server_version < 150000 || ntables == 0)
		return ok;
	buf_init(&oids, 0);
	buf_putc(&oids, '{');
	for (int i = 0; i < ntables; i++)
		buf_printf(&oids, "%s%u", i ? "," : "", tables[i]->oid);
	buf_putc(&oids, '}');
	p[1] = oids.data;
	res = pgc_query(conn, "reading the publication's tables",
					"SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), pr.prqual IS NOT NULL "
					"FROM pg_catalog.pg_publication_rel pr "
					"JOIN pg_catalog.pg_publication pb ON pb.oid = pr.prpubid "
					"JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid "
					"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
					"WHERE pb.pubname = $1 AND pr.prrelid = ANY($2::pg_catalog.oid[]) "
					"AND (pr.prqual IS NOT NULL OR pr.prattrs IS NOT NULL) ORDER BY 1 LIMIT 1", 2, p);
	buf_free(&oids);
	if (res == NULL)
		return false;
	ok = PQntuples(res) == 0;
	if (!ok)
		err_set(ERR_CONFIG, NULL, "publication \"%s\" publishes %s with a %s, so changes to the "
				"rest would be missed: ALTER PUBLICATION ... SET TABLE it without one, or let the "
				"connector create its own publication", pub, PQgetvalue(res, 0, 0),
				PQgetvalue(res, 0, 1)[0] == 't' ? "row filter (WHERE)" : "column list");
	PQclear(res);
	return ok;
}
