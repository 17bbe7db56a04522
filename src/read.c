/* read.c: placeholder until the read command lands. */
#include <stddef.h>

#include "commands.h"
#include "error.h"

bool
cmd_read(const cli_args *args)
{
	err_set(ERR_SYSTEM, NULL, "read is not implemented yet");
	return false;
}
