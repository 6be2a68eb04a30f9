/* Base64 (RFC 4648, with padding): to carry a job's argv through shells and ssh untouched. */
#ifndef PVLAB_UTIL_BASE64_H
#define PVLAB_UTIL_BASE64_H

#include <stddef.h>

#include "util/buf.h"

/* Appends the encoding of data to out (only A-Z a-z 0-9 + / =: nothing a shell interprets). */
void b64_encode(const void *data, size_t len, struct buf *out);
/* Appends the decoded bytes of text to out. Returns 0, or -1 on a character outside the
 * alphabet or a bad length. */
int b64_decode(const char *text, struct buf *out);

#endif
