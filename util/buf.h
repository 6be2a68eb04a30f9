/*
 * Growable byte buffer (git's strbuf). data is never NULL and always NUL-terminated, so
 * buf.data can be used as a C string. A buffer may have a hard cap (curl-style): bytes past
 * the cap are dropped and `truncated` is set, so a runaway console log cannot eat memory.
 */
#ifndef PVLAB_UTIL_BUF_H
#define PVLAB_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util/err.h"

extern char buf_empty[];

struct buf {
    char *data;
    size_t len;
    size_t alloc; /* 0 while data points at buf_empty */
    size_t cap;   /* 0 = unlimited */
    int truncated;
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        buf_empty, 0, 0, 0, 0                                                                      \
    }

/* Initialises an empty buffer holding at most cap bytes (0 = no cap). */
void buf_init(struct buf *b, size_t cap);
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, int c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
void buf_setlen(struct buf *b, size_t len);
void buf_reset(struct buf *b);
/* Frees the storage; the buffer is empty (and reusable) afterwards. */
void buf_release(struct buf *b);
/* Hands the (malloc'd, NUL-terminated) storage to the caller; the buffer becomes empty. */
char *buf_detach(struct buf *b, size_t *len_r);
/* Removes trailing whitespace. */
void buf_rtrim(struct buf *b);
/*
 * The end of s (len bytes) for an error message: its last `lines` lines, at most max bytes; when
 * longer, the oldest bytes go and "..." marks the cut, so the newest line (usually the real
 * error) always survives. Trailing whitespace is dropped. Returns a malloc'd string.
 */
char *str_tail_lines(const char *s, size_t len, int lines, size_t max);
/* Appends a whole file (honouring the cap). Returns 0 or -1 with e set. */
int buf_read_file(struct buf *b, const char *path, struct err *e);

#endif
