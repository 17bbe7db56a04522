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

/*
 * Keep a message on one line: libpq's end in a newline, and some continue on indented lines
 * ("server closed the connection unexpectedly\n\tThis probably means..."), each break becomes
 * one space, carriage returns and trailing blanks go.
 */
static void
one_line(char *s)
{
	char	   *o = s;

	for (const char *p = s; *p; p++)
	{
		if (*p == '\r')
			continue;
		if (*p != '\n')
		{
			*o++ = *p;
			continue;
		}
		while (p[1] == '\t' || p[1] == ' ' || p[1] == '\n' || p[1] == '\r')
			p++;
		if (p[1] != '\0' && o > s && o[-1] != ' ')
			*o++ = ' ';
	}
	while (o > s && o[-1] == ' ')
		o--;
	*o = '\0';
}

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
	one_line(cur_message);
	one_line(cur_internal);
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
