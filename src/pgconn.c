/*
 * pgconn.c: the libpq wrapper (see pgconn.h).
 *
 * Connections are opened with PQconnectdbParams (keyword arrays, never a conninfo string, so no
 * quoting games and no secret in a string we might print). Every session gets the settings
 * typeconv relies on, through the startup packet's options so they hold for walsenders too.
 */
#include "pgconn.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <sys/socket.h>

#include "airbyte.h"
#include "error.h"
#include "log.h"
#include "tunnel.h"

#define SESSION_OPTIONS \
	"-c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=1 -c bytea_output=hex " \
	"-c IntervalStyle=postgres -c search_path=pg_catalog -c statement_timeout=0 " \
	"-c lock_timeout=" SP_STR(PGC_LOCK_TIMEOUT_MS) " -c idle_in_transaction_session_timeout=0"

static char last_connect_error[1536];

/* see pgc_cancel_arm */
static PGcancel *volatile cancel_armed;
static volatile sig_atomic_t stop_signalled;
static volatile sig_atomic_t cancel_sent;


static const char *
ssl_mode_name(ssl_mode_t m)
{
	switch (m)
	{
		case SSL_DISABLE:
			return "disable";
		case SSL_ALLOW:
			return "allow";
		case SSL_PREFER:
			return "prefer";
		case SSL_REQUIRE:
			return "require";
		case SSL_VERIFY_CA:
			return "verify-ca";
		case SSL_VERIFY_FULL:
			return "verify-full";
	}
	return "prefer";
}

/* Keep the first line of a libpq message, without its trailing newline. */
static void
first_line(const char *in, char *out, size_t outsz)
{
	size_t		n = 0;

	while (in && in[n] && in[n] != '\n' && n + 1 < outsz)
	{
		out[n] = in[n];
		n++;
	}
	out[n] = '\0';
}

/*
 * The line of a libpq message (one per attempt: each address of a host, each of sslmode allow's
 * and prefer's tries) that says why it failed: the first holding any of pats (NULL-terminated),
 * else the last that is not an indented continuation. Without its newline; "" when there is none.
 */
static void
pick_line(const char *in, const char *const *pats, char *out, size_t outsz)
{
	const char *best = NULL;
	size_t		bestlen = 0;

	for (const char *line = in; line && *line;)
	{
		const char *end = strchr(line, '\n');
		size_t		len = end ? (size_t) (end - line) : strlen(line);
		bool		match = false;

		for (int i = 0; pats && pats[i] && !match; i++)
		{
			const char *hit = strstr(line, pats[i]);

			match = hit != NULL && hit + strlen(pats[i]) <= line + len;
		}
		if (match)
		{
			best = line;
			bestlen = len;
			break;
		}
		/*
		 * an indented line continues the one before it ("server closed the connection..."), and
		 * so do the server's DETAIL and HINT lines
		 */
		if (len > 0 && line[0] != '\t' && line[0] != ' ' && strncmp(line, "DETAIL:  ", 9) != 0 &&
			strncmp(line, "HINT:  ", 7) != 0)
		{
			best = line;
			bestlen = len;
		}
		line = end ? end + 1 : NULL;
	}
	if (bestlen >= outsz)
		bestlen = outsz - 1;
	memcpy(out, best ? best : "", bestlen);
	out[bestlen] = '\0';
	/* the DETAIL right after it says more ("User does not have CONNECT privilege.") */
	if (best && best[bestlen] == '\n' && strncmp(best + bestlen + 1, "DETAIL:  ", 9) == 0)
	{
		const char *d = best + bestlen + 10;
		const char *e = strchr(d, '\n');
		size_t		n = strlen(out);

		snprintf(out + n, outsz - n, " (%.*s)", (int) (e ? (size_t) (e - d) : strlen(d)), d);
	}
}

void
pgc_host_port(char *out, size_t outsz, const char *host, int port)
{
	snprintf(out, outsz, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/* Whether jdbc_url_params set the libpq keyword key. */
static bool
has_libpq_param(const config_t *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n_libpq_params; i++)
		if (strcmp(cfg->libpq_params[i].key, key) == 0)
			return true;
	return false;
}

enum
{
	CONNECT_DONE,				/* connected, or failed (PQstatus, PQerrorMessage) */
	CONNECT_TIMEOUT,			/* an attempt took longer than connect_timeout */
	CONNECT_STOPPED				/* a stop signal came first */
};

/* The connect_timeout libpq would use: the last one given (jdbc_url_params' comes after ours) */
static int
connect_timeout_of(const char *const *keys, const char *const *vals)
{
	int			t = 10;

	for (int i = 0; keys[i]; i++)
		if (strcmp(keys[i], "connect_timeout") == 0)
			t = atoi(vals[i]);
	/* as libpq: 0 (or less) waits for ever, and less than 2 s is 2 s */
	if (t <= 0)
		return 0;
	return t < 2 ? 2 : t;
}

/* A host list, or a name that may resolve to several addresses (not an address, not a socket) */
static bool
may_have_more_addresses(const char *host)
{
	unsigned char a[16];

	if (host == NULL || host[0] == '/' || host[0] == '@')
		return false;
	if (strchr(host, ',') != NULL)
		return true;
	return inet_pton(AF_INET, host, a) != 1 && inet_pton(AF_INET6, host, a) != 1;
}

/*
 * PQconnectdbParams, but a stop signal ends the wait (a server that never answers would hold a
 * stopped read for connect_timeout): PQconnectPoll in slices of at most 200 ms, each attempt (a
 * new socket: another address of the host) given timeout_s seconds, as libpq's own
 * connect_timeout does.
 */
static PGconn *
connect_interruptible(const char *const *keys, const char *const *vals, int timeout_s, int *outcome)
{
	PGconn	   *c = PQconnectStartParams(keys, vals, 0);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	int			sock = -1;
	int64_t		deadline = 0;

	*outcome = CONNECT_DONE;
	if (c == NULL || PQstatus(c) == CONNECTION_BAD)
		return c;
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED)
	{
		struct pollfd pfd;
		int64_t		now = ab_mono_ms();
		int			rc;

		if (PQsocket(c) != sock)
		{
			sock = PQsocket(c);
			deadline = timeout_s > 0 ? now + (int64_t) timeout_s * 1000 : INT64_MAX;
		}
		if (stop_signalled)
		{
			cancel_sent = 1;	/* stopped as a cancelled statement is: a stop, not an error */
			*outcome = CONNECT_STOPPED;
			return c;
		}
		if (now >= deadline)
		{
			*outcome = CONNECT_TIMEOUT;
			return c;
		}
		pfd.fd = sock;
		pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		pfd.revents = 0;
		rc = poll(&pfd, 1, deadline - now < 200 ? (int) (deadline - now) : 200);
		if (rc < 0 && errno != EINTR)
			return c;			/* PQconnectPoll would fail the same way: try it */
		if (rc > 0)
			st = PQconnectPoll(c);
	}
	return c;
}

PGconn *
pgc_connect(const config_t *cfg, bool replication)
{
	static const char *const informative[] = {
		"authentication failed", "no password supplied", "does not exist", "replication",
		"max_wal_senders", "configuration parameter", "invalid value for parameter",
		"private key", "sslpassword", "certificate", NULL
	};
	const char *keys[48];
	const char *vals[48];
	int			n = 0;
	char		port[16];
	char		timeout[16];
	char	   *options;
	const char *user_options = NULL;
	PGconn	   *conn;
	char		msg[1024];
	off_t		mark;
	bool		unreached = false;	/* no server answered: the tunnel may say why */
	bool		busy = false;	/* the server answered, but cannot take us now */
	int			outcome;
	int			wait_s;
	bool		tunnel_closed = false;
	char		hp[300];

	snprintf(port, sizeof(port), "%d", cfg->port);
	if (cfg->tunnel != TUNNEL_NONE)
	{
		int			tport;

		if (!tunnel_open(cfg, &tport))
		{
			snprintf(last_connect_error, sizeof(last_connect_error), "%s", err_message());
			return NULL;
		}
		snprintf(port, sizeof(port), "%d", tport);
	}
	snprintf(timeout, sizeof(timeout), "%d", cfg->connect_timeout_seconds > 0 ? cfg->connect_timeout_seconds : 10);

#define KV(k, v) do { keys[n] = (k); vals[n] = (v); n++; } while (0)
	KV("host", cfg->host);
	/* through a tunnel: its loopback end, while host still names the server for TLS checks */
	if (cfg->tunnel != TUNNEL_NONE)
		KV("hostaddr", "127.0.0.1");
	KV("port", port);
	KV("dbname", cfg->database);
	KV("user", cfg->username);
	if (cfg->password)
		KV("password", cfg->password);
	KV("sslmode", ssl_mode_name(cfg->ssl_mode));
	if (cfg->ssl_root_cert_file)
		KV("sslrootcert", cfg->ssl_root_cert_file);
	if (cfg->ssl_cert_file)
		KV("sslcert", cfg->ssl_cert_file);
	if (cfg->ssl_key_file)
		KV("sslkey", cfg->ssl_key_file);
	if (cfg->client_key_password)
		KV("sslpassword", cfg->client_key_password);
	KV("connect_timeout", timeout);
	KV("application_name", "source-postgres");
	KV("client_encoding", "UTF8");
	KV("keepalives", "1");
	KV("keepalives_idle", "30");
	KV("keepalives_interval", "10");
	KV("keepalives_count", "6");
	/* jdbc_url_params mapped to libpq keywords; "options" is merged with ours below */
	for (size_t i = 0; i < cfg->n_libpq_params && n < 44; i++)
	{
		if (strcmp(cfg->libpq_params[i].key, "options") == 0)
			user_options = cfg->libpq_params[i].value;
		else
			KV(cfg->libpq_params[i].key, cfg->libpq_params[i].value);
	}
	/* the user's options, however long, then ours (which must not be cut off) */
	options = malloc((user_options ? strlen(user_options) + 1 : 0) + sizeof(SESSION_OPTIONS));
	if (options == NULL)
		abort();
	sprintf(options, "%s%s%s", user_options ? user_options : "", user_options ? " " : "",
			SESSION_OPTIONS);
	KV("options", options);
	if (replication)
		KV("replication", "database");
	keys[n] = NULL;
	vals[n] = NULL;
#undef KV

	/*
	 * libpq asks OpenSSL for an encrypted client key's passphrase through its hook only when
	 * sslpassword is set; otherwise OpenSSL prompts on the terminal, or reads stdin, and waits.
	 * Its own hook, always installed, answers with sslpassword or nothing: no prompt, and a
	 * key without its passphrase fails to load (reported below).
	 */
	PQsetSSLKeyPassHook_OpenSSL(PQdefaultSSLKeyPassHook_OpenSSL);
	mark = cfg->tunnel != TUNNEL_NONE ? tunnel_mark() : 0;
	conn = connect_interruptible(keys, vals, wait_s = connect_timeout_of(keys, vals), &outcome);
	/*
	 * Timed out on one address: libpq's own wait goes on to the host's next address or the next
	 * host, which PQconnectPoll cannot be told to do. Where there may be one, let it (from the
	 * first again: the stop signal is not heard meanwhile, and the first times out once more).
	 */
	if (outcome == CONNECT_TIMEOUT && may_have_more_addresses(cfg->host))
	{
		PQfinish(conn);
		conn = PQconnectdbParams(keys, vals, 0);
		outcome = CONNECT_DONE;
	}
	free(options);
	if (outcome == CONNECT_STOPPED)
	{
		pgc_host_port(hp, sizeof(hp), cfg->host, cfg->port);
		snprintf(last_connect_error, sizeof(last_connect_error), "stopped while connecting to %s",
				 hp);
		err_set(ERR_TRANSIENT, NULL, "%s", last_connect_error);
		PQfinish(conn);
		return NULL;
	}
	/* the server's notices and warnings go to stderr (libpq's default), which Airbyte logs */
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		return conn;

	/* the line of the attempt that got furthest: its failure is the one to fix */
	if (outcome == CONNECT_TIMEOUT)
		snprintf(msg, sizeof(msg), "timeout expired");
	else
		pick_line(conn ? PQerrorMessage(conn) : "out of memory", informative, msg, sizeof(msg));
	pgc_host_port(hp, sizeof(hp), cfg->host, cfg->port);
	/*
	 * Through a tunnel libpq names its loopback end ("connection to server at "127.0.0.1", port
	 * 41234 failed: "), which is not where the server is: the messages say where.
	 */
	if (cfg->tunnel != TUNNEL_NONE && strncmp(msg, "connection to server at ", 24) == 0 &&
		strstr(msg, " failed: ") != NULL)
	{
		const char *rest = strstr(msg, " failed: ") + 9;

		memmove(msg, rest, strlen(rest) + 1);
	}
	if (strstr(msg, "password authentication failed") || strstr(msg, "no password supplied") ||
		strstr(msg, "authentication failed"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "could not log in to %s as \"%s\": %s; check the username and password",
				 hp, cfg->username, msg);
	else if (strstr(msg, "does not exist") && strstr(msg, "database"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "database \"%s\" does not exist on %s; check the database field",
				 cfg->database, hp);
	else if (strstr(msg, "replication") && replication)
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "could not open a replication connection to %s: %s; the role needs the "
				 "REPLICATION attribute (ALTER ROLE \"%s\" REPLICATION) and pg_hba.conf must allow "
				 "it (hba entries for \"replication\" do not apply to replication=database, "
				 "the database entry does)",
				 hp, msg, cfg->username);
	else if (strstr(msg, "max_wal_senders"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "could not open a replication connection to %s: %s; raise max_wal_senders in "
				 "postgresql.conf (and restart the server), or end other replication connections",
				 hp, msg);
	else if (strstr(msg, "configuration parameter") || strstr(msg, "invalid value for parameter"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "the server at %s refused a session setting: %s; check options in "
				 "jdbc_url_params", hp, msg);
	else if ((unreached = strstr(msg, "timeout expired") || strstr(msg, "timed out")))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "could not connect to %s within %d seconds: %s; check the host, the port "
				 "and that the network allows the connection",
				 hp, wait_s, msg);
	else if (strstr(msg, "pg_hba.conf") && strstr(msg, "no encryption"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "the server at %s refused an unencrypted connection: %s; if it takes only "
				 "encrypted ones from here (hostssl), set ssl_mode to require (or verify-ca, "
				 "verify-full), else a pg_hba.conf entry must allow this host, user and database",
				 hp, msg);
	else if (strstr(msg, "pg_hba.conf"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "the server at %s does not let \"%s\" connect from here: %s; a pg_hba.conf "
				 "entry must allow this host, user and database%s", hp,
				 cfg->username, msg, replication ? " (replication=database connections match "
				 "the database's entries)" : "");
	else if ((strstr(msg, "private key") || strstr(msg, "bad decrypt")) &&
			 cfg->client_key_password == NULL && !has_libpq_param(cfg, "sslpassword"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "could not use the client key to connect to %s: %s; if the key is encrypted, "
				 "set client_key_password (the key's passphrase), else check client_key", hp, msg);
	else if (strstr(msg, "private key") || strstr(msg, "sslpassword") || strstr(msg, "bad decrypt"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "could not use the client key to connect to %s: %s; check client_key and "
				 "client_key_password (the key's passphrase)", hp, msg);
	else if (strstr(msg, "SSL") || strstr(msg, "certificate"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "TLS failure connecting to %s with ssl_mode %s: %s; check ssl_mode and the "
				 "certificates",
				 hp, ssl_mode_name(cfg->ssl_mode), msg);
	else if (strstr(msg, "not permitted to log in"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "could not log in to %s as \"%s\": %s; ALTER ROLE \"%s\" LOGIN", hp,
				 cfg->username, msg, cfg->username);
	else if (strstr(msg, "permission denied for database"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "could not connect to database \"%s\" on %s: %s; GRANT CONNECT ON DATABASE "
				 "\"%s\" TO \"%s\"", cfg->database, hp, msg, cfg->database, cfg->username);
	else if (strstr(msg, "is not currently accepting connections"))
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "could not connect to database \"%s\" on %s: %s; ALTER DATABASE \"%s\" "
				 "ALLOW_CONNECTIONS true, or name another database", cfg->database, hp, msg,
				 cfg->database);
	else if (strstr(msg, "too many connections") || strstr(msg, "too many clients") ||
			 strstr(msg, "remaining connection slots"))
	{
		busy = true;
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "the server at %s has no connection to spare: %s; the next attempt tries again "
				 "(raise max_connections or the role's CONNECTION LIMIT if it persists)", hp, msg);
	}
	else if (strstr(msg, "starting up") || strstr(msg, "shutting down") ||
			 strstr(msg, "in recovery mode") || strstr(msg, "not yet accepting connections"))
	{
		busy = true;
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "the server at %s is not accepting connections yet: %s; the next attempt tries "
				 "again", hp, msg);
	}
	else
	{
		unreached = true;
		snprintf(last_connect_error, sizeof(last_connect_error),
				 "could not connect to %s: %s; check the host, the port and that the server "
				 "accepts TCP connections from here",
				 hp, msg);
	}
	if (cfg->tunnel != TUNNEL_NONE && unreached)
	{
		char		why[768];

		/* a tunnel that has closed may open again on the next attempt */
		tunnel_closed = tunnel_explain(mark, why, sizeof(why));
		if (why[0] != '\0')
			snprintf(last_connect_error, sizeof(last_connect_error),
					 "could not connect to %s (the host and port as the SSH jump server sees "
					 "them): %s", hp, why);
	}
	err_set(tunnel_closed || busy ? ERR_TRANSIENT : ERR_CONFIG, msg, "%s", last_connect_error);
	PQfinish(conn);
	return NULL;
}

const char *
pgc_last_connect_error(void)
{
	return last_connect_error;
}

static void
set_lowat(PGconn *c, bool batch, bool *lowat)
{
	int			v = batch ? PGC_BATCH_BYTES : 1;

	if (batch == *lowat)
		return;
	setsockopt(PQsocket(c), SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v));
	*lowat = batch;
}

void
pgc_batch_end(PGconn *c, bool *lowat)
{
	set_lowat(c, false, lowat);
}

int
pgc_wait_input(PGconn *c, int timeout_ms, int batch_ms, bool *lowat)
{
	struct pollfd pfd = {PQsocket(c), POLLIN, 0};
	int			rc;

	/*
	 * Over TLS or GSSAPI encryption libpq decrypts one record (at most 16 kB) per read, so a wake-up
	 * could not take a whole batch, and the rest would wait out batch_ms record by record.
	 */
	if (PQsslInUse(c) || PQgssEncInUse(c))
		batch_ms = 0;
	set_lowat(c, batch_ms > 0, lowat);
	if (batch_ms > 0 && timeout_ms > batch_ms)
		timeout_ms = batch_ms;
	rc = poll(&pfd, 1, timeout_ms);
	if (rc < 0 && errno != EINTR)
	{
		err_set(ERR_TRANSIENT, NULL, "waiting for the server failed");
		return -1;
	}
	if (PQconsumeInput(c) == 0)
	{
		err_set(ERR_TRANSIENT, PQerrorMessage(c), "the connection to the server failed: %s",
				PQerrorMessage(c));
		return -1;
	}
	return rc > 0 ? 1 : 0;
}

void
pgc_widen_input(PGconn *c)
{
	char		sql[64];
	PGresult   *res;

	snprintf(sql, sizeof(sql), "SELECT repeat('x', %d)", PGC_INPUT_BYTES);
	res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		log_debug("could not widen the input buffer: %s", PQerrorMessage(c));
	PQclear(res);
}

PGresult *
pgc_try(PGconn *c, const char *sql, int nparams, const char *const *params,
		char sqlstate[6], char *errmsg, size_t errmsg_size)
{
	PGresult   *res;
	ExecStatusType st;

	if (nparams > 0)
		res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	else
		res = PQexec(c, sql);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
	{
		if (sqlstate)
			sqlstate[0] = '\0';
		return res;
	}
	if (sqlstate)
	{
		const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		snprintf(sqlstate, 6, "%s", s ? s : "");
	}
	if (errmsg)
	{
		const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

		first_line(m ? m : PQerrorMessage(c), errmsg, errmsg_size);
	}
	PQclear(res);
	return NULL;
}

bool
pgc_transient(const char *sqlstate)
{
	return strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57", 2) == 0;
}

err_kind
pgc_error_kind(const char *sqlstate)
{
	/*
	 * Not class 42 as a whole: a table or column dropped during the read is worth a retry; nor
	 * 55000 (a server in recovery during a failover is too; wal_level is told apart by pgc_query).
	 */
	static const char *const config[] = {"42501", "42601", "42883", "42804", "42846"};

	if (sqlstate == NULL)
		return ERR_SYSTEM;
	if (pgc_transient(sqlstate))
		return ERR_TRANSIENT;
	if (strncmp(sqlstate, "22", 2) == 0)
		return ERR_CONFIG;
	for (size_t i = 0; i < sizeof(config) / sizeof(config[0]); i++)
		if (strcmp(sqlstate, config[i]) == 0)
			return ERR_CONFIG;
	return ERR_SYSTEM;
}

PGresult *
pgc_query(PGconn *c, const char *what, const char *sql, int nparams, const char *const *params)
{
	char		state[6];
	char		msg[1024];
	PGresult   *res = pgc_try(c, sql, nparams, params, state, msg, sizeof(msg));

	if (res == NULL)
		pgc_fail(what, state, msg, NULL);
	return res;
}

void
pgc_fail(const char *what, const char *sqlstate, const char *msg, const char *internal)
{
	char		own[1200];

	if (internal == NULL)
	{
		snprintf(own, sizeof(own), "SQLSTATE %s: %s", sqlstate, msg);
		internal = own;
	}
	if (strcmp(sqlstate, "42501") == 0)
		err_set(ERR_CONFIG, internal, "%s failed: permission denied (%s); grant the role the "
				"privilege named in the message", what, msg);
	else if (strstr(msg, "wal_level") != NULL)
		err_set(ERR_CONFIG, internal, "%s failed: %s; set wal_level = logical in "
				"postgresql.conf and restart the server", what, msg);
	else if (strstr(msg, "replication slots are in use") != NULL)
		err_set(ERR_CONFIG, internal, "%s failed: %s; drop a replication slot no longer used "
				"(pg_replication_slots) or raise max_replication_slots in postgresql.conf and "
				"restart the server", what, msg);
	else if (strcmp(sqlstate, "55P03") == 0 || strcmp(sqlstate, "40P01") == 0)
		err_set(ERR_TRANSIENT, internal, "%s failed: %s: another session held a lock it needed "
				"(for longer than %d s, or in a deadlock); the next attempt tries again", what,
				msg, PGC_LOCK_TIMEOUT_MS / 1000);
	else
		err_set(pgc_error_kind(sqlstate), internal, "%s failed: %s", what, msg);
}


bool
pgc_cancel_arm(PGconn *c)
{
	PGcancel   *k;

	if (stop_signalled)
	{
		cancel_sent = 1;		/* not run: stopped as if cancelled */
		return false;
	}
	k = PQgetCancel(c);
	cancel_armed = k;
	/* a signal between the test above and here found nothing armed */
	if (stop_signalled)
	{
		pgc_cancel_disarm();
		cancel_sent = 1;
		return false;
	}
	return true;
}

void
pgc_cancel_disarm(void)
{
	PGcancel   *k = cancel_armed;

	cancel_armed = NULL;
	if (k)
		PQfreeCancel(k);
}

void
pgc_stop_signal(void)
{
	PGcancel   *k = cancel_armed;
	char		errbuf[256];

	stop_signalled = 1;
	if (k != NULL && !cancel_sent)
	{
		cancel_sent = 1;
		PQcancel(k, errbuf, sizeof(errbuf));
	}
}

PGresult *
pgc_query_waiting(PGconn *c, const char *what, const char *denied_hint, const char *sql)
{
	char		state[6];
	char		msg[1024];
	char		full[512];
	PGresult   *res;

	if (!pgc_cancel_arm(c))
	{
		err_set(ERR_TRANSIENT, NULL, "stopped before %s", what);
		return NULL;
	}
	res = pgc_try(c, sql, 0, NULL, state, msg, sizeof(msg));
	pgc_cancel_disarm();
	if (res == NULL)
	{
		snprintf(full, sizeof(full), "%s%s", what, strcmp(state, "42501") == 0 ? denied_hint : "");
		pgc_fail(full, state, msg, NULL);
	}
	return res;
}

bool
pgc_stopped_by_cancel(void)
{
	return stop_signalled && cancel_sent;
}

bool
pgc_command(PGconn *c, const char *what, const char *sql)
{
	PGresult   *res = pgc_query(c, what, sql, 0, NULL);

	PQclear(res);
	return res != NULL;
}

char *
pgc_ident(PGconn *c, const char *name)
{
	char	   *q = PQescapeIdentifier(c, name, strlen(name));

	if (q == NULL)
		err_set(ERR_SYSTEM, PQerrorMessage(c), "could not quote identifier");
	return q;
}

char *
pgc_qualified(PGconn *c, const char *schema, const char *name)
{
	char	   *s = pgc_ident(c, schema);
	char	   *t = s ? pgc_ident(c, name) : NULL;
	char	   *out = NULL;

	if (s && t)
	{
		size_t		len = strlen(s) + strlen(t) + 2;

		out = malloc(len);
		if (out)
			snprintf(out, len, "%s.%s", s, t);
	}
	PQfreemem(s);
	PQfreemem(t);
	return out;
}
