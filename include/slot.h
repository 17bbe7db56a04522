/*
 * slot.h: the replication slot and publication the config names: inspect, create, extend, drop.
 * Shared by check (may they exist / be created?), read (create when missing, add tables) and
 * cleanup (drop exactly these two).
 */
#ifndef SP_SLOT_H
#define SP_SLOT_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "catalog.h"
#include "pgoutput.h"

typedef struct slot_info
{
	bool		exists;
	bool		logical;
	bool		active;
	int			active_pid;		/* the process streaming from it, when active */
	char		plugin[64];
	char		database[128];
	char		wal_status[16];	/* reserved, extended, unreserved, lost (or "" before 13) */
	pg_lsn		restart_lsn;
	pg_lsn		confirmed_flush;
} slot_info;

/* Whether the server's wal_level is logical; false with a config error naming the fix if not. */
bool		wal_level_logical(PGconn *conn);

/* Read the slot's row from pg_replication_slots. False (error recorded) if the query fails. */
bool		slot_get(PGconn *conn, const char *name, slot_info *out);

/*
 * Whether an existing slot is not one this connector can read (another plugin, or another
 * database): then msg gets what is wrong and the fix.
 */
bool		slot_foreign(const slot_info *s, const char *name, const char *database, char *msg,
						 size_t n);

/*
 * How long a read or cleanup waits for a slot still held by another process. A killed run's
 * walsender lets go as soon as it notices its client is gone; one whose client vanished without
 * closing its socket holds on until wal_sender_timeout (60 s by default), not waited out here.
 */
#define SLOT_RELEASE_WAIT_MS 30000

/*
 * While the slot is active (another process streams from it: often the walsender of a run that
 * was just killed, which exits once it notices), poll it for up to max_ms, or until a stop is
 * requested. Refreshes *out (the caller checks out->active); false only if a query fails.
 */
bool		slot_wait_released(PGconn *conn, const char *name, int max_ms, slot_info *out);

/*
 * CREATE_REPLICATION_SLOT ... LOGICAL pgoutput over a replication connection. With snapshot, the
 * slot's snapshot (of exactly its consistent point) is exported and its name written there (at
 * most snapshot_len bytes): other sessions can import it (SET TRANSACTION SNAPSHOT) until the
 * next command on repl, or until repl is closed.
 */
bool		slot_create(PGconn *repl, const char *name, pg_lsn *consistent_point, char *snapshot,
						size_t snapshot_len);

/* pg_drop_replication_slot(name); *dropped says whether it existed. */
bool		slot_drop(PGconn *conn, const char *name, bool *dropped);

/* Whether the publication exists. */
bool		publication_exists(PGconn *conn, const char *name, bool *exists, bool *all_tables);

/*
 * Make the publication cover these tables: create it (FOR TABLE ..., publish_via_partition_root)
 * when missing, else ALTER PUBLICATION ... ADD TABLE for each table not yet in it. Never removes.
 */
bool		publication_ensure(PGconn *conn, const char *name, sp_table *const *tables, int n,
							   int server_version);

/*
 * Whether an existing publication (someone may have made it) publishes every change of these
 * tables: not so for a partitioned table's without publish_via_partition_root (they come under
 * its partitions' names), for actions it does not publish (publish = 'insert'), or for rows or
 * columns a row filter or a column list (15+) leaves out. False (config error naming the fix) if
 * not; a publication without TRUNCATE is only warned about (with warn_truncate).
 */
bool		publication_fits(PGconn *conn, int server_version, const char *pub,
							 sp_table *const *tables, int ntables, bool warn_truncate);

/* DROP PUBLICATION IF EXISTS; *dropped says whether it existed. */
bool		publication_drop(PGconn *conn, const char *name, bool *dropped);

#endif
