/*
 * tunnel.c: the SSH tunnel of tunnel_method SSH_KEY_AUTH and SSH_PASSWORD_AUTH (see tunnel.h).
 *
 * The OpenSSH client (`ssh -N -L 127.0.0.1:PORT:HOST:PORT`) does the SSH: keys of every format,
 * ciphers, keep-alives and host quirks are its job, not ours. It runs in a session of its own
 * (a Ctrl-C or SIGTERM to our process group must not cut the tunnel while we stop cleanly), with
 * stdout on /dev/null (ours is the protocol channel), stderr to a temporary file unlinked as
 * soon as it is open (we read it through our descriptor; nothing stays on disk, even after a
 * SIGKILL), and a parent-death signal so it never outlives us. The key is a 0600 temporary file
 * written by config.c; the password is a 0600 file too, read by ssh's SSH_ASKPASS, which is this
 * same program run with the file's path in its environment (tunnel_askpass). Both files are
 * removed as soon as ssh has logged in, so neither is on disk while the read runs.
 *
 * The tunnel is up when ssh listens on the port: it does that only once it has logged in and set
 * up the forward (ExitOnForwardFailure makes it exit otherwise). The listening socket must be
 * ssh's own (an inode among its descriptors): another local process that took the port in the
 * meantime would otherwise be sent the database password. Host keys are not checked, as Airbyte's
 * own tunnel does not: its config has no field to pin one.
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
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "pgconn.h"
#include "commands.h"
#include "reader.h"				/* sp_tmpfd */

#define ASKPASS_ENV "SP_TUNNEL_ASKPASS_FILE"
/* ssh's stderr is read back for errors: its last few kilobytes are enough */
#define ERR_TAIL 4096
/* tries at a free loopback port (another process may take the one we picked first) */
#define PORT_TRIES 3

extern char **environ;

static pid_t ssh_pid = -1;
static int	local_port;
static bool ssh_exited;
static int	ssh_status;
static int	err_fd = -1;			/* ssh's stderr: an unlinked file, read with pread */
static char pw_path[PATH_MAX];	/* the password for askpass, until ssh has logged in */
static char jump_hp[300];		/* the jump server as messages name it: host:port, [v6]:port */
static char db_hp[300];			/* the database's host:port, likewise */
static char failed[1024];		/* why the tunnel did not open, once it has not */
static err_kind failed_kind;
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
	if (pw_path[0] != '\0')
		unlink(pw_path);
	pw_path[0] = '\0';
	if (err_fd >= 0)
		close(err_fd);
	err_fd = -1;
}

/* ssh has logged in (or given up): the key and the password are not needed on disk any more. */
static void
forget_credentials(const config_t *cfg)
{
	if (pw_path[0] != '\0')
		unlink(pw_path);
	pw_path[0] = '\0';
	/* config_free's removal of it later finds nothing, which it takes in its stride */
	if (cfg->ssh_key_file != NULL)
		unlink(cfg->ssh_key_file);
}

int
tunnel_askpass(void)
{
	const char *path = getenv(ASKPASS_ENV);
	char		pw[4096];
	ssize_t		n = 0;
	int			fd;

	if (path == NULL)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
	{
		n = read(fd, pw, sizeof(pw));
		close(fd);
	}
	if (n > 0 && fwrite(pw, 1, (size_t) n, stdout) == (size_t) n)
		fputc('\n', stdout);
	fflush(stdout);
	explicit_bzero(pw, sizeof(pw));
	/* no password to give: ssh gives up rather than send an empty one */
	return n > 0 ? 0 : 1;
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

/* defined below: err_line needs err_size */
static void err_line(off_t since, const char *const *keys, char *out, size_t outsz);
static off_t err_size(void);

/* Why an ssh that has exited ended: its last message, else its exit status or signal. */
static void
end_reason(char *out, size_t outsz)
{
	err_line(0, NULL, out, outsz);
	if (out[0] != '\0')
		return;
	if (WIFSIGNALED(ssh_status))
		snprintf(out, outsz, "ssh was ended by signal %d", WTERMSIG(ssh_status));
	else
		snprintf(out, outsz, "ssh exited with status %d", WEXITSTATUS(ssh_status));
}

/* How much ssh has written to its stderr so far. */
static off_t
err_size(void)
{
	struct stat st;

	return err_fd >= 0 && fstat(err_fd, &st) == 0 ? st.st_size : 0;
}

/*
 * The last line ssh wrote to its stderr from offset since on that contains one of keys (any line
 * when keys is NULL), without its line end or a final '.', printable; "" when there is none.
 */
static void
err_line(off_t since, const char *const *keys, char *out, size_t outsz)
{
	char		tail[ERR_TAIL + 1];
	off_t		end = err_size();
	off_t		from = end - since > ERR_TAIL ? end - ERR_TAIL : since;
	ssize_t		n;
	char	   *line;
	char	   *best = NULL;

	out[0] = '\0';
	if (err_fd < 0 || from >= end)
		return;
	n = pread(err_fd, tail, ERR_TAIL, from);
	if (n <= 0)
		return;
	tail[n] = '\0';
	line = tail;
	while (line != NULL && *line != '\0')
	{
		char	   *eol = strpbrk(line, "\r\n");

		if (eol != NULL)
			*eol = '\0';
		/* said at every login (host keys are not kept): never the reason for anything */
		if (*line != '\0' && strncmp(line, "Warning: Permanently added", 26) != 0)
		{
			bool		match = keys == NULL;

			for (int i = 0; keys != NULL && keys[i] != NULL && !match; i++)
				match = strstr(line, keys[i]) != NULL;
			if (match)
				best = line;
		}
		line = eol != NULL ? eol + 1 : NULL;
	}
	if (best != NULL)
	{
		/* what ssh prints is not secret, but it is bounded and kept printable */
		size_t		o = 0;

		for (const char *c = best; *c && o + 1 < outsz; c++)
			out[o++] = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
		while (o > 0 && (out[o - 1] == '.' || out[o - 1] == ' '))
			o--;
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
 * Whether ssh listens on 127.0.0.1:port: a listening socket there, from /proc/net/tcp, whose inode
 * is one of ssh's descriptors (/proc/PID/fd). A probe connection would make ssh open a channel
 * to the database for nothing, and would not tell ssh from another process that took the port.
 * 1 yes, 0 no, -1 when /proc cannot tell.
 */
static int
ssh_listening(int port)
{
	FILE	   *f = fopen("/proc/net/tcp", "re");
	char		line[512];
	char		want_le[32];
	char		want_be[32];
	char		dirpath[64];
	char		sock[64];
	unsigned long inode = 0;
	DIR		   *d;
	struct dirent *de;
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
		unsigned long ino;

		/* sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode */
		if (sscanf(line, " %*[^:]: %63s %63s %7s %*s %*s %*s %*s %*s %lu", local, remote, st, &ino) != 4)
			continue;
		if ((strcmp(local, want_le) == 0 || strcmp(local, want_be) == 0) && strcmp(st, "0A") == 0)
		{
			inode = ino;
			break;
		}
	}
	fclose(f);
	if (inode == 0)
		return 0;
	snprintf(dirpath, sizeof(dirpath), "/proc/%d/fd", (int) ssh_pid);
	snprintf(sock, sizeof(sock), "socket:[%lu]", inode);
	d = opendir(dirpath);
	if (d == NULL)
		return -1;
	while (!found && (de = readdir(d)) != NULL)
	{
		char		fdpath[384];
		char		target[64];
		ssize_t		n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fdpath, sizeof(fdpath), "%s/%s", dirpath, de->d_name);
		n = readlink(fdpath, target, sizeof(target) - 1);
		if (n > 0)
		{
			target[n] = '\0';
			found = strcmp(target, sock) == 0;
		}
	}
	closedir(d);
	return found;
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

/*
 * The path of ssh on PATH (found before fork: execvpe is not async-signal-safe); false with the
 * error recorded when there is none.
 */
static bool
find_ssh(char *out, size_t outsz)
{
	const char *path = getenv("PATH");
	const char *p;

	if (path == NULL || path[0] == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; p != NULL; p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL)
	{
		size_t		len = strchr(p, ':') ? (size_t) (strchr(p, ':') - p) : strlen(p);
		int			n = snprintf(out, outsz, "%.*s/ssh", (int) len, len ? p : ".");

		if (n > 0 && (size_t) n < outsz && access(out, X_OK) == 0)
			return true;
	}
	err_set(ERR_SYSTEM, NULL, "SSH tunnels need the OpenSSH client (ssh), which is not on PATH: "
			"install it where the connector runs (Debian: apt-get install openssh-client)");
	return false;
}

/*
 * A new 0600 temporary file holding data (len bytes), for a path to give ssh; its path goes to
 * out. (Not config.c's PEM writer: that one unfolds "\n" and line ends, which a password keeps.)
 */
static bool
write_private(const char *what, const char *data, size_t len, char *out, size_t outsz)
{
	const char *dir = getenv("TMPDIR");
	int			fd;
	bool		ok;

	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	snprintf(out, outsz, "%s/source-postgres-%s-XXXXXX", dir, what);
	fd = mkstemp(out);
	if (fd < 0)
	{
		err_set(ERR_SYSTEM, strerror(errno), "could not create a temporary file for the SSH tunnel "
				"in \"%s\"; set TMPDIR to a writable directory", dir);
		out[0] = '\0';
		return false;
	}
	ok = fchmod(fd, S_IRUSR | S_IWUSR) == 0 && write(fd, data, len) == (ssize_t) len;
	if (close(fd) != 0 || !ok)
	{
		err_set(ERR_SYSTEM, strerror(errno), "could not write a temporary file for the SSH tunnel "
				"in \"%s\"", dir);
		unlink(out);
		out[0] = '\0';
		return false;
	}
	return true;
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
	char		ssh_path[PATH_MAX];
	ssize_t		selflen;
	int			nullfd = -1;
	pid_t		parent = getpid();
	pid_t		pid;
	bool		ok = false;

	if (!find_ssh(ssh_path, sizeof(ssh_path)))
		return false;
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
	ARG(OWN(fmt_dup("127.0.0.1:%d:%s", port, db_hp)));	/* db_hp: [v6]:port, as ssh takes it */
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
		envp[e++] = OWN(fmt_dup(ASKPASS_ENV "=%s", pw_path));
		if (envp[e - 1] == NULL || envp[e - 3] == NULL)
		{
			err_set(ERR_SYSTEM, NULL, "out of memory starting the SSH tunnel");
			goto done;
		}
	}
	envp[e] = NULL;
#undef OWN

	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd < 0)
	{
		err_set(ERR_SYSTEM, strerror(errno), "could not open /dev/null for the SSH tunnel");
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
		struct sigaction dfl;

		/* async-signal-safe calls only from here on (the writer thread may hold locks) */
		setsid();
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		dup2(nullfd, STDIN_FILENO);
		dup2(nullfd, STDOUT_FILENO);
		dup2(err_fd, STDERR_FILENO);
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGPIPE, &dfl, NULL);
		execve(ssh_path, (char *const *) argv, envp);
		_exit(127);
	}
	ssh_pid = pid;
	ssh_exited = false;
	ok = true;

done:
	if (nullfd >= 0)
		close(nullfd);
	for (int i = 0; i < n_owned; i++)
		free(owned[i]);
	free(envp);
	return ok;
}

/*
 * Whether the private key file at path is protected by a passphrase: PEM's "ENCRYPTED" headers,
 * or an OpenSSH-format key whose cipher is not "none" (its base64 body starts with
 * "openssh-key-v1\0", then the cipher's name as a length-prefixed string).
 */
static bool
key_encrypted(const char *path)
{
	static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char		text[8192];
	unsigned char bin[64];
	size_t		nbin = 0;
	unsigned int acc = 0;
	int			bits = 0;
	ssize_t		n = -1;
	int			fd = path != NULL ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	const char *body;
	bool		enc = false;

	if (fd >= 0)
	{
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
	}
	if (n <= 0)
		return false;
	text[n] = '\0';
	if (strstr(text, "ENCRYPTED") != NULL)
		enc = true;
	else if ((body = strstr(text, begin)) != NULL)
	{
		for (const char *c = body + sizeof(begin) - 1; *c && *c != '-' && nbin < sizeof(bin); c++)
		{
			const char *hit = strchr(b64, *c);

			if (*c == '\0' || hit == NULL)
				continue;
			acc = (acc << 6) | (unsigned int) (hit - b64);
			bits += 6;
			if (bits >= 8)
			{
				bits -= 8;
				bin[nbin++] = (unsigned char) (acc >> bits);
			}
		}
		if (nbin >= 19 && memcmp(bin, "openssh-key-v1", 15) == 0)
		{
			size_t		len = ((size_t) bin[15] << 24) | ((size_t) bin[16] << 16) |
				((size_t) bin[17] << 8) | bin[18];

			enc = !(len == 4 && nbin >= 23 && memcmp(bin + 19, "none", 4) == 0);
		}
	}
	explicit_bzero(text, sizeof(text));
	explicit_bzero(bin, sizeof(bin));
	return enc;
}

/* Record why ssh exited before the tunnel was up. */
static void
fail_from_ssh(const config_t *cfg)
{
	static const char *const keys[] = {
		"Permission denied", "Could not resolve", "Connection refused", "timed out", "No route",
		"unreachable", "Load key", "invalid format", "libcrypto", "No user exists",
		"Connection closed", "reset by peer", "Too many authentication failures", "Bad port", NULL
	};
	static const char *const key_keys[] = {"Load key", "invalid format", "libcrypto", NULL};
	char		line[512];
	char	   *hit;
	const char *cred = cfg->tunnel == TUNNEL_SSH_KEY ? "tunnel_method.ssh_key (an unencrypted private key "
		"the jump server accepts for that user)" : "tunnel_method.tunnel_user_password";

	/* a key ssh could not load explains the refusal that follows it */
	err_line(0, key_keys, line, sizeof(line));
	if (line[0] == '\0')
		err_line(0, keys, line, sizeof(line));
	if (line[0] == '\0')
		end_reason(line, sizeof(line));

	/* ssh names the key by its temporary file, gone by the time anyone reads this */
	if (cfg->ssh_key_file != NULL && (hit = strstr(line, cfg->ssh_key_file)) != NULL)
	{
		const char *field = "tunnel_method.ssh_key";
		size_t		kl = strlen(cfg->ssh_key_file);
		size_t		fl = strlen(field);

		if (fl <= kl)
		{
			memcpy(hit, field, fl);
			memmove(hit + fl, hit + kl, strlen(hit + kl) + 1);
		}
	}
	if (cfg->tunnel == TUNNEL_SSH_KEY && key_encrypted(cfg->ssh_key_file) &&
		(strstr(line, "Permission denied") || strstr(line, "Load key")))
		err_set(ERR_CONFIG, line, "tunnel_method.ssh_key is protected by a passphrase, which the "
				"config has no field for: give an unencrypted key (ssh-keygen -p -N '' -f KEY "
				"removes the passphrase from a copy)");
	else if (strstr(line, "exited with status 127"))
		err_set(ERR_SYSTEM, line, "SSH tunnels need the OpenSSH client (ssh), which could not be "
				"run: install it where the connector runs (Debian: apt-get install openssh-client)");
	else if (strstr(line, "Permission denied") || strstr(line, "Too many authentication failures"))
		err_set(ERR_CONFIG, line, "could not log in to the SSH jump server %s as \"%s\" (%s); "
				"check tunnel_method.tunnel_user and %s", jump_hp,
				cfg->tunnel_user, line, cred);
	else if (strstr(line, "Load key") || strstr(line, "invalid format") || strstr(line, "libcrypto"))
		err_set(ERR_CONFIG, line, "tunnel_method.ssh_key is not a private key ssh can use (%s); "
				"paste the whole unencrypted private key (PEM or OpenSSH format) with its BEGIN "
				"and END lines", line);
	else if (strstr(line, "Could not resolve"))
		err_set(ERR_CONFIG, line, "could not resolve the SSH jump server's name \"%s\" (%s); check "
				"tunnel_method.tunnel_host", cfg->tunnel_host, line);
	else if (strstr(line, "No user exists"))
		err_set(ERR_CONFIG, line, "ssh cannot run as this user id (%s); run the connector as a user "
				"listed in /etc/passwd", line);
	else if (strstr(line, "Connection refused") || strstr(line, "timed out") ||
			 strstr(line, "No route") || strstr(line, "unreachable") ||
			 strstr(line, "Connection closed") || strstr(line, "reset by peer"))
		err_set(ERR_TRANSIENT, line, "could not connect to the SSH jump server %s (%s); check "
				"tunnel_method.tunnel_host and tunnel_method.tunnel_port, and that the jump server "
				"takes SSH connections from here", jump_hp, line);
	else
		err_set(ERR_SYSTEM, line, "could not open the SSH tunnel through %s (%s)", jump_hp, line);
}

/* Whether ssh's exit was its failure to listen on our port (someone else took it). */
static bool
port_taken(void)
{
	static const char *const keys[] = {"Address already in use", "cannot listen", NULL};
	char		line[256];

	err_line(0, keys, line, sizeof(line));
	return line[0] != '\0';
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Stop a starting ssh (timed out, or we were asked to stop). */
static void
ssh_abandon(void)
{
	kill(ssh_pid, SIGTERM);
	waitpid(ssh_pid, &ssh_status, 0);
	ssh_exited = true;
	ssh_pid = -1;
}

bool
tunnel_open(const config_t *cfg, int *port)
{
	int			timeout = cfg->connect_timeout_seconds > 0 ? cfg->connect_timeout_seconds : 10;
	bool		ok = false;

	if (cfg->tunnel == TUNNEL_NONE)
		return false;
	if (failed[0] != '\0')
	{
		/* tried once: the credentials are gone, and the answer would be the same */
		err_set(failed_kind, NULL, "%s", failed);
		return false;
	}
	if (ssh_pid > 0)
	{
		if (ssh_gone())
		{
			char		line[512];

			end_reason(line, sizeof(line));
			err_set(ERR_TRANSIENT, line, "the SSH tunnel through %s has closed (%s)", jump_hp, line);
			return false;
		}
		*port = local_port;
		return true;
	}
	pgc_host_port(jump_hp, sizeof(jump_hp), cfg->tunnel_host, cfg->tunnel_port);
	pgc_host_port(db_hp, sizeof(db_hp), cfg->host, cfg->port);
	if (!atexit_done)
	{
		if (atexit(tunnel_close) != 0)
		{
			err_set(ERR_SYSTEM, NULL, "could not register the SSH tunnel's clean-up");
			return false;
		}
		atexit_done = true;
	}
	if (err_fd < 0)
	{
		/* unlinked already; ssh appends to it through its stderr, we pread it */
		err_fd = sp_tmpfd();
		if (err_fd < 0 || fcntl(err_fd, F_SETFL, O_APPEND) != 0 ||
			fcntl(err_fd, F_SETFD, FD_CLOEXEC) != 0)
		{
			err_set(ERR_SYSTEM, strerror(errno), "could not create a temporary file for ssh's "
					"messages; set TMPDIR to a writable directory");
			if (err_fd >= 0)
				close(err_fd);
			err_fd = -1;
			return false;
		}
	}
	if (cfg->tunnel == TUNNEL_SSH_PASSWORD &&
		!write_private("ssh-pw", cfg->tunnel_user_password, strlen(cfg->tunnel_user_password),
					   pw_path, sizeof(pw_path)))
		return false;

	for (int attempt = 0; attempt < PORT_TRIES && !ok; attempt++)
	{
		double		deadline = now_s() + 2.0 * timeout + 10;
		int			p = free_port();

		if (p == 0)
		{
			err_set(ERR_SYSTEM, strerror(errno), "could not find a free loopback port for the SSH tunnel");
			break;
		}
		if (ftruncate(err_fd, 0) != 0)
			log_debug("could not empty ssh's messages: %s", strerror(errno));
		log_info("opening an SSH tunnel through %s as \"%s\" to %s", jump_hp, cfg->tunnel_user, db_hp);
		if (!spawn_ssh(cfg, p))
			break;
		for (;;)
		{
			int			l;

			if (ssh_gone())
				break;
			l = ssh_listening(p);
			if (l < 0)
			{
				ssh_abandon();
				err_set(ERR_SYSTEM, NULL, "could not tell whether the SSH tunnel's port is ssh's own "
						"(/proc/net/tcp or /proc/%d/fd cannot be read): the tunnel needs /proc",
						(int) ssh_pid);
				break;
			}
			if (l == 1)
			{
				local_port = p;
				*port = p;
				log_info("SSH tunnel open: 127.0.0.1:%d forwards to %s through %s", p, db_hp, jump_hp);
				ok = true;
				break;
			}
			if (sp_stop_requested || now_s() > deadline)
			{
				ssh_abandon();
				if (sp_stop_requested)
					err_set(ERR_TRANSIENT, NULL, "stopped while opening the SSH tunnel");
				else
					err_set(ERR_TRANSIENT, NULL, "the SSH tunnel through %s did not open within "
							"%d seconds; check tunnel_method.tunnel_host and "
							"tunnel_method.tunnel_port, and that the jump server takes SSH "
							"connections from here", jump_hp, (int) (2.0 * timeout + 10));
				break;
			}
			usleep(20 * 1000);
		}
		if (ok || err_isset())
			break;
		/* ssh exited: retried only when another process took the port first */
		if (!port_taken() || attempt == PORT_TRIES - 1)
		{
			fail_from_ssh(cfg);
			ssh_pid = -1;
			break;
		}
		ssh_pid = -1;
	}
	forget_credentials(cfg);
	if (!ok)
	{
		failed_kind = err_get_kind() != ERR_NONE ? err_get_kind() : ERR_SYSTEM;
		snprintf(failed, sizeof(failed), "%s", err_isset() ? err_message() : "the SSH tunnel did not open");
	}
	return ok;
}

off_t
tunnel_mark(void)
{
	return err_size();
}

bool
tunnel_explain(off_t since, char *out, size_t outsz)
{
	static const char *const keys[] = {"open failed", NULL};
	char		line[512];

	out[0] = '\0';
	if (err_fd < 0)
		return false;
	if (ssh_pid > 0 && ssh_gone())
	{
		end_reason(line, sizeof(line));
		snprintf(out, outsz, "the SSH tunnel through %s has closed (%s)", jump_hp, line);
		return true;
	}
	/* "channel 3: open failed: connect failed: Connection refused", since this connection began */
	err_line(since, keys, line, sizeof(line));
	if (strstr(line, "administratively prohibited"))
		snprintf(out, outsz, "the jump server %s refused to forward the connection (%s); its "
				 "sshd_config must allow TCP forwarding (AllowTcpForwarding, PermitOpen) to the "
				 "database's host and port", jump_hp, line);
	else if (line[0] != '\0')
		snprintf(out, outsz, "the SSH jump server %s reported: %s", jump_hp, line);
	return false;
}

bool
tunnel_lost(bool wait, char *out, size_t outsz)
{
	out[0] = '\0';
	if (err_fd < 0 || ssh_pid <= 0)
		return false;
	/* a lost connection is seen a moment before ssh, whose end caused it, has exited */
	for (int i = 0; i < (wait ? 100 : 0) && !ssh_gone(); i++)
		usleep(10 * 1000);
	return ssh_gone() && tunnel_explain(0, out, outsz);
}
