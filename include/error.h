/*
 * error.h: the connector's failure record.
 *
 * A function that fails calls err_set() where it fails (naming the problem for the user) and
 * returns false; callers just propagate ("the error has already been recorded"). main() turns the
 * recorded error into one Airbyte TRACE ERROR message and the exit code. Only the first error is
 * kept: later ones are usually consequences of it.
 */
#ifndef SP_ERROR_H
#define SP_ERROR_H

#include <stdbool.h>

typedef enum
{
	ERR_NONE = 0,
	ERR_CONFIG,					/* the user must fix something: failure_type config_error */
	ERR_SYSTEM,					/* anything else: failure_type system_error */
	ERR_TRANSIENT				/* worth a retry: failure_type transient_error */
} err_kind;

/*
 * Record a failure. message is for humans (names the problem and the fix); internal, which may be
 * NULL, is detail such as a server error text. Neither may contain a secret.
 */
void		err_set(err_kind kind, const char *internal, const char *fmt,...) __attribute__((format(printf, 3, 4)));
bool		err_isset(void);
err_kind	err_get_kind(void);
/* Borrowed; valid until err_clear(). */
const char *err_message(void);
const char *err_internal(void);
void		err_clear(void);

#endif
