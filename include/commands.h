/*
 * commands.h: the subcommands. Each returns true on success; on failure the error has been
 * recorded with err_set() and main turns it into a TRACE ERROR and exit code 1.
 */
#ifndef SP_COMMANDS_H
#define SP_COMMANDS_H

#include <stdbool.h>

typedef struct cli_args
{
	const char *config;
	const char *catalog;
	const char *state;
	bool		follow;			/* read: stream until SIGTERM/SIGINT */
} cli_args;

bool		cmd_spec(const cli_args *args);
bool		cmd_check(const cli_args *args);
bool		cmd_discover(const cli_args *args);
bool		cmd_read(const cli_args *args);
bool		cmd_cleanup(const cli_args *args);

/* Set by SIGTERM/SIGINT; long-running loops check it and wind down with a final STATE. */
extern volatile int sp_stop_requested;

#endif
