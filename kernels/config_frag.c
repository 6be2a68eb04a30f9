/* Kconfig fragments: parsing with per-version lines, merging into a .config, checking. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/build_priv.h"
#include "util/xalloc.h"

void frag_free(struct frag *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].name);
        free(f->v[i].value);
    }
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

static void frag_set(struct frag *f, const char *name, size_t nlen, const char *value,
                     size_t vlen, int optional)
{
    size_t i;

    for (i = 0; i < f->n; i++)
        if (strlen(f->v[i].name) == nlen && !strncmp(f->v[i].name, name, nlen))
            break;
    if (i == f->n) {
        f->v = xrealloc(f->v, (f->n + 1) * sizeof(*f->v));
        f->v[f->n].name = xstrndup(name, nlen);
        f->v[f->n].value = NULL;
        f->n++;
    }
    free(f->v[i].value);
    f->v[i].value = xstrndup(value, vlen);
    f->v[i].optional = optional;
}

/* Splits one fragment line into option, value, flags; 0 ok, 1 blank/comment, -1 malformed. */
static int parse_line(const char *line, const struct kver *v, struct frag *f)
{
    const char *p = line + strspn(line, " \t"), *name, *val, *at;
    size_t nlen, vlen;
    int optional = 0, not_set = 0;

    if (!*p)
        return 1;
    if (*p == '#') {
        if (strncmp(p, "# CONFIG_", 9))
            return 1;
        not_set = 1;
        p += 2;
    }
    if (strncmp(p, "CONFIG_", 7))
        return -1;
    name = p;
    nlen = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
    p += nlen;
    if (not_set) {
        if (strncmp(p, " is not set", 11))
            return -1;
        val = "n";
        vlen = 1;
        p += 11;
    } else {
        if (*p != '=')
            return -1;
        val = ++p;
        if (*p == '"') {
            const char *q = strchr(p + 1, '"');
            if (!q)
                return -1;
            vlen = (size_t)(q - p) + 1;
        } else {
            vlen = strcspn(p, " \t?@#");
        }
        if (!vlen)
            return -1;
        p += vlen;
    }
    p += strspn(p, " \t");
    if (*p == '?') {
        optional = 1;
        p++;
        p += strspn(p, " \t");
    }
    at = p;
    if (*at == '@') {
        char *range;
        int in;
        at++;
        at += strspn(at, " \t");
        range = xstrndup(at, strcspn(at, " \t#"));
        in = v ? kver_in_range(v, range) : 1;
        free(range);
        if (in < 0)
            return -1;
        if (!in)
            return 1;
        at += strcspn(at, " \t#");
        at += strspn(at, " \t");
    }
    if (*at && *at != '#')
        return -1;
    frag_set(f, name, nlen, val, vlen, optional);
    return 0;
}

int frag_parse(const char *text, const char *name, const struct kver *v, struct frag *f,
               struct err *e)
{
    const char *p = text;
    int lineno = 0;

    f->v = NULL;
    f->n = 0;
    while (p && *p) {
        size_t len = strcspn(p, "\n");
        char *line = xstrndup(p, len);
        int r = parse_line(line, v, f);
        lineno++;
        if (r < 0) {
            err_set(e, ERR_CONFIG, "%s:%d: cannot parse '%s'; write CONFIG_NAME=VALUE [?] "
                    "[@ LOW-HIGH] or '# CONFIG_NAME is not set'", name, lineno, line);
            free(line);
            frag_free(f);
            return -1;
        }
        free(line);
        p += len;
        if (*p)
            p++;
    }
    return 0;
}

void frag_canon(const struct frag *f, struct buf *out)
{
    for (size_t i = 0; i < f->n; i++)
        buf_addf(out, "%s=%s%s\n", f->v[i].name, f->v[i].value, f->v[i].optional ? " ?" : "");
}

/* The line of name in config ("CONFIG_X=..." or "# CONFIG_X is not set"), or NULL. */
static const char *config_line(const char *config, const char *name, size_t *len_r)
{
    size_t n = strlen(name);

    for (const char *p = config; p && *p;) {
        const char *q = p;
        size_t len = strcspn(p, "\n");
        if (!strncmp(q, "# ", 2))
            q += 2;
        if (!strncmp(q, name, n) && (q[n] == '=' || !strncmp(q + n, " is not set", 11))) {
            *len_r = len;
            return p;
        }
        p += len;
        if (*p)
            p++;
    }
    return NULL;
}

char *config_get(const char *config, const char *name)
{
    size_t len, n = strlen(name);
    const char *l = config_line(config, name, &len);

    if (!l)
        return NULL;
    if (*l == '#')
        return xstrdup("n");
    return xstrndup(l + n + 1, len - n - 1);
}

void frag_apply(const char *config, const struct frag *f, struct buf *out)
{
    const char *p = config;

    buf_reset(out);
    while (p && *p) { /* copy every line that no fragment option names */
        size_t len = strcspn(p, "\n");
        int drop = 0;
        for (size_t i = 0; i < f->n && !drop; i++) {
            size_t l2;
            const char *l = config_line(p, f->v[i].name, &l2);
            drop = l == p;
        }
        if (!drop) {
            buf_add(out, p, len);
            buf_addch(out, '\n');
        }
        p += len;
        if (*p)
            p++;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (!strcmp(f->v[i].value, "n"))
            buf_addf(out, "# %s is not set\n", f->v[i].name);
        else
            buf_addf(out, "%s=%s\n", f->v[i].name, f->v[i].value);
    }
}

int frag_check(const char *config, const struct frag *f, struct sv *bad)
{
    int count = 0;

    for (size_t i = 0; i < f->n; i++) {
        char *got = config_get(config, f->v[i].name);
        const char *want = f->v[i].value;
        int ok = got ? !strcmp(got, want) : !strcmp(want, "n");
        if (!ok && !f->v[i].optional) {
            if (got)
                sv_pushf(bad, "%s=%s (got %s)", f->v[i].name, want, got);
            else
                sv_pushf(bad, "%s=%s (absent)", f->v[i].name, want);
            count++;
        }
        free(got);
    }
    return count;
}
