/*
 * cleanup.c: the cleanup command. Drops the replication slot and the publication the config
 * names, only those, and says what it did.
 */
#include <stdio.h>

#include "airbyte.h"
#include "commands.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "pgconn.h"
#include "slot.h"

bool
cmd_cleanup(const cli_args *args)
{
	config_t	cfg;
	PGconn	   *conn = NULL;
	bool		ok = false;
	bool		dropped;

	config_init(&cfg);
	if (!config_load(args->config, &cfg))
		goto done;
	if (cfg.method != REPL_CDC)
	{
		log_info("replication_method is not CDC: there is no slot or publication to drop");
		ok = true;
		goto done;
	}
	conn = pgc_connect(&cfg, false);
	if (conn == NULL)
		goto done;
	if (!slot_drop(conn, cfg.replication_slot, &dropped))
		goto done;
	log_info(dropped ? "dropped replication slot \"%s\"" : "replication slot \"%s\" did not exist",
			 cfg.replication_slot);
	if (!publication_drop(conn, cfg.publication, &dropped))
		goto done;
	log_info(dropped ? "dropped publication \"%s\"" : "publication \"%s\" did not exist",
			 cfg.publication);
	ok = true;
done:
	PQfinish(conn);
	config_free(&cfg);
	return ok;
}
