/*
 * log.c: levelled diagnostics as Airbyte LOG messages (see log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

#include "airbyte.h"

static log_level min_level = LOG_INFO;

void
log_set_level(log_level level)
{
	min_level = level;
}

log_level
log_get_level(void)
{
	return min_level;
}

void
log_msg(log_level level, const char *fmt,...)
{
	static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
	char		text[4096];
	va_list		ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	ab_log(names[level], text);
	/* a log line is for whoever watches the run now (one may say we are waiting), not later */
	ab_flush();
}
