/* The build-fix table: data rows applied to a source tree when in range and still needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/build_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/xalloc.h"

void fix_table_free(struct fix_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        struct fix *f = &t->v[i];
        free(f->id);
        free(f->kind);
        free(f->range);
        free(f->op);
        free(f->arg1);
        free(f->arg2);
        free(f->reason);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

/* Splits on " | " and trims each field. */
static void split_bar(const char *line, struct sv *out)
{
    const char *p = line;

    for (;;) {
        const char *bar = strstr(p, " | ");
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        p += strspn(p, " \t");
        sv_push_owned(out, xstrndup(p, len));
        if (!bar)
            break;
        p = bar + 3;
    }
}

int fix_table_parse(const char *text, struct fix_table *t, struct err *e)
{
    struct sv lines = SV_INIT;
    int rc = -1;

    t->v = NULL;
    t->n = 0;
    sv_split(&lines, text, "\n");
    for (size_t i = 0; i < lines.n; i++) {
        struct sv f = SV_INIT;
        struct kver probe = { { 1, 0, 0 } };
        const char *l = lines.v[i] + strspn(lines.v[i], " \t");
        if (!*l || *l == '#')
            continue;
        split_bar(l, &f);
        if (f.n != 8 ||
            (strcmp(f.v[4], "copy") && strcmp(f.v[4], "append") && strcmp(f.v[4], "replace")) ||
            kver_in_range(&probe, f.v[2]) < 0 ||
            (!strcmp(f.v[4], "replace") && !strstr(f.v[6], REPLACE_SEP))) {
            err_set(e, ERR_CONFIG,
                    "fix table line '%s': want 8 fields 'id | kind | versions | "
                    "min-cc | copy|append|replace | arg1 | arg2 | reason' (replace: arg2 is "
                    "'OLD" REPLACE_SEP "NEW')",
                    l);
            sv_clear(&f);
            fix_table_free(t);
            goto out;
        }
        t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
        t->v[t->n] =
            (struct fix){ xstrdup(f.v[0]), xstrdup(f.v[1]), xstrdup(f.v[2]), atoi(f.v[3]),
                          xstrdup(f.v[4]), xstrdup(f.v[5]), xstrdup(f.v[6]), xstrdup(f.v[7]) };
        t->n++;
        sv_clear(&f);
    }
    rc = 0;
out:
    sv_clear(&lines);
    return rc;
}

int fix_in_range(const struct fix *f, const char *kind, const struct kver *v, int cc_major)
{
    if (strcmp(f->kind, kind))
        return 0;
    if (f->min_cc && cc_major < f->min_cc)
        return 0;
    return kver_in_range(v, f->range) == 1;
}

char *fix_expand(const char *s, int cc_major)
{
    struct buf b = BUF_INIT;
    const char *p;

    while ((p = strstr(s, "${cc_major}"))) {
        buf_add(&b, s, (size_t)(p - s));
        buf_addf(&b, "%d", cc_major);
        s = p + strlen("${cc_major}");
    }
    buf_adds(&b, s);
    return buf_detach(&b, NULL);
}

static char *unescape_nl(const char *s);

/* arg2 with ${cc_major} expanded; a replace fix's "\\n" and "\\t" as newlines and tabs */
static char *fix_arg2(const struct fix *f, int cc_major)
{
    char *a = fix_expand(f->arg2, cc_major), *u;

    if (strcmp(f->op, "replace"))
        return a;
    u = unescape_nl(a);
    free(a);
    return u;
}

/*
 * A replace fix's argument with "\\n" turned into a newline (OLD may need a line start) and
 * "\\t" into a tab (a make recipe's); any other backslash stays as it is.
 */
static char *unescape_nl(const char *s)
{
    struct buf b = BUF_INIT;

    for (; *s; s++) {
        if (s[0] == '\\' && (s[1] == 'n' || s[1] == 't')) {
            buf_addch(&b, s[1] == 'n' ? '\n' : '\t');
            s++;
        } else {
            buf_addch(&b, *s);
        }
    }
    return buf_detach(&b, NULL);
}

/* OLD's length in a replace fix's "OLD ==> NEW" */
static size_t replace_old_len(const char *a2)
{
    return (size_t)(strstr(a2, REPLACE_SEP) - a2);
}

/* Every OLD in text replaced by NEW (a2 = "OLD ==> NEW"), into out. */
static void replace_all(const char *text, const char *a2, struct buf *out)
{
    size_t ol = replace_old_len(a2);
    char *old = xstrndup(a2, ol);
    const char *nw = a2 + ol + strlen(REPLACE_SEP), *p;

    while ((p = strstr(text, old))) {
        buf_add(out, text, (size_t)(p - text));
        buf_adds(out, nw);
        text = p + ol;
    }
    buf_adds(out, text);
    free(old);
}

/*
 * 1 when the tree still needs f (copy: target missing; append: text absent; replace: OLD still
 * present), 0 when not.
 */
static int fix_needed(const struct fix *f, const char *srcdir, int cc_major)
{
    char *a1 = fix_expand(f->arg1, cc_major), *a2 = fix_arg2(f, cc_major);
    char *p1 = xasprintf("%s/%s", srcdir, a1), *p2 = xasprintf("%s/%s", srcdir, a2);
    struct buf t = BUF_INIT;
    int need = 0;

    if (!strcmp(f->op, "copy")) {
        need = fs_exists(p1) && !fs_exists(p2);
    } else if (buf_read_file(&t, p1, NULL) == 0) {
        if (!strcmp(f->op, "replace")) {
            char *old = xstrndup(a2, replace_old_len(a2));
            need = strstr(t.data, old) != NULL;
            free(old);
        } else {
            need = !strstr(t.data, a2);
        }
    }
    buf_release(&t);
    free(a1);
    free(a2);
    free(p1);
    free(p2);
    return need;
}

int fixes_needed(const struct fix_table *t, const char *kind, const struct kver *v, int cc_major,
                 const char *srcdir, struct sv *ids)
{
    for (size_t i = 0; i < t->n; i++)
        if (fix_in_range(&t->v[i], kind, v, cc_major) && fix_needed(&t->v[i], srcdir, cc_major))
            sv_push(ids, t->v[i].id);
    return (int)ids->n;
}

int fixes_apply(const struct fix_table *t, const char *kind, const struct kver *v, int cc_major,
                const char *srcdir, struct sv *applied, struct err *e)
{
    int rc = -1;

    for (size_t i = 0; i < t->n; i++) {
        const struct fix *f = &t->v[i];
        char *a1 = NULL, *a2 = NULL, *p1 = NULL, *p2 = NULL;
        struct buf b = BUF_INIT;
        int r = 0;
        if (!fix_in_range(f, kind, v, cc_major) || !fix_needed(f, srcdir, cc_major))
            continue;
        a1 = fix_expand(f->arg1, cc_major);
        a2 = fix_arg2(f, cc_major);
        p1 = xasprintf("%s/%s", srcdir, a1);
        p2 = xasprintf("%s/%s", srcdir, a2);
        if (!strcmp(f->op, "copy")) {
            r = buf_read_file(&b, p1, e) < 0 ? -1 : fs_write_atomic(p2, b.data, b.len, e);
        } else if (!strcmp(f->op, "replace")) {
            struct buf nb = BUF_INIT;
            r = buf_read_file(&b, p1, e);
            if (r == 0) {
                replace_all(b.data, a2, &nb);
                r = fs_write_atomic(p1, nb.data, nb.len, e);
            }
            buf_release(&nb);
        } else {
            r = buf_read_file(&b, p1, e);
            if (r == 0) {
                buf_addf(&b, "%s# pvlab build fix %s\n%s\n",
                         b.len && b.data[b.len - 1] != '\n' ? "\n" : "", f->id, a2);
                r = fs_write_atomic(p1, b.data, b.len, e);
            }
        }
        if (r == 0) {
            log_info("build", "applied fix %s to %s (%s)", f->id, srcdir, f->reason);
            sv_push(applied, f->id);
        } else {
            err_prefix(e, "cannot apply build fix %s", f->id);
        }
        buf_release(&b);
        free(a1);
        free(a2);
        free(p1);
        free(p2);
        if (r < 0)
            goto out;
    }
    rc = 0;
out:
    return rc;
}
