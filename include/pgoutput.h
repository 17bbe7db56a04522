/*
 * pgoutput.h: a pure decoder of the streaming replication protocol's CopyData frames and of
 * pgoutput's logical replication messages (protocol versions 1 and 2), mirroring PostgreSQL's
 * logicalproto.h. No I/O, no logging: bytes in, messages out, so it can be fuzzed.
 *
 * Every read is bounds-checked through a cursor with a sticky error flag; a truncated, oversized
 * or lying message is an error (pgo_decode returns false and pgo_error says why), never garbage.
 */
#ifndef SP_PGOUTPUT_H
#define SP_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint32_t pg_oid;
typedef uint64_t pg_lsn;

/* ---- replication CopyData frames ---- */

typedef enum
{
	PGO_FRAME_XLOGDATA = 'w',
	PGO_FRAME_KEEPALIVE = 'k'
} pgo_frame_type;

typedef struct pgo_frame
{
	pgo_frame_type type;
	pg_lsn		wal_start;		/* 'w' only */
	pg_lsn		wal_end;		/* 'w' and 'k' */
	int64_t		send_time;		/* microseconds since 2000-01-01 */
	bool		reply_requested;	/* 'k' only */
	const uint8_t *payload;		/* 'w' only: the pgoutput message; borrowed from the frame */
	size_t		payload_len;
} pgo_frame;

/* Parse one CopyData frame. False (with *err set to a static string) if malformed or unknown. */
bool		pgo_parse_frame(const uint8_t *data, size_t len, pgo_frame *out, const char **err);

/* Build a standby status update ('r', 34 bytes) into out. */
void		pgo_build_status(uint8_t out[34], pg_lsn write, pg_lsn flush, pg_lsn apply,
							 int64_t now_us, bool reply_requested);

/* ---- pgoutput messages ---- */

typedef enum
{
	PGO_BEGIN = 'B',
	PGO_COMMIT = 'C',
	PGO_ORIGIN = 'O',
	PGO_RELATION = 'R',
	PGO_TYPE = 'Y',
	PGO_INSERT = 'I',
	PGO_UPDATE = 'U',
	PGO_DELETE = 'D',
	PGO_TRUNCATE = 'T',
	PGO_MESSAGE = 'M',
	PGO_STREAM_START = 'S',
	PGO_STREAM_STOP = 'E',
	PGO_STREAM_COMMIT = 'c',
	PGO_STREAM_ABORT = 'A'
} pgo_msg_type;

typedef enum
{
	PGO_COL_NULL = 'n',
	PGO_COL_UNCHANGED = 'u',	/* unchanged TOASTed value: never emit as a value */
	PGO_COL_TEXT = 't',
	PGO_COL_BINARY = 'b'
} pgo_col_kind;

/* One column value; data borrows from the decoded message bytes (not NUL-terminated). */
typedef struct pgo_value
{
	pgo_col_kind kind;
	const char *data;
	uint32_t	len;
} pgo_value;

typedef struct pgo_tuple
{
	int			ncols;
	const pgo_value *cols;		/* borrowed from the decoder; valid until the next pgo_decode */
} pgo_tuple;

typedef struct pgo_column
{
	bool		is_key;			/* flags & 1: part of the replica identity */
	char	   *name;
	pg_oid		type_oid;
	int32_t		type_mod;
} pgo_column;

typedef struct pgo_relation
{
	pg_oid		oid;
	char	   *nspname;
	char	   *relname;
	char		replident;		/* 'd' default, 'n' nothing, 'f' full, 'i' index */
	int			ncols;
	pgo_column *cols;
} pgo_relation;

typedef struct pgo_msg
{
	pgo_msg_type type;
	uint32_t	xid;			/* inside a protocol-2 stream block: the streamed transaction; else 0 */
	union
	{
		struct
		{
			pg_lsn		final_lsn;
			int64_t		commit_time;
			uint32_t	xid;
		}			begin;
		struct
		{
			uint8_t		flags;
			pg_lsn		commit_lsn;
			pg_lsn		end_lsn;
			int64_t		commit_time;
		}			commit;
		struct
		{
			pg_lsn		lsn;
			const char *name;
		}			origin;
		const pgo_relation *relation;	/* 'R': the relation now cached (replaces any older one) */
		struct
		{
			pg_oid		oid;
			const char *nspname;
			const char *typname;
		}			type;
		struct
		{
			const pgo_relation *rel;
			pgo_tuple	newtup;
		}			insert;
		struct
		{
			const pgo_relation *rel;
			char		old_kind;	/* 0 (no old tuple), 'K' (old key) or 'O' (old row) */
			pgo_tuple	oldtup;
			pgo_tuple	newtup;
		}			update;
		struct
		{
			const pgo_relation *rel;
			char		old_kind;	/* 'K' or 'O' */
			pgo_tuple	oldtup;
		}			del;
		struct
		{
			uint8_t		options;	/* 1 = CASCADE, 2 = RESTART IDENTITY */
			int			nrels;
			const pg_oid *relids;	/* borrowed from the decoder */
		}			truncate;
		struct
		{
			bool		transactional;
			pg_lsn		lsn;
			const char *prefix;
			const char *content;	/* borrowed; not NUL-terminated */
			uint32_t	content_len;
		}			message;
		struct
		{
			uint32_t	xid;
			bool		first_segment;
		}			stream_start;
		struct
		{
			uint32_t	xid;
			uint8_t		flags;
			pg_lsn		commit_lsn;
			pg_lsn		end_lsn;
			int64_t		commit_time;
		}			stream_commit;
		struct
		{
			uint32_t	xid;
			uint32_t	subxid;
		}			stream_abort;
	}			u;
} pgo_msg;

typedef struct pgo_decoder pgo_decoder;

/* A decoder for pgoutput protocol version 1 or 2; caller frees with pgo_decoder_free(). */
pgo_decoder *pgo_decoder_new(int proto_version);
void		pgo_decoder_free(pgo_decoder *d);

/*
 * Decode one pgoutput message (an XLogData payload). On success fills *out, whose pointers borrow
 * from data and from the decoder and stay valid until the next pgo_decode() call (relations stay
 * valid until the next 'R' message for the same OID or pgo_decoder_free()). On failure returns
 * false; pgo_error() tells why. A Relation message replaces the cached relation of that OID.
 * Data messages (I/U/D) for a relation never announced are an error.
 */
bool		pgo_decode(pgo_decoder *d, const uint8_t *data, size_t len, pgo_msg *out);
/* Borrowed; the last error, or "" */
const char *pgo_error(const pgo_decoder *d);
/* The cached relation with this OID, or NULL; borrowed. */
const pgo_relation *pgo_relation_get(const pgo_decoder *d, pg_oid oid);

/* Format an LSN as PostgreSQL does ("16/B374D848") into out (at least 18 bytes). */
void		pgo_lsn_format(pg_lsn lsn, char out[18]);
/* Parse "X/Y"; false if malformed. */
bool		pgo_lsn_parse(const char *s, pg_lsn *out);

/*
 * Whether a snapshot, as pg_current_snapshot()::text gives it ("xmin:xmax:xip,..." of 64-bit
 * xids), sees transaction xid (as the stream gives it: the low 32 bits), which has committed:
 * it does unless the transaction was running, or not yet visible, when the snapshot was taken
 * (at or past xmax, or listed). Compared modulo 2^32, as PostgreSQL compares xids: xid must be
 * within 2^31 of the snapshot's. False (not seen) for text that is not a snapshot.
 */
bool		pgo_snapshot_sees(const char *snapshot, uint32_t xid);

#endif
