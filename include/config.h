/*
 * config.h: the connector configuration (Airbyte source-postgres's spec, field for field), parsed
 * from JSON into a typed struct with every field validated.
 */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum
{
	SSL_DISABLE,
	SSL_ALLOW,
	SSL_PREFER,
	SSL_REQUIRE,
	SSL_VERIFY_CA,
	SSL_VERIFY_FULL
} ssl_mode_t;

typedef enum
{
	REPL_STANDARD,				/* incremental by a user-chosen cursor column */
	REPL_CDC,					/* logical replication over pgoutput */
	REPL_XMIN					/* incremental by xmin */
} repl_method_t;

typedef enum
{
	LSN_COMMIT_AFTER_DESTINATION,	/* "After loading Data in the destination" (default) */
	LSN_COMMIT_WHILE_READING	/* "While reading Data" */
} lsn_commit_t;

typedef enum
{
	INVALID_CURSOR_FAIL,		/* "Fail sync" (default) */
	INVALID_CURSOR_RESYNC		/* "Re-sync data" */
} invalid_cursor_t;

typedef enum
{
	TUNNEL_NONE,				/* "NO_TUNNEL" (default) */
	TUNNEL_SSH_KEY,				/* "SSH_KEY_AUTH" */
	TUNNEL_SSH_PASSWORD			/* "SSH_PASSWORD_AUTH" */
} tunnel_method_t;

/* One libpq connection keyword taken from jdbc_url_params. */
typedef struct config_kv
{
	char	   *key;
	char	   *value;
} config_kv;

typedef struct config
{
	char	   *host;
	int			port;			/* default 5432 */
	char	   *database;
	char	   *username;
	char	   *password;		/* may be NULL; secret */
	char	  **schemas;		/* default {"public"}; none (n_schemas 0) = every schema */
	size_t		n_schemas;

	ssl_mode_t	ssl_mode;		/* default SSL_PREFER when ssl_mode is absent (libpq's default) */
	char	   *ca_certificate; /* PEM text; secret */
	char	   *client_certificate; /* PEM text; secret */
	char	   *client_key;		/* PEM text; secret */
	char	   *client_key_password;	/* secret */
	/* 0600 temporary files holding the PEM texts above, removed by config_free() and at exit */
	char	   *ssl_root_cert_file;
	char	   *ssl_cert_file;
	char	   *ssl_key_file;

	char	   *jdbc_url_params;
	config_kv  *libpq_params;	/* the jdbc_url_params pairs that map to libpq keywords */
	size_t		n_libpq_params;

	repl_method_t method;		/* default REPL_STANDARD when replication_method is absent */
	/* CDC */
	char	   *replication_slot;
	char	   *publication;
	int			initial_waiting_seconds;	/* default 1200 (120..2400) */
	int			queue_size;		/* default 10000 (1000..10000) */
	lsn_commit_t lsn_commit;
	char	   *heartbeat_action_query; /* may be NULL */
	invalid_cursor_t invalid_cursor;
	int			initial_load_timeout_hours; /* default 8 (4..24) */

	/* tunnel_method: an SSH tunnel through a jump server (see tunnel.h) */
	tunnel_method_t tunnel;
	char	   *tunnel_host;
	int			tunnel_port;	/* default 22 */
	char	   *tunnel_user;
	char	   *ssh_key;		/* private key text; secret */
	char	   *tunnel_user_password;	/* secret */
	char	   *ssh_key_file;	/* 0600 temporary file holding ssh_key */

	/* additions of ours, all optional, documented in the spec */
	int			backfill_chunk_size;	/* rows per backfill chunk; default 200000 */
	int			checkpoint_interval_seconds;	/* default 5 */
	int			checkpoint_records;	/* default 10000 */
	/*
	 * Standard and Xmin: a full refresh of a table this large or larger (MB on disk) is copied in
	 * ctid ranges with a STATE after each (resumable), a smaller one in one faster COPY. Default
	 * 8192; 0 for every table larger than a chunk.
	 */
	int			full_refresh_checkpoint_min_mb;
	/*
	 * CDC: seconds a batch read may spend on backfills before it stops them, streams the changes
	 * so far and fails with a transient error (the next attempt continues the backfills); 0 for
	 * no limit. Default initial_load_timeout_hours in seconds.
	 */
	int			initial_load_timeout_seconds;
	int			connect_timeout_seconds;	/* default 10 */
} config_t;

/* Zero the struct. */
void		config_init(config_t *cfg);
/*
 * Read and validate the config file at path. On failure records a config_error naming the field,
 * what was found and what is expected (never a secret), and returns false. Writes the TLS PEM
 * fields to 0600 temporary files. The caller frees with config_free() in both cases.
 */
bool		config_load(const char *path, config_t *cfg);

/* The same, from parsed JSON (borrowed). */
bool		config_parse(const json_t *root, config_t *cfg);
/* Free everything and remove the temporary certificate files. */
void		config_free(config_t *cfg);

/*
 * Load the JSON file at path (what names it in errors: "catalog", "state"); NULL with a config
 * error naming the file and what is wrong with it (missing, a directory, unreadable, not JSON).
 */
json_t	   *json_file_load(const char *path, const char *what, size_t flags);
/* A JSON copy of the config with every secret replaced by "**********"; caller decrefs. */
json_t	   *config_redacted(const config_t *cfg);

/* The embedded spec/spec.json (generated at build time). */
extern const char sp_spec_json[];
extern const size_t sp_spec_json_len;

#endif
