/*
 * state.c: parse the input state and build the GLOBAL state we emit (see state.h).
 */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "log.h"

static bool
bad_state(const char *what)
{
	err_set(ERR_CONFIG, NULL, "the state is not one this connector wrote: %s; pass the last "
			"STATE this connector emitted, or none to start over", what);
	return false;
}

static char *
dupstr(const char *s)
{
	char	   *d = strdup(s);

	if (d == NULL)
		abort();
	return d;
}

static bool
parse_stream(const json_t *entry, stream_state *ss)
{
	const json_t *desc = json_object_get(entry, "stream_descriptor");
	const json_t *name = json_object_get(desc, "name");
	const json_t *ns = json_object_get(desc, "namespace");
	const json_t *s = json_object_get(entry, "stream_state");
	const json_t *phase = json_object_get(s, "phase");
	const json_t *cursor = json_object_get(s, "cursor");
	const json_t *block = json_object_get(s, "ctid_block");
	const json_t *filenode = json_object_get(s, "relation_filenode");
	const json_t *key = json_object_get(s, "cursor_key");
	const json_t *oid = json_object_get(s, "table_oid");
	const json_t *prel = json_object_get(s, "publication_rel");
	const json_t *from = json_object_get(s, "changes_from");
	const json_t *snap = json_object_get(s, "copy_snapshot");
	const json_t *parts = json_object_get(s, "partitions");

	memset(ss, 0, sizeof(*ss));
	ss->ctid_block = -1;
	if (!json_is_string(name))
		return bad_state("a stream_states entry has no stream_descriptor.name");
	ss->name = dupstr(json_string_value(name));
	ss->ns = dupstr(json_is_string(ns) ? json_string_value(ns) : "public");
	if (!json_is_string(phase))
		return bad_state("a stream_state has no phase");
	if (strcmp(json_string_value(phase), "streaming") == 0)
		ss->streaming = true;
	else if (strcmp(json_string_value(phase), "backfill") != 0)
		return bad_state("a stream_state phase is neither backfill nor streaming");
	if (json_is_array(cursor) && json_array_size(cursor) > 0)
	{
		size_t		n = json_array_size(cursor);

		ss->cursor = calloc(n, sizeof(char *));
		if (ss->cursor == NULL)
			abort();
		for (size_t i = 0; i < n; i++)
		{
			const json_t *v = json_array_get(cursor, i);

			if (!json_is_string(v))
				return bad_state("a backfill cursor value is not a string");
			ss->cursor[i] = dupstr(json_string_value(v));
			ss->ncursor++;
		}
	}
	else if (cursor != NULL && !json_is_null(cursor) && !json_is_array(cursor))
		return bad_state("a backfill cursor is not an array");
	if (json_is_integer(block))
		ss->ctid_block = json_integer_value(block);
	if (json_is_integer(filenode) && json_integer_value(filenode) > 0)
		ss->ctid_filenode = json_integer_value(filenode);
	if (json_is_string(key))
		ss->cursor_key = dupstr(json_string_value(key));
	if (json_is_integer(oid) && json_integer_value(oid) > 0 && json_integer_value(oid) <= UINT32_MAX)
		ss->table_oid = (uint32_t) json_integer_value(oid);
	if (json_is_integer(prel) && json_integer_value(prel) > 0 && json_integer_value(prel) <= UINT32_MAX)
		ss->publication_rel = (uint32_t) json_integer_value(prel);
	if (from != NULL && (!json_is_string(from) || !pgo_lsn_parse(json_string_value(from), &ss->changes_from)))
		return bad_state("a stream_state's changes_from is not an LSN");
	if (snap != NULL)
	{
		/* xmin:xmax:xip,... as pg_current_snapshot() gives it */
		const char *v = json_is_string(snap) ? json_string_value(snap) : "";

		if (strspn(v, "0123456789:,") != strlen(v) || strchr(v, ':') == NULL || ss->changes_from == 0)
			return bad_state("a stream_state's copy_snapshot is not a snapshot (or has no changes_from)");
		ss->copy_snapshot = dupstr(v);
	}
	if (json_is_string(parts))
		ss->partitions = dupstr(json_string_value(parts));
	return true;
}

bool
state_parse(const json_t *root, sp_state *out)
{
	const json_t *msg = root;
	const json_t *global;
	const json_t *shared;
	const json_t *lsn;
	const json_t *streams;
	const json_t *slot;
	const json_t *sysid;

	memset(out, 0, sizeof(*out));
	if (!json_is_array(root) && !json_is_object(root))
		return bad_state("it is neither a JSON array nor an object");
	/*
	 * An array of AirbyteStateMessage state objects, as Airbyte passes it, or a single one; each
	 * may also be a whole {"type": "STATE", "state": ...} message. The last GLOBAL entry wins;
	 * STREAM entries are kept for Xmin and Standard streams.
	 */
	msg = NULL;
	for (size_t i = 0; i < (json_is_array(root) ? json_array_size(root) : 1); i++)
	{
		const json_t *m = json_is_array(root) ? json_array_get(root, i) : root;
		const json_t *t = json_object_get(m, "type");
		const char *type;

		if (json_is_string(t) && strcmp(json_string_value(t), "STATE") == 0)
		{
			m = json_object_get(m, "state");
			t = json_object_get(m, "type");
		}
		if (json_is_null(m))
			continue;
		if (!json_is_object(m))
			return bad_state("an entry is not a JSON object");
		if (json_object_size(m) == 0)
			continue;
		/* without a type (an older Airbyte), what it holds says which it is: LEGACY has "data" */
		type = json_is_string(t) ? json_string_value(t) :
			json_object_get(m, "global") ? "GLOBAL" : json_object_get(m, "stream") ? "STREAM" :
			json_object_get(m, "data") ? "LEGACY" : "";
		if (strcmp(type, "GLOBAL") == 0)
			msg = m;
		else if (strcmp(type, "STREAM") == 0)
		{
			if (!json_is_object(json_object_get(json_object_get(m, "stream"), "stream_descriptor")))
				return bad_state("a STREAM state has no stream.stream_descriptor");
			if (out->per_stream == NULL)
				out->per_stream = json_array();
			json_array_append(out->per_stream, (json_t *) m);
		}
		else if (strcmp(type, "LEGACY") == 0)
			log_warn("ignoring a LEGACY state entry: this connector never wrote one");
		else
			return bad_state("an entry is neither a GLOBAL, a STREAM nor a LEGACY state");
	}
	if (msg == NULL)
		return true;
	global = json_object_get(msg, "global");
	if (!json_is_object(global))
		return bad_state("it has no \"global\" object");
	shared = json_object_get(global, "shared_state");
	lsn = json_object_get(shared, "lsn");
	if (!json_is_string(lsn) || !pgo_lsn_parse(json_string_value(lsn), &out->lsn))
		return bad_state("shared_state.lsn is missing or not an LSN like \"0/16B3748\"");
	slot = json_object_get(shared, "slot");
	if (json_is_string(slot))
		out->slot = dupstr(json_string_value(slot));
	sysid = json_object_get(shared, "system_identifier");
	if (sysid != NULL && !json_is_null(sysid))
	{
		const char *v = json_string_value(sysid);

		const char *digits = v != NULL && v[0] == '-' ? v + 1 : v;

		/* PostgreSQL shows it as a signed bigint: negative from 2038 on, or set so by a tool */
		if (v == NULL || digits[0] == '\0' || strlen(digits) > 20 ||
			strspn(digits, "0123456789") != strlen(digits))
			return bad_state("shared_state.system_identifier is not a server's system identifier "
							 "(a decimal number as text)");
		out->system_id = dupstr(v);
	}
	streams = json_object_get(global, "stream_states");
	if (streams != NULL && !json_is_array(streams))
		return bad_state("global.stream_states is not an array");
	out->present = true;
	if (streams)
	{
		size_t		n = json_array_size(streams);

		out->streams = calloc(n ? n : 1, sizeof(stream_state));
		if (out->streams == NULL)
			abort();
		for (size_t i = 0; i < n; i++)
		{
			out->nstreams++;
			if (!parse_stream(json_array_get(streams, i), &out->streams[i]))
				return false;
		}
	}
	return true;
}

bool
state_load(const char *path, sp_state *out)
{
	json_t	   *root;
	bool		ok;

	memset(out, 0, sizeof(*out));
	if (path == NULL)
		return true;
	root = json_file_load(path, "state", JSON_DECODE_ANY);
	if (root == NULL)
		return false;
	ok = state_parse(root, out);
	json_decref(root);
	return ok;
}

void
state_free(sp_state *st)
{
	for (int i = 0; i < st->nstreams; i++)
	{
		stream_state *ss = &st->streams[i];

		for (int k = 0; k < ss->ncursor; k++)
			free(ss->cursor[k]);
		free(ss->cursor);
		free(ss->cursor_key);
		free(ss->copy_snapshot);
		free(ss->partitions);
		free(ss->ns);
		free(ss->name);
	}
	free(st->streams);
	free(st->slot);
	free(st->system_id);
	json_decref(st->per_stream);
	memset(st, 0, sizeof(*st));
}

const json_t *
state_per_stream(const sp_state *st, const char *ns, const char *name, bool ns_given)
{
	size_t		i;
	const json_t *m;

	json_array_foreach(st->per_stream, i, m)
	{
		const json_t *s = json_object_get(m, "stream");
		const json_t *d = json_object_get(s, "stream_descriptor");
		const json_t *dn = json_object_get(d, "name");
		const json_t *dns = json_object_get(d, "namespace");

		if (json_is_string(dn) && strcmp(json_string_value(dn), name) == 0 &&
			(json_is_string(dns) ? strcmp(json_string_value(dns), ns) == 0 : !ns_given))
			return json_object_get(s, "stream_state");
	}
	return NULL;
}

const stream_state *
state_find(const sp_state *st, const char *ns, const char *name)
{
	for (int i = 0; i < st->nstreams; i++)
		if (strcmp(st->streams[i].ns, ns) == 0 && strcmp(st->streams[i].name, name) == 0)
			return &st->streams[i];
	return NULL;
}

json_t *
state_stream_json(const stream_state *ss)
{
	json_t	   *s = json_pack("{s:s}", "phase", ss->streaming ? "streaming" : "backfill");

	if (!ss->streaming)
	{
		if (ss->ncursor > 0)
		{
			json_t	   *c = json_array();

			for (int i = 0; i < ss->ncursor; i++)
				json_array_append_new(c, json_string(ss->cursor[i]));
			json_object_set_new(s, "cursor", c);
			if (ss->cursor_key)
				json_object_set_new(s, "cursor_key", json_string(ss->cursor_key));
		}
		else
			json_object_set_new(s, "cursor", json_null());
		if (ss->ctid_block >= 0)
			json_object_set_new(s, "ctid_block", json_integer(ss->ctid_block));
		if (ss->ctid_block >= 0 && ss->ctid_filenode > 0)
			json_object_set_new(s, "relation_filenode", json_integer(ss->ctid_filenode));
	}
	if (ss->table_oid > 0)
		json_object_set_new(s, "table_oid", json_integer(ss->table_oid));
	if (ss->publication_rel > 0)
		json_object_set_new(s, "publication_rel", json_integer(ss->publication_rel));
	if (ss->partitions)
		json_object_set_new(s, "partitions", json_string(ss->partitions));
	if (ss->changes_from > 0)
	{
		char		from[18];

		pgo_lsn_format(ss->changes_from, from);
		json_object_set_new(s, "changes_from", json_string(from));
		if (ss->copy_snapshot)
			json_object_set_new(s, "copy_snapshot", json_string(ss->copy_snapshot));
	}
	return json_pack("{s:{s:s,s:s},s:o}", "stream_descriptor", "name", ss->name, "namespace",
					 ss->ns, "stream_state", s);
}

json_t *
state_global_json(pg_lsn lsn, const char *slot, const char *publication, const char *system_id,
				  json_t *stream_states, long long record_count)
{
	char		lsntxt[18];
	json_t	   *st;

	pgo_lsn_format(lsn, lsntxt);
	st = json_pack("{s:s,s:{s:{s:i,s:s,s:s,s:s},s:o},s:{s:I}}",
				   "type", "GLOBAL",
				   "global", "shared_state", "state_version", 1, "lsn", lsntxt,
				   "slot", slot, "publication", publication,
				   "stream_states", stream_states,
				   "sourceStats", "recordCount", (json_int_t) record_count);
	if (st != NULL && system_id != NULL)
		json_object_set_new(json_object_get(json_object_get(st, "global"), "shared_state"),
							"system_identifier", json_string(system_id));
	return st;
}
