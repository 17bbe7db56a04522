/* libFuzzer target: COPY text rows. The first byte picks the field count. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copytext.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	copy_field	f[16];
	buf_t		s;
	int			n;

	if (size < 1)
		return 0;
	n = data[0] % 16 + 1;
	buf_init(&s, 1 << 20);
	if (copy_parse_row((const char *) data + 1, size - 1, &s, f, n))
		for (int i = 0; i < n; i++)
			if (!f[i].is_null && f[i].len > 0 && (f[i].data == NULL || f[i].len > size))
				abort();
	buf_free(&s);
	return 0;
}
