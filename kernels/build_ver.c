/* Kernel and Xen versions: parsing, comparison, ranges of the shipped tables. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/build_priv.h"
#include "util/buf.h"
#include "util/xalloc.h"

int kver_parse(const char *s, struct kver *out)
{
    const char *p = s;
    int i;

    out->v[0] = out->v[1] = out->v[2] = -1;
    if (!s)
        return -1;
    while (*p && !isdigit((unsigned char)*p)) /* "v4.1", "RELEASE-4.17.0" */
        p++;
    for (i = 0; i < 3 && isdigit((unsigned char)*p); i++) {
        char *end;
        long n = strtol(p, &end, 10);
        if (n > 100000)
            return -1;
        out->v[i] = (int)n;
        p = end;
        if (*p != '.')
            break;
        p++;
    }
    return out->v[0] < 0 ? -1 : 0;
}

int kver_cmp(const struct kver *a, const struct kver *b)
{
    for (int i = 0; i < 3; i++) {
        int x = a->v[i] < 0 ? 0 : a->v[i], y = b->v[i] < 0 ? 0 : b->v[i];
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

/* v <= hi where the parts hi leaves out are unbounded ("4.8" holds 4.8.17). */
static int le_upper(const struct kver *v, const struct kver *hi)
{
    for (int i = 0; i < 3; i++) {
        int x = v->v[i] < 0 ? 0 : v->v[i];
        if (hi->v[i] < 0)
            return 1;
        if (x != hi->v[i])
            return x < hi->v[i];
    }
    return 1;
}

int kver_in_range(const struct kver *v, const char *range)
{
    struct kver lo, hi;
    const char *dash;
    char *a = NULL, *b = NULL;
    int rc = -1;

    if (!range || !strcmp(range, "*"))
        return 1;
    dash = strchr(range, '-');
    a = dash ? xstrndup(range, (size_t)(dash - range)) : xstrdup(range);
    b = dash ? xstrdup(dash + 1) : xstrdup(range);
    if ((*a && kver_parse(a, &lo) < 0) || (*b && kver_parse(b, &hi) < 0) || (!*a && !*b))
        goto out;
    rc = (!*a || kver_cmp(v, &lo) >= 0) && (!*b || le_upper(v, &hi));
out:
    free(a);
    free(b);
    return rc;
}

void kver_format(const struct kver *v, char *buf, size_t n)
{
    if (v->v[0] < 0)
        snprintf(buf, n, "?");
    else if (v->v[1] < 0)
        snprintf(buf, n, "%d", v->v[0]);
    else if (v->v[2] < 0)
        snprintf(buf, n, "%d.%d", v->v[0], v->v[1]);
    else
        snprintf(buf, n, "%d.%d.%d", v->v[0], v->v[1], v->v[2]);
}

/* "NAME = value" of a Makefile assignment at the start of a line; -1 when absent. */
static int make_var(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        const char *q = p;
        if (strncmp(q, name, n))
            continue;
        q += n;
        q += strspn(q, " \t");
        if (*q == '?' || *q == ':')
            q++;
        if (*q != '=')
            continue;
        q++;
        q += strspn(q, " \t");
        if (isdigit((unsigned char)*q))
            return atoi(q);
        return -1;
    }
    return -1;
}

int kver_of_text(const char *text, int xen, struct kver *out)
{
    out->v[0] = out->v[1] = out->v[2] = -1;
    if (xen) {
        const char *p = strstr(text, "XEN_EXTRAVERSION");
        out->v[0] = make_var(text, "export XEN_VERSION");
        out->v[1] = make_var(text, "export XEN_SUBVERSION");
        /* the patch level: "export XEN_EXTRAVERSION ?= .5$(XEN_VENDORVERSION)" */
        if (p && (p = strchr(p, '.')) && isdigit((unsigned char)p[1]))
            out->v[2] = atoi(p + 1);
    } else {
        out->v[0] = make_var(text, "VERSION");
        out->v[1] = make_var(text, "PATCHLEVEL");
        out->v[2] = make_var(text, "SUBLEVEL");
    }
    return out->v[0] < 0 || out->v[1] < 0 ? -1 : 0;
}

int kver_of_tree(const char *srcdir, int xen, struct kver *out, struct err *e)
{
    struct buf t = BUF_INIT;
    char *mk = xasprintf(xen ? "%s/xen/Makefile" : "%s/Makefile", srcdir);
    int rc = -1;

    out->v[0] = out->v[1] = out->v[2] = -1;
    if (buf_read_file(&t, mk, e) < 0) {
        err_prefix(e, "%s is not a %s source tree", srcdir, xen ? "Xen" : "Linux");
        goto out;
    }
    if (kver_of_text(t.data, xen, out) < 0) {
        err_set(e, ERR_USAGE, "%s names no version (is %s a %s source tree?)", mk, srcdir,
                xen ? "Xen" : "Linux");
        goto out;
    }
    rc = 0;
out:
    buf_release(&t);
    free(mk);
    return rc;
}
