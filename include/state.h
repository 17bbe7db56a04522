/*
 * state.h: the read's input state (what Airbyte passes with --state) and the shape of the GLOBAL
 * state we emit. The LSN is kept as text in the JSON ("16/B374D848") so no digit is ever lost.
 *
 *   {"type":"GLOBAL","global":{
 *      "shared_state":{"state_version":1,"lsn":"0/1A2B3C","slot":"sp_slot","publication":"sp_pub"},
 *      "stream_states":[{"stream_descriptor":{"name":"users","namespace":"public"},
 *                        "stream_state":{"phase":"backfill","cursor":["41"]}}, ...]}}
 *
 * phase "backfill": rows after `cursor` (the key columns' text values; null before the first chunk;
 * with "cursor_key", the key's columns and types, so a changed key is noticed), or
 * {"ctid_block":N,"relation_filenode":F} for keyless tables, remain to be copied; phase
 * "streaming": backfill done. "table_oid" tells a table dropped and created again under the same
 * name from the one the state was made with; "changes_from" (an LSN, while ahead of the state's)
 * drops the older changes of a table backfilled again.
 */
#ifndef SP_STATE_H
#define SP_STATE_H

#include <jansson.h>
#include <stdbool.h>

#include "pgoutput.h"

typedef struct stream_state
{
	char	   *ns;
	char	   *name;
	bool		streaming;		/* backfill complete */
	int			ncursor;		/* key values of the last copied row; 0 = from the start */
	char	  **cursor;
	char	   *cursor_key;		/* the key the cursor is of: "name" type, ... (NULL: unknown) */
	long long	ctid_block;		/* keyless tables: next heap block to copy (-1 when unused) */
	long long	ctid_filenode;	/* the table's relfilenode those blocks belong to (0: unknown) */
	uint32_t	table_oid;		/* the table this state is of (0: unknown) */
	uint32_t	publication_rel;	/* its pg_publication_rel row (0: none, or unknown): another
									 * means it left the publication and came back since */
	pg_lsn		changes_from;	/* a table backfilled again: its changes committed before this
								 * are in the copy, and older ones were partly never decoded */
	/*
	 * A keyless table backfilled again: the snapshot its copy began in ("xmin:xmax:xip,...").
	 * Until the stream passes changes_from, its changes are those of the transactions that
	 * snapshot does not see (the others are in the copy). NULL: changes_from alone.
	 */
	char	   *copy_snapshot;
	char	   *partitions;		/* a partitioned table: its leaves' fingerprint (see catalog.h) */
} stream_state;

typedef struct sp_state
{
	json_t	   *per_stream;		/* Xmin/Standard: the STREAM state messages given (owned), or NULL */
	bool		present;		/* a GLOBAL state was given */
	pg_lsn		lsn;
	char	   *slot;			/* the slot the state was made with, or NULL */
	char	   *system_id;		/* the system identifier of its server, or NULL (older states) */
	int			nstreams;
	stream_state *streams;
} sp_state;

/*
 * Load the --state file (path may be NULL: no state). Accepts a JSON array of AirbyteStateMessage
 * objects, a single one, or an AirbyteMessage of type STATE. False (config_error recorded) when it
 * is malformed.
 */
bool		state_load(const char *path, sp_state *out);
/* The same from parsed JSON (borrowed). */
bool		state_parse(const json_t *root, sp_state *out);
void		state_free(sp_state *st);
/*
 * Xmin/Standard: the stream_state object saved for this stream, or NULL (borrowed). A saved
 * stream without a namespace is the configured stream without one (ns_given false), whichever
 * schema it was found in, never a table of that name in another schema.
 */
const json_t *state_per_stream(const sp_state *st, const char *ns, const char *name, bool ns_given);
/* The state of this stream, or NULL (borrowed). */
const stream_state *state_find(const sp_state *st, const char *ns, const char *name);

/* JSON for one stream's stream_state (new reference). */
json_t	   *state_stream_json(const stream_state *ss);
/*
 * A whole GLOBAL state object (steals stream_states, a JSON array of entries); new reference.
 * system_id (the server's, as text) may be NULL: then it is left out.
 */
json_t	   *state_global_json(pg_lsn lsn, const char *slot, const char *publication,
							  const char *system_id, json_t *stream_states, long long record_count);

#endif
