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
#include "error.h"
#include "log.h"
#include "pgconn.h"

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
	if (!s->logical || strcmp(s->plugin, "pgoutput") != 0)
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
	res = pgc_query(repl, "creating the replication slot", sql, 0, NULL);
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
			buf_puts(&sql, i ? ", " : " FOR TABLE ");
			buf_puts(&sql, qn);
			free(qn);
		}
		if (server_version >= 130000)
			buf_puts(&sql, " WITH (publish_via_partition_root = true)");
		if (!pgc_command(conn, "creating the publication (CREATE PUBLICATION needs the CREATE "
						 "privilege on the database and ownership of the tables)", sql.data))
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
			buf_printf(&sql, "ALTER PUBLICATION %s ADD TABLE %s", pub, qn);
			free(qn);
			if (!pgc_command(conn, "adding a table to the publication (ALTER PUBLICATION needs "
							 "ownership of the publication and of the table)", sql.data))
				goto done;
			log_info("added %s.%s to publication \"%s\"", tables[i]->ns, tables[i]->name, name);
			tables[i]->in_publication = true;
			tables[i]->added_to_publication = true;
		}
	}
	ok = true;
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
