/*
 * cleanup.c: the cleanup command. Drops the replication slot and the publication the config
 * names, only those, and says what it did. A slot of that name that a read would refuse as
 * another tool's (another plugin, another database) is left alone, with a warning.
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
	slot_info	slot;
	char		why[512];

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
	if (!slot_get(conn, cfg.replication_slot, &slot))
		goto done;
	if (slot.exists && slot_foreign(&slot, cfg.replication_slot, cfg.database, why, sizeof(why)))
	{
		/* another tool's slot (another plugin, another database): not ours to drop */
		log_warn("not dropping replication slot \"%s\": %s", cfg.replication_slot, why);
	}
	else if (slot.exists)
	{
		/* a run just killed may still hold it for a moment: wait as a read does */
		if (!slot_wait_released(conn, cfg.replication_slot, SLOT_RELEASE_WAIT_MS, &slot))
			goto done;
		if (slot.exists && slot.active)
		{
			err_set(ERR_TRANSIENT, NULL, "replication slot \"%s\" is in use by process %d: stop "
					"the read using it (or wait for wal_sender_timeout to end a vanished one), "
					"then run cleanup again", cfg.replication_slot, slot.active_pid);
			goto done;
		}
		if (!slot_drop(conn, cfg.replication_slot, &dropped))
			goto done;
		log_info(dropped ? "dropped replication slot \"%s\"" : "replication slot \"%s\" did not exist",
				 cfg.replication_slot);
	}
	else
		log_info("replication slot \"%s\" did not exist", cfg.replication_slot);
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
