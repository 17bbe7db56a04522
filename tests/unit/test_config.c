/*
 * test_config.c: unit tests of the config parser (config.c): Airbyte configs as Airbyte writes
 * them, defaults field by field, every kind of bad config (each error naming its field and never
 * showing a secret), jdbc_url_params mapping, the TLS temporary files and config_load's file
 * handling.
 *
 * JSON texts are written with single quotes for readability; sq() turns them into double quotes.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "airbyte.h"
#include "config.h"
#include "error.h"

#define SECRET "s3cr3t-pw"
#define CA_PEM "-----BEGIN CERTIFICATE-----\nMIIBcaCERT\n-----END CERTIFICATE-----\n"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nMIIBclientCERT\n-----END CERTIFICATE-----\n"
#define KEY_PEM "-----BEGIN PRIVATE KEY-----\nMIIBclientKEY\n-----END PRIVATE KEY-----\n"

static char tmpdir[64];

/* ------------------------------------------------------------------------------------------ */

/* A copy of s with every ' turned into " (caller frees). */
static char *
sq(const char *s)
{
	char	   *out = strdup(s);

	assert_non_null(out);
	for (char *p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

/* Parse the single-quoted JSON text s into cfg; returns config_parse's result. */
static bool
parse_sq(const char *s, config_t *cfg)
{
	char	   *text = sq(s);
	json_error_t jerr;
	json_t	   *root = json_loads(text, 0, &jerr);
	bool		ok;

	if (root == NULL)
		fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
	free(text);
	ok = config_parse(root, cfg);
	json_decref(root);
	return ok;
}

/* Assert that no recorded error text contains the secret. */
static void
assert_no_secret_in_error(void)
{
	assert_null(strstr(err_message(), SECRET));
	assert_null(strstr(err_internal(), SECRET));
	assert_null(strstr(err_message(), "MIIB"));
	assert_null(strstr(err_internal(), "MIIB"));
}

/*
 * Each test's stdout goes to a file of its own (setup_each to teardown_each): log lines are
 * written as they are logged, not when a test asks for them. cmocka's own lines come before
 * setup and after teardown, and its assertion messages go to stderr, so none of them land here.
 */
static int	capture_fd = -1;
static int	saved_stdout = -1;

static void
capture_begin(void)
{
	char		path[] = "/tmp/test_config_stdout_XXXXXX";

	fflush(stdout);
	capture_fd = mkstemp(path);
	assert_true(capture_fd >= 0);
	unlink(path);
	saved_stdout = dup(STDOUT_FILENO);
	assert_true(saved_stdout >= 0);
	assert_true(dup2(capture_fd, STDOUT_FILENO) >= 0);
}

static void
capture_end(void)
{
	ab_flush();
	fflush(stdout);
	assert_true(dup2(saved_stdout, STDOUT_FILENO) >= 0);
	close(saved_stdout);
	close(capture_fd);
	saved_stdout = capture_fd = -1;
}

/* Everything written through the Airbyte writer since the last call (caller frees). */
static char *
capture_stdout(void)
{
	char	   *out;
	off_t		len;

	assert_true(capture_fd >= 0);
	ab_flush();
	len = lseek(capture_fd, 0, SEEK_END);
	assert_true(len >= 0);
	out = calloc(1, (size_t) len + 1);
	assert_non_null(out);
	assert_int_equal(pread(capture_fd, out, (size_t) len, 0), len);
	/* stdout shares this descriptor's offset: the next write starts the file again */
	assert_int_equal(ftruncate(capture_fd, 0), 0);
	assert_int_equal(lseek(capture_fd, 0, SEEK_SET), 0);
	return out;
}

/* Contents of a file (caller frees); NULL if it cannot be read. */
static char *
slurp(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *out;
	long		len;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	out = calloc(1, (size_t) len + 1);
	assert_non_null(out);
	assert_int_equal(fread(out, 1, (size_t) len, f), (size_t) len);
	fclose(f);
	return out;
}

/* Write text to a new file under tmpdir; returns its path (caller frees). */
static char *
write_file(const char *name, const char *text, size_t len)
{
	char	   *path = malloc(256);
	FILE	   *f;

	assert_non_null(path);
	snprintf(path, 256, "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	return path;
}

static void
assert_file_is(const char *path, const char *content)
{
	struct stat st;
	char	   *got;

	assert_non_null(path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(strncmp(path, tmpdir, strlen(tmpdir)), 0);
	got = slurp(path);
	assert_non_null(got);
	assert_string_equal(got, content);
	free(got);
}

static void
assert_gone(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static const char *
param(const config_t *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n_libpq_params; i++)
		if (strcmp(cfg->libpq_params[i].key, key) == 0)
			return cfg->libpq_params[i].value;
	return NULL;
}

static int
setup_all(void **state)
{
	char		tmpl[] = "/tmp/test_config_XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
	setenv("TMPDIR", tmpdir, 1);
	return 0;
}

static int
teardown_all(void **state)
{
	/* every test removes what it made; rmdir fails loudly if a temporary file leaked */
	assert_int_equal(rmdir(tmpdir), 0);
	return 0;
}

static int
setup_each(void **state)
{
	err_clear();
	capture_begin();
	return 0;
}

static int
teardown_each(void **state)
{
	capture_end();
	return 0;
}

/* ------------------------------------------------------------------------------------------ */

/* A full CDC config exactly as Airbyte's UI writes it. */
static const char *full_cdc =
"{'host': 'db.example.com', 'port': 5433, 'database': 'app', 'username': 'capture',"
" 'password': '" SECRET "', 'schemas': ['public', 'sales', 'public'],"
" 'ssl_mode': {'mode': 'verify-full', 'ca_certificate': '-----BEGIN CERTIFICATE-----\\nMIIBcaCERT\\n-----END CERTIFICATE-----\\n',"
"   'client_certificate': '-----BEGIN CERTIFICATE-----\\nMIIBclientCERT\\n-----END CERTIFICATE-----\\n',"
"   'client_key': '-----BEGIN PRIVATE KEY-----\\nMIIBclientKEY\\n-----END PRIVATE KEY-----\\n',"
"   'client_key_password': '" SECRET "'},"
" 'jdbc_url_params': 'connectTimeout=15&ApplicationName=my%20app+x&tcpKeepAlive=false&socketTimeout=30&password=" SECRET "&sslpassword=" SECRET "',"
" 'replication_method': {'method': 'CDC', 'plugin': 'pgoutput', 'replication_slot': 'airbyte_slot',"
"   'publication': 'airbyte_publication', 'initial_waiting_seconds': 300, 'queue_size': 5000,"
"   'lsn_commit_behaviour': 'While reading Data', 'heartbeat_action_query': 'UPDATE hb SET t = now()',"
"   'invalid_cdc_cursor_position_behavior': 'Re-sync data', 'initial_load_timeout_hours': 12,"
"   'backfill_chunk_size': 1000, 'checkpoint_interval_seconds': 30, 'checkpoint_records': 500},"
" 'tunnel_method': {'tunnel_method': 'NO_TUNNEL'},"
" 'connect_timeout_seconds': 20, 'some_future_field': {'x': 1}}";

static void
test_full_cdc_config(void **state)
{
	config_t	cfg;
	char	   *out;
	char	   *root_file;
	char	   *cert_file;
	char	   *key_file;
	json_t	   *red;
	char	   *dump;

	assert_true(parse_sq(full_cdc, &cfg));
	assert_false(err_isset());
	assert_string_equal(cfg.host, "db.example.com");
	assert_int_equal(cfg.port, 5433);
	assert_string_equal(cfg.database, "app");
	assert_string_equal(cfg.username, "capture");
	assert_string_equal(cfg.password, SECRET);
	assert_int_equal(cfg.n_schemas, 2);
	assert_string_equal(cfg.schemas[0], "public");
	assert_string_equal(cfg.schemas[1], "sales");

	assert_int_equal(cfg.ssl_mode, SSL_VERIFY_FULL);
	assert_string_equal(cfg.ca_certificate, CA_PEM);
	assert_string_equal(cfg.client_certificate, CERT_PEM);
	assert_string_equal(cfg.client_key, KEY_PEM);
	assert_string_equal(cfg.client_key_password, SECRET);
	assert_file_is(cfg.ssl_root_cert_file, CA_PEM);
	assert_file_is(cfg.ssl_cert_file, CERT_PEM);
	assert_file_is(cfg.ssl_key_file, KEY_PEM);

	assert_string_equal(param(&cfg, "connect_timeout"), "15");
	assert_string_equal(param(&cfg, "application_name"), "my app x");
	assert_string_equal(param(&cfg, "keepalives"), "0");
	assert_string_equal(param(&cfg, "sslpassword"), SECRET);
	assert_null(param(&cfg, "password"));
	assert_null(param(&cfg, "socketTimeout"));
	assert_int_equal(cfg.n_libpq_params, 4);

	assert_int_equal(cfg.method, REPL_CDC);
	assert_string_equal(cfg.replication_slot, "airbyte_slot");
	assert_string_equal(cfg.publication, "airbyte_publication");
	assert_int_equal(cfg.initial_waiting_seconds, 300);
	assert_int_equal(cfg.queue_size, 5000);
	assert_int_equal(cfg.lsn_commit, LSN_COMMIT_WHILE_READING);
	assert_string_equal(cfg.heartbeat_action_query, "UPDATE hb SET t = now()");
	assert_int_equal(cfg.invalid_cursor, INVALID_CURSOR_RESYNC);
	assert_int_equal(cfg.initial_load_timeout_hours, 12);
	assert_int_equal(cfg.initial_load_timeout_seconds, 12 * 3600);
	assert_int_equal(cfg.backfill_chunk_size, 1000);
	assert_int_equal(cfg.checkpoint_interval_seconds, 30);
	assert_int_equal(cfg.checkpoint_records, 500);
	assert_int_equal(cfg.connect_timeout_seconds, 20);

	/* the ignored pairs were warned about, by name only */
	out = capture_stdout();
	assert_non_null(strstr(out, "\"type\":\"LOG\""));
	assert_non_null(strstr(out, "\"level\":\"WARN\""));
	assert_non_null(strstr(out, "socketTimeout"));
	assert_non_null(strstr(out, "which libpq does not support"));
	assert_non_null(strstr(out, "ignoring \\\"password\\\""));
	assert_null(strstr(out, SECRET));
	free(out);

	/* the redacted copy hides every secret */
	red = config_redacted(&cfg);
	assert_non_null(red);
	dump = json_dumps(red, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(dump);
	assert_null(strstr(dump, SECRET));
	assert_null(strstr(dump, "MIIB"));
	assert_string_equal(json_string_value(json_object_get(red, "password")), "**********");
	assert_string_equal(json_string_value(json_object_get(json_object_get(red, "ssl_mode"), "client_key")),
						"**********");
	assert_string_equal(json_string_value(json_object_get(json_object_get(red, "ssl_mode"), "mode")),
						"verify-full");
	assert_string_equal(json_string_value(json_object_get(red, "host")), "db.example.com");
	assert_non_null(strstr(json_string_value(json_object_get(red, "jdbc_url_params")),
						   "password=**********&sslpassword=**********"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(red, "replication_method"),
														  "replication_slot")), "airbyte_slot");
	free(dump);
	json_decref(red);

	root_file = strdup(cfg.ssl_root_cert_file);
	cert_file = strdup(cfg.ssl_cert_file);
	key_file = strdup(cfg.ssl_key_file);
	config_free(&cfg);
	assert_gone(root_file);
	assert_gone(cert_file);
	assert_gone(key_file);
	assert_null(cfg.host);
	assert_null(cfg.ssl_root_cert_file);
	free(root_file);
	free(cert_file);
	free(key_file);
	/* twice is harmless */
	config_free(&cfg);
}

/* An empty schemas list means every schema, as in Airbyte's connector. */
static void
test_empty_schemas_means_all(void **state)
{
	config_t	cfg;

	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u', 'schemas': []}", &cfg));
	assert_int_equal(cfg.n_schemas, 0);
	config_free(&cfg);
}

/* An IPv6 address in brackets, as JDBC URLs write it, is given to libpq bare. */
static void
test_bracketed_ipv6_host(void **state)
{
	config_t	cfg;

	assert_true(parse_sq("{'host': '[::1]', 'port': 5432, 'database': 'd', 'username': 'u'}", &cfg));
	assert_string_equal(cfg.host, "::1");
	config_free(&cfg);
	assert_true(parse_sq("{'host': '[db]', 'port': 5432, 'database': 'd', 'username': 'u'}", &cfg));
	assert_string_equal(cfg.host, "[db]");
	config_free(&cfg);
	/* spaces and a line end pasted around a host are not part of it */
	assert_true(parse_sq("{'host': ' db.example.com\\n', 'port': 5432, 'database': 'd', 'username': 'u'}", &cfg));
	assert_string_equal(cfg.host, "db.example.com");
	config_free(&cfg);
}

/* Only the required fields: every default checked. */
static void
test_minimal_defaults(void **state)
{
	config_t	cfg;

	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u'}", &cfg));
	assert_string_equal(cfg.host, "h");
	assert_int_equal(cfg.port, 5432);
	assert_string_equal(cfg.database, "d");
	assert_string_equal(cfg.username, "u");
	assert_null(cfg.password);
	assert_int_equal(cfg.n_schemas, 1);
	assert_string_equal(cfg.schemas[0], "public");
	assert_int_equal(cfg.ssl_mode, SSL_PREFER);
	assert_null(cfg.ca_certificate);
	assert_null(cfg.client_certificate);
	assert_null(cfg.client_key);
	assert_null(cfg.client_key_password);
	assert_null(cfg.ssl_root_cert_file);
	assert_null(cfg.ssl_cert_file);
	assert_null(cfg.ssl_key_file);
	assert_null(cfg.jdbc_url_params);
	assert_int_equal(cfg.n_libpq_params, 0);
	assert_int_equal(cfg.method, REPL_STANDARD);
	assert_null(cfg.replication_slot);
	assert_null(cfg.publication);
	assert_int_equal(cfg.initial_waiting_seconds, 1200);
	assert_int_equal(cfg.queue_size, 10000);
	assert_int_equal(cfg.lsn_commit, LSN_COMMIT_AFTER_DESTINATION);
	assert_null(cfg.heartbeat_action_query);
	assert_int_equal(cfg.invalid_cursor, INVALID_CURSOR_FAIL);
	assert_int_equal(cfg.initial_load_timeout_hours, 8);
	assert_int_equal(cfg.initial_load_timeout_seconds, 8 * 3600);
	assert_int_equal(cfg.backfill_chunk_size, 200000);
	assert_int_equal(cfg.checkpoint_interval_seconds, 5);
	assert_int_equal(cfg.checkpoint_records, 10000);
	assert_int_equal(cfg.full_refresh_checkpoint_min_mb, 8192);
	assert_int_equal(cfg.connect_timeout_seconds, 10);
	config_free(&cfg);
}

/* initial_load_timeout_seconds (ours) takes the place of the hours when set; 0 is no limit. */
static void
test_initial_load_timeout(void **state)
{
	config_t	cfg;

	(void) state;
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'replication_method': {'method': 'CDC', 'replication_slot': 's',"
						 " 'publication': 'p', 'initial_load_timeout_hours': 5}}", &cfg));
	assert_int_equal(cfg.initial_load_timeout_seconds, 5 * 3600);
	config_free(&cfg);
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'replication_method': {'method': 'CDC', 'replication_slot': 's',"
						 " 'publication': 'p', 'initial_load_timeout_hours': 5,"
						 " 'initial_load_timeout_seconds': 90}}", &cfg));
	assert_int_equal(cfg.initial_load_timeout_hours, 5);
	assert_int_equal(cfg.initial_load_timeout_seconds, 90);
	config_free(&cfg);
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'replication_method': {'method': 'CDC', 'replication_slot': 's',"
						 " 'publication': 'p', 'initial_load_timeout_seconds': 0}}", &cfg));
	assert_int_equal(cfg.initial_load_timeout_seconds, 0);
	config_free(&cfg);
}

/* A CDC config with only slot and publication: the CDC defaults. */
static void
test_cdc_defaults(void **state)
{
	config_t	cfg;

	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'password': null, 'jdbc_url_params': '', 'ssl_mode': null,"
						 " 'replication_method': {'method': 'CDC', 'replication_slot': 's_1',"
						 " 'publication': 'Pub-1', 'heartbeat_action_query': ''}}", &cfg));
	assert_null(cfg.password);
	assert_int_equal(cfg.n_libpq_params, 0);
	assert_int_equal(cfg.ssl_mode, SSL_PREFER);
	assert_int_equal(cfg.method, REPL_CDC);
	assert_string_equal(cfg.replication_slot, "s_1");
	assert_string_equal(cfg.publication, "Pub-1");
	assert_int_equal(cfg.full_refresh_checkpoint_min_mb, 8192);
	assert_int_equal(cfg.initial_waiting_seconds, 1200);
	assert_int_equal(cfg.queue_size, 10000);
	assert_int_equal(cfg.lsn_commit, LSN_COMMIT_AFTER_DESTINATION);
	assert_null(cfg.heartbeat_action_query);
	assert_int_equal(cfg.invalid_cursor, INVALID_CURSOR_FAIL);
	assert_int_equal(cfg.initial_load_timeout_hours, 8);
	assert_int_equal(cfg.initial_load_timeout_seconds, 8 * 3600);
	assert_int_equal(cfg.backfill_chunk_size, 200000);
	assert_int_equal(cfg.checkpoint_interval_seconds, 5);
	assert_int_equal(cfg.checkpoint_records, 10000);
	config_free(&cfg);
}

static void
test_xmin_and_standard(void **state)
{
	static const char *const hosts[] = {"db.example.com", "10.0.0.1", "[::1]", "fe80::1%eth0",
		"h1,h2", "/var/run/postgresql", "@abstract", NULL};
	config_t	cfg;

	assert_true(parse_sq("{'host': 'h', 'port': 1, 'database': 'd', 'username': 'u',"
						 " 'replication_method': {'method': 'Xmin'}}", &cfg));
	assert_int_equal(cfg.method, REPL_XMIN);
	config_free(&cfg);
	assert_true(parse_sq("{'host': 'h', 'port': 65535, 'database': 'd', 'username': 'u',"
						 " 'replication_method': {'method': 'Standard'}}", &cfg));
	assert_int_equal(cfg.method, REPL_STANDARD);
	assert_int_equal(cfg.port, 65535);
	config_free(&cfg);
	/* hosts of every form libpq takes, and names that merely hold '=' */
	for (int i = 0; hosts[i]; i++)
	{
		char		json[256];

		snprintf(json, sizeof(json), "{'host': '%s', 'port': 5432, 'database': 'a=b', "
				 "'username': 'x=y'}", hosts[i]);
		if (!parse_sq(json, &cfg))
			fail_msg("%s: %s", hosts[i], err_message());
		assert_string_equal(cfg.database, "a=b");
		config_free(&cfg);
	}
}

/* The ssl_mode forms: objects, legacy strings and Airbyte spellings, the legacy "ssl" flag. */
static void
test_ssl_forms(void **state)
{
	static const struct
	{
		const char *json;
		ssl_mode_t	mode;
	}			cases[] = {
		{"'ssl_mode': {'mode': 'disable'}", SSL_DISABLE},
		{"'ssl_mode': {'mode': 'allow'}", SSL_ALLOW},
		{"'ssl_mode': {'mode': 'prefer'}", SSL_PREFER},
		{"'ssl_mode': {'mode': 'require'}", SSL_REQUIRE},
		{"'ssl_mode': {'mode': 'required'}", SSL_REQUIRE},
		{"'ssl_mode': 'require'", SSL_REQUIRE},
		{"'ssl_mode': 'disable'", SSL_DISABLE},
		{"'ssl': false", SSL_DISABLE},
		{"'ssl': true", SSL_REQUIRE},
		{"'ssl': false, 'ssl_mode': {'mode': 'require'}", SSL_REQUIRE},
		{"'ssl_mode': {'mode': 'verify_ca', 'ca_certificate': 'x'}", SSL_VERIFY_CA},
		{"'ssl_mode': {'mode': 'verify_identity', 'ca_certificate': 'x'}", SSL_VERIFY_FULL},
		{"'ssl_mode': {'mode': 'require'}, 'jdbc_url_params': 'sslmode=verify-full'", SSL_VERIFY_FULL},
		{"'jdbc_url_params': 'sslmode=disable'", SSL_DISABLE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		json[512];
		config_t	cfg;

		snprintf(json, sizeof(json), "{'host': 'h', 'port': 5432, 'database': 'd', "
				 "'username': 'u', %s}", cases[i].json);
		if (!parse_sq(json, &cfg))
			fail_msg("case %zu (%s): %s", i, cases[i].json, err_message());
		if (cfg.ssl_mode != cases[i].mode)
			fail_msg("case %zu (%s): mode %d, expected %d", i, cases[i].json, cfg.ssl_mode,
					 cases[i].mode);
		config_free(&cfg);
	}
	free(capture_stdout());
}

/* Certificates: written only where the mode uses them, 0600, removed by config_free. */
static void
test_cert_files(void **state)
{
	config_t	cfg;
	char	   *key_file;

	/* require: client certificate and key are used, the CA is not */
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'ssl_mode': {'mode': 'require', 'ca_certificate': 'CA',"
						 " 'client_certificate': 'C', 'client_key': 'K'}}", &cfg));
	assert_null(cfg.ssl_root_cert_file);
	/* each file ends with a newline (OpenSSH refuses a key without one) */
	assert_file_is(cfg.ssl_cert_file, "C\n");
	assert_file_is(cfg.ssl_key_file, "K\n");
	key_file = strdup(cfg.ssl_key_file);
	config_free(&cfg);
	assert_gone(key_file);
	free(key_file);

	/* disable: nothing written */
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'ssl_mode': {'mode': 'disable', 'client_certificate': 'C', 'client_key': 'K'}}", &cfg));
	assert_null(cfg.ssl_cert_file);
	assert_null(cfg.ssl_key_file);
	config_free(&cfg);

	/* a certificate without its key is ignored with a warning */
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'ssl_mode': {'mode': 'verify-ca', 'ca_certificate': 'CA',"
						 " 'client_certificate': 'C', 'client_key': ''}}", &cfg));
	assert_file_is(cfg.ssl_root_cert_file, "CA\n");
	assert_null(cfg.ssl_cert_file);
	assert_null(cfg.client_certificate);
	config_free(&cfg);
	{
		char	   *out = capture_stdout();

		assert_non_null(strstr(out, "client_certificate"));
		free(out);
	}

	/* a PEM pasted with literal \n sequences is unfolded */
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'ssl_mode': {'mode': 'verify-ca', 'ca_certificate':"
						 " '-----BEGIN CERTIFICATE-----\\\\nAB\\\\n-----END CERTIFICATE-----'}}", &cfg));
	assert_file_is(cfg.ssl_root_cert_file,
				   "-----BEGIN CERTIFICATE-----\nAB\n-----END CERTIFICATE-----\n");
	config_free(&cfg);
}

/* Files left behind by a process that never calls config_free() are removed at exit. */
static void
test_cert_files_removed_at_exit(void **state)
{
	int			fds[2];
	pid_t		pid;
	int			status;
	char		paths[1024] = {0};
	ssize_t		n;
	size_t		got = 0;
	char	   *nl;

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
	{
		/* static: still reachable at exit, so a leak checker has nothing to say */
		static config_t cfg;
		char		line[600];

		close(fds[0]);
		if (!parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
					  " 'ssl_mode': {'mode': 'verify-full', 'ca_certificate': 'CA',"
					  " 'client_certificate': 'C', 'client_key': 'K'}}", &cfg))
			_exit(3);
		snprintf(line, sizeof(line), "%s\n%s\n", cfg.ssl_root_cert_file, cfg.ssl_key_file);
		if (write(fds[1], line, strlen(line)) < 0)
			_exit(4);
		close(fds[1]);
		exit(0);				/* runs the atexit handler; config_free never called */
	}
	close(fds[1]);
	while ((n = read(fds[0], paths + got, sizeof(paths) - 1 - got)) > 0)
		got += (size_t) n;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	nl = strchr(paths, '\n');
	assert_non_null(nl);
	*nl = '\0';
	assert_true(strlen(paths) > 0);
	assert_gone(paths);
	assert_true(strlen(nl + 1) > 1);
	nl[1 + strcspn(nl + 1, "\n")] = '\0';
	assert_gone(nl + 1);
}

/* jdbc_url_params: mapping, libpq keywords, last-wins, empty pairs, decoding. */
static void
test_jdbc_params(void **state)
{
	config_t	cfg;
	char	   *out;

	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'jdbc_url_params': '&keepalives_idle=30&&target_session_attrs=any&"
						 "targetServerType=primary&options=-c%20work_mem%3D64MB+-c+statement_timeout%3D5min&connectTimeout=5&"
						 "loginTimeout=7&applicationName=a&tcp_user_timeout=1000&tcpKeepAlive=TRUE&"
						 "currentSchema=x&PGHOST=evil&host=evil&port=1&dbname=x&user=x&replication=database&"
						 "client_encoding=LATIN1&ssl=true&prepareThreshold=0&'}", &cfg));
	assert_string_equal(param(&cfg, "keepalives_idle"), "30");
	assert_string_equal(param(&cfg, "target_session_attrs"), "read-write");
	/* '+' is a space, as PgJDBC decodes a URL */
	assert_string_equal(param(&cfg, "options"), "-c work_mem=64MB -c statement_timeout=5min");
	assert_string_equal(param(&cfg, "connect_timeout"), "7");
	assert_string_equal(param(&cfg, "application_name"), "a");
	assert_string_equal(param(&cfg, "tcp_user_timeout"), "1000");
	assert_string_equal(param(&cfg, "keepalives"), "1");
	assert_null(param(&cfg, "host"));
	assert_null(param(&cfg, "port"));
	assert_null(param(&cfg, "dbname"));
	assert_null(param(&cfg, "user"));
	assert_null(param(&cfg, "replication"));
	assert_null(param(&cfg, "client_encoding"));
	assert_null(param(&cfg, "currentSchema"));
	assert_int_equal(cfg.n_libpq_params, 7);
	assert_string_equal(cfg.host, "h");
	assert_int_equal(cfg.port, 5432);
	config_free(&cfg);

	out = capture_stdout();
	assert_non_null(strstr(out, "currentSchema"));
	assert_non_null(strstr(out, "prepareThreshold"));
	assert_non_null(strstr(out, "PGHOST"));
	assert_non_null(strstr(out, "replication"));
	assert_null(strstr(out, "evil"));
	free(out);
}

/* Nothing is written or logged for a config that fails validation. */
static void
test_no_side_effects_on_failure(void **state)
{
	config_t	cfg;
	char	   *out;

	assert_false(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						  " 'ssl_mode': {'mode': 'verify-ca', 'ca_certificate': 'CA'},"
						  " 'jdbc_url_params': 'socketTimeout=5',"
						  " 'connect_timeout_seconds': 0}", &cfg));
	assert_non_null(strstr(err_message(), "connect_timeout_seconds"));
	assert_null(cfg.host);
	assert_null(cfg.ssl_root_cert_file);
	config_free(&cfg);
	out = capture_stdout();
	assert_string_equal(out, "");
	free(out);
}

/* A field given as a JSON string containing NUL is refused. */
static void
test_nul_in_string(void **state)
{
	config_t	cfg;
	json_t	   *root = json_pack("{s:s,s:i,s:s,s:s}", "host", "h", "port", 5432, "database", "d",
								 "username", "u");

	json_object_set_new(root, "database", json_stringn("a\0b", 3));
	assert_false(config_parse(root, &cfg));
	assert_non_null(strstr(err_message(), "\"database\""));
	assert_non_null(strstr(err_message(), "NUL"));
	json_decref(root);
	config_free(&cfg);
}

/*
 * Messages quoting user text stay valid UTF-8 (a message jansson refuses would be lost on its way
 * to the TRACE or LOG message), however the text is cut.
 */
static void
test_messages_are_utf8(void **state)
{
	config_t	cfg;
	char		json[1024];
	char		plugin[256];
	size_t		n = 0;
	json_t	   *msg;
	char	   *out;

	/* sixty two-byte characters: any cut at a byte count may split one */
	for (int i = 0; i < 60; i++)
	{
		plugin[n++] = (char) 0xC3;
		plugin[n++] = (char) 0xBC;
	}
	plugin[n] = '\0';
	snprintf(json, sizeof(json), "{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
			 " 'replication_method': {'method': 'CDC', 'replication_slot': 's',"
			 " 'publication': 'p', 'plugin': '%s'}}", plugin);
	assert_false(parse_sq(json, &cfg));
	assert_non_null(strstr(err_message(), "replication_method.plugin"));
	msg = json_string(err_message());
	assert_non_null(msg);
	json_decref(msg);
	config_free(&cfg);

	/* an unknown jdbc key made of raw bytes is still warned about */
	err_clear();
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'jdbc_url_params': 'x%FF%C3=1'}", &cfg));
	config_free(&cfg);
	out = capture_stdout();
	assert_non_null(strstr(out, "ignoring \\\"x??\\\""));
	free(out);
}

/* ------------------------------------------------------------------------------------------ */

typedef struct bad_case
{
	const char *members;		/* JSON members after the base (single-quoted) */
	bool		replace_base;	/* members is the whole object */
	const char *expect1;		/* substrings the message must contain */
	const char *expect2;
} bad_case;

#define BASE "'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u', 'password': '" SECRET "'"
#define CDC(x) "'replication_method': {'method': 'CDC', 'replication_slot': 'slot', 'publication': 'pub', " x "}"

static const bad_case bad_cases[] = {
	/* required fields */
	{"{'port': 5432, 'database': 'd', 'username': 'u', 'password': '" SECRET "'}", true,
	"missing required field \"host\"", NULL},
	{"{'host': 'h', 'database': 'd', 'username': 'u', 'password': '" SECRET "'}", true,
	"missing required field \"port\"", NULL},
	{"{'host': 'h', 'port': 5432, 'username': 'u', 'password': '" SECRET "'}", true,
	"missing required field \"database\"", NULL},
	{"{'host': 'h', 'port': 5432, 'database': 'd', 'password': '" SECRET "'}", true,
	"missing required field \"username\"", NULL},
	{"['" SECRET "']", true, "config must be a JSON object", "found array"},
	/* wrong types */
	{"{'host': 1, 'port': 5432, 'database': 'd', 'username': 'u'}", true,
	"config field \"host\" must be a string", "found integer"},
	{"{'host': null, 'port': 5432, 'database': 'd', 'username': 'u'}", true,
	"config field \"host\" must be a string", "found null"},
	{"{'host': 'h', 'port': '5432', 'database': 'd', 'username': 'u'}", true,
	"config field \"port\" must be an integer between 1 and 65535, found string", NULL},
	{"{'host': 'h', 'port': 5432.0, 'database': 'd', 'username': 'u'}", true,
	"config field \"port\" must be an integer", "found number"},
	{"{'host': 'h', 'port': 5432, 'database': ['d'], 'username': 'u'}", true,
	"\"database\" must be a string", "found array"},
	{"{'host': 'h', 'port': 5432, 'database': 'd', 'username': {}}", true,
	"\"username\" must be a string", "found object"},
	{"{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u', 'password': 12345}", true,
	"\"password\" must be a string", "found integer"},
	{BASE ", 'schemas': 'public'", false, "\"schemas\"", "found string"},
	{BASE ", 'schemas': ['public', 7]", false, "\"schemas[1]\" must be a string", "found integer"},
	{BASE ", 'ssl_mode': 5", false, "\"ssl_mode\" must be an object", "found integer"},
	{BASE ", 'ssl_mode': {'mode': true}", false, "\"ssl_mode.mode\"", "found boolean"},
	{BASE ", 'ssl_mode': {'mode': 'verify-ca', 'ca_certificate': 5}", false,
	"\"ssl_mode.ca_certificate\" must be a string", "found integer"},
	{BASE ", 'ssl_mode': {'mode': 'require', 'client_key': ['" SECRET "']}", false,
	"\"ssl_mode.client_key\" must be a string", "found array"},
	{BASE ", 'ssl_mode': {'mode': 'require', 'client_key_password': 1}", false,
	"\"ssl_mode.client_key_password\" must be a string", NULL},
	{BASE ", 'ssl': 'yes'", false, "\"ssl\" must be a boolean", "found string"},
	{BASE ", 'jdbc_url_params': 1", false, "\"jdbc_url_params\" must be a string", NULL},
	{BASE ", 'replication_method': 'CDC'", false, "\"replication_method\" must be an object",
	"found string"},
	{BASE ", " CDC("'initial_waiting_seconds': '300'"), false,
	"\"replication_method.initial_waiting_seconds\" must be an integer between 120 and 2400",
	"found string"},
	{BASE ", 'replication_method': {'method': 'CDC', 'replication_slot': 5, 'publication': 'p'}",
		false, "\"replication_method.replication_slot\" must be a string", "found integer"},
	{BASE ", 'replication_method': {'method': 'CDC', 'replication_slot': 's', 'publication': false}",
		false, "\"replication_method.publication\" must be a string", "found boolean"},
	{BASE ", " CDC("'heartbeat_action_query': 1"), false,
	"\"replication_method.heartbeat_action_query\" must be a string", NULL},
	{BASE ", 'tunnel_method': 'NO_TUNNEL'", false, "\"tunnel_method\" must be an object", NULL},
	{BASE ", 'connect_timeout_seconds': true", false, "\"connect_timeout_seconds\"",
	"found boolean"},
	/* empty strings */
	{"{'host': '', 'port': 5432, 'database': 'd', 'username': 'u'}", true,
	"\"host\" must not be empty", NULL},
	{BASE ", 'ssl_mode': {'mode': 'verify-ca', 'ca_certificate': '/etc/ssl/certs/root.crt'}", false,
	"\"ssl_mode.ca_certificate\" must hold the PEM text itself", NULL},
	{"{'host': ' \\n ', 'port': 5432, 'database': 'd', 'username': 'u'}", true,
	"config field \"host\" is blank", NULL},
	{"{'host': 'h', 'port': 5432, 'database': '', 'username': 'u'}", true,
	"\"database\" must not be empty", NULL},
	{"{'host': 'h', 'port': 5432, 'database': 'd', 'username': ''}", true,
	"\"username\" must not be empty", NULL},
	/* ranges */
	{"{'host': 'h', 'port': 70000, 'database': 'd', 'username': 'u'}", true,
	"\"port\" must be an integer between 1 and 65535, found 70000", NULL},
	{"{'host': 'h', 'port': 0, 'database': 'd', 'username': 'u'}", true,
	"\"port\" must be an integer between 1 and 65535, found 0", NULL},
	/* a connection string or URI where one name belongs: refused, and never quoted */
	{"{'host': 'postgresql://u:" SECRET "@h/db', 'port': 5432, 'database': 'd', 'username': 'u'}", true,
	"config field \"host\" must be the server's host name or IP address, not a connection string",
	"jdbc_url_params"},
	{"{'host': 'host=h password=" SECRET "', 'port': 5432, 'database': 'd', 'username': 'u'}", true,
	"config field \"host\" must be", NULL},
	{"{'host': 'u:" SECRET "@h', 'port': 5432, 'database': 'd', 'username': 'u'}", true,
	"config field \"host\" must be", NULL},
	{"{'host': 'h', 'port': 5432, 'database': 'dbname=d password=" SECRET "', 'username': 'u'}", true,
	"config field \"database\" must be the name of the database", NULL},
	{"{'host': 'h', 'port': 5432, 'database': 'd password=" SECRET "', 'username': 'u'}", true,
	"config field \"database\" must be", NULL},
	{"{'host': 'h', 'port': 5432, 'database': 'postgres://u:" SECRET "@h/d', 'username': 'u'}", true,
	"config field \"database\" must be", NULL},
	{"{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u password=" SECRET "'}", true,
	"config field \"username\" must be the name of the role", NULL},
	{"{'host': 'h', 'port': -1, 'database': 'd', 'username': 'u'}", true,
	"\"port\"", "found -1"},
	{"{'host': 'h', 'port': 99999999999999999, 'database': 'd', 'username': 'u'}", true,
	"\"port\"", "found 99999999999999999"},
	{BASE ", " CDC("'initial_waiting_seconds': 60"), false,
	"replication_method.initial_waiting_seconds", "found 60"},
	{BASE ", " CDC("'queue_size': 20000"), false, "replication_method.queue_size",
	"between 1000 and 10000"},
	{BASE ", " CDC("'initial_load_timeout_hours': 30"), false,
	"replication_method.initial_load_timeout_hours", "between 4 and 24"},
	{BASE ", " CDC("'initial_load_timeout_seconds': -1"), false,
	"replication_method.initial_load_timeout_seconds", "between 0 and 2592000"},
	{BASE ", " CDC("'initial_load_timeout_seconds': 1.5"), false,
	"replication_method.initial_load_timeout_seconds", "found number"},
	{BASE ", " CDC("'backfill_chunk_size': 0"), false, "replication_method.backfill_chunk_size",
	"between 1 and 10000000"},
	{BASE ", " CDC("'checkpoint_interval_seconds': 3601"), false,
	"replication_method.checkpoint_interval_seconds", "between 1 and 3600"},
	{BASE ", " CDC("'checkpoint_records': 0"), false, "replication_method.checkpoint_records",
	NULL},
	{BASE ", 'replication_method': {'method': 'Xmin', 'full_refresh_checkpoint_min_mb': -1}", false,
	"replication_method.full_refresh_checkpoint_min_mb", "between 0 and 1073741824"},
	{BASE ", 'replication_method': {'method': 'Standard', 'full_refresh_checkpoint_min_mb': '1'}",
	false, "replication_method.full_refresh_checkpoint_min_mb", "found string"},
	{BASE ", 'connect_timeout_seconds': 301", false, "\"connect_timeout_seconds\"",
	"between 1 and 300"},
	/* schemas */
	{BASE ", 'schemas': ['public', '']", false, "\"schemas[1]\" must not be empty", NULL},
	/* CDC */
	{BASE ", 'replication_method': {'method': 'CDC', 'publication': 'p'}", false,
	"missing required field \"replication_method.replication_slot\"", NULL},
	{BASE ", 'replication_method': {'method': 'CDC', 'replication_slot': 's'}", false,
	"missing required field \"replication_method.publication\"", NULL},
	{BASE ", 'replication_method': {'method': 'CDC', 'replication_slot': 'My-Slot', 'publication': 'p'}",
		false, "\"replication_method.replication_slot\" must be 1 to 63 characters",
	"lower-case letter, digit or underscore"},
	{BASE ", 'replication_method': {'method': 'CDC', 'replication_slot': '', 'publication': 'p'}",
		false, "\"replication_method.replication_slot\" must not be empty", NULL},
	{BASE ", 'replication_method': {'method': 'CDC', 'replication_slot': "
		"'a234567890123456789012345678901234567890123456789012345678901234', 'publication': 'p'}",
		false, "\"replication_method.replication_slot\" must be 1 to 63", NULL},
	{BASE ", 'replication_method': {'method': 'CDC', 'replication_slot': 's', 'publication': ''}",
		false, "\"replication_method.publication\" must not be empty", NULL},
	{BASE ", 'replication_method': {'method': 'CDC', 'replication_slot': 's', 'publication': "
		"'a234567890123456789012345678901234567890123456789012345678901234'}",
		false, "\"replication_method.publication\" must be at most 63 bytes", NULL},
	{BASE ", " CDC("'plugin': 'wal2json'"), false, "\"replication_method.plugin\"",
	"only \"pgoutput\" is supported"},
	{BASE ", " CDC("'lsn_commit_behaviour': 'Sometimes'"), false,
	"\"replication_method.lsn_commit_behaviour\" must be \"After loading Data in the destination\" or \"While reading Data\"",
	"found \"Sometimes\""},
	{BASE ", " CDC("'invalid_cdc_cursor_position_behavior': 'Retry'"), false,
	"\"replication_method.invalid_cdc_cursor_position_behavior\"", "\"Re-sync data\""},
	{BASE ", 'replication_method': {'method': 'Magic'}", false, "\"replication_method.method\"",
	"\"Standard\", \"CDC\" or \"Xmin\""},
	{BASE ", 'replication_method': {}", false,
	"missing required field \"replication_method.method\"", NULL},
	/* TLS */
	{BASE ", 'ssl_mode': {'mode': 'verify-ca'}", false,
	"missing required field \"ssl_mode.ca_certificate\"", "verify-ca"},
	{BASE ", 'ssl_mode': {'mode': 'verify-full', 'ca_certificate': '', 'client_key': '" SECRET "'}", false,
	"missing required field \"ssl_mode.ca_certificate\"", "verify-full"},
	{BASE ", 'ssl_mode': 'verify-full'", false, "\"ssl_mode.ca_certificate\"", NULL},
	{BASE ", 'ssl_mode': {'mode': 'bogus'}", false, "\"ssl_mode.mode\" must be", "found \"bogus\""},
	{BASE ", 'ssl_mode': {'ca_certificate': '" SECRET "'}", false,
	"missing required field \"ssl_mode.mode\"", NULL},
	{BASE ", 'ssl_mode': 'sometimes'", false, "\"ssl_mode\" must be", NULL},
	/* SSH tunnels */
#define TUN(m) ", 'tunnel_method': {'tunnel_method': '" m "', 'tunnel_host': 'bastion', 'tunnel_port': 22,"
	{BASE TUN("SSH_KEY_AUTH") " 'tunnel_user': 'me'}", false,
	"missing required field \"tunnel_method.ssh_key\"", NULL},
	{BASE TUN("SSH_KEY_AUTH") " 'tunnel_user': 'me', 'ssh_key': ''}", false,
	"\"tunnel_method.ssh_key\" must not be empty", NULL},
	{BASE TUN("SSH_PASSWORD_AUTH") " 'tunnel_user': 'me', 'ssh_key': '" SECRET "'}", false,
	"missing required field \"tunnel_method.tunnel_user_password\"", NULL},
	{BASE TUN("SSH_PASSWORD_AUTH") " 'tunnel_user_password': '" SECRET "'}", false,
	"missing required field \"tunnel_method.tunnel_user\"", NULL},
	{BASE ", 'tunnel_method': {'tunnel_method': 'SSH_KEY_AUTH', 'tunnel_user': 'me', 'ssh_key': '" SECRET "'}",
		false, "missing required field \"tunnel_method.tunnel_host\"", NULL},
	{BASE ", 'tunnel_method': {'tunnel_method': 'SSH_KEY_AUTH', 'tunnel_host': 'b', 'tunnel_port': 0,"
		" 'tunnel_user': 'me', 'ssh_key': '" SECRET "'}", false, "\"tunnel_method.tunnel_port\"", "1 and 65535"},
	{BASE ", 'tunnel_method': {'tunnel_method': 'SSH_KEY_AUTH', 'tunnel_host': '-oProxyCommand=x',"
		" 'tunnel_user': 'me', 'ssh_key': '" SECRET "'}", false, "\"tunnel_method.tunnel_host\"", "host name"},
	{BASE ", 'tunnel_method': {'tunnel_method': 'SSH_KEY_AUTH', 'tunnel_host': 'me@b',"
		" 'tunnel_user': 'me', 'ssh_key': '" SECRET "'}", false, "\"tunnel_method.tunnel_host\"", NULL},
	{BASE TUN("SSH_KEY_AUTH") " 'tunnel_user': '-lroot', 'ssh_key': '" SECRET "'}", false,
	"\"tunnel_method.tunnel_user\"", "leading '-'"},
	{"'host': 'a,b', 'port': 5432, 'database': 'd', 'username': 'u'" TUN("SSH_KEY_AUTH")
		" 'tunnel_user': 'me', 'ssh_key': '" SECRET "'}", false, "\"host\" names several hosts",
	"SSH tunnel"},
#undef TUN
	{BASE ", 'tunnel_method': {'tunnel_method': 'VPN'}", false, "\"tunnel_method.tunnel_method\"",
	"\"NO_TUNNEL\""},
	{BASE ", 'tunnel_method': {}", false, "missing required field \"tunnel_method.tunnel_method\"",
	NULL},
	/* jdbc_url_params */
	{BASE ", 'jdbc_url_params': 'connectTimeout=10&" SECRET "'", false, "\"jdbc_url_params\"",
	"pair 2 has no '='"},
	{BASE ", 'jdbc_url_params': '=" SECRET "'", false, "\"jdbc_url_params\"", "empty key"},
	{BASE ", 'jdbc_url_params': 'password=" SECRET "%zz'", false, "\"jdbc_url_params\"",
	"invalid %-escape"},
	{BASE ", 'jdbc_url_params': 'options=%00'", false, "\"jdbc_url_params\"", "%00"},
	{BASE ", 'jdbc_url_params': 'sslpassword=abc%4'", false, "\"jdbc_url_params\"",
	"invalid %-escape"},
	{BASE ", 'jdbc_url_params': 'tcpKeepAlive=maybe'", false, "\"jdbc_url_params\"",
	"\"tcpKeepAlive\" must be true or false"},
	{BASE ", 'jdbc_url_params': 'sslmode=sometimes'", false, "\"jdbc_url_params\"",
	"\"sslmode\" must be"},
	{BASE ", 'jdbc_url_params': 'targetServerType=leader'", false, "\"jdbc_url_params\"",
	"\"targetServerType\""},
};

/* Every bad config fails with a config_error naming its field and showing no secret. */
static void
test_bad_configs(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
	{
		const bad_case *c = &bad_cases[i];
		char		json[2048];
		config_t	cfg;

		err_clear();
		if (c->replace_base)
			snprintf(json, sizeof(json), "%s", c->members);
		else
			snprintf(json, sizeof(json), "{%s}", c->members);
		if (parse_sq(json, &cfg))
			fail_msg("case %zu accepted: %s", i, json);
		if (err_get_kind() != ERR_CONFIG)
			fail_msg("case %zu: not a config error: %s", i, err_message());
		if (strstr(err_message(), c->expect1) == NULL ||
			(c->expect2 != NULL && strstr(err_message(), c->expect2) == NULL))
			fail_msg("case %zu: message \"%s\" lacks \"%s\" / \"%s\"", i, err_message(),
					 c->expect1, c->expect2 ? c->expect2 : "");
		assert_no_secret_in_error();
		/* the partial result was released */
		assert_null(cfg.host);
		assert_null(cfg.password);
		assert_null(cfg.ssl_root_cert_file);
		config_free(&cfg);
	}
	{
		char	   *out = capture_stdout();

		assert_null(strstr(out, SECRET));
		free(out);
	}
}

/* ------------------------------------------------------------------------------------------ */

static void
expect_load_error(const char *path, const char *expect)
{
	config_t	cfg;

	err_clear();
	assert_false(config_load(path, &cfg));
	assert_int_equal(err_get_kind(), ERR_CONFIG);
	if (strstr(err_message(), expect) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err_message(), expect);
	assert_non_null(strstr(err_message(), path));
	assert_no_secret_in_error();
	config_free(&cfg);
}

static void
test_load_files(void **state)
{
	char		missing[256];
	char	   *empty = write_file("empty.json", "", 0);
	char	   *blank = write_file("blank.json", " \n\t\n", 4);
	char	   *broken = write_file("broken.json", "{\"host\": \"h\",\n \"password\": " SECRET "}",
									strlen("{\"host\": \"h\",\n \"password\": " SECRET "}"));
	char	   *array = write_file("array.json", "[1, 2]", 6);
	char	   *null_doc = write_file("null.json", "null", 4);
	const char *good_text = "\xEF\xBB\xBF{\"host\": \"h\", \"port\": 5432, \"database\": \"d\", "
		"\"username\": \"u\", \"password\": \"" SECRET "\"}";
	char	   *good = write_file("good.json", good_text, strlen(good_text));
	config_t	cfg;

	snprintf(missing, sizeof(missing), "%s/no-such-config.json", tmpdir);
	expect_load_error(missing, "does not exist");
	expect_load_error(empty, "is empty");
	expect_load_error(blank, "is empty");
	expect_load_error(broken, "is not valid JSON: invalid token");
	assert_non_null(strstr(err_message(), "line 2"));
	assert_non_null(strstr(err_internal(), "line 2"));
	/* the reason, never the text it was found in */
	assert_null(strstr(err_message(), SECRET));
	assert_null(strstr(err_internal(), SECRET));
	expect_load_error(array, "must hold a JSON object, found array");
	expect_load_error(null_doc, "must hold a JSON object, found null");
	expect_load_error(tmpdir, "");

	err_clear();
	assert_true(config_load(good, &cfg));
	assert_string_equal(cfg.host, "h");
	assert_string_equal(cfg.password, SECRET);
	config_free(&cfg);

	/* a bad field inside a file is reported as from config_parse */
	{
		const char *bad_text = "{\"host\": \"h\", \"port\": \"x\", \"database\": \"d\", \"username\": \"u\"}";
		char	   *bad = write_file("bad.json", bad_text, strlen(bad_text));

		err_clear();
		assert_false(config_load(bad, &cfg));
		assert_non_null(strstr(err_message(), "\"port\""));
		config_free(&cfg);
		unlink(bad);
		free(bad);
	}

	unlink(empty);
	unlink(blank);
	unlink(broken);
	unlink(array);
	unlink(good);
	free(empty);
	free(blank);
	free(broken);
	free(array);
	free(null_doc);
	free(good);
}

/* SSH tunnels: the key goes to a 0600 file (unfolded, LF line ends, a final newline), the
 * password stays in memory, the redacted copy hides both, config_free removes the file. */
static void
test_tunnel_configs(void **state)
{
	config_t	cfg;
	char	   *key_file;
	json_t	   *red;
	json_t	   *t;
	char	   *dump;
	struct stat st;

	assert_true(parse_sq("{'host': '[::1]', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'tunnel_method': {'tunnel_method': 'SSH_KEY_AUTH', 'tunnel_host': '[fd00::7]',"
						 " 'tunnel_port': 2222, 'tunnel_user': 'jump',"
						 " 'ssh_key': '-----BEGIN RSA PRIVATE KEY-----\\\\nMIIB" SECRET "\\\\n-----END RSA PRIVATE KEY-----'}}",
						 &cfg));
	assert_int_equal(cfg.tunnel, TUNNEL_SSH_KEY);
	assert_string_equal(cfg.tunnel_host, "fd00::7");
	assert_string_equal(cfg.host, "::1");
	assert_int_equal(cfg.tunnel_port, 2222);
	assert_string_equal(cfg.tunnel_user, "jump");
	assert_null(cfg.tunnel_user_password);
	assert_non_null(cfg.ssh_key_file);
	assert_file_is(cfg.ssh_key_file, "-----BEGIN RSA PRIVATE KEY-----\nMIIB" SECRET
				   "\n-----END RSA PRIVATE KEY-----\n");
	assert_int_equal(stat(cfg.ssh_key_file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	red = config_redacted(&cfg);
	t = json_object_get(red, "tunnel_method");
	assert_string_equal(json_string_value(json_object_get(t, "tunnel_method")), "SSH_KEY_AUTH");
	assert_string_equal(json_string_value(json_object_get(t, "ssh_key")), "**********");
	assert_int_equal(json_integer_value(json_object_get(t, "tunnel_port")), 2222);
	dump = json_dumps(red, JSON_COMPACT);
	assert_null(strstr(dump, SECRET));
	free(dump);
	json_decref(red);
	key_file = strdup(cfg.ssh_key_file);
	config_free(&cfg);
	assert_gone(key_file);
	free(key_file);

	/* pasted with literal \n sequences and a real final newline: unfolded too */
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'tunnel_method': {'tunnel_method': 'SSH_KEY_AUTH', 'tunnel_host': 'b',"
						 " 'tunnel_user': 'jump', 'ssh_key': 'A\\\\nB\\n'}}", &cfg));
	assert_file_is(cfg.ssh_key_file, "A\nB\n");
	config_free(&cfg);

	/* pasted with literal \r\n sequences */
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'tunnel_method': {'tunnel_method': 'SSH_KEY_AUTH', 'tunnel_host': 'b',"
						 " 'tunnel_user': 'jump', 'ssh_key': 'A\\\\r\\\\nB\\\\r\\\\n'}}", &cfg));
	assert_file_is(cfg.ssh_key_file, "A\nB\n");
	config_free(&cfg);

	/* CRLF line ends become LF; the port defaults to 22 */
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'tunnel_method': {'tunnel_method': 'SSH_KEY_AUTH', 'tunnel_host': 'b',"
						 " 'tunnel_user': 'jump', 'ssh_key': 'A\\r\\nB\\r\\n'}}", &cfg));
	assert_int_equal(cfg.tunnel_port, 22);
	assert_file_is(cfg.ssh_key_file, "A\nB\n");
	config_free(&cfg);

	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'tunnel_method': {'tunnel_method': 'SSH_PASSWORD_AUTH', 'tunnel_host': 'b',"
						 " 'tunnel_port': 22, 'tunnel_user': 'jump', 'tunnel_user_password': '" SECRET "'}}",
						 &cfg));
	assert_int_equal(cfg.tunnel, TUNNEL_SSH_PASSWORD);
	assert_string_equal(cfg.tunnel_user_password, SECRET);
	assert_null(cfg.ssh_key_file);
	red = config_redacted(&cfg);
	dump = json_dumps(red, JSON_COMPACT);
	assert_null(strstr(dump, SECRET));
	assert_non_null(strstr(dump, "\"tunnel_user_password\":\"**********\""));
	free(dump);
	json_decref(red);
	config_free(&cfg);

	/* NO_TUNNEL and no tunnel_method at all: direct */
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u',"
						 " 'tunnel_method': {'tunnel_method': 'NO_TUNNEL'}}", &cfg));
	assert_int_equal(cfg.tunnel, TUNNEL_NONE);
	config_free(&cfg);
	free(capture_stdout());
}

/* config_free on a zeroed struct, and config_redacted on a minimal config. */
static void
test_free_zeroed_and_redacted_minimal(void **state)
{
	config_t	cfg;
	json_t	   *red;

	config_init(&cfg);
	config_free(&cfg);
	assert_true(parse_sq("{'host': 'h', 'port': 5432, 'database': 'd', 'username': 'u'}", &cfg));
	red = config_redacted(&cfg);
	assert_non_null(red);
	assert_null(json_object_get(red, "password"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(red, "replication_method"),
														  "method")), "Standard");
	assert_string_equal(json_string_value(json_object_get(json_object_get(red, "ssl_mode"), "mode")),
						"prefer");
	json_decref(red);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_cdc_config, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_minimal_defaults, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_empty_schemas_means_all, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_bracketed_ipv6_host, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_cdc_defaults, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_initial_load_timeout, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_xmin_and_standard, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_ssl_forms, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_cert_files, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_cert_files_removed_at_exit, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_jdbc_params, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_no_side_effects_on_failure, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_nul_in_string, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_messages_are_utf8, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_bad_configs, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_load_files, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_tunnel_configs, setup_each, teardown_each),
		cmocka_unit_test_setup_teardown(test_free_zeroed_and_redacted_minimal, setup_each, teardown_each),
	};

	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
