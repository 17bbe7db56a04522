/*
 * fuzz_config.c: libFuzzer target for the config parser. Arbitrary bytes go through json_loadb,
 * then config_parse, config_redacted and config_free; whatever the input, nothing may crash or
 * leak, and no secret may reach an error message or the redacted copy.
 *
 * To make the secret check exact, every secret field that holds a string is replaced by a
 * sentinel text before parsing; the sentinel must then appear in no error and no redacted output.
 */
#define _GNU_SOURCE				/* memmem */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "log.h"

#define SENTINEL "Zq9-SENTINEL-SECRET"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Replace obj[key] by the sentinel if it is a string. */
static void
plant(json_t *obj, const char *key)
{
	if (json_is_string(json_object_get(obj, key)))
		json_object_set_new(obj, key, json_string(SENTINEL));
}

static void
plant_secrets(json_t *root)
{
	json_t	   *ssl = json_object_get(root, "ssl_mode");
	json_t	   *tunnel = json_object_get(root, "tunnel_method");

	plant(root, "password");
	if (json_is_object(ssl))
	{
		plant(ssl, "ca_certificate");
		plant(ssl, "client_certificate");
		plant(ssl, "client_key");
		plant(ssl, "client_key_password");
	}
	if (json_is_object(tunnel))
	{
		plant(tunnel, "ssh_key");
		plant(tunnel, "tunnel_user_password");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t	   *root;
	config_t	cfg;
	bool		check;

	/* warnings go to the stdout writer; keep the fuzzer's output readable */
	log_set_level(LOG_ERROR);
	root = json_loadb((const char *) data, size, 0, NULL);
	if (root == NULL)
		return 0;
	/* the check means nothing if the input spells the sentinel elsewhere */
	check = memmem(data, size, "SENTINEL", 8) == NULL;
	if (check && json_is_object(root))
		plant_secrets(root);
	err_clear();
	config_init(&cfg);
	if (config_parse(root, &cfg))
	{
		json_t	   *red = config_redacted(&cfg);
		char	   *text = red ? json_dumps(red, JSON_COMPACT) : NULL;

		if (check && text != NULL && strstr(text, SENTINEL) != NULL)
			abort();
		free(text);
		json_decref(red);
	}
	else
	{
		json_t	   *msg = json_string(err_message());

		/* an error must be recorded, and be valid UTF-8 so the TRACE message can carry it */
		if (!err_isset() || msg == NULL)
			abort();
		json_decref(msg);
		if (check && (strstr(err_message(), SENTINEL) != NULL ||
					  strstr(err_internal(), SENTINEL) != NULL))
			abort();
	}
	config_free(&cfg);
	err_clear();
	json_decref(root);
	return 0;
}
