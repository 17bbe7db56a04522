/*
 * tunnel.c: the SSH tunnel of tunnel_method SSH_KEY_AUTH and SSH_PASSWORD_AUTH (see tunnel.h).
 *
 * The OpenSSH client (`ssh -N -L 127.0.0.1:PORT:HOST:PORT`) does the SSH: keys of every format,
 * ciphers, keep-alives and host quirks are its job, not ours. It runs in a session of its own
 * (a Ctrl-C or SIGTERM to our process group must not cut the tunnel while we stop cleanly), with
 * stdout on /dev/null (ours is the protocol channel), stderr to a 0600 file we read for errors,
 * and a parent-death signal so it never outlives us. The key is a 0600 temporary file written
 * by config.c; the password reaches ssh through SSH_ASKPASS, which is this same program run with
 * the password in its environment (tunnel_askpass), so it is never on a command line or disk.
 *
 * The tunnel is up when ssh listens on the port: it does that only once it has logged in and
 * set up the forward (ExitOnForwardFailure makes it exit otherwise). Host keys are not checked,
 * as Airbyte's own tunnel does not: its config has no field to pin one.
 */
#define _GNU_SOURCE				/* execvpe, vasprintf */
#include "tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "commands.h"

#define ASKPASS_ENV "SP_TUNNEL_ASKPASS_PASSWORD"
/* ssh's stderr is read back for errors: its last few kilobytes are enough */
#define ERR_TAIL 4096
/* tries at a free loopback port (another process may take the one we picked first) */
#define PORT_TRIES 3

extern char **environ;

static pid_t ssh_pid = -1;
static int	local_port;
static bool ssh_exited;
static int	ssh_status;
static char err_path[PATH_MAX];
static char jump_host[256];
static int	jump_port;
static bool atexit_done;

/* atexit: end ssh and remove its stderr file. */
static void
tunnel_close(void)
{
	if (ssh_pid > 0 && !ssh_exited)
	{
		kill(ssh_pid, SIGTERM);
		for (int i = 0; i < 200; i++)
		{
			if (waitpid(ssh_pid, NULL, WNOHANG) != 0)
			{
				ssh_exited = true;
				break;
			}
			usleep(10 * 1000);
		}
		if (!ssh_exited)
		{
			kill(ssh_pid, SIGKILL);
			waitpid(ssh_pid, NULL, 0);
		}
	}
	ssh_pid = -1;
	if (err_path[0] != '\0')
		unlink(err_path);
	err_path[0] = '\0';
}

bool
tunnel_askpass(void)
{
	const char *pw = getenv(ASKPASS_ENV);

	if (pw == NULL)
		return false;
	fputs(pw, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	return true;
}

/* Whether ssh has exited (reaped here, its status kept). */
static bool
ssh_gone(void)
{
	int			status;

	if (ssh_exited)
		return true;
	if (ssh_pid > 0 && waitpid(ssh_pid, &status, WNOHANG) == ssh_pid)
	{
		ssh_exited = true;
		ssh_status = status;
	}
	return ssh_exited;
}

/*
 * The last line of ssh's stderr that contains one of keys (any line when keys is NULL), without
 * its line end; "" when there is none.
 */
static void
err_line(const char *const *keys, char *out, size_t outsz)
{
	char		tail[ERR_TAIL + 1];
	ssize_t		n = 0;
	int			fd = open(err_path, O_RDONLY | O_CLOEXEC);
	char	   *line;
	char	   *best = NULL;

	out[0] = '\0';
	if (fd < 0)
		return;
	{
		off_t		end = lseek(fd, 0, SEEK_END);

		if (end > ERR_TAIL)
			lseek(fd, end - ERR_TAIL, SEEK_SET);
		else
			lseek(fd, 0, SEEK_SET);
		n = read(fd, tail, ERR_TAIL);
	}
	close(fd);
	if (n <= 0)
		return;
	tail[n] = '\0';
	line = tail;
	while (line != NULL && *line != '\0')
	{
		char	   *end = strpbrk(line, "\r\n");

		if (end != NULL)
			*end = '\0';
		if (*line != '\0')
		{
			bool		match = keys == NULL;

			for (int i = 0; keys != NULL && keys[i] != NULL && !match; i++)
				match = strstr(line, keys[i]) != NULL;
			if (match)
				best = line;
		}
		line = end != NULL ? end + 1 : NULL;
	}
	if (best != NULL)
	{
		/* what ssh prints is not secret, but it is bounded and kept printable */
		size_t		o = 0;

		for (const char *s = best; *s && o + 1 < outsz; s++)
			out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
		out[o] = '\0';
	}
}

/* A free TCP port on 127.0.0.1 (0 if none could be had). */
static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t	len = sizeof(a);
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int			port = 0;

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0 &&
		getsockname(fd, (struct sockaddr *) &a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/*
 * Whether something listens on 127.0.0.1:port, from /proc/net/tcp (a probe connection would
 * make ssh open a channel to the database for nothing). -1 when that file cannot be read.
 */
static int
port_listening(int port)
{
	FILE	   *f = fopen("/proc/net/tcp", "re");
	char		line[512];
	char		want_le[32];
	char		want_be[32];
	int			found = 0;

	if (f == NULL)
		return -1;
	snprintf(want_le, sizeof(want_le), "0100007F:%04X", port);
	snprintf(want_be, sizeof(want_be), "7F000001:%04X", port);
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char		local[64];
		char		remote[64];
		char		st[8];

		if (sscanf(line, " %*[^:]: %63s %63s %7s", local, remote, st) != 3)
			continue;
		if ((strcmp(local, want_le) == 0 || strcmp(local, want_be) == 0) && strcmp(st, "0A") == 0)
		{
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Whether a connection to 127.0.0.1:port is accepted (the fallback of port_listening). */
static bool
port_accepts(int port)
{
	struct sockaddr_in a;
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool		ok;

	if (fd < 0)
		return false;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* A string built with a format, kept for the child's argv or environment (NULL on failure). */
static char *
fmt_dup(const char *fmt,...) __attribute__((format(printf, 1, 2)));

static char *
fmt_dup(const char *fmt,...)
{
	va_list		ap;
	char	   *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Start ssh forwarding 127.0.0.1:port; false with the error recorded. */
static bool
spawn_ssh(const config_t *cfg, int port)
{
	const char *argv[64];
	char	  **envp = NULL;
	char	   *owned[8] = {NULL};
	int			n_owned = 0;
	int			argc = 0;
	size_t		n_env = 0;
	size_t		e = 0;
	char		self[PATH_MAX];
	ssize_t		selflen;
	int			errfd = -1;
	int			nullfd = -1;
	pid_t		parent = getpid();
	pid_t		pid;
	bool		ok = false;
	bool		v6 = strchr(cfg->host, ':') != NULL;

#define OWN(s) (owned[n_owned++] = (s))
#define ARG(s) (argv[argc++] = (s))
	ARG("ssh");
	ARG("-N");
	ARG("-T");
	ARG("-F");
	ARG("/dev/null");			/* no ~/.ssh/config surprises */
	ARG("-o");
	ARG("ExitOnForwardFailure=yes");
	ARG("-o");
	ARG("StrictHostKeyChecking=no");
	ARG("-o");
	ARG("UserKnownHostsFile=/dev/null");
	ARG("-o");
	ARG("GlobalKnownHostsFile=/dev/null");
	ARG("-o");
	ARG("LogLevel=INFO");		/* ERROR would hide a forward the jump server could not open */
	ARG("-o");
	ARG("ServerAliveInterval=15");
	ARG("-o");
	ARG("ServerAliveCountMax=4");
	ARG("-o");
	ARG(OWN(fmt_dup("ConnectTimeout=%d", cfg->connect_timeout_seconds > 0 ?
					cfg->connect_timeout_seconds : 10)));
	ARG("-o");
	ARG("IdentitiesOnly=yes");
	if (cfg->tunnel == TUNNEL_SSH_KEY)
	{
		ARG("-o");
		ARG("BatchMode=yes");
		ARG("-o");
		ARG("PasswordAuthentication=no");
		ARG("-o");
		ARG("KbdInteractiveAuthentication=no");
		ARG("-i");
		ARG(cfg->ssh_key_file);
	}
	else
	{
		ARG("-o");
		ARG("BatchMode=no");
		ARG("-o");
		ARG("PubkeyAuthentication=no");
		ARG("-o");
		ARG("PreferredAuthentications=password,keyboard-interactive");
		ARG("-o");
		ARG("NumberOfPasswordPrompts=1");
	}
	ARG("-p");
	ARG(OWN(fmt_dup("%d", cfg->tunnel_port)));
	ARG("-l");
	ARG(cfg->tunnel_user);
	ARG("-L");
	ARG(OWN(fmt_dup(v6 ? "127.0.0.1:%d:[%s]:%d" : "127.0.0.1:%d:%s:%d", port, cfg->host, cfg->port)));
	ARG("--");
	ARG(cfg->tunnel_host);
	argv[argc] = NULL;
#undef ARG
	for (int i = 0; i < n_owned; i++)
		if (owned[i] == NULL)
		{
			err_set(ERR_SYSTEM, NULL, "out of memory starting the SSH tunnel");
			goto done;
		}

	/* our environment, less any askpass settings, plus ours */
	while (environ[n_env] != NULL)
		n_env++;
	envp = calloc(n_env + 4, sizeof(char *));
	if (envp == NULL)
	{
		err_set(ERR_SYSTEM, NULL, "out of memory starting the SSH tunnel");
		goto done;
	}
	for (size_t i = 0; i < n_env; i++)
		if (strncmp(environ[i], "SSH_ASKPASS", 11) != 0 &&
			strncmp(environ[i], ASKPASS_ENV "=", sizeof(ASKPASS_ENV)) != 0)
			envp[e++] = environ[i];
	if (cfg->tunnel == TUNNEL_SSH_PASSWORD)
	{
		selflen = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (selflen <= 0 || (size_t) selflen >= sizeof(self) - 1)
		{
			err_set(ERR_SYSTEM, strerror(errno), "could not find this program's path (/proc/self/exe) "
					"to give ssh the tunnel password");
			goto done;
		}
		self[selflen] = '\0';
		envp[e++] = OWN(fmt_dup("SSH_ASKPASS=%s", self));
		envp[e++] = "SSH_ASKPASS_REQUIRE=force";
		envp[e++] = OWN(fmt_dup(ASKPASS_ENV "=%s", cfg->tunnel_user_password));
		if (envp[e - 1] == NULL || envp[e - 3] == NULL)
		{
			err_set(ERR_SYSTEM, NULL, "out of memory starting the SSH tunnel");
			goto done;
		}
	}
	envp[e] = NULL;
#undef OWN

	errfd = open(err_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (errfd < 0 || nullfd < 0)
	{
		err_set(ERR_SYSTEM, strerror(errno), "could not set up the SSH tunnel's output");
		goto done;
	}
	pid = fork();
	if (pid < 0)
	{
		err_set(ERR_SYSTEM, strerror(errno), "could not start ssh for the SSH tunnel");
		goto done;
	}
	if (pid == 0)
	{
		static const char missing[] = "source-postgres: could not run ssh (the OpenSSH client)\n";

		/* async-signal-safe calls only from here on */
		setsid();
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		dup2(nullfd, STDIN_FILENO);
		dup2(nullfd, STDOUT_FILENO);
		dup2(errfd, STDERR_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execvpe("ssh", (char *const *) argv, envp);
		if (write(STDERR_FILENO, missing, sizeof(missing) - 1) < 0)
			_exit(127);
		_exit(127);
	}
	ssh_pid = pid;
	ssh_exited = false;
	ok = true;

done:
	if (errfd >= 0)
		close(errfd);
	if (nullfd >= 0)
		close(nullfd);
	if (cfg->tunnel == TUNNEL_SSH_PASSWORD && envp != NULL && e > 0 && envp[e - 1] != NULL &&
		strncmp(envp[e - 1], ASKPASS_ENV "=", sizeof(ASKPASS_ENV)) == 0)
		explicit_bzero(envp[e - 1], strlen(envp[e - 1]));
	for (int i = 0; i < n_owned; i++)
		free(owned[i]);
	free(envp);
	return ok;
}

/* Record why ssh exited before the tunnel was up. */
static void
fail_from_ssh(const config_t *cfg)
{
	static const char *const keys[] = {
		"Permission denied", "Could not resolve", "Connection refused", "timed out", "No route",
		"unreachable", "Load key", "invalid format", "libcrypto", "No user exists",
		"could not run ssh", "Connection closed", "reset by peer", "Host key verification",
		"Too many authentication failures", "Bad port", "bind", "listen", NULL
	};
	static const char *const key_keys[] = {"could not run ssh", "Load key", "invalid format",
	"libcrypto", NULL};
	char		line[512];
	const char *cred = cfg->tunnel == TUNNEL_SSH_KEY ? "tunnel_method.ssh_key (an unencrypted private key "
		"the jump server accepts for that user)" : "tunnel_method.tunnel_user_password";

	/* a key ssh could not load explains the refusal that follows it */
	err_line(key_keys, line, sizeof(line));
	if (line[0] == '\0')
		err_line(keys, line, sizeof(line));
	if (line[0] == '\0')
		err_line(NULL, line, sizeof(line));
	if (line[0] == '\0')
		snprintf(line, sizeof(line), "ssh exited with status %d", WIFEXITED(ssh_status) ?
				 WEXITSTATUS(ssh_status) : 128 + WTERMSIG(ssh_status));

	if (strstr(line, "could not run ssh"))
		err_set(ERR_SYSTEM, line, "SSH tunnels need the OpenSSH client: install it (Debian: "
				"apt-get install openssh-client) where the connector runs");
	else if (strstr(line, "Permission denied") || strstr(line, "Too many authentication failures"))
		err_set(ERR_CONFIG, line, "could not log in to the SSH jump server %s:%d as \"%s\": %s; "
				"check tunnel_method.tunnel_user and %s", jump_host, jump_port,
				cfg->tunnel_user, line, cred);
	else if (strstr(line, "Load key") || strstr(line, "invalid format") || strstr(line, "libcrypto"))
		err_set(ERR_CONFIG, line, "tunnel_method.ssh_key is not a private key ssh can use: %s; "
				"paste the whole unencrypted private key (PEM or OpenSSH format) with its BEGIN "
				"and END lines", line);
	else if (strstr(line, "Could not resolve"))
		err_set(ERR_CONFIG, line, "could not resolve the SSH jump server's name \"%s\": %s; check "
				"tunnel_method.tunnel_host", jump_host, line);
	else if (strstr(line, "No user exists"))
		err_set(ERR_CONFIG, line, "ssh cannot run as this user id: %s; run the connector as a user "
				"listed in /etc/passwd", line);
	else if (strstr(line, "Connection refused") || strstr(line, "timed out") ||
			 strstr(line, "No route") || strstr(line, "unreachable") ||
			 strstr(line, "Connection closed") || strstr(line, "reset by peer"))
		err_set(ERR_TRANSIENT, line, "could not connect to the SSH jump server %s:%d: %s; check "
				"tunnel_method.tunnel_host and tunnel_method.tunnel_port, and that the jump server "
				"takes SSH connections from here", jump_host, jump_port, line);
	else
		err_set(ERR_SYSTEM, line, "could not open the SSH tunnel through %s:%d: %s", jump_host,
				jump_port, line);
}

/* Whether ssh's exit was its failure to listen on our port (someone else took it). */
static bool
port_taken(void)
{
	static const char *const keys[] = {"Address already in use", "cannot listen", NULL};
	char		line[256];

	err_line(keys, line, sizeof(line));
	return line[0] != '\0';
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool
tunnel_open(const config_t *cfg, int *port)
{
	const char *dir = getenv("TMPDIR");
	int			timeout = cfg->connect_timeout_seconds > 0 ? cfg->connect_timeout_seconds : 10;

	if (cfg->tunnel == TUNNEL_NONE)
		return false;
	if (ssh_pid > 0)
	{
		if (ssh_gone())
		{
			char		line[512];

			err_line(NULL, line, sizeof(line));
			err_set(ERR_TRANSIENT, line, "the SSH tunnel through %s:%d has closed%s%s", jump_host,
					jump_port, line[0] ? ": " : "", line);
			return false;
		}
		*port = local_port;
		return true;
	}
	snprintf(jump_host, sizeof(jump_host), "%s", cfg->tunnel_host);
	jump_port = cfg->tunnel_port;
	if (!atexit_done)
	{
		if (atexit(tunnel_close) != 0)
		{
			err_set(ERR_SYSTEM, NULL, "could not register the SSH tunnel's clean-up");
			return false;
		}
		atexit_done = true;
	}
	if (err_path[0] == '\0')
	{
		int			fd;

		if (dir == NULL || dir[0] == '\0')
			dir = "/tmp";
		snprintf(err_path, sizeof(err_path), "%s/source-postgres-ssh-XXXXXX", dir);
		fd = mkstemp(err_path);
		if (fd < 0)
		{
			err_path[0] = '\0';
			err_set(ERR_SYSTEM, strerror(errno), "could not create a temporary file for ssh's "
					"messages in \"%s\"; set TMPDIR to a writable directory", dir);
			return false;
		}
		fchmod(fd, S_IRUSR | S_IWUSR);
		close(fd);
	}

	for (int attempt = 0; attempt < PORT_TRIES; attempt++)
	{
		double		deadline = now_s() + 2.0 * timeout + 10;
		int			p = free_port();

		if (p == 0)
		{
			err_set(ERR_SYSTEM, strerror(errno), "could not find a free loopback port for the SSH tunnel");
			return false;
		}
		if (truncate(err_path, 0) != 0)
			log_debug("could not empty %s: %s", err_path, strerror(errno));
		log_info("opening an SSH tunnel through %s:%d as \"%s\" to %s:%d", jump_host, jump_port,
				 cfg->tunnel_user, cfg->host, cfg->port);
		if (!spawn_ssh(cfg, p))
			return false;
		for (;;)
		{
			int			l;

			if (ssh_gone())
				break;
			l = port_listening(p);
			if (l == 1 || (l < 0 && port_accepts(p)))
			{
				local_port = p;
				*port = p;
				log_info("SSH tunnel open: 127.0.0.1:%d forwards to %s:%d through %s:%d", p,
						 cfg->host, cfg->port, jump_host, jump_port);
				return true;
			}
			if (sp_stop_requested || now_s() > deadline)
			{
				kill(ssh_pid, SIGTERM);
				waitpid(ssh_pid, &ssh_status, 0);
				ssh_exited = true;
				ssh_pid = -1;
				if (sp_stop_requested)
					err_set(ERR_TRANSIENT, NULL, "stopped while opening the SSH tunnel");
				else
					err_set(ERR_TRANSIENT, NULL, "the SSH tunnel through %s:%d did not open within "
							"%d seconds; check tunnel_method.tunnel_host and "
							"tunnel_method.tunnel_port, and that the jump server takes SSH "
							"connections from here", jump_host, jump_port, (int) (2.0 * timeout + 10));
				return false;
			}
			usleep(20 * 1000);
		}
		ssh_pid = -1;
		if (!port_taken())
			break;
	}
	fail_from_ssh(cfg);
	return false;
}

void
tunnel_explain(char *out, size_t outsz)
{
	static const char *const keys[] = {"open failed", "connect failed", "administratively prohibited",
	"Connection refused", "Broken pipe", "Timeout", "closed", NULL};
	char		line[512];

	out[0] = '\0';
	if (err_path[0] == '\0')
		return;
	err_line(keys, line, sizeof(line));
	if (ssh_pid > 0 && ssh_gone())
	{
		if (line[0] == '\0')
			err_line(NULL, line, sizeof(line));
		snprintf(out, outsz, "the SSH tunnel through %s:%d has closed%s%s%s", jump_host, jump_port,
				 line[0] ? " (" : "", line, line[0] ? ")" : "");
	}
	else if (strstr(line, "administratively prohibited"))
		snprintf(out, outsz, "the jump server %s:%d refused to forward the connection (%s); its "
				 "sshd_config must allow TCP forwarding (AllowTcpForwarding, PermitOpen) to the "
				 "database's host and port", jump_host, jump_port, line);
	else if (line[0] != '\0')
		snprintf(out, outsz, "through the SSH jump server %s:%d, which reported: %s", jump_host,
				 jump_port, line);
}

bool
tunnel_lost(bool wait, char *out, size_t outsz)
{
	out[0] = '\0';
	if (err_path[0] == '\0' || ssh_pid <= 0)
		return false;
	/* a lost connection is seen a moment before ssh, whose end caused it, has exited */
	for (int i = 0; i < (wait ? 100 : 0) && !ssh_gone(); i++)
		usleep(10 * 1000);
	if (!ssh_gone())
		return false;
	tunnel_explain(out, outsz);
	return true;
}
