/*
 * discover.c: the spec and discover commands.
 */
#include <stdio.h>
#include <stdlib.h>

#include "airbyte.h"
#include "catalog.h"
#include "log.h"
#include "commands.h"
#include "config.h"
#include "error.h"
#include "pgconn.h"

bool
cmd_spec(const cli_args *args)
{
	json_error_t jerr;
	json_t	   *spec = json_loadb(sp_spec_json, sp_spec_json_len, 0, &jerr);

	if (spec == NULL)
	{
		err_set(ERR_SYSTEM, jerr.text, "the embedded spec is not valid JSON");
		return false;
	}
	ab_emit(json_pack("{s:s,s:o}", "type", "SPEC", "spec", spec));
	return true;
}

bool
cmd_discover(const cli_args *args)
{
	config_t	cfg;
	PGconn	   *conn = NULL;
	sp_catalog	cat = {0};
	json_t	   *streams;
	bool		ok = false;

	config_init(&cfg);
	if (!config_load(args->config, &cfg))
		goto done;
	conn = pgc_connect(&cfg, false);
	if (conn == NULL || !catalog_load(conn, &cfg, &cat))
		goto done;
	streams = json_array();
	for (int i = 0; i < cat.ntables; i++)
	{
		/* no column to read (none the role may, or only generated ones in CDC): no stream */
		if (cat.tables[i].ncols == 0)
			log_info("%s.%s has no column the role can read%s: it is not a stream",
					 cat.tables[i].ns, cat.tables[i].name,
					 cfg.method == REPL_CDC ? " (stored generated columns are left out in CDC mode)" : "");
		else
			json_array_append_new(streams, table_stream_json(&cat.tables[i], &cfg));
	}
	ab_emit(json_pack("{s:s,s:{s:o}}", "type", "CATALOG", "catalog", "streams", streams));
	ok = true;
done:
	catalog_free(&cat);
	PQfinish(conn);
	config_free(&cfg);
	return ok;
}
