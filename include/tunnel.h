/*
 * tunnel.h: the SSH tunnel of tunnel_method SSH_KEY_AUTH and SSH_PASSWORD_AUTH. The OpenSSH client
 * forwards a loopback port of ours, through the jump server, to the database's host and port;
 * every connection of the process goes through that one tunnel, which lives until exit.
 */
#ifndef SP_TUNNEL_H
#define SP_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/*
 * Start the tunnel cfg asks for, once per process (later calls return the same one); *port gets
 * the loopback port to connect to (on 127.0.0.1). On failure records an error naming the jump
 * server, what ssh said and the fix, and returns false. Without a tunnel in cfg: false, nothing
 * recorded; callers test cfg->tunnel first.
 */
bool		tunnel_open(const config_t *cfg, int *port);

/* Where ssh's messages are now: pass it to tunnel_explain for a connection begun after it. */
off_t		tunnel_mark(void);

/*
 * Why a connection through the open tunnel, begun at mark since, may have failed: the tunnel has
 * closed, or ssh reported since then that the jump server refused the forward or could not
 * connect it. One line, or "" when neither, written to out (outsz bytes). True when the tunnel
 * has closed.
 */
bool		tunnel_explain(off_t since, char *out, size_t outsz);

/*
 * Whether a tunnel was opened and has closed since (ssh exited; with wait, given up to a second
 * to do so): then writes to out what ssh said last, for an error that may be its consequence,
 * and returns true.
 */
bool		tunnel_lost(bool wait, char *out, size_t outsz);

/*
 * The password askpass mode: ssh runs this program as its SSH_ASKPASS with the path of a 0600
 * file holding the password in the environment. When that is what this process is, prints the
 * password and returns the exit code for main (1 when there is none to print); otherwise -1.
 */
int			tunnel_askpass(void);

#endif
