/*
 * airbyte.h: the only writer of stdout.
 *
 * Every line on stdout is one compact AirbyteMessage. Output is gathered in one large buffer and
 * written with few large write(2) calls; ab_flush() pushes everything out (it is called after each
 * STATE message, so a state never reaches the platform before the records it covers).
 * Records are written in place: ab_record_begin() writes the envelope and opens "data", the caller
 * appends the members of the data object to the returned buffer, ab_record_end() closes it.
 */
#ifndef SP_AIRBYTE_H
#define SP_AIRBYTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

/* Milliseconds since the epoch (the coarse clock: a few ms of resolution, no TSC read). */
int64_t		ab_now_ms(void);
/* Milliseconds on the coarse monotonic clock, for intervals: a stepped wall clock cannot stretch them. */
int64_t		ab_mono_ms(void);

/* Write one message (any AirbyteMessage object) and release the reference (steals msg). */
void		ab_emit(json_t *msg);
/* Write everything buffered to stdout. False if stdout is gone (EPIPE etc.). */
bool		ab_flush(void);
/* Write what is left and release the buffer; call once before exiting. */
void		ab_finish(void);
/*
 * Run fn(arg) every second the output waits for a slow reader of stdout (NULL: none). It must not
 * write messages.
 */
void		ab_set_wait_hook(void (*fn) (void *), void *arg);
/* True once a write to stdout has failed; the process should stop. */
bool		ab_broken(void);

/*
 * The constant start of a stream's RECORD lines, up to and including `"emitted_at":`, built once
 * per stream. Caller frees with free().
 */
char	   *ab_record_prefix(const char *ns, const char *stream, size_t *len);
/*
 * Begin a RECORD from its prefix: returns the output buffer positioned inside `"data":{`; the
 * caller appends `"col":value` members separated by commas. Borrowed; valid until ab_record_end().
 */
buf_t	   *ab_record_begin(const char *prefix, size_t prefix_len, int64_t emitted_at);
/*
 * Close a record begun by ab_record_begin(). nulled lists the names of fields that were set to
 * null because the value cannot be represented (reason SOURCE_SERIALIZATION_ERROR); may be NULL.
 */
void		ab_record_end(const char *const *nulled, int n_nulled);
/* Undo a record begun but not ended (e.g. on a conversion failure). */
void		ab_record_abort(void);

/* Convenience writers for the other message types. */
void		ab_log(const char *level, const char *message);
void		ab_connection_status(bool succeeded, const char *message);
void		ab_trace_error(const char *failure_type, const char *message, const char *internal);
void		ab_stream_status(const char *ns, const char *name, const char *status);
void		ab_estimate(const char *ns, const char *name, int64_t rows, int64_t bytes);
/* {"type":"STATE","state":state}; steals state; flushes. */
void		ab_state(json_t *state);

#endif
