/*
 * check.c: the check command. Always ends with one CONNECTION_STATUS; FAILED names the problem
 * and the SQL or setting that fixes it. Each probe is one function returning NULL on success or
 * the failure text.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airbyte.h"
#include "buf.h"
#include "catalog.h"
#include "commands.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "pgconn.h"
#include "slot.h"

static char fail_msg[2048];

static const char *
failf(const char *fmt,...) __attribute__((format(printf, 1, 2)));

static const char *
failf(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
	va_end(ap);
	return fail_msg;
}

/* The error recorded by a helper, as a FAILED message. */
static const char *
fail_from_err(void)
{
	failf("%s", err_message());
	err_clear();
	return fail_msg;
}

static const char *
check_server(PGconn *conn)
{
	int			v = PQserverVersion(conn);

	if (v < 120000)
		return failf("PostgreSQL %d.%d is not supported: source-postgres needs PostgreSQL 12 or later",
					 v / 10000, v % 10000 / 100);
	return NULL;
}

static const char *
check_wal_level(PGconn *conn)
{
	return wal_level_logical(conn) ? NULL : fail_from_err();
}

static const char *
check_role(PGconn *conn, const config_t *cfg)
{
	PGresult   *res = pgc_query(conn, "reading the role's attributes",
								"SELECT r.rolreplication OR r.rolsuper OR "
								"  coalesce((SELECT pg_has_role(r.oid, m.oid, 'member') FROM pg_roles m "
								"            WHERE m.rolname = 'rds_replication'), false) "
								"FROM pg_roles r WHERE r.rolname = current_user", 0, NULL);
	const char *r = NULL;

	if (res == NULL)
		return fail_from_err();
	if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't')
	{
		char	   *q = pgc_ident(conn, cfg->username);

		r = failf("role %s lacks REPLICATION, which CDC needs: ALTER ROLE %s REPLICATION "
				  "(on Amazon RDS: GRANT rds_replication TO %s)", q ? q : cfg->username,
				  q ? q : cfg->username, q ? q : cfg->username);
		PQfreemem(q);
	}
	PQclear(res);
	return r;
}

static const char *
check_replication_connection(const config_t *cfg)
{
	PGconn	   *repl = pgc_connect(cfg, true);
	PGresult   *res;
	const char *r = NULL;

	if (repl == NULL)
	{
		err_clear();
		return failf("%s", pgc_last_connect_error());
	}
	res = pgc_query(repl, "IDENTIFY_SYSTEM", "IDENTIFY_SYSTEM", 0, NULL);
	if (res == NULL)
		r = fail_from_err();
	else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 3))
		r = failf("the replication connection is not bound to database \"%s\"; the server must "
				  "accept replication=database connections", cfg->database);
	PQclear(res);
	PQfinish(repl);
	return r;
}

static const char *
check_slot(PGconn *conn, const config_t *cfg)
{
	slot_info	s;
	PGresult   *res;
	const char *r = NULL;

	if (!slot_get(conn, cfg->replication_slot, &s))
		return fail_from_err();
	if (s.exists)
	{
		char		why[512];

		if (slot_foreign(&s, cfg->replication_slot, cfg->database, why, sizeof(why)))
			return failf("%s", why);
		if (strcmp(s.wal_status, "lost") == 0)
			return failf("replication slot \"%s\" has lost required WAL (wal_status = lost); drop "
						 "it and re-sync: SELECT pg_drop_replication_slot('%s')",
						 cfg->replication_slot, cfg->replication_slot);
		return NULL;
	}
	res = pgc_query(conn, "counting replication slots",
					"SELECT count(*) < current_setting('max_replication_slots')::int "
					"FROM pg_replication_slots", 0, NULL);
	if (res == NULL)
		return fail_from_err();
	if (PQgetvalue(res, 0, 0)[0] != 't')
		r = failf("replication slot \"%s\" does not exist and cannot be created: all "
				  "max_replication_slots are in use; raise max_replication_slots or drop an unused "
				  "slot", cfg->replication_slot);
	PQclear(res);
	return r;
}

/*
 * The publication a read would use or make. Missing, the read creates it FOR TABLE the tables it
 * captures, which needs the CREATE privilege and ownership of them: a role that owns none of the
 * tables it could capture would fail every read. Existing, it must publish every change of the
 * tables in it that a read would capture (publication_fits, as a read checks), and a role that
 * does not own it cannot add tables to it: one that holds none of them would fail every read.
 */
static const char *
check_publication(PGconn *conn, const config_t *cfg, sp_catalog *cat)
{
	bool		exists;
	bool		all;
	PGresult   *res = NULL;
	const char *r = NULL;
	char	   *q = NULL;
	sp_table  **tables;			/* the tables a read could capture */
	int			n = 0;
	int			inpub = 0;		/* of those, in the publication */
	buf_t		oids;

	if (!publication_exists(conn, cfg->publication, &exists, &all))
		return fail_from_err();
	tables = calloc((size_t) cat->ntables + 1, sizeof(sp_table *));
	if (tables == NULL)
		abort();
	buf_init(&oids, 0);
	buf_putc(&oids, '{');
	for (int i = 0; i < cat->ntables; i++)
		if (table_cdc_capable(&cat->tables[i]))
		{
			buf_printf(&oids, "%s%u", n ? "," : "", cat->tables[i].oid);
			tables[n++] = &cat->tables[i];
			inpub += cat->tables[i].in_publication;
		}
	buf_putc(&oids, '}');
	q = pgc_ident(conn, cfg->publication);
	if (exists)
	{
		/* the actions it publishes: every read needs them all */
		if (!publication_fits(conn, PQserverVersion(conn), cfg->publication, NULL, 0, true))
		{
			r = fail_from_err();
			goto done;
		}
		/*
		 * A table it would leave changes of out (a partitioned one not published through its
		 * root, one with a row filter): a read of that table fails, but check does not know
		 * which tables a read selects
		 */
		if (!publication_fits(conn, PQserverVersion(conn), cfg->publication, tables, n, false))
		{
			if (err_get_kind() != ERR_CONFIG)
			{
				r = fail_from_err();
				goto done;
			}
			log_warn("%s (a read capturing that table fails)", err_message());
			err_clear();
		}
		if (all || inpub > 0 || n == 0)
			goto done;
		res = pgc_query(conn, "reading the publication's owner",
						"SELECT pg_catalog.pg_has_role(pubowner, 'USAGE') FROM "
						"pg_catalog.pg_publication WHERE pubname = $1", 1,
						(const char *const[]) {cfg->publication});
		if (res == NULL)
			r = fail_from_err();
		else if (PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] != 't')
			r = failf("publication \"%s\" holds none of the %d table(s) the role could capture, "
					  "and the role does not own it, so it cannot add them: as its owner, "
					  "ALTER PUBLICATION %s ADD TABLE <the tables to sync>", cfg->publication, n,
					  q ? q : cfg->publication);
		goto done;
	}
	res = pgc_query(conn, "checking the CREATE privilege",
					"SELECT has_database_privilege(current_database(), 'CREATE')", 0, NULL);
	if (res == NULL)
	{
		r = fail_from_err();
		goto done;
	}
	if (PQgetvalue(res, 0, 0)[0] != 't')
	{
		r = failf("publication \"%s\" does not exist and the role may not create it; create it "
				  "as the tables' owner: CREATE PUBLICATION %s FOR TABLE <the tables to sync>",
				  cfg->publication, q ? q : cfg->publication);
		goto done;
	}
	PQclear(res);
	res = NULL;
	if (n == 0)
		goto done;				/* check_tables says what is wrong */
	res = pgc_query(conn, "checking the ownership of the tables",
					"SELECT count(*) FROM pg_catalog.pg_class WHERE oid = ANY($1::pg_catalog.oid[]) "
					"AND pg_catalog.pg_has_role(relowner, 'USAGE')", 1,
					(const char *const[]) {oids.data});
	if (res == NULL)
		r = fail_from_err();
	else if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
		r = failf("publication \"%s\" does not exist, and the role may not create it: CREATE "
				  "PUBLICATION needs ownership of the tables, and the role owns none of the %d "
				  "it could capture; as their owner, CREATE PUBLICATION %s FOR TABLE <the tables "
				  "to sync> WITH (publish_via_partition_root = true)", cfg->publication, n,
				  q ? q : cfg->publication);
done:
	PQclear(res);
	PQfreemem(q);
	buf_free(&oids);
	free(tables);
	return r;
}

static const char *
check_tables(PGconn *conn, const config_t *cfg, const sp_catalog *cat)
{
	const char *r = NULL;

	if (cfg->n_schemas > 0)
	{
		/* a schema named wrong (the names are case-sensitive) would silently give no tables */
		buf_t		names;
		PGresult   *res;

		buf_init(&names, 0);
		buf_putc(&names, '{');
		for (size_t i = 0; i < cfg->n_schemas; i++)
		{
			buf_puts(&names, i ? ",\"" : "\"");
			for (const char *c = cfg->schemas[i]; *c; c++)
			{
				if (*c == '"' || *c == '\\')
					buf_putc(&names, '\\');
				buf_putc(&names, *c);
			}
			buf_putc(&names, '"');
		}
		buf_putc(&names, '}');
		res = pgc_query(conn, "looking for the schemas",
						"SELECT string_agg(pg_catalog.quote_ident(s), ', ' ORDER BY s) FROM "
						"unnest($1::text[]) AS s WHERE NOT EXISTS (SELECT 1 FROM "
						"pg_catalog.pg_namespace WHERE nspname = s)", 1,
						(const char *const[]) {names.data});
		buf_free(&names);
		if (res == NULL)
			return fail_from_err();
		if (!PQgetisnull(res, 0, 0))
			r = failf("schemas lists %s, which database \"%s\" does not have: correct the name "
					  "(names are case-sensitive) or remove it from schemas", PQgetvalue(res, 0, 0),
					  cfg->database);
		PQclear(res);
		if (r)
			return r;
	}
	if (cat->ntables == 0)
	{
		char	   *q = cfg->n_schemas ? pgc_ident(conn, cfg->schemas[0]) : NULL;
		char	   *u = pgc_ident(conn, cfg->username);

		r = failf("no table the role can read in schemas [%s%s]; grant access: GRANT USAGE ON "
				  "SCHEMA %s TO %s; GRANT SELECT ON ALL TABLES IN SCHEMA %s TO %s",
				  cfg->n_schemas ? cfg->schemas[0] : "all", cfg->n_schemas > 1 ? ", ..." : "",
				  q ? q : "<schema>", u ? u : "", q ? q : "<schema>", u ? u : "");
		PQfreemem(q);
		PQfreemem(u);
	}
	return r;
}

/*
 * heartbeat_action_query run once as reads run it (PostgreSQL's default search_path), in a
 * transaction rolled back, so a typo or a missing privilege fails here rather than in the next
 * read.
 */
static const char *
check_heartbeat(PGconn *conn, const config_t *cfg)
{
	char		code[6];
	char		msg[512];
	PGresult   *res;
	const char *failure = NULL;

	if (cfg->heartbeat_action_query == NULL || cfg->heartbeat_action_query[0] == '\0')
		return NULL;
	if (!pgc_command(conn, "setting the heartbeat's search_path", "SET search_path = \"$user\", public") ||
		!pgc_command(conn, "starting a transaction for the heartbeat", "BEGIN"))
		return fail_from_err();
	res = pgc_try(conn, cfg->heartbeat_action_query, 0, NULL, code, msg, sizeof(msg));
	if (res == NULL)
		failure = failf("heartbeat_action_query fails: %s (SQLSTATE %s); fix the query, or leave "
						"it empty", msg, code);
	PQclear(res);
	PQclear(PQexec(conn, "ROLLBACK"));
	PQclear(PQexec(conn, "RESET search_path"));
	return failure;
}

bool
cmd_check(const cli_args *args)
{
	config_t	cfg;
	PGconn	   *conn = NULL;
	const char *failure = NULL;
	sp_catalog	cat = {0};

	config_init(&cfg);
	if (!config_load(args->config, &cfg))
	{
		/* check reports config problems as a FAILED status, exit 0 */
		failure = fail_from_err();
		goto done;
	}
	conn = pgc_connect(&cfg, false);
	if (conn == NULL)
	{
		err_clear();
		failure = failf("%s", pgc_last_connect_error());
		goto done;
	}
	if ((failure = check_server(conn)) != NULL)
		goto done;
	if (!catalog_load(conn, &cfg, &cat))
	{
		failure = fail_from_err();
		goto done;
	}
	if (cfg.method == REPL_CDC)
	{
		if ((failure = check_wal_level(conn)) != NULL ||
			(failure = check_role(conn, &cfg)) != NULL ||
			(failure = check_replication_connection(&cfg)) != NULL ||
			(failure = check_slot(conn, &cfg)) != NULL ||
			(failure = check_publication(conn, &cfg, &cat)) != NULL ||
			(failure = check_heartbeat(conn, &cfg)) != NULL)
			goto done;
	}
	failure = check_tables(conn, &cfg, &cat);

done:
	ab_connection_status(failure == NULL, failure);
	catalog_free(&cat);
	PQfinish(conn);
	config_free(&cfg);
	return true;
}
