/*
 * config.c: the connector configuration (Airbyte source-postgres's spec, field for field), from
 * JSON to a typed struct, every field validated with a message naming it (see config.h).
 *
 * Error messages name the field by its dotted path, say what was found and what is expected, and
 * never quote the value of a secret (password, certificates, keys, anything from jdbc_url_params
 * whose name says password). Everything is validated before anything is written: the TLS PEM
 * texts go to 0600 temporary files only once the whole config is known to be good, and warnings
 * (ignored jdbc_url_params pairs and the like) are logged only then, so a bad config leaves
 * nothing behind.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "log.h"

#define REDACTED "**********"
/* A config is a few kilobytes; refuse to slurp anything absurd. */
#define CONFIG_FILE_MAX ((size_t) 16 * 1024 * 1024)
/* PostgreSQL's identifier length limit (NAMEDATALEN - 1). */
#define PG_NAME_MAX 63
/* Bounds on list fields, so a hostile config cannot make parsing quadratic-slow. */
#define MAX_SCHEMAS 10000
#define MAX_LIBPQ_PARAMS 64
#define MAX_WARNINGS 32
/* Longest excerpt of a (non-secret) value quoted in an error message. */
#define VALUE_EXCERPT 48

/* Warnings gathered while parsing, logged only once the whole config is accepted. */
typedef struct warnings
{
	char	   *msg[MAX_WARNINGS];
	int			n;
} warnings_t;

static const char *const ssl_mode_names[] = {
	"disable", "allow", "prefer", "require", "verify-ca", "verify-full"
};

static const char *const lsn_commit_names[] = {
	"After loading Data in the destination", "While reading Data"
};

static const char *const invalid_cursor_names[] = {"Fail sync", "Re-sync data"};

/* ---------------------------------------------------------------------------------------------
 * small helpers
 * --------------------------------------------------------------------------------------------- */

/* The JSON type of v as a schema would name it. */
static const char *
type_name(const json_t *v)
{
	if (v == NULL)
		return "nothing";
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return "object";
		case JSON_ARRAY:
			return "array";
		case JSON_STRING:
			return "string";
		case JSON_INTEGER:
			return "integer";
		case JSON_REAL:
			return "number";
		case JSON_TRUE:
		case JSON_FALSE:
			return "boolean";
		case JSON_NULL:
			return "null";
	}
	return "unknown";
}

/* "prefix.key", or just "key" at the top level. */
static void
field_path(char *out, size_t outsz, const char *prefix, const char *key)
{
	if (prefix != NULL && prefix[0] != '\0')
		snprintf(out, outsz, "%s.%s", prefix, key);
	else
		snprintf(out, outsz, "%s", key);
}

/*
 * A printable, bounded excerpt of a non-secret value for an error message: quoted, cut at
 * VALUE_EXCERPT bytes, every byte but printable ASCII (and the quote and backslash) replaced by
 * '?'. The result is always valid UTF-8: the message travels in JSON, and a message jansson
 * refuses would be lost.
 */
static void
value_excerpt(const char *s, size_t len, char *out, size_t outsz)
{
	size_t		o = 0;
	size_t		i;

	if (outsz < 8)
	{
		if (outsz > 0)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (i = 0; i < len && i < VALUE_EXCERPT && o + 5 < outsz; i++)
	{
		unsigned char c = (unsigned char) s[i];

		out[o++] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char) c;
	}
	out[o++] = '"';
	if (i < len && o + 4 < outsz)
	{
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* A field counts as given when it is there and not null. */
static bool
present(const json_t *v)
{
	return v != NULL && !json_is_null(v);
}

/* Record an allocation failure; returns false for the caller to pass on. */
static bool
oom(void)
{
	err_set(ERR_SYSTEM, NULL, "out of memory while reading the config");
	return false;
}

/* Free a string that may hold a secret, wiping it first. */
static void
free_secret(char *s)
{
	if (s != NULL)
	{
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* Queue a warning to be logged once the config is accepted (the first MAX_WARNINGS only). */
static void
warn_add(warnings_t *w, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
warn_add(warnings_t *w, const char *fmt,...)
{
	char		text[512];
	va_list		ap;

	if (w->n >= MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	w->msg[w->n] = strdup(text);
	if (w->msg[w->n] != NULL)
		w->n++;
}

/* Release the queued warnings. */
static void
warnings_free(warnings_t *w)
{
	for (int i = 0; i < w->n; i++)
		free(w->msg[i]);
	w->n = 0;
}

/* ---------------------------------------------------------------------------------------------
 * typed field readers: each records a config_error naming the field and returns false
 * --------------------------------------------------------------------------------------------- */

/*
 * Whether field v (at path) is to be treated as absent: missing, or null when not required.
 * A missing required field also sets the config error and *err.
 */
static bool
field_absent(const json_t *v, const char *path, bool required, bool *err)
{
	*err = false;
	if (v != NULL && !(json_is_null(v) && !required))
		return false;
	if (required)
	{
		err_set(ERR_CONFIG, NULL, "config is missing required field \"%s\"", path);
		*err = true;
	}
	return true;
}

/*
 * Read the string field key of obj into *out (malloc'd; left NULL when the field is absent or
 * null and not required). nonempty: "" is an error. The value is never quoted in a message, so
 * this serves secrets too.
 */
static bool
get_string(const json_t *obj, const char *prefix, const char *key, bool required,
		   bool nonempty, char **out)
{
	json_t	   *v = json_object_get(obj, key);
	char		path[160];
	const char *s;
	size_t		len;
	bool		missing;

	*out = NULL;
	field_path(path, sizeof(path), prefix, key);
	if (field_absent(v, path, required, &missing))
		return !missing;
	if (!json_is_string(v))
	{
		err_set(ERR_CONFIG, NULL, "config field \"%s\" must be a string, found %s", path,
				type_name(v));
		return false;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (memchr(s, '\0', len) != NULL)
	{
		err_set(ERR_CONFIG, NULL, "config field \"%s\" must not contain a NUL character", path);
		return false;
	}
	if (nonempty && len == 0)
	{
		err_set(ERR_CONFIG, NULL, "config field \"%s\" must not be empty", path);
		return false;
	}
	*out = strdup(s);
	if (*out == NULL)
		return oom();
	return true;
}

/*
 * Read the integer field key of obj into *out, def when absent or null. Only JSON integers
 * within [min, max] are accepted (5432.0 is not an integer).
 */
static bool
get_int(const json_t *obj, const char *prefix, const char *key, long long min, long long max,
		int def, bool required, int *out)
{
	json_t	   *v = json_object_get(obj, key);
	char		path[160];
	json_int_t	n;
	bool		missing;

	field_path(path, sizeof(path), prefix, key);
	if (field_absent(v, path, required, &missing))
	{
		*out = def;
		return !missing;
	}
	if (!json_is_integer(v))
	{
		err_set(ERR_CONFIG, NULL,
				"config field \"%s\" must be an integer between %lld and %lld, found %s",
				path, min, max, type_name(v));
		return false;
	}
	n = json_integer_value(v);
	if (n < min || n > max)
	{
		err_set(ERR_CONFIG, NULL,
				"config field \"%s\" must be an integer between %lld and %lld, found %lld",
				path, min, max, (long long) n);
		return false;
	}
	*out = (int) n;
	return true;
}

/*
 * Read the string field key of obj, which must be one of names[0..n), into *out as an index;
 * def when absent or null.
 */
static bool
get_enum(const json_t *obj, const char *prefix, const char *key, const char *const *names,
		 int n, int def, int *out)
{
	json_t	   *v = json_object_get(obj, key);
	char		path[160];
	char		expected[512];
	char		found[VALUE_EXCERPT + 16];
	size_t		o = 0;

	field_path(path, sizeof(path), prefix, key);
	if (v == NULL || json_is_null(v))
	{
		*out = def;
		return true;
	}
	if (json_is_string(v))
	{
		for (int i = 0; i < n; i++)
		{
			if (strlen(names[i]) == json_string_length(v) &&
				strcmp(names[i], json_string_value(v)) == 0)
			{
				*out = i;
				return true;
			}
		}
	}
	expected[0] = '\0';
	for (int i = 0; i < n && o < sizeof(expected); i++)
	{
		int			w = snprintf(expected + o, sizeof(expected) - o, "%s\"%s\"",
								 i == 0 ? "" : (i == n - 1 ? " or " : ", "), names[i]);

		if (w < 0)
			break;
		o += (size_t) w;
	}
	if (json_is_string(v))
	{
		value_excerpt(json_string_value(v), json_string_length(v), found, sizeof(found));
		err_set(ERR_CONFIG, NULL, "config field \"%s\" must be %s, found %s", path, expected,
				found);
	}
	else
		err_set(ERR_CONFIG, NULL, "config field \"%s\" must be %s, found %s", path, expected,
				type_name(v));
	return false;
}

/* The object field key of obj (borrowed) in *out, NULL when absent or null. */
static bool
get_object(const json_t *obj, const char *key, json_t **out)
{
	json_t	   *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_object(v))
	{
		err_set(ERR_CONFIG, NULL, "config field \"%s\" must be an object, found %s", key,
				type_name(v));
		return false;
	}
	*out = v;
	return true;
}

/* ---------------------------------------------------------------------------------------------
 * fields
 * --------------------------------------------------------------------------------------------- */

/* schemas: an array of non-empty strings, default {"public"}, empty = all; duplicates dropped. */
static bool
parse_schemas(const json_t *root, config_t *cfg)
{
	json_t	   *v = json_object_get(root, "schemas");
	size_t		n;

	if (v == NULL || json_is_null(v))
	{
		cfg->schemas = calloc(1, sizeof(char *));
		if (cfg->schemas == NULL || (cfg->schemas[0] = strdup("public")) == NULL)
			return oom();
		cfg->n_schemas = 1;
		return true;
	}
	if (!json_is_array(v))
	{
		err_set(ERR_CONFIG, NULL,
				"config field \"schemas\" must be an array of schema names, found %s",
				type_name(v));
		return false;
	}
	n = json_array_size(v);
	if (n == 0)
	{
		/* as in Airbyte's connector: an empty list means every schema the role can read */
		cfg->schemas = calloc(1, sizeof(char *));
		if (cfg->schemas == NULL)
			return oom();
		cfg->n_schemas = 0;
		return true;
	}
	if (n > MAX_SCHEMAS)
	{
		err_set(ERR_CONFIG, NULL, "config field \"schemas\" lists %zu schemas; at most %d are supported",
				n, MAX_SCHEMAS);
		return false;
	}
	cfg->schemas = calloc(n, sizeof(char *));
	if (cfg->schemas == NULL)
		return oom();
	for (size_t i = 0; i < n; i++)
	{
		json_t	   *e = json_array_get(v, i);
		const char *s;
		size_t		len;
		bool		dup = false;

		if (!json_is_string(e))
		{
			err_set(ERR_CONFIG, NULL, "config field \"schemas[%zu]\" must be a string, found %s",
					i, type_name(e));
			return false;
		}
		s = json_string_value(e);
		len = json_string_length(e);
		if (len == 0)
		{
			err_set(ERR_CONFIG, NULL, "config field \"schemas[%zu]\" must not be empty", i);
			return false;
		}
		if (memchr(s, '\0', len) != NULL)
		{
			err_set(ERR_CONFIG, NULL,
					"config field \"schemas[%zu]\" must not contain a NUL character", i);
			return false;
		}
		for (size_t j = 0; j < cfg->n_schemas && !dup; j++)
			dup = strcmp(cfg->schemas[j], s) == 0;
		if (dup)
			continue;
		cfg->schemas[cfg->n_schemas] = strdup(s);
		if (cfg->schemas[cfg->n_schemas] == NULL)
			return oom();
		cfg->n_schemas++;
	}
	return true;
}

/*
 * An ssl mode by name: libpq's names, plus the spellings Airbyte's JDBC code also accepts
 * ("preferred", "required", "verify_ca", "verify_identity") so legacy configs keep working.
 */
static bool
ssl_mode_by_name(const char *s, size_t len, ssl_mode_t *out)
{
	static const struct
	{
		const char *name;
		ssl_mode_t	mode;
	}			names[] = {
		{"disable", SSL_DISABLE}, {"disabled", SSL_DISABLE},
		{"allow", SSL_ALLOW}, {"allowed", SSL_ALLOW},
		{"prefer", SSL_PREFER}, {"preferred", SSL_PREFER},
		{"require", SSL_REQUIRE}, {"required", SSL_REQUIRE},
		{"verify-ca", SSL_VERIFY_CA}, {"verify_ca", SSL_VERIFY_CA},
		{"verify-full", SSL_VERIFY_FULL}, {"verify_identity", SSL_VERIFY_FULL},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
	{
		if (strlen(names[i].name) == len && strcmp(names[i].name, s) == 0)
		{
			*out = names[i].mode;
			return true;
		}
	}
	return false;
}

/* Record that the ssl mode at path is not one we know; returns false. */
static bool
bad_ssl_mode(const char *path, const json_t *v)
{
	char		found[VALUE_EXCERPT + 16];

	if (json_is_string(v))
		value_excerpt(json_string_value(v), json_string_length(v), found, sizeof(found));
	else
		snprintf(found, sizeof(found), "%s", type_name(v));
	err_set(ERR_CONFIG, NULL,
			"config field \"%s\" must be \"disable\", \"allow\", \"prefer\", \"require\", "
			"\"verify-ca\" or \"verify-full\", found %s", path, found);
	return false;
}

/*
 * Read an optional PEM/secret string of the ssl_mode object; "" counts as absent (Airbyte's UI
 * leaves empty strings behind). Never quotes the value.
 */
static bool
get_ssl_secret(const json_t *obj, const char *key, char **out)
{
	if (!get_string(obj, "ssl_mode", key, false, false, out))
		return false;
	if (*out != NULL && (*out)[0] == '\0')
	{
		free(*out);
		*out = NULL;
	}
	return true;
}

/*
 * ssl_mode: the oneOf object {"mode": ..., certificates}; also the legacy forms, a plain string,
 * or no ssl_mode but a boolean "ssl" (false: disable, true: require).
 *
 * When neither is present we use prefer: it is libpq's own default and what PgJDBC does with no
 * sslmode, it encrypts whenever the server can, and it connects to every server that disable
 * connects to. (Airbyte's Java connector sends sslmode=disable in that case, which never encrypts
 * even when the server offers it; prefer loses no connectivity and gains encryption.)
 */
static bool
parse_ssl(const json_t *root, config_t *cfg, warnings_t *w)
{
	json_t	   *v = json_object_get(root, "ssl_mode");
	json_t	   *mode;
	ssl_mode_t	m;

	if (v == NULL || json_is_null(v))
	{
		json_t	   *ssl = json_object_get(root, "ssl");

		if (ssl == NULL || json_is_null(ssl))
			cfg->ssl_mode = SSL_PREFER;
		else if (json_is_boolean(ssl))
			cfg->ssl_mode = json_is_true(ssl) ? SSL_REQUIRE : SSL_DISABLE;
		else
		{
			err_set(ERR_CONFIG, NULL, "config field \"ssl\" must be a boolean, found %s",
					type_name(ssl));
			return false;
		}
		return true;
	}
	if (json_is_string(v))
	{
		if (!ssl_mode_by_name(json_string_value(v), json_string_length(v), &cfg->ssl_mode))
			return bad_ssl_mode("ssl_mode", v);
		if (cfg->ssl_mode == SSL_VERIFY_CA || cfg->ssl_mode == SSL_VERIFY_FULL)
		{
			err_set(ERR_CONFIG, NULL,
					"config is missing required field \"ssl_mode.ca_certificate\" (needed for %s); "
					"give ssl_mode as an object with mode and ca_certificate",
					ssl_mode_names[cfg->ssl_mode]);
			return false;
		}
		return true;
	}
	if (!json_is_object(v))
	{
		err_set(ERR_CONFIG, NULL, "config field \"ssl_mode\" must be an object, found %s",
				type_name(v));
		return false;
	}
	mode = json_object_get(v, "mode");
	if (mode == NULL || json_is_null(mode))
	{
		err_set(ERR_CONFIG, NULL, "config is missing required field \"ssl_mode.mode\"");
		return false;
	}
	if (!json_is_string(mode) ||
		!ssl_mode_by_name(json_string_value(mode), json_string_length(mode), &m))
		return bad_ssl_mode("ssl_mode.mode", mode);
	cfg->ssl_mode = m;

	if (!get_ssl_secret(v, "ca_certificate", &cfg->ca_certificate) ||
		!get_ssl_secret(v, "client_certificate", &cfg->client_certificate) ||
		!get_ssl_secret(v, "client_key", &cfg->client_key) ||
		!get_ssl_secret(v, "client_key_password", &cfg->client_key_password))
		return false;

	if ((m == SSL_VERIFY_CA || m == SSL_VERIFY_FULL) && cfg->ca_certificate == NULL)
	{
		err_set(ERR_CONFIG, NULL,
				"config is missing required field \"ssl_mode.ca_certificate\" (needed for %s): "
				"paste the PEM text of the certificate authority that signed the server's "
				"certificate, or choose ssl mode require", ssl_mode_names[m]);
		return false;
	}
	/* As Airbyte does, a client certificate without its key (or the reverse) is ignored. */
	if ((cfg->client_certificate == NULL) != (cfg->client_key == NULL))
	{
		warn_add(w, "ssl_mode: ignoring %s because %s is not set; client certificate "
				 "authentication needs both",
				 cfg->client_certificate ? "client_certificate" : "client_key",
				 cfg->client_certificate ? "client_key" : "client_certificate");
		free_secret(cfg->client_certificate);
		free_secret(cfg->client_key);
		cfg->client_certificate = NULL;
		cfg->client_key = NULL;
	}
	return true;
}

/* A replication slot name as PostgreSQL accepts it: [a-z0-9_]{1,63}. */
static bool
valid_slot_name(const char *s)
{
	size_t		n = strlen(s);

	if (n == 0 || n > PG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* The CDC members of replication_method. */
static bool
parse_cdc(const json_t *rm, config_t *cfg)
{
	const char *p = "replication_method";
	char	   *plugin = NULL;
	int			e;

	if (!get_string(rm, p, "plugin", false, false, &plugin))
		return false;
	if (plugin != NULL && strcmp(plugin, "pgoutput") != 0)
	{
		char		found[VALUE_EXCERPT + 16];

		value_excerpt(plugin, strlen(plugin), found, sizeof(found));
		free(plugin);
		err_set(ERR_CONFIG, NULL,
				"config field \"replication_method.plugin\" is %s, but only \"pgoutput\" is "
				"supported: set plugin to \"pgoutput\" (built into PostgreSQL 10 and later) "
				"and use a replication slot created with it", found);
		return false;
	}
	free(plugin);

	if (!get_string(rm, p, "replication_slot", true, true, &cfg->replication_slot))
		return false;
	if (!valid_slot_name(cfg->replication_slot))
	{
		char		found[VALUE_EXCERPT + 16];

		value_excerpt(cfg->replication_slot, strlen(cfg->replication_slot), found,
					  sizeof(found));
		err_set(ERR_CONFIG, NULL,
				"config field \"replication_method.replication_slot\" must be 1 to 63 "
				"characters, each a lower-case letter, digit or underscore (PostgreSQL's rule "
				"for replication slot names), found %s", found);
		return false;
	}
	if (!get_string(rm, p, "publication", true, true, &cfg->publication))
		return false;
	if (strlen(cfg->publication) > PG_NAME_MAX)
	{
		err_set(ERR_CONFIG, NULL,
				"config field \"replication_method.publication\" must be at most %d bytes "
				"(PostgreSQL's limit on names), found %zu bytes", PG_NAME_MAX,
				strlen(cfg->publication));
		return false;
	}
	if (!get_int(rm, p, "initial_waiting_seconds", 120, 2400, 1200, false,
				 &cfg->initial_waiting_seconds) ||
		!get_int(rm, p, "queue_size", 1000, 10000, 10000, false, &cfg->queue_size))
		return false;
	if (!get_enum(rm, p, "lsn_commit_behaviour", lsn_commit_names, 2, 0, &e))
		return false;
	cfg->lsn_commit = e == 0 ? LSN_COMMIT_AFTER_DESTINATION : LSN_COMMIT_WHILE_READING;
	if (!get_string(rm, p, "heartbeat_action_query", false, false, &cfg->heartbeat_action_query))
		return false;
	if (cfg->heartbeat_action_query != NULL && cfg->heartbeat_action_query[0] == '\0')
	{
		free(cfg->heartbeat_action_query);
		cfg->heartbeat_action_query = NULL;
	}
	if (!get_enum(rm, p, "invalid_cdc_cursor_position_behavior", invalid_cursor_names, 2, 0, &e))
		return false;
	cfg->invalid_cursor = e == 0 ? INVALID_CURSOR_FAIL : INVALID_CURSOR_RESYNC;
	if (!get_int(rm, p, "initial_load_timeout_hours", 4, 24, 8, false,
				 &cfg->initial_load_timeout_hours) ||
		!get_int(rm, p, "backfill_chunk_size", 1, 10000000, 200000, false,
				 &cfg->backfill_chunk_size) ||
		!get_int(rm, p, "checkpoint_interval_seconds", 1, 3600, 5, false,
				 &cfg->checkpoint_interval_seconds) ||
		!get_int(rm, p, "checkpoint_records", 1, 10000000, 10000, false,
				 &cfg->checkpoint_records) ||
		!get_int(rm, p, "initial_load_timeout_seconds", 0, 30 * 86400,
				 cfg->initial_load_timeout_hours * 3600, false, &cfg->initial_load_timeout_seconds))
		return false;
	return true;
}

/* replication_method: absent means Standard; otherwise {"method": "CDC"|"Xmin"|"Standard", ...}. */
static bool
parse_replication(const json_t *root, config_t *cfg)
{
	static const char *const methods[] = {"Standard", "CDC", "Xmin"};
	json_t	   *rm;
	json_t	   *method;
	int			m;

	cfg->full_refresh_checkpoint_min_mb = 8192;	/* CDC configs keep it (and never use it) */
	if (!get_object(root, "replication_method", &rm))
		return false;
	if (rm == NULL)
	{
		cfg->method = REPL_STANDARD;
		return true;
	}
	method = json_object_get(rm, "method");
	if (method == NULL || json_is_null(method))
	{
		err_set(ERR_CONFIG, NULL, "config is missing required field \"replication_method.method\"");
		return false;
	}
	if (!get_enum(rm, "replication_method", "method", methods, 3, 0, &m))
		return false;
	switch (m)
	{
		case 1:
			cfg->method = REPL_CDC;
			return parse_cdc(rm, cfg);
		case 2:
			cfg->method = REPL_XMIN;
			break;
		default:
			cfg->method = REPL_STANDARD;
			break;
	}
	return get_int(rm, "replication_method", "full_refresh_checkpoint_min_mb", 0, 1 << 30, 8192,
				   false, &cfg->full_refresh_checkpoint_min_mb);
}

/* An IPv6 address in brackets, as a JDBC URL writes it ("[::1]"), made bare for libpq and ssh. */
static void
unbracket(char *host)
{
	size_t		n = strlen(host);

	if (n > 2 && host[0] == '[' && host[n - 1] == ']' && strchr(host, ':') != NULL)
	{
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
}

/*
 * tunnel_method: absent or NO_TUNNEL connects directly; SSH_KEY_AUTH and SSH_PASSWORD_AUTH
 * connect through a jump server (tunnel.c). The host may be written in brackets ("[::1]").
 */
static bool
parse_tunnel(const json_t *root, config_t *cfg)
{
	static const char *const methods[] = {"NO_TUNNEL", "SSH_KEY_AUTH", "SSH_PASSWORD_AUTH"};
	json_t	   *t;
	json_t	   *tm;
	int			m;

	cfg->tunnel = TUNNEL_NONE;
	if (!get_object(root, "tunnel_method", &t))
		return false;
	if (t == NULL)
		return true;
	tm = json_object_get(t, "tunnel_method");
	if (tm == NULL || json_is_null(tm))
	{
		err_set(ERR_CONFIG, NULL, "config is missing required field \"tunnel_method.tunnel_method\"");
		return false;
	}
	if (!get_enum(t, "tunnel_method", "tunnel_method", methods, 3, 0, &m))
		return false;
	if (m == 0)
		return true;
	cfg->tunnel = m == 1 ? TUNNEL_SSH_KEY : TUNNEL_SSH_PASSWORD;
	if (!get_string(t, "tunnel_method", "tunnel_host", true, true, &cfg->tunnel_host) ||
		!get_int(t, "tunnel_method", "tunnel_port", 1, 65535, 22, false, &cfg->tunnel_port) ||
		!get_string(t, "tunnel_method", "tunnel_user", true, true, &cfg->tunnel_user))
		return false;
	if (cfg->tunnel == TUNNEL_SSH_KEY
		? !get_string(t, "tunnel_method", "ssh_key", true, true, &cfg->ssh_key)
		: !get_string(t, "tunnel_method", "tunnel_user_password", true, true,
					  &cfg->tunnel_user_password))
		return false;
	unbracket(cfg->tunnel_host);
	/* ssh would read a leading '-' as an option, and these end up on its command line */
	if (cfg->tunnel_host[0] == '-' || strpbrk(cfg->tunnel_host, " \t\r\n@") != NULL)
	{
		err_set(ERR_CONFIG, NULL, "config field \"tunnel_method.tunnel_host\" must be a host name "
				"or an IP address of the jump server");
		return false;
	}
	if (strchr(cfg->host, ',') != NULL)
	{
		err_set(ERR_CONFIG, NULL, "config field \"host\" names several hosts, but an SSH tunnel "
				"forwards to one: give the one host the jump server should reach");
		return false;
	}
	if (cfg->tunnel_user[0] == '-' || strpbrk(cfg->tunnel_user, " \t\r\n") != NULL)
	{
		err_set(ERR_CONFIG, NULL, "config field \"tunnel_method.tunnel_user\" must be a user name "
				"on the jump server, without spaces or a leading '-'");
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------------------------------------
 * jdbc_url_params
 * --------------------------------------------------------------------------------------------- */

typedef enum
{
	MAP_COPY,					/* value passed as is */
	MAP_BOOL01,					/* JDBC true/false to libpq 1/0 */
	MAP_SSLMODE,				/* sets cfg->ssl_mode */
	MAP_TARGET,					/* targetServerType to target_session_attrs */
	MAP_OWN_FIELD,				/* has a dedicated config field: ignored */
	MAP_CONNECTOR,				/* set by the connector itself: ignored */
	MAP_SSL_FLAG				/* JDBC "ssl": ignored, ssl_mode decides */
} jdbc_kind;

typedef struct jdbc_map
{
	const char *name;			/* JDBC (PgJDBC) or libpq name */
	const char *libpq;			/* libpq keyword, or NULL */
	jdbc_kind	kind;
} jdbc_map;

/*
 * PgJDBC parameters with a libpq equivalent, and the names nobody may set here. A libpq keyword
 * given directly that is not listed passes through if PQconndefaults() knows it.
 */
static const jdbc_map jdbc_maps[] = {
	{"connectTimeout", "connect_timeout", MAP_COPY},
	{"loginTimeout", "connect_timeout", MAP_COPY},
	{"ApplicationName", "application_name", MAP_COPY},
	{"applicationName", "application_name", MAP_COPY},
	{"options", "options", MAP_COPY},
	{"sslmode", "sslmode", MAP_SSLMODE},
	{"sslrootcert", "sslrootcert", MAP_COPY},
	{"sslcert", "sslcert", MAP_COPY},
	{"sslkey", "sslkey", MAP_COPY},
	{"sslpassword", "sslpassword", MAP_COPY},
	{"tcpKeepAlive", "keepalives", MAP_BOOL01},
	{"targetServerType", "target_session_attrs", MAP_TARGET},
	{"gssEncMode", "gssencmode", MAP_COPY},
	{"channelBinding", "channel_binding", MAP_COPY},
	{"ssl", NULL, MAP_SSL_FLAG},
	/* the dedicated fields win */
	{"user", NULL, MAP_OWN_FIELD},
	{"password", NULL, MAP_OWN_FIELD},
	{"PGUSER", NULL, MAP_OWN_FIELD},
	{"PGPASSWORD", NULL, MAP_OWN_FIELD},
	{"PGHOST", NULL, MAP_OWN_FIELD},
	{"PGPORT", NULL, MAP_OWN_FIELD},
	{"PGDBNAME", NULL, MAP_OWN_FIELD},
	{"host", NULL, MAP_OWN_FIELD},
	{"hostaddr", NULL, MAP_OWN_FIELD},
	{"port", NULL, MAP_OWN_FIELD},
	{"dbname", NULL, MAP_OWN_FIELD},
	{"service", NULL, MAP_OWN_FIELD},
	{"passfile", NULL, MAP_OWN_FIELD},
	/* the connector sets these itself */
	{"replication", NULL, MAP_CONNECTOR},
	{"client_encoding", NULL, MAP_CONNECTOR},
	{"charSet", NULL, MAP_CONNECTOR},
};

/* True for names whose value must never be shown (password, sslpassword, ...). */
static bool
secret_param(const char *name)
{
	static const char needle[] = "password";
	size_t		n = strlen(name);

	for (size_t i = 0; i + sizeof(needle) - 1 <= n; i++)
		if (strncasecmp(name + i, needle, sizeof(needle) - 1) == 0)
			return true;
	return false;
}

/*
 * Decode %XX escapes in s[0..n) into a new string, and '+' into a space, as PgJDBC decodes a URL's
 * values (java.net.URLDecoder). NULL with *bad set on a malformed escape or an escaped NUL; NULL
 * with *bad clear on allocation failure.
 */
static char *
pct_decode(const char *s, size_t n, bool *bad)
{
	char	   *out = malloc(n + 1);
	size_t		o = 0;

	*bad = false;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '%')
		{
			int			h = i + 2 < n ? hexval(s[i + 1]) : -1;
			int			l = i + 2 < n ? hexval(s[i + 2]) : -1;

			if (h < 0 || l < 0 || (h == 0 && l == 0))
			{
				*bad = true;
				free(out);
				return NULL;
			}
			out[o++] = (char) (h * 16 + l);
			i += 2;
			continue;
		}
		if (s[i] == '\0')
		{
			*bad = true;
			free(out);
			return NULL;
		}
		out[o++] = s[i] == '+' ? ' ' : s[i];
	}
	out[o] = '\0';
	return out;
}

/* Add (or replace: the last occurrence wins, as in a JDBC URL) a libpq keyword. */
static bool
add_libpq_param(config_t *cfg, const char *key, const char *value)
{
	config_kv  *grown;
	char	   *v;

	for (size_t i = 0; i < cfg->n_libpq_params; i++)
	{
		if (strcmp(cfg->libpq_params[i].key, key) == 0)
		{
			if ((v = strdup(value)) == NULL)
				return oom();
			free_secret(cfg->libpq_params[i].value);
			cfg->libpq_params[i].value = v;
			return true;
		}
	}
	if (cfg->n_libpq_params >= MAX_LIBPQ_PARAMS)
	{
		err_set(ERR_CONFIG, NULL, "config field \"jdbc_url_params\" sets more than %d parameters",
				MAX_LIBPQ_PARAMS);
		return false;
	}
	grown = realloc(cfg->libpq_params, (cfg->n_libpq_params + 1) * sizeof(config_kv));
	if (grown == NULL)
		return oom();
	cfg->libpq_params = grown;
	grown[cfg->n_libpq_params].key = strdup(key);
	grown[cfg->n_libpq_params].value = strdup(value);
	if (grown[cfg->n_libpq_params].key == NULL || grown[cfg->n_libpq_params].value == NULL)
	{
		free(grown[cfg->n_libpq_params].key);
		free_secret(grown[cfg->n_libpq_params].value);
		return oom();
	}
	cfg->n_libpq_params++;
	return true;
}

/* Is key a libpq connection keyword (not a debug-only one)? opts is PQconndefaults()'s list. */
static bool
libpq_knows(const PQconninfoOption *opts, const char *key)
{
	for (const PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, key) == 0)
			return o->dispchar == NULL || o->dispchar[0] != 'D';
	return false;
}

/* Apply one decoded key=value pair of jdbc_url_params. */
static bool
apply_jdbc_param(config_t *cfg, const char *key, const char *value, bool ssl_explicit,
				 PQconninfoOption **opts, warnings_t *w)
{
	const jdbc_map *map = NULL;
	char		found[VALUE_EXCERPT + 16];

	for (size_t i = 0; i < sizeof(jdbc_maps) / sizeof(jdbc_maps[0]); i++)
	{
		if (strcmp(jdbc_maps[i].name, key) == 0)
		{
			map = &jdbc_maps[i];
			break;
		}
	}
	if (map == NULL)
	{
		/* a libpq keyword given directly */
		if (*opts == NULL)
			*opts = PQconndefaults();
		if (*opts == NULL)
			return oom();
		if (libpq_knows(*opts, key))
			return add_libpq_param(cfg, key, value);
		value_excerpt(key, strlen(key), found, sizeof(found));
		warn_add(w, "jdbc_url_params: ignoring %s, which libpq does not support", found);
		return true;
	}
	switch (map->kind)
	{
		case MAP_COPY:
			return add_libpq_param(cfg, map->libpq, value);
		case MAP_BOOL01:
			if (strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0)
				return add_libpq_param(cfg, map->libpq, "1");
			if (strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0)
				return add_libpq_param(cfg, map->libpq, "0");
			value_excerpt(value, strlen(value), found, sizeof(found));
			err_set(ERR_CONFIG, NULL,
					"config field \"jdbc_url_params\": \"%s\" must be true or false, found %s",
					key, found);
			return false;
		case MAP_SSLMODE:

			/*
			 * sslmode in jdbc_url_params overrides ssl_mode: it is the more specific setting,
			 * written by hand by someone who wanted it (Airbyte's JDBC URL would let its own
			 * sslmode, appended later, win; we prefer not to ignore the user silently).
			 */
			if (!ssl_mode_by_name(value, strlen(value), &cfg->ssl_mode))
			{
				value_excerpt(value, strlen(value), found, sizeof(found));
				err_set(ERR_CONFIG, NULL,
						"config field \"jdbc_url_params\": \"%s\" must be \"disable\", \"allow\", "
						"\"prefer\", \"require\", \"verify-ca\" or \"verify-full\", found %s",
						key, found);
				return false;
			}
			if (ssl_explicit)
				warn_add(w, "jdbc_url_params: \"%s=%s\" overrides ssl_mode", key,
						 ssl_mode_names[cfg->ssl_mode]);
			return true;
		case MAP_TARGET:
			{
				static const struct
				{
					const char *jdbc;
					const char *libpq;
				}			targets[] = {
					{"any", "any"},
					{"primary", "read-write"}, {"master", "read-write"},
					{"secondary", "read-only"}, {"slave", "read-only"}, {"standby", "read-only"},
					{"preferSecondary", "prefer-standby"}, {"preferSlave", "prefer-standby"},
					{"preferStandby", "prefer-standby"},
				};

				for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
					if (strcmp(targets[i].jdbc, value) == 0)
						return add_libpq_param(cfg, map->libpq, targets[i].libpq);
				value_excerpt(value, strlen(value), found, sizeof(found));
				err_set(ERR_CONFIG, NULL,
						"config field \"jdbc_url_params\": \"%s\" must be any, primary, secondary "
						"or preferSecondary, found %s", key, found);
				return false;
			}
		case MAP_OWN_FIELD:
			warn_add(w, "jdbc_url_params: ignoring \"%s\"; the dedicated config fields (host, "
					 "port, database, username, password) are used instead", key);
			return true;
		case MAP_CONNECTOR:
			warn_add(w, "jdbc_url_params: ignoring \"%s\", which the connector sets itself", key);
			return true;
		case MAP_SSL_FLAG:
			warn_add(w, "jdbc_url_params: ignoring \"%s\"; ssl_mode (or sslmode) chooses the "
					 "TLS mode", key);
			return true;
	}
	return true;
}

/*
 * jdbc_url_params: "key=value&key2=value2", %XX-decoded. Pairs mapping to libpq keywords land in
 * cfg->libpq_params (applied after the connector's own keywords, so they win); the rest are
 * warned about. Values are never quoted in messages: they may hold a password.
 */
static bool
parse_jdbc(const json_t *root, config_t *cfg, warnings_t *w)
{
	PQconninfoOption *opts = NULL;
	const char *p;
	int			pair = 0;
	bool		ok = true;
	bool		ssl_explicit;

	if (!get_string(root, NULL, "jdbc_url_params", false, false, &cfg->jdbc_url_params))
		return false;
	if (cfg->jdbc_url_params == NULL)
		return true;
	ssl_explicit = present(json_object_get(root, "ssl_mode")) ||
		present(json_object_get(root, "ssl"));
	p = cfg->jdbc_url_params;
	while (ok && *p != '\0')
	{
		const char *end = strchr(p, '&');
		size_t		len = end ? (size_t) (end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		char	   *key = NULL;
		char	   *value = NULL;
		bool		bad = false;

		if (len > 0)
		{
			pair++;
			if (eq == NULL)
			{
				err_set(ERR_CONFIG, NULL,
						"config field \"jdbc_url_params\" must be key=value pairs separated by "
						"'&', but pair %d has no '='", pair);
				ok = false;
			}
			else if (eq == p)
			{
				err_set(ERR_CONFIG, NULL,
						"config field \"jdbc_url_params\" must be key=value pairs separated by "
						"'&', but pair %d has an empty key", pair);
				ok = false;
			}
			else if ((key = pct_decode(p, (size_t) (eq - p), &bad)) == NULL ||
					 (value = pct_decode(eq + 1, len - (size_t) (eq - p) - 1, &bad)) == NULL)
			{
				if (bad)
					err_set(ERR_CONFIG, NULL,
							"config field \"jdbc_url_params\": pair %d has an invalid %%-escape "
							"(use %%XX with two hex digits, not %%00)", pair);
				else
					oom();
				ok = false;
			}
			else
				ok = apply_jdbc_param(cfg, key, value, ssl_explicit, &opts, w);
			free(key);
			free_secret(value);
		}
		p += len;
		if (*p == '&')
			p++;
	}
	if (opts != NULL)
		PQconninfoFree(opts);
	return ok;
}

/* ---------------------------------------------------------------------------------------------
 * temporary certificate files
 * --------------------------------------------------------------------------------------------- */

/* Every temporary file still on disk, removed at exit if config_free() never ran. */
static char **tmp_files;
static size_t n_tmp_files;
static size_t cap_tmp_files;
static bool tmp_atexit_registered;

/* atexit handler: remove what is left; safe to call more than once. */
static void
tmp_files_cleanup(void)
{
	for (size_t i = 0; i < n_tmp_files; i++)
	{
		if (tmp_files[i] != NULL)
		{
			unlink(tmp_files[i]);
			free(tmp_files[i]);
			tmp_files[i] = NULL;
		}
	}
	free(tmp_files);
	tmp_files = NULL;
	n_tmp_files = cap_tmp_files = 0;
}

/* Remember a temporary file for the exit handler (installed on first use). */
static bool
tmp_register(const char *path)
{
	char	   *copy;

	if (!tmp_atexit_registered)
	{
		if (atexit(tmp_files_cleanup) != 0)
			return oom();
		tmp_atexit_registered = true;
	}
	if (n_tmp_files == cap_tmp_files)
	{
		size_t		cap = cap_tmp_files ? cap_tmp_files * 2 : 8;
		char	  **grown = realloc(tmp_files, cap * sizeof(char *));

		if (grown == NULL)
			return oom();
		tmp_files = grown;
		cap_tmp_files = cap;
	}
	if ((copy = strdup(path)) == NULL)
		return oom();
	tmp_files[n_tmp_files++] = copy;
	return true;
}

/* Remove a temporary file and forget it. */
static void
tmp_remove(const char *path)
{
	unlink(path);
	for (size_t i = 0; i < n_tmp_files; i++)
	{
		if (tmp_files[i] != NULL && strcmp(tmp_files[i], path) == 0)
		{
			free(tmp_files[i]);
			tmp_files[i] = tmp_files[--n_tmp_files];
			tmp_files[n_tmp_files] = NULL;
			break;
		}
	}
}

/*
 * Write pem (the text of config field `field`) to a new 0600 temporary file named after tag; its
 * path goes to *out_path (malloc'd). A PEM pasted with literal "\n" (or "\r\n") sequences and no
 * real newline but a final one (a common copy-paste accident) is unfolded, CRLF line ends become
 * LF, and the text ends with a newline (OpenSSH refuses a key without one).
 */
static bool
write_pem_file(const char *field, const char *tag, const char *pem, char **out_path)
{
	const char *dir = getenv("TMPDIR");
	char		path[PATH_MAX];
	const char *nl = strchr(pem, '\n');
	/* literal "\n" sequences and no real line break, but perhaps a final one */
	bool		folded = strstr(pem, "\\n") != NULL &&
		(nl == NULL || strspn(nl, "\r\n") == strlen(nl));
	char	   *data;
	size_t		len = 0;
	int			fd;
	int			n;

	/* a path, or a file's name, is not what it takes (and the value is not repeated: a secret) */
	if (strstr(pem, "-----BEGIN") == NULL && strchr(pem, '\n') == NULL &&
		(pem[0] == '/' || pem[0] == '~' || strncmp(pem, "./", 2) == 0 ||
		 (strlen(pem) > 4 && (strcmp(pem + strlen(pem) - 4, ".pem") == 0 ||
							  strcmp(pem + strlen(pem) - 4, ".crt") == 0 ||
							  strcmp(pem + strlen(pem) - 4, ".key") == 0))))
	{
		err_set(ERR_CONFIG, NULL, "config field \"%s\" must hold the PEM text itself, from its "
				"\"-----BEGIN\" line to its \"-----END\" line, not a file path", field);
		return false;
	}
	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	n = snprintf(path, sizeof(path), "%s/source-postgres-%s-XXXXXX", dir, tag);
	if (n < 0 || (size_t) n >= sizeof(path))
	{
		err_set(ERR_SYSTEM, NULL, "could not create a temporary file for %s: TMPDIR is too long",
				field);
		return false;
	}
	data = malloc(strlen(pem) + 2);
	if (data == NULL)
		return oom();
	for (const char *s = pem; *s; s++)
	{
		if (folded && s[0] == '\\' && s[1] == 'n')
		{
			data[len++] = '\n';
			s++;
		}
		else if (folded && s[0] == '\\' && s[1] == 'r' && s[2] == '\\' && s[3] == 'n')
			s++;				/* a literal "\r" before a literal "\n": dropped */
		else if (!(s[0] == '\r' && s[1] == '\n'))
			data[len++] = *s;
	}
	if (len > 0 && data[len - 1] != '\n')
		data[len++] = '\n';
	data[len] = '\0';

	fd = mkstemp(path);
	if (fd < 0)
	{
		err_set(ERR_SYSTEM, strerror(errno),
				"could not create a temporary file for %s in \"%s\"; set TMPDIR to a "
				"writable directory", field, dir);
		free_secret(data);
		return false;
	}
	if (!tmp_register(path))
	{
		close(fd);
		unlink(path);
		free_secret(data);
		return false;
	}
	if (fchmod(fd, S_IRUSR | S_IWUSR) != 0)
		goto fail;
	if (!fd_write_all(fd, data, len))
		goto fail;
	if (close(fd) != 0)
	{
		fd = -1;
		goto fail;
	}
	free_secret(data);
	*out_path = strdup(path);
	if (*out_path == NULL)
	{
		tmp_remove(path);
		return oom();
	}
	return true;

fail:
	{
		int			saved = errno;

		if (fd >= 0)
			close(fd);
		tmp_remove(path);
		free_secret(data);
		err_set(ERR_SYSTEM, strerror(saved),
				"could not write %s to a temporary file in \"%s\"", field, dir);
		return false;
	}
}

/* Materialise the PEM texts the final ssl mode uses. */
static bool
write_cert_files(config_t *cfg)
{
	if ((cfg->ssl_mode == SSL_VERIFY_CA || cfg->ssl_mode == SSL_VERIFY_FULL) &&
		cfg->ca_certificate != NULL &&
		!write_pem_file("ssl_mode.ca_certificate", "ca", cfg->ca_certificate,
						&cfg->ssl_root_cert_file))
		return false;
	if (cfg->ssl_mode != SSL_DISABLE && cfg->client_certificate != NULL &&
		cfg->client_key != NULL)
	{
		if (!write_pem_file("ssl_mode.client_certificate", "cert", cfg->client_certificate,
							&cfg->ssl_cert_file) ||
			!write_pem_file("ssl_mode.client_key", "key", cfg->client_key, &cfg->ssl_key_file))
			return false;
	}
	if (cfg->tunnel == TUNNEL_SSH_KEY &&
		!write_pem_file("tunnel_method.ssh_key", "ssh-key", cfg->ssh_key, &cfg->ssh_key_file))
		return false;
	return true;
}

/*
 * Whether a value looks like a libpq connection string or URI ("host=h password=...",
 * "postgresql://user:password@host/db") rather than one name: such a value is refused without
 * being quoted, since it may hold a password, and the messages of a failed connection quote host,
 * database and username.
 */
static bool
looks_like_conninfo(const char *v)
{
	PQconninfoOption *opts;
	char	   *errmsg = NULL;

	if (strstr(v, "://") != NULL)
		return true;
	if (strchr(v, '=') == NULL)
		return false;
	if (strpbrk(v, " \t\r\n") != NULL)
		return true;
	opts = PQconninfoParse(v, &errmsg);
	PQconninfoFree(opts);
	PQfreemem(errmsg);
	return opts != NULL;
}

/* Spaces and line ends around a value pasted from elsewhere: not part of it. */
static void
trim(char *v)
{
	size_t		start = 0;
	size_t		len;

	if (v == NULL)
		return;
	while (v[start] && isspace((unsigned char) v[start]))
		start++;
	len = strlen(v + start);
	while (len > 0 && isspace((unsigned char) v[start + len - 1]))
		len--;
	memmove(v, v + start, len);
	v[len] = '\0';
}

/* host, database and username name one thing each (see looks_like_conninfo). */
static bool
check_plain_fields(config_t *cfg)
{
	static const char *const rest = "put the host, port, database, username and password in "
		"their own fields, and other connection parameters in jdbc_url_params";
	const struct
	{
		const char *field;
		const char *value;
		const char *what;
	}			names[] = {
		{"database", cfg->database, "the name of the database"},
		{"username", cfg->username, "the name of the role"},
	};
	const char *h;

	if (cfg->host == NULL)
		return true;
	trim(cfg->host);
	h = cfg->host;
	if (h[0] == '\0')
	{
		err_set(ERR_CONFIG, NULL, "config field \"host\" is blank; give the server's host name or "
				"IP address");
		return false;
	}

	/*
	 * A host is a name or an address (IPv6 in brackets or not), a comma-separated list of them
	 * (libpq tries each), or a Unix socket directory (a path; "@name" for an abstract one). Any
	 * connection string or URI has an '=' or a '/'.
	 */
	if (h[0] != '/' && h[0] != '@' && strpbrk(h, " \t\r\n=@/") != NULL)
	{
		err_set(ERR_CONFIG, NULL, "config field \"host\" must be the server's host name or IP "
				"address, not a connection string or URI; %s", rest);
		return false;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (looks_like_conninfo(names[i].value))
		{
			err_set(ERR_CONFIG, NULL, "config field \"%s\" must be %s, not a connection string "
					"or URI; %s", names[i].field, names[i].what, rest);
			return false;
		}
	return true;
}

/* ---------------------------------------------------------------------------------------------
 * public interface
 * --------------------------------------------------------------------------------------------- */

void
config_init(config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

/*
 * Parse a validated config. cfg is initialised here (anything it held is overwritten, not
 * freed). On failure the partial result is freed again, so config_free() afterwards is a no-op.
 */
bool
config_parse(const json_t *root, config_t *cfg)
{
	warnings_t	w = {{NULL}, 0};
	bool		ok;

	config_init(cfg);
	if (!json_is_object(root))
	{
		err_set(ERR_CONFIG, NULL, "config must be a JSON object, found %s", type_name(root));
		return false;
	}
	ok = get_string(root, NULL, "host", true, true, &cfg->host) &&
		get_int(root, NULL, "port", 1, 65535, 5432, true, &cfg->port) &&
		get_string(root, NULL, "database", true, true, &cfg->database) &&
		get_string(root, NULL, "username", true, true, &cfg->username) &&
		check_plain_fields(cfg) &&
		get_string(root, NULL, "password", false, false, &cfg->password) &&
		parse_schemas(root, cfg) &&
		parse_ssl(root, cfg, &w) &&
		parse_jdbc(root, cfg, &w) &&
		parse_replication(root, cfg) &&
		parse_tunnel(root, cfg) &&
		get_int(root, NULL, "connect_timeout_seconds", 1, 300, 10, false,
				&cfg->connect_timeout_seconds);
	if (ok)
		unbracket(cfg->host);

	/* outside CDC these keep their defaults */
	if (ok && cfg->method != REPL_CDC)
	{
		cfg->initial_waiting_seconds = 1200;
		cfg->queue_size = 10000;
		cfg->lsn_commit = LSN_COMMIT_AFTER_DESTINATION;
		cfg->invalid_cursor = INVALID_CURSOR_FAIL;
		cfg->initial_load_timeout_hours = 8;
		cfg->backfill_chunk_size = 200000;
		cfg->checkpoint_interval_seconds = 5;
		cfg->checkpoint_records = 10000;
		cfg->initial_load_timeout_seconds = 8 * 3600;
	}
	ok = ok && write_cert_files(cfg);
	if (ok)
	{
		for (int i = 0; i < w.n; i++)
			log_warn("%s", w.msg[i]);
	}
	else
		config_free(cfg);
	warnings_free(&w);
	return ok;
}

/* Describe a jansson parse error without the text near it (which may be a secret). */
static void
json_error_detail(const json_error_t *jerr, char *out, size_t outsz)
{
	char		text[JSON_ERROR_TEXT_LENGTH];
	char	   *near;

	snprintf(text, sizeof(text), "%s", jerr->text);
	near = strstr(text, " near ");
	if (near != NULL)
		*near = '\0';
	snprintf(out, outsz, "%s at line %d, column %d (byte %d)", text, jerr->line, jerr->column,
			 jerr->position);
}

bool
config_load(const char *path, config_t *cfg)
{
	int			fd;
	char	   *data = NULL;
	size_t		len = 0;
	size_t		cap = 0;
	size_t		skip = 0;
	bool		blank = true;
	json_t	   *root = NULL;
	json_error_t jerr;
	bool		ok = false;

	config_init(cfg);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
	{
		if (errno == ENOENT)
			err_set(ERR_CONFIG, strerror(errno), "config file \"%s\" does not exist", path);
		else
			err_set(ERR_CONFIG, strerror(errno), "could not open config file \"%s\": %s", path,
					strerror(errno));
		return false;
	}
	for (;;)
	{
		ssize_t		r;

		if (len == cap)
		{
			size_t		ncap = cap ? cap * 2 : 8192;
			char	   *grown;

			if (cap >= CONFIG_FILE_MAX)
			{
				err_set(ERR_CONFIG, NULL, "config file \"%s\" is too large (%zu bytes or more)",
						path, CONFIG_FILE_MAX);
				goto done;
			}
			grown = malloc(ncap + 1);
			if (grown == NULL)
			{
				oom();
				goto done;
			}
			if (data != NULL)
			{
				memcpy(grown, data, len);
				explicit_bzero(data, len);
				free(data);
			}
			data = grown;
			cap = ncap;
		}
		r = read(fd, data + len, cap - len);
		if (r < 0)
		{
			if (errno == EINTR)
				continue;
			err_set(ERR_CONFIG, strerror(errno), "could not read config file \"%s\": %s", path,
					strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		len += (size_t) r;
	}
	if (data == NULL)
	{
		err_set(ERR_CONFIG, NULL, "config file \"%s\" is empty", path);
		goto done;
	}
	data[len] = '\0';
	/* a UTF-8 byte order mark left by some editors */
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		skip = 3;
	for (size_t i = skip; i < len && blank; i++)
		blank = isspace((unsigned char) data[i]) != 0;
	if (blank)
	{
		err_set(ERR_CONFIG, NULL, "config file \"%s\" is empty", path);
		goto done;
	}
	/* any JSON value: one that is not an object is told as such (below) */
	root = json_loadb(data + skip, len - skip, JSON_DECODE_ANY, &jerr);
	if (root == NULL)
	{
		char		detail[JSON_ERROR_TEXT_LENGTH + 64];
		char		reason[JSON_ERROR_TEXT_LENGTH];
		char	   *near;

		json_error_detail(&jerr, detail, sizeof(detail));
		/* jansson's reason, without the text it quotes ("near ..."), which may be a secret's */
		snprintf(reason, sizeof(reason), "%s", jerr.text);
		if ((near = strstr(reason, " near ")) != NULL)
			*near = '\0';
		if (json_error_code(&jerr) == json_error_numeric_overflow)
			err_set(ERR_CONFIG, detail, "config file \"%s\" holds a number too large for a 64-bit "
					"integer (line %d, column %d)", path, jerr.line, jerr.column);
		else
			err_set(ERR_CONFIG, detail, "config file \"%s\" is not valid JSON: %s (line %d, column "
					"%d)", path, reason, jerr.line, jerr.column);
		goto done;
	}
	if (!json_is_object(root))
	{
		err_set(ERR_CONFIG, NULL, "config file \"%s\" must hold a JSON object, found %s", path,
				type_name(root));
		goto done;
	}
	ok = config_parse(root, cfg);

done:
	close(fd);
	if (data != NULL)
	{
		explicit_bzero(data, len);
		free(data);
	}
	json_decref(root);
	return ok;
}

json_t *
json_file_load(const char *path, const char *what, size_t flags)
{
	struct stat st;
	json_error_t jerr;
	json_t	   *root;

	if (stat(path, &st) != 0)
	{
		if (errno == ENOENT)
			err_set(ERR_CONFIG, strerror(errno), "the %s file \"%s\" does not exist", what, path);
		else
			err_set(ERR_CONFIG, strerror(errno), "could not read the %s file \"%s\": %s", what,
					path, strerror(errno));
		return NULL;
	}
	if (S_ISDIR(st.st_mode))
	{
		err_set(ERR_CONFIG, NULL, "the %s file \"%s\" is a directory; pass the file's path", what,
				path);
		return NULL;
	}
	root = json_load_file(path, flags, &jerr);
	if (root == NULL)
		err_set(ERR_CONFIG, jerr.text, "could not read the %s file \"%s\": %s", what, path,
				jerr.text);
	return root;
}

/* Remove a temporary file of ours (NULL: none) and free its path. */
static void
tmp_file_free(char *path)
{
	if (path != NULL)
		tmp_remove(path);
	free(path);
}

void
config_free(config_t *cfg)
{
	free(cfg->host);
	free(cfg->database);
	free(cfg->username);
	free_secret(cfg->password);
	for (size_t i = 0; i < cfg->n_schemas; i++)
		free(cfg->schemas[i]);
	free(cfg->schemas);
	free_secret(cfg->ca_certificate);
	free_secret(cfg->client_certificate);
	free_secret(cfg->client_key);
	free_secret(cfg->client_key_password);
	tmp_file_free(cfg->ssl_root_cert_file);
	tmp_file_free(cfg->ssl_cert_file);
	tmp_file_free(cfg->ssl_key_file);
	free_secret(cfg->jdbc_url_params);
	for (size_t i = 0; i < cfg->n_libpq_params; i++)
	{
		free(cfg->libpq_params[i].key);
		free_secret(cfg->libpq_params[i].value);
	}
	free(cfg->libpq_params);
	free(cfg->replication_slot);
	free(cfg->publication);
	free(cfg->heartbeat_action_query);
	free(cfg->tunnel_host);
	free(cfg->tunnel_user);
	free_secret(cfg->ssh_key);
	free_secret(cfg->tunnel_user_password);
	tmp_file_free(cfg->ssh_key_file);
	config_init(cfg);
}

/* jdbc_url_params with the value of every password-like parameter replaced. */
static json_t *
redacted_jdbc(const char *raw)
{
	buf_t		b;
	const char *p = raw;
	json_t	   *out;

	buf_init(&b, 0);
	while (*p != '\0')
	{
		const char *end = strchr(p, '&');
		size_t		len = end ? (size_t) (end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		bool		secret = true;

		if (eq != NULL)
		{
			bool		bad;
			char	   *key = pct_decode(p, (size_t) (eq - p), &bad);

			secret = key == NULL || secret_param(key);
			free(key);
		}
		if (eq != NULL && secret)
		{
			buf_append(&b, p, (size_t) (eq - p) + 1);
			buf_puts(&b, REDACTED);
		}
		else if (eq != NULL)
			buf_append(&b, p, len);
		p += len;
		if (*p == '&')
		{
			buf_putc(&b, '&');
			p++;
		}
	}
	out = json_string(b.data ? b.data : "");
	buf_free(&b);
	return out;
}

json_t *
config_redacted(const config_t *cfg)
{
	json_t	   *o = json_object();
	json_t	   *schemas = json_array();
	json_t	   *ssl = json_object();
	json_t	   *rm = json_object();

	if (o == NULL || schemas == NULL || ssl == NULL || rm == NULL)
	{
		json_decref(o);
		json_decref(schemas);
		json_decref(ssl);
		json_decref(rm);
		return NULL;
	}
	if (cfg->host)
		json_object_set_new(o, "host", json_string(cfg->host));
	json_object_set_new(o, "port", json_integer(cfg->port));
	if (cfg->database)
		json_object_set_new(o, "database", json_string(cfg->database));
	if (cfg->username)
		json_object_set_new(o, "username", json_string(cfg->username));
	if (cfg->password)
		json_object_set_new(o, "password", json_string(REDACTED));
	for (size_t i = 0; i < cfg->n_schemas; i++)
		json_array_append_new(schemas, json_string(cfg->schemas[i]));
	json_object_set_new(o, "schemas", schemas);

	json_object_set_new(ssl, "mode",
						json_string(ssl_mode_names[(unsigned) cfg->ssl_mode < 6 ? cfg->ssl_mode : 2]));
	if (cfg->ca_certificate)
		json_object_set_new(ssl, "ca_certificate", json_string(REDACTED));
	if (cfg->client_certificate)
		json_object_set_new(ssl, "client_certificate", json_string(REDACTED));
	if (cfg->client_key)
		json_object_set_new(ssl, "client_key", json_string(REDACTED));
	if (cfg->client_key_password)
		json_object_set_new(ssl, "client_key_password", json_string(REDACTED));
	json_object_set_new(o, "ssl_mode", ssl);

	if (cfg->jdbc_url_params)
		json_object_set_new(o, "jdbc_url_params", redacted_jdbc(cfg->jdbc_url_params));

	switch (cfg->method)
	{
		case REPL_CDC:
			json_object_set_new(rm, "method", json_string("CDC"));
			json_object_set_new(rm, "plugin", json_string("pgoutput"));
			if (cfg->replication_slot)
				json_object_set_new(rm, "replication_slot", json_string(cfg->replication_slot));
			if (cfg->publication)
				json_object_set_new(rm, "publication", json_string(cfg->publication));
			json_object_set_new(rm, "initial_waiting_seconds",
								json_integer(cfg->initial_waiting_seconds));
			json_object_set_new(rm, "queue_size", json_integer(cfg->queue_size));
			json_object_set_new(rm, "lsn_commit_behaviour",
								json_string(cfg->lsn_commit == LSN_COMMIT_WHILE_READING ?
											lsn_commit_names[1] : lsn_commit_names[0]));
			json_object_set_new(rm, "heartbeat_action_query",
								json_string(cfg->heartbeat_action_query ?
											cfg->heartbeat_action_query : ""));
			json_object_set_new(rm, "invalid_cdc_cursor_position_behavior",
								json_string(cfg->invalid_cursor == INVALID_CURSOR_RESYNC ?
											invalid_cursor_names[1] : invalid_cursor_names[0]));
			json_object_set_new(rm, "initial_load_timeout_hours",
								json_integer(cfg->initial_load_timeout_hours));
			json_object_set_new(rm, "backfill_chunk_size", json_integer(cfg->backfill_chunk_size));
			json_object_set_new(rm, "checkpoint_interval_seconds",
								json_integer(cfg->checkpoint_interval_seconds));
			json_object_set_new(rm, "checkpoint_records", json_integer(cfg->checkpoint_records));
			json_object_set_new(rm, "initial_load_timeout_seconds",
								json_integer(cfg->initial_load_timeout_seconds));
			break;
		case REPL_XMIN:
			json_object_set_new(rm, "method", json_string("Xmin"));
			break;
		case REPL_STANDARD:
			json_object_set_new(rm, "method", json_string("Standard"));
			break;
	}
	json_object_set_new(o, "replication_method", rm);
	if (cfg->tunnel == TUNNEL_NONE)
		json_object_set_new(o, "tunnel_method", json_pack("{s:s}", "tunnel_method", "NO_TUNNEL"));
	else
		json_object_set_new(o, "tunnel_method",
							json_pack("{s:s, s:s, s:i, s:s, s:s}", "tunnel_method",
									  cfg->tunnel == TUNNEL_SSH_KEY ? "SSH_KEY_AUTH" : "SSH_PASSWORD_AUTH",
									  "tunnel_host", cfg->tunnel_host, "tunnel_port", cfg->tunnel_port,
									  "tunnel_user", cfg->tunnel_user,
									  cfg->tunnel == TUNNEL_SSH_KEY ? "ssh_key" : "tunnel_user_password",
									  REDACTED));
	json_object_set_new(o, "connect_timeout_seconds", json_integer(cfg->connect_timeout_seconds));
	return o;
}
