/* libFuzzer target: state files (JSON) through the state parser. */
#include <jansson.h>
#include <stdint.h>

#include "error.h"
#include "state.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t e;
	json_t	   *j = json_loadb((const char *) data, size, JSON_DECODE_ANY, &e);
	sp_state	st;

	if (j == NULL)
		return 0;
	err_clear();
	state_parse(j, &st);
	state_free(&st);
	json_decref(j);
	return 0;
}
