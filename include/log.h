/*
 * log.h: levelled diagnostics, written as Airbyte LOG messages through the stdout writer.
 */
#ifndef SP_LOG_H
#define SP_LOG_H

typedef enum
{
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR
} log_level;

/* Messages below this level are dropped (default LOG_INFO; SP_LOG_LEVEL=debug lowers it). */
void		log_set_level(log_level level);
log_level	log_get_level(void);
void		log_msg(log_level level, const char *fmt,...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
