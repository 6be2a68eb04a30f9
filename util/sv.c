#include "util/sv.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"

void sv_init(struct sv *s)
{
    s->v = NULL;
    s->n = 0;
    s->alloc = 0;
}

static void sv_reserve(struct sv *s, size_t extra)
{
    if (s->n + extra + 1 <= s->alloc)
        return;
    s->alloc = (s->n + extra + 1) * 2;
    s->v = xrealloc(s->v, s->alloc * sizeof(char *));
}

void sv_push_owned(struct sv *s, char *str)
{
    sv_reserve(s, 1);
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
}

void sv_push(struct sv *s, const char *str)
{
    sv_push_owned(s, xstrdup(str));
}

void sv_pushf(struct sv *s, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    sv_push_owned(s, buf_detach(&b, NULL));
}

void sv_pushv(struct sv *s, const char *const *list)
{
    for (; list && *list; list++)
        sv_push(s, *list);
}

void sv_split(struct sv *s, const char *str, const char *seps)
{
    const char *p = str;

    while (p && *p) {
        size_t n = strcspn(p, seps);
        if (n)
            sv_push_owned(s, xstrndup(p, n));
        p += n;
        if (*p)
            p++;
    }
}

char *sv_join(const struct sv *s, const char *sep)
{
    struct buf b = BUF_INIT;
    size_t i;

    for (i = 0; i < s->n; i++) {
        if (i)
            buf_adds(&b, sep);
        buf_adds(&b, s->v[i]);
    }
    return buf_detach(&b, NULL);
}

void sv_clear(struct sv *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    sv_init(s);
}

char **sv_argv(struct sv *s)
{
    sv_reserve(s, 0);
    s->v[s->n] = NULL;
    return s->v;
}
