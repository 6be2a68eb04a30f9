#include "util/buf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/xalloc.h"

char buf_empty[1];

void buf_init(struct buf *b, size_t cap)
{
    b->data = buf_empty;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
    b->truncated = 0;
}

void buf_grow(struct buf *b, size_t extra)
{
    size_t want = b->len + extra + 1;

    if (want <= b->alloc)
        return;
    if (want < b->alloc * 2)
        want = b->alloc * 2;
    if (want < 64)
        want = 64;
    if (b->alloc == 0) {
        b->data = xmalloc(want);
        b->data[0] = '\0';
    } else {
        b->data = xrealloc(b->data, want);
    }
    b->alloc = want;
}

void buf_add(struct buf *b, const void *data, size_t len)
{
    if (b->cap && b->len + len > b->cap) {
        b->truncated = 1;
        len = b->cap > b->len ? b->cap - b->len : 0;
    }
    if (len == 0)
        return;
    buf_grow(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

void buf_addch(struct buf *b, int c)
{
    char ch = (char)c;
    buf_add(b, &ch, 1);
}

void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list cp;
    int n;

    va_copy(cp, ap);
    n = vsnprintf(small, sizeof(small), fmt, cp);
    va_end(cp);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        buf_add(b, small, (size_t)n);
        return;
    }
    {
        char *big = xmalloc((size_t)n + 1);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        buf_add(b, big, (size_t)n);
        free(big);
    }
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(b, fmt, ap);
    va_end(ap);
}

void buf_setlen(struct buf *b, size_t len)
{
    if (len > b->len)
        return;
    b->len = len;
    if (b->alloc)
        b->data[len] = '\0';
}

void buf_reset(struct buf *b)
{
    buf_setlen(b, 0);
    b->truncated = 0;
}

void buf_release(struct buf *b)
{
    if (b->alloc)
        free(b->data);
    buf_init(b, b->cap);
}

char *buf_detach(struct buf *b, size_t *len_r)
{
    char *p;

    if (len_r)
        *len_r = b->len;
    if (b->alloc == 0)
        p = xstrdup("");
    else
        p = b->data;
    buf_init(b, b->cap);
    return p;
}

void buf_rtrim(struct buf *b)
{
    while (b->len && isspace((unsigned char)b->data[b->len - 1]))
        b->len--;
    if (b->alloc)
        b->data[b->len] = '\0';
}

int buf_read_file(struct buf *b, const char *path, struct err *e)
{
    char chunk[65536];
    int fd = -1;
    ssize_t r;
    int rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_sys(e, errno, "cannot open %s", path);
        if (errno == ENOENT && e)
            e->code = ERR_NOTFOUND;
        goto out;
    }
    for (;;) {
        r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err_sys(e, errno, "cannot read %s", path);
            goto out;
        }
        if (r == 0)
            break;
        buf_add(b, chunk, (size_t)r);
        if (b->truncated)
            break;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

char *str_tail_lines(const char *s, size_t len, int lines, size_t max)
{
    size_t start = 0, i;
    int seen = 0;

    while (len > 0 &&
           (s[len - 1] == '\n' || s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        len--;
    for (i = len; i > 0; i--)
        if (s[i - 1] == '\n' && ++seen == lines) {
            start = i;
            break;
        }
    if (max > 3 && len - start > max)
        return xasprintf("...%.*s", (int)(max - 3), s + len - (max - 3));
    return xstrndup(s + start, len - start);
}
