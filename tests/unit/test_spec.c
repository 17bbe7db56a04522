/*
 * test_spec.c: unit tests of the embedded spec (spec/spec.json as sp_spec_json): the rules of
 * Airbyte's connector acceptance suite checked mechanically (no $ref/anyOf/allOf, oneOf options
 * with one required const discriminator, titles and descriptions everywhere, secrets marked,
 * defaults valid for their type), and the spec kept in step with the parser in config.c (every
 * default is what config_parse applies, every minimum and maximum is what it enforces).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "error.h"

static json_t *spec;			/* the whole ConnectorSpecification */
static json_t *conn;			/* its connectionSpecification (borrowed) */

static int
setup_all(void **state)
{
	json_error_t jerr;

	spec = json_loadb(sp_spec_json, sp_spec_json_len, 0, &jerr);
	if (spec == NULL)
	{
		fprintf(stderr, "spec/spec.json does not parse: %s (line %d)\n", jerr.text, jerr.line);
		return -1;
	}
	conn = json_object_get(spec, "connectionSpecification");
	return 0;
}

static int
teardown_all(void **state)
{
	json_decref(spec);
	return 0;
}

/* The object at a path of property names below connectionSpecification (borrowed). */
static json_t *
prop(const char *name)
{
	return json_object_get(json_object_get(conn, "properties"), name);
}

/* The oneOf option of property name whose discriminator const is value (borrowed). */
static json_t *
option(const char *name, const char *disc, const char *value)
{
	json_t	   *one_of = json_object_get(prop(name), "oneOf");
	size_t		i;
	json_t	   *o;

	json_array_foreach(one_of, i, o)
	{
		json_t	   *c = json_object_get(json_object_get(json_object_get(o, "properties"), disc),
										"const");

		if (json_is_string(c) && strcmp(json_string_value(c), value) == 0)
			return o;
	}
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */

static void
test_top_level_shape(void **state)
{
	json_t	   *modes;
	json_t	   *req;
	size_t		i;
	json_t	   *v;
	static const char *const required[] = {"host", "port", "database", "username"};

	assert_true(json_is_object(spec));
	assert_true(json_is_string(json_object_get(spec, "documentationUrl")));
	assert_true(json_is_true(json_object_get(spec, "supportsIncremental")));
	modes = json_object_get(spec, "supported_destination_sync_modes");
	assert_true(json_is_array(modes));
	assert_true(json_array_size(modes) > 0);
	json_array_foreach(modes, i, v)
	{
		const char *m = json_string_value(v);

		assert_non_null(m);
		assert_true(strcmp(m, "overwrite") == 0 || strcmp(m, "append") == 0 ||
					strcmp(m, "append_dedup") == 0);
	}

	assert_true(json_is_object(conn));
	assert_string_equal(json_string_value(json_object_get(conn, "$schema")),
						"http://json-schema.org/draft-07/schema#");
	assert_string_equal(json_string_value(json_object_get(conn, "type")), "object");
	assert_true(json_is_true(json_object_get(conn, "additionalProperties")));
	assert_true(json_is_object(json_object_get(conn, "properties")));

	req = json_object_get(conn, "required");
	assert_int_equal(json_array_size(req), 4);
	for (i = 0; i < 4; i++)
	{
		assert_string_equal(json_string_value(json_array_get(req, i)), required[i]);
		assert_non_null(prop(required[i]));
	}
}

/* No $ref, anyOf or allOf anywhere in the tree. */
static void
walk_forbidden(const json_t *v, const char *where)
{
	const char *k;
	json_t	   *c;
	size_t		i;

	if (json_is_object(v))
	{
		json_object_foreach((json_t *) v, k, c)
		{
			if (strcmp(k, "$ref") == 0 || strcmp(k, "anyOf") == 0 || strcmp(k, "allOf") == 0)
				fail_msg("forbidden keyword \"%s\" under %s", k, where);
			walk_forbidden(c, k);
		}
	}
	else if (json_is_array(v))
	{
		json_array_foreach(v, i, c)
			walk_forbidden(c, where);
	}
}

static void
test_no_forbidden_keywords(void **state)
{
	walk_forbidden(spec, "spec");
}

/*
 * Every oneOf: options are object schemas, each with exactly one property holding a const
 * (the same property name in every option), that property required, with default == const;
 * consts distinct.
 */
static void
walk_one_of(const json_t *v, int *count)
{
	const char *k;
	json_t	   *c;
	size_t		i;

	if (json_is_array(v))
	{
		json_array_foreach(v, i, c)
			walk_one_of(c, count);
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach((json_t *) v, k, c)
	{
		if (strcmp(k, "oneOf") == 0)
		{
			const char *disc_name = NULL;
			json_t	   *opt;
			size_t		n;

			(*count)++;
			assert_true(json_is_array(c));
			assert_true(json_array_size(c) >= 2);
			assert_string_equal(json_string_value(json_object_get(v, "type")), "object");
			json_array_foreach(c, n, opt)
			{
				json_t	   *props = json_object_get(opt, "properties");
				json_t	   *req = json_object_get(opt, "required");
				const char *pk;
				json_t	   *pv;
				const char *found = NULL;
				bool		in_required = false;
				size_t		r;
				json_t	   *rv;

				assert_true(json_is_object(opt));
				assert_string_equal(json_string_value(json_object_get(opt, "type")), "object");
				assert_true(json_is_string(json_object_get(opt, "title")));
				assert_true(json_is_string(json_object_get(opt, "description")));
				assert_true(json_is_object(props));
				assert_true(json_is_array(req));
				json_object_foreach(props, pk, pv)
				{
					if (json_object_get(pv, "const") != NULL)
					{
						if (found != NULL)
							fail_msg("oneOf option %zu has two const properties", n);
						found = pk;
						assert_true(json_equal(json_object_get(pv, "const"),
											   json_object_get(pv, "default")));
						assert_string_equal(json_string_value(json_object_get(pv, "type")),
											"string");
						assert_true(json_is_integer(json_object_get(pv, "order")));
					}
				}
				if (found == NULL)
					fail_msg("oneOf option %zu has no const discriminator", n);
				if (disc_name == NULL)
					disc_name = found;
				assert_string_equal(found, disc_name);
				json_array_foreach(req, r, rv)
				{
					assert_true(json_is_string(rv));
					assert_non_null(json_object_get(props, json_string_value(rv)));
					if (strcmp(json_string_value(rv), found) == 0)
						in_required = true;
				}
				assert_true(in_required);
				/* consts distinct */
				for (size_t m = 0; m < n; m++)
				{
					json_t	   *other = json_object_get(json_object_get(json_object_get(
													json_array_get(c, m), "properties"), disc_name), "const");

					assert_false(json_equal(other, json_object_get(json_object_get(props, found),
																   "const")));
				}
			}
		}
		walk_one_of(c, count);
	}
}

static void
test_one_of_options(void **state)
{
	int			count = 0;

	walk_one_of(conn, &count);
	assert_int_equal(count, 3);	/* ssl_mode, replication_method, tunnel_method */
	assert_non_null(option("ssl_mode", "mode", "disable"));
	assert_non_null(option("ssl_mode", "mode", "allow"));
	assert_non_null(option("ssl_mode", "mode", "prefer"));
	assert_non_null(option("ssl_mode", "mode", "require"));
	assert_non_null(option("ssl_mode", "mode", "verify-ca"));
	assert_non_null(option("ssl_mode", "mode", "verify-full"));
	assert_int_equal(json_array_size(json_object_get(prop("ssl_mode"), "oneOf")), 6);
	assert_non_null(option("replication_method", "method", "CDC"));
	assert_non_null(option("replication_method", "method", "Xmin"));
	assert_non_null(option("replication_method", "method", "Standard"));
	assert_non_null(option("tunnel_method", "tunnel_method", "NO_TUNNEL"));
	assert_non_null(option("tunnel_method", "tunnel_method", "SSH_KEY_AUTH"));
	assert_non_null(option("tunnel_method", "tunnel_method", "SSH_PASSWORD_AUTH"));
}

/* Does a property's name say it holds a secret? */
static bool
looks_secret(const char *name)
{
	size_t		n = strlen(name);

	return strstr(name, "password") != NULL || strstr(name, "certificate") != NULL ||
		(n >= 4 && strcmp(name + n - 4, "_key") == 0);
}

/*
 * Every property of every properties object: a title and a description, a type, a valid default,
 * unique orders among siblings, secrets marked; groups referenced exist. Collects the names of
 * the properties marked airbyte_secret.
 */
static void
walk_properties(const json_t *v, json_t *secrets)
{
	const char *k;
	json_t	   *c;
	size_t		i;

	if (json_is_array(v))
	{
		json_array_foreach(v, i, c)
			walk_properties(c, secrets);
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach((json_t *) v, k, c)
	{
		if (strcmp(k, "properties") == 0 && json_is_object(c))
		{
			const char *pk;
			json_t	   *pv;
			json_t	   *orders = json_array();

			json_object_foreach(c, pk, pv)
			{
				json_t	   *type = json_object_get(pv, "type");
				json_t	   *def = json_object_get(pv, "default");
				json_t	   *order = json_object_get(pv, "order");
				json_t	   *group = json_object_get(pv, "group");
				bool		secret = json_is_true(json_object_get(pv, "airbyte_secret"));

				if (!json_is_string(json_object_get(pv, "title")))
					fail_msg("property \"%s\" has no title", pk);
				if (!json_is_string(json_object_get(pv, "description")))
					fail_msg("property \"%s\" has no description", pk);
				if (!json_is_string(type))
					fail_msg("property \"%s\" has no single type", pk);
				if (looks_secret(pk) && !secret)
					fail_msg("property \"%s\" looks secret but is not airbyte_secret", pk);
				if (secret)
				{
					assert_string_equal(json_string_value(type), "string");
					json_array_append_new(secrets, json_string(pk));
				}
				if (order != NULL)
				{
					size_t		j;
					json_t	   *o;

					assert_true(json_is_integer(order));
					json_array_foreach(orders, j, o)
					{
						if (json_equal(o, order))
							fail_msg("property \"%s\" repeats order %lld", pk,
									 (long long) json_integer_value(order));
					}
					json_array_append(orders, order);
				}
				if (group != NULL)
				{
					size_t		j;
					json_t	   *g;
					bool		known = false;

					json_array_foreach(json_object_get(conn, "groups"), j, g)
						known |= json_equal(json_object_get(g, "id"), group);
					if (!known)
						fail_msg("property \"%s\" names unknown group", pk);
				}
				if (def != NULL)
				{
					const char *t = json_string_value(type);
					json_t	   *en = json_object_get(pv, "enum");
					json_t	   *mn = json_object_get(pv, "minimum");
					json_t	   *mx = json_object_get(pv, "maximum");

					if (strcmp(t, "string") == 0)
						assert_true(json_is_string(def));
					else if (strcmp(t, "integer") == 0)
					{
						assert_true(json_is_integer(def));
						if (mn)
							assert_true(json_integer_value(def) >= json_integer_value(mn));
						if (mx)
							assert_true(json_integer_value(def) <= json_integer_value(mx));
					}
					else if (strcmp(t, "boolean") == 0)
						assert_true(json_is_boolean(def));
					else if (strcmp(t, "array") == 0)
					{
						size_t		j;
						json_t	   *e;

						assert_true(json_is_array(def));
						json_array_foreach(def, j, e)
							assert_true(json_is_string(e));
					}
					else
						fail_msg("property \"%s\" has a default of unexpected type %s", pk, t);
					if (en != NULL)
					{
						size_t		j;
						json_t	   *e;
						bool		in = false;

						json_array_foreach(en, j, e)
							in |= json_equal(e, def);
						if (!in)
							fail_msg("default of \"%s\" is not in its enum", pk);
					}
				}
			}
			json_decref(orders);
		}
		walk_properties(c, secrets);
	}
}

static void
test_properties(void **state)
{
	json_t	   *secrets = json_array();
	static const char *const must[] = {
		"password", "ca_certificate", "client_certificate", "client_key", "client_key_password",
		"ssh_key", "tunnel_user_password"
	};

	walk_properties(conn, secrets);
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
	{
		size_t		j;
		json_t	   *s;
		bool		found = false;

		json_array_foreach(secrets, j, s)
			found |= strcmp(json_string_value(s), must[i]) == 0;
		if (!found)
			fail_msg("\"%s\" is not marked airbyte_secret", must[i]);
	}
	json_decref(secrets);
}

/* The Airbyte fields, and ours, are where existing configs put them. */
static void
test_airbyte_fields(void **state)
{
	static const char *const top[] = {
		"host", "port", "database", "schemas", "username", "password", "jdbc_url_params",
		"ssl_mode", "replication_method", "tunnel_method", "connect_timeout_seconds"
	};
	static const char *const cdc[] = {
		"method", "plugin", "replication_slot", "publication", "initial_waiting_seconds",
		"queue_size", "lsn_commit_behaviour", "heartbeat_action_query",
		"invalid_cdc_cursor_position_behavior", "initial_load_timeout_hours",
		"backfill_chunk_size", "checkpoint_interval_seconds", "checkpoint_records"
	};
	json_t	   *cdc_props = json_object_get(option("replication_method", "method", "CDC"),
											"properties");
	json_t	   *req;

	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		if (prop(top[i]) == NULL)
			fail_msg("spec lacks \"%s\"", top[i]);
	for (size_t i = 0; i < sizeof(cdc) / sizeof(cdc[0]); i++)
		if (json_object_get(cdc_props, cdc[i]) == NULL)
			fail_msg("CDC option lacks \"%s\"", cdc[i]);
	req = json_object_get(option("replication_method", "method", "CDC"), "required");
	assert_int_equal(json_array_size(req), 3);
	req = json_object_get(option("ssl_mode", "mode", "verify-ca"), "required");
	assert_string_equal(json_string_value(json_array_get(req, 1)), "ca_certificate");
	req = json_object_get(option("ssl_mode", "mode", "verify-full"), "required");
	assert_string_equal(json_string_value(json_array_get(req, 1)), "ca_certificate");
	assert_int_equal(json_integer_value(json_object_get(prop("port"), "default")), 5432);
	assert_int_equal(json_integer_value(json_object_get(prop("schemas"), "minItems")), 0);
	assert_true(json_is_true(json_object_get(prop("schemas"), "uniqueItems")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(prop("schemas"), "default"), 0)),
						"public");
	assert_string_equal(json_string_value(json_object_get(json_object_get(cdc_props, "plugin"), "default")),
						"pgoutput");
	assert_int_equal(json_array_size(json_object_get(json_object_get(cdc_props, "plugin"), "enum")), 1);
}

/* ------------------------------------------------------------------------------------------ */

/* Parse base + extra members; returns config_parse's verdict (cfg freed). */
static bool
try_config(const char *members)
{
	char		text[1024];
	json_t	   *root;
	config_t	cfg;
	bool		ok;

	snprintf(text, sizeof(text), "{\"host\": \"h\", \"port\": 5432, \"database\": \"d\", "
			 "\"username\": \"u\"%s%s}", members[0] ? ", " : "", members);
	root = json_loads(text, 0, NULL);
	assert_non_null(root);
	err_clear();
	ok = config_parse(root, &cfg);
	config_free(&cfg);
	json_decref(root);
	return ok;
}

/* Every spec default is what the parser applies when the field is absent. */
static void
test_defaults_match_parser(void **state)
{
	json_t	   *cdc = json_object_get(option("replication_method", "method", "CDC"), "properties");
	json_t	   *root = json_loads("{\"host\": \"h\", \"port\": 5432, \"database\": \"d\", \"username\": \"u\","
								  " \"replication_method\": {\"method\": \"CDC\", \"replication_slot\": \"s\","
								  " \"publication\": \"p\"}}", 0, NULL);
	config_t	cfg;

#define DEF(obj, name) json_integer_value(json_object_get(json_object_get(obj, name), "default"))
	assert_non_null(root);
	assert_true(config_parse(root, &cfg));
	assert_int_equal(cfg.initial_waiting_seconds, DEF(cdc, "initial_waiting_seconds"));
	assert_int_equal(cfg.queue_size, DEF(cdc, "queue_size"));
	assert_int_equal(cfg.initial_load_timeout_hours, DEF(cdc, "initial_load_timeout_hours"));
	assert_int_equal(cfg.backfill_chunk_size, DEF(cdc, "backfill_chunk_size"));
	assert_int_equal(cfg.checkpoint_interval_seconds, DEF(cdc, "checkpoint_interval_seconds"));
	assert_int_equal(cfg.checkpoint_records, DEF(cdc, "checkpoint_records"));
	assert_int_equal(cfg.connect_timeout_seconds,
					 json_integer_value(json_object_get(prop("connect_timeout_seconds"), "default")));
	assert_int_equal(cfg.lsn_commit, LSN_COMMIT_AFTER_DESTINATION);
	assert_string_equal(json_string_value(json_object_get(json_object_get(cdc, "lsn_commit_behaviour"), "default")),
						"After loading Data in the destination");
	assert_int_equal(cfg.invalid_cursor, INVALID_CURSOR_FAIL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(cdc, "invalid_cdc_cursor_position_behavior"),
														  "default")), "Fail sync");
	assert_null(cfg.heartbeat_action_query);
	assert_string_equal(json_string_value(json_object_get(json_object_get(cdc, "heartbeat_action_query"), "default")),
						"");
	assert_int_equal(cfg.n_schemas, 1);
	assert_string_equal(cfg.schemas[0], "public");
	config_free(&cfg);
	json_decref(root);
#undef DEF
}

/* Every enum value in the spec is accepted by the parser. */
static void
test_enums_accepted(void **state)
{
	json_t	   *cdc = json_object_get(option("replication_method", "method", "CDC"), "properties");
	const char *k;
	json_t	   *p;

	json_object_foreach(cdc, k, p)
	{
		size_t		i;
		json_t	   *e;

		json_array_foreach(json_object_get(p, "enum"), i, e)
		{
			char		members[512];

			snprintf(members, sizeof(members), "\"replication_method\": {\"method\": \"CDC\", "
					 "\"replication_slot\": \"s\", \"publication\": \"p\", \"%s\": \"%s\"}",
					 k, json_string_value(e));
			if (!try_config(members))
				fail_msg("parser rejects %s = \"%s\": %s", k, json_string_value(e), err_message());
		}
	}
}

/* Every minimum and maximum of the spec is the parser's: the bounds pass, one past fails. */
static void
check_bounds(const char *name, const json_t *p, bool in_cdc)
{
	json_t	   *mn = json_object_get(p, "minimum");
	json_t	   *mx = json_object_get(p, "maximum");
	long long	vals[4];
	bool		expect[4] = {true, true, false, false};

	if (mn == NULL || mx == NULL)
		fail_msg("integer property \"%s\" lacks minimum or maximum", name);
	vals[0] = json_integer_value(mn);
	vals[1] = json_integer_value(mx);
	vals[2] = vals[0] - 1;
	vals[3] = vals[1] + 1;
	for (int i = 0; i < 4; i++)
	{
		char		members[512];
		bool		ok;

		if (strcmp(name, "port") == 0)
			continue;			/* part of the base config; checked in test_config */
		if (in_cdc)
			snprintf(members, sizeof(members), "\"replication_method\": {\"method\": \"CDC\", "
					 "\"replication_slot\": \"s\", \"publication\": \"p\", \"%s\": %lld}", name, vals[i]);
		else
			snprintf(members, sizeof(members), "\"%s\": %lld", name, vals[i]);
		ok = try_config(members);
		if (ok != expect[i])
			fail_msg("%s = %lld: parser says %s, spec says %s", name, vals[i],
					 ok ? "ok" : err_message(), expect[i] ? "ok" : "out of range");
		if (!ok)
			assert_non_null(strstr(err_message(), name));
	}
}

static void
test_bounds_match_parser(void **state)
{
	json_t	   *cdc = json_object_get(option("replication_method", "method", "CDC"), "properties");
	const char *k;
	json_t	   *p;
	int			n = 0;

	json_object_foreach(cdc, k, p)
	{
		if (strcmp(json_string_value(json_object_get(p, "type")), "integer") == 0)
		{
			check_bounds(k, p, true);
			n++;
		}
	}
	json_object_foreach(json_object_get(conn, "properties"), k, p)
	{
		if (strcmp(json_string_value(json_object_get(p, "type")), "integer") == 0)
		{
			check_bounds(k, p, false);
			n++;
		}
	}
	assert_int_equal(n, 9);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top_level_shape),
		cmocka_unit_test(test_no_forbidden_keywords),
		cmocka_unit_test(test_one_of_options),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_airbyte_fields),
		cmocka_unit_test(test_defaults_match_parser),
		cmocka_unit_test(test_enums_accepted),
		cmocka_unit_test(test_bounds_match_parser),
	};

	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
