/*
 * pgconn.h: the libpq wrapper. Connections (normal and replication=database) with the session
 * settings the value conversion relies on, a safe search_path, TLS modes, bounded connect time,
 * and query helpers that record failures (with SQLSTATE) through err_set().
 */
#ifndef SP_PGCONN_H
#define SP_PGCONN_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "config.h"
#include "error.h"

/* How long a statement of ours waits for a lock before it fails (the session's lock_timeout). */
#define PGC_LOCK_TIMEOUT_MS 10000
#define SP_STR_(x) #x
#define SP_STR(x) SP_STR_(x)

/*
 * Open a connection. replication: a replication=database connection (walsender). On failure
 * records an error naming host:port and the likely fix (never the password) and returns NULL.
 * Caller closes with PQfinish().
 */
PGconn	   *pgc_connect(const config_t *cfg, bool replication);

/* host:port as messages name it, an IPv6 address in brackets ([::1]:5432), into out. */
void		pgc_host_port(char *out, size_t outsz, const char *host, int port);

/* Describe why the last connection attempt failed, for check's FAILED message (borrowed). */
const char *pgc_last_connect_error(void);

/*
 * Run sql with text parameters (nparams may be 0). Returns the result if its status is
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK; otherwise records an ERR_SYSTEM error ("what" names the
 * operation for the user), clears the result and returns NULL. Caller PQclear()s.
 */
PGresult   *pgc_query(PGconn *c, const char *what, const char *sql, int nparams,
					  const char *const *params);

/* Like pgc_query but records nothing: on failure stores the SQLSTATE and message for the caller. */
PGresult   *pgc_try(PGconn *c, const char *sql, int nparams, const char *const *params,
					char sqlstate[6], char *errmsg, size_t errmsg_size);

/* Whether an error's SQLSTATE is worth a retry: a connection failure (08) or a shutdown (57). */
bool		pgc_transient(const char *sqlstate);

/*
 * The kind of error a statement's SQLSTATE (NULL when none) is: transient (above); config for
 * what the user must fix (a privilege, the user's own SQL, a value the state or the catalog gave
 * that the column's type refuses); system otherwise.
 */
err_kind	pgc_error_kind(const char *sqlstate);

/*
 * Record what failed (what: "copying a table", say) with the server's SQLSTATE and message:
 * its kind from pgc_error_kind, and the fix for a missing privilege or wal_level. internal: the
 * detail for internal_message ("SQLSTATE ...: msg" when NULL).
 */
void		pgc_fail(const char *what, const char *sqlstate, const char *msg, const char *internal);

/* Run a command expecting no rows; false (error recorded) on failure. */
bool		pgc_command(PGconn *c, const char *what, const char *sql);

/*
 * A statement that can wait a long time for others (a lock, the transactions a new slot waits
 * out) is armed: a stop signal arriving while it runs cancels it on the server, so SIGTERM or
 * SIGINT ends the read promptly rather than after lock_timeout, or never. pgc_cancel_arm(c)
 * before the statement (false: a stop was already requested, do not run it), pgc_cancel_disarm()
 * after. pgc_stop_signal() is for the signal handler (PQcancel is safe there).
 * pgc_stopped_by_cancel(): a statement failed because a stop cancelled it, which is a stop, not an
 * error.
 */
bool		pgc_cancel_arm(PGconn *c);
/*
 * pgc_query for such a statement, armed while it runs; denied_hint ("" for none) follows what in
 * the error when the role lacks a privilege (42501).
 */
PGresult   *pgc_query_waiting(PGconn *c, const char *what, const char *denied_hint,
							  const char *sql);
void		pgc_cancel_disarm(void);
void		pgc_stop_signal(void);
bool		pgc_stopped_by_cancel(void);

/*
 * Wait until the connection has input or timeout_ms passes, then read what arrived into libpq's
 * buffer. With batch_ms > 0 (a busy stream), wake only once PGC_BATCH_BYTES have gathered in the
 * socket or batch_ms passed: the server flushes small messages, and reading them in large
 * batches takes a fraction of the system calls and wake-ups. Plain TCP only: over TLS or GSSAPI
 * encryption batch_ms is ignored. *lowat remembers the socket's setting (start false). Returns 1
 * when input arrived, 0 on timeout, -1 (error recorded) if the connection failed.
 */
#define PGC_BATCH_BYTES (256 * 1024)
int			pgc_wait_input(PGconn *c, int timeout_ms, int batch_ms, bool *lowat);
/* Restore the socket's normal wake-up after batched reading (libpq's own waits need it). */
void		pgc_batch_end(PGconn *c, bool *lowat);

/*
 * Let libpq take a whole batch in one read. Its input buffer starts at 16 kB and only grows to
 * fit a message larger than it, never shrinking; so a stream of small messages is read 16 kB at a
 * time, one system call and often one wake-up each. One row of PGC_INPUT_BYTES, fetched once
 * per connection (walsenders take plain SQL too), grows it to 512 kB, room for a batch. Best
 * effort: a failure costs only speed. Call while the connection is idle.
 */
#define PGC_INPUT_BYTES (PGC_BATCH_BYTES + 16 * 1024)
void		pgc_widen_input(PGconn *c);

/* Quote an identifier (PQescapeIdentifier); caller frees with PQfreemem(). NULL on failure. */
char	   *pgc_ident(PGconn *c, const char *name);
/* "schema"."name" quoted; caller frees with free(). */
char	   *pgc_qualified(PGconn *c, const char *schema, const char *name);

#endif
