/*
 * copytext.h: a parser for PostgreSQL's COPY TO text format (one row: fields separated by tabs,
 * \N for NULL, backslash escapes). Pure code, bounds-checked, fuzzable.
 */
#ifndef SP_COPYTEXT_H
#define SP_COPYTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef struct copy_field
{
	const char *data;			/* borrowed: points into the row or into the scratch buffer */
	size_t		len;
	bool		is_null;
} copy_field;

/*
 * Split one row (with or without its trailing newline) into exactly nfields fields, unescaping
 * where needed into scratch (which is reset first). Field pointers stay valid until scratch or
 * the row changes. False if the row does not hold exactly nfields fields or scratch hits its cap.
 */
bool		copy_parse_row(const char *row, size_t len, buf_t *scratch, copy_field *fields,
						   int nfields);

#endif
