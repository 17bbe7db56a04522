/*
 * error.c: the first recorded failure, turned into a TRACE ERROR by main (see error.h).
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static err_kind cur_kind = ERR_NONE;
static char cur_message[2048];
static char cur_internal[4096];

void
err_set(err_kind kind, const char *internal, const char *fmt,...)
{
	va_list		ap;

	if (cur_kind != ERR_NONE)
		return;
	cur_kind = kind;
	va_start(ap, fmt);
	vsnprintf(cur_message, sizeof(cur_message), fmt, ap);
	va_end(ap);
	snprintf(cur_internal, sizeof(cur_internal), "%s", internal ? internal : "");
	/* libpq messages end in a newline; keep the text on one line */
	for (char *p = cur_internal; *p; p++)
		if (*p == '\n')
			*p = (p[1] ? ' ' : '\0');
}

bool
err_isset(void)
{
	return cur_kind != ERR_NONE;
}

err_kind
err_get_kind(void)
{
	return cur_kind;
}

const char *
err_message(void)
{
	return cur_message;
}

const char *
err_internal(void)
{
	return cur_internal;
}

void
err_clear(void)
{
	cur_kind = ERR_NONE;
	cur_message[0] = '\0';
	cur_internal[0] = '\0';
}
