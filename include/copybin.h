/*
 * copybin.h: PostgreSQL's COPY TO binary format. Each value can be rendered as exactly the text
 * the server's output function writes in the sessions pgconn sets up (DateStyle ISO, TimeZone
 * UTC, bytea_output hex), or written straight as the JSON typeconv makes of that text, so a row
 * copied in binary gives the same records, keys and cursors as a text-format COPY. Only types
 * with a tc_wire form are handled; a COPY with any other column is made in text format (see
 * copytext.h).
 *
 * Why: the server's text output functions (timestamptz_out above all, then numeric_out) are about
 * a quarter of what a COPY costs the server (measured on the bench table), and the server shares
 * this machine's two cores with us.
 *
 * The stream: the first CopyData message starts with a header (signature, flags, extension),
 * then every message holds one tuple (a 16-bit field count, then each field's 32-bit length,
 * -1 for NULL, and its bytes); the last holds the trailer, a field count of -1.
 * Pure code, bounds-checked, fuzzable.
 */
#ifndef SP_COPYBIN_H
#define SP_COPYBIN_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "copytext.h"
#include "typeconv.h"

/* The length of the binary COPY header that starts msg (the first message); -1 if there is none. */
long		copybin_header_len(const char *msg, size_t len);

/*
 * Split one tuple tup[0..len) of exactly nfields fields whose binary forms are wire[0..nfields)
 * into fields, each pointing at its value's binary form (valid while the tuple is). Every value
 * is checked, so rendering it cannot fail. Returns 1 for a row, 0 for the trailer, -1 for a
 * malformed tuple (a field count other than nfields, a length past the end, a value whose binary
 * form is impossible for its type).
 */
int			copybin_split_row(const char *tup, size_t len, const tc_wire *wire, int nfields,
							  copy_field *fields);

/*
 * An upper bound on the text of one value's binary form bin[0..len), or -1 when that binary
 * form is impossible for the type (a wrong length, a numeric's bad header).
 */
long		copybin_text_bound(tc_wire wire, const char *bin, size_t len);

/*
 * Render one value's binary form as the server's text output into out, which holds at least
 * copybin_text_bound() bytes; returns the text's length, or -1 when the binary form is
 * impossible for the type.
 */
long		copybin_render(tc_wire wire, const char *bin, size_t len, char *out);

/*
 * Append the JSON value of a checked binary value of type t (t->wire set): the same bytes, and
 * the same result, as tc_write gives for the value's text (see typeconv.h), without making the
 * text first for the types whose JSON is built from it (numbers, booleans, dates and times).
 */
bool		copybin_write_json(buf_t *out, const tc_type *t, const char *bin, size_t len);

#endif
