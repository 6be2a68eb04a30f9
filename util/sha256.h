/*
 * SHA-256 (FIPS 180-4): one-shot over a buffer or a file, and an incremental context for
 * streams. Results are lowercase hex strings in caller-provided 65-byte arrays. No allocation;
 * sha256_file_hex blocks on file I/O.
 */
#ifndef PVLAB_UTIL_SHA256_H
#define PVLAB_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 64

struct sha256_ctx {
    uint32_t h[8];
    uint64_t total;      /* bytes hashed so far */
    unsigned char block[64];
    size_t used;         /* bytes pending in block */
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Writes the 32-byte digest; the context must be re-initialised before reuse. */
void sha256_final(struct sha256_ctx *c, unsigned char digest[SHA256_DIGEST_LEN]);
/* Like sha256_final but writes 64 lowercase hex digits plus NUL. */
void sha256_final_hex(struct sha256_ctx *c, char out[SHA256_HEX_LEN + 1]);

/* Hex digest of a memory buffer (data may be NULL when len is 0). */
void sha256_hex_buf(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);
/* Hex digest of a file's contents. Returns 0, or -1 with e set (ERR_NOTFOUND / ERR_IO). */
int sha256_file_hex(const char *path, char out[SHA256_HEX_LEN + 1], struct err *e);

#endif
