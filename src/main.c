/*
 * main.c: the entry point. Parses the command line, dispatches to a subcommand from a table,
 * and maps the outcome to the exit code: 0 success, 1 failure (after one TRACE ERROR), 2 usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airbyte.h"
#include "commands.h"
#include "error.h"
#include "log.h"
#include "pgconn.h"
#include "tunnel.h"



typedef struct subcommand
{
	const char *name;
	bool		(*run) (const cli_args *args);
	bool		needs_config;
	bool		needs_catalog;
} subcommand;

static const subcommand subcommands[] = {
	{"spec", cmd_spec, false, false},
	{"check", cmd_check, true, false},
	{"discover", cmd_discover, true, false},
	{"read", cmd_read, true, true},
	{"cleanup", cmd_cleanup, true, false},
};

static void
on_signal(int sig)
{
	int			saved = errno;

	sp_stop_requested = sig;
	pgc_stop_signal();			/* cancels a statement that waits for others */
	errno = saved;
}

static int
usage(const char *problem)
{
	fprintf(stderr,
			"source-postgres: %s\n"
			"usage:\n"
			"  source-postgres spec\n"
			"  source-postgres check    --config CONFIG\n"
			"  source-postgres discover --config CONFIG\n"
			"  source-postgres read     --config CONFIG --catalog CATALOG [--state STATE] [--follow]\n"
			"  source-postgres cleanup  --config CONFIG\n",
			problem);
	return 2;
}

static const char *
failure_type(err_kind k)
{
	switch (k)
	{
		case ERR_CONFIG:
			return "config_error";
		case ERR_TRANSIENT:
			return "transient_error";
		default:
			return "system_error";
	}
}

int
main(int argc, char **argv)
{
	const subcommand *cmd = NULL;
	cli_args	args = {0};
	struct sigaction sa;
	const char *lvl = getenv("SP_LOG_LEVEL");
	bool		ok;
	int			askpass;

	/* run by ssh as its SSH_ASKPASS (tunnel.c): answer with the tunnel password, nothing else */
	if ((askpass = tunnel_askpass()) >= 0)
		return askpass;
	if (argc < 2)
		return usage("no command given");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
	{
		usage("a PostgreSQL source for Airbyte");
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
	{
		fprintf(stderr, "source-postgres %s\n", SP_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			cmd = &subcommands[i];
	if (cmd == NULL)
	{
		char		msg[256];

		snprintf(msg, sizeof(msg), "unknown command \"%.64s\"", argv[1]);
		return usage(msg);
	}
	for (int i = 2; i < argc; i++)
	{
		const char **slot = NULL;

		if (strcmp(argv[i], "--config") == 0)
			slot = &args.config;
		else if (strcmp(argv[i], "--catalog") == 0)
			slot = &args.catalog;
		else if (strcmp(argv[i], "--state") == 0)
			slot = &args.state;
		else if (strcmp(argv[i], "--follow") == 0 && cmd->run == cmd_read)
		{
			args.follow = true;
			continue;
		}
		else
		{
			char		msg[256];

			snprintf(msg, sizeof(msg), "unknown option \"%.64s\" for %s", argv[i], cmd->name);
			return usage(msg);
		}
		if (i + 1 >= argc)
		{
			char		msg[256];

			snprintf(msg, sizeof(msg), "option %s needs a file path", argv[i]);
			return usage(msg);
		}
		*slot = argv[++i];
	}
	if (cmd->needs_config && args.config == NULL)
		return usage("--config CONFIG is required");
	if (cmd->needs_catalog && args.catalog == NULL)
		return usage("--catalog CATALOG is required");

	if (lvl && strcmp(lvl, "debug") == 0)
		log_set_level(LOG_DEBUG);
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);	/* a closed terminal: stop as cleanly (temporary files go) */

	ok = cmd->run(&args);
	if (!ok && !err_isset())
		err_set(ERR_SYSTEM, NULL, "%s failed for an unknown reason", cmd->name);
	if (!ok)
	{
		char		lost[768];

		/*
		 * A connection that failed because the SSH tunnel under it closed: say so, and it is
		 * worth a retry (which opens a new tunnel), whatever the statement that noticed it.
		 */
		if (tunnel_lost(err_get_kind() != ERR_CONFIG, lost, sizeof(lost)))
		{
			char		msg[2048];

			if (strstr(err_message(), "SSH tunnel") == NULL)
				snprintf(msg, sizeof(msg), "%s; %s", err_message(), lost);
			else
				snprintf(msg, sizeof(msg), "%s", err_message());
			ab_trace_error(failure_type(ERR_TRANSIENT), msg, err_internal());
		}
		else
			ab_trace_error(failure_type(err_get_kind()), err_message(), err_internal());
	}
	ab_finish();
	return ok && !ab_broken() ? 0 : 1;
}
