#include "config/matrix.h"

#include <errno.h>
#include <fnmatch.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/git.h"
#include "util/sv.h"
#include "util/xalloc.h"

struct parse_ctx {
    struct matrix_def *m;
    int line;
    struct err err;
    char section[64], key[64];
    int failed;
};

#define GROW(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))))

/* A whole number in [lo, hi]; -1 with e set otherwise. */
static int parse_long(const char *v, long lo, long hi, long *out, struct err *e)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) {
        err_set(e, ERR_CONFIG, "'%s' is not a whole number from %ld to %ld", v, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

static size_t count_words(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        if (*p != ' ' && (p == s || p[-1] == ' '))
            n++;
    return n;
}

/* "fpu-leak --lazy-fpu --iterations 3000" into r. */
static int parse_repro(const char *label, const char *value, struct matrix_repro *r, struct err *e)
{
    struct sv w = SV_INIT;
    long n;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->label = xstrdup(label);
    sv_split(&w, value, " \t");
    if (w.n == 0) {
        err_set(e, ERR_CONFIG, "names no reproducer");
        goto out;
    }
    r->name = xstrdup(w.v[0]);
    for (size_t i = 1; i < w.n; i++) {
        const char *o = w.v[i], *arg = i + 1 < w.n ? w.v[i + 1] : NULL;
        if (!strcmp(o, "--lazy-fpu")) {
            r->lazy_fpu = 1;
            continue;
        }
        if (strcmp(o, "--iterations") && strcmp(o, "--trials") && strcmp(o, "--workers") &&
            strcmp(o, "--amplifier") && strcmp(o, "--self-test-corrupt") &&
            strcmp(o, "--dom0-args") && strcmp(o, "--domus") && strcmp(o, "--domu-linux") &&
            strcmp(o, "--in")) {
            err_set(e, ERR_CONFIG,
                    "unknown reproducer option '%s' (known: --lazy-fpu, --amplifier LIST, "
                    "--iterations N, --trials N, --self-test-corrupt R, --dom0-args WORD, "
                    "--workers N, --domus N, --domu-linux SPEC, --in dom0,domu)",
                    o);
            goto out;
        }
        if (!arg) {
            err_set(e, ERR_CONFIG, "'%s' needs a value", o);
            goto out;
        }
        i++;
        if (!strcmp(o, "--iterations")) {
            if (parse_long(arg, 1, 10000000, &n, e) < 0)
                goto out;
            r->iterations = n;
        } else if (!strcmp(o, "--amplifier")) {
            free(r->amplifiers); /* names checked by jobs/matrix_check.c */
            r->amplifiers = xstrdup(arg);
        } else if (!strcmp(o, "--trials")) {
            if (parse_long(arg, 1, 100000, &n, e) < 0)
                goto out;
            r->trials = (int)n;
        } else if (!strcmp(o, "--workers")) {
            if (parse_long(arg, 0, 256, &n, e) < 0)
                goto out;
            r->workers = (int)n;
        } else if (!strcmp(o, "--domus")) {
            if (parse_long(arg, 1, 8, &n, e) < 0)
                goto out;
            r->domus = (int)n;
        } else if (!strcmp(o, "--domu-linux")) {
            char *all = r->domu_linux ? xasprintf("%s %s", r->domu_linux, arg) : xstrdup(arg);
            free(r->domu_linux);
            r->domu_linux = all;
            if (count_words(all) > 8) {
                err_set(e, ERR_CONFIG, "at most 8 --domu-linux kernels");
                goto out;
            }
            if (!r->domus || r->domus < (int)count_words(all))
                r->domus = (int)count_words(all);
        } else if (!strcmp(o, "--in")) {
            if (strcmp(arg, "dom0,domu") && strcmp(arg, "domu")) {
                err_set(e, ERR_CONFIG, "--in expects domu or dom0,domu, got '%s'", arg);
                goto out;
            }
            r->in_dom0 = !strcmp(arg, "dom0,domu");
        } else if (!strcmp(o, "--self-test-corrupt")) {
            char *end;
            r->self_test_corrupt = strtod(arg, &end);
            if (*end || !(r->self_test_corrupt > 0 && r->self_test_corrupt <= 1)) {
                err_set(e, ERR_CONFIG, "--self-test-corrupt expects a rate in (0, 1], got '%s'",
                        arg);
                goto out;
            }
        } else {
            free(r->dom0_args);
            r->dom0_args = xstrdup(arg);
        }
    }
    rc = 0;
out:
    sv_clear(&w);
    return rc;
}

/* "xen=4.1* linux=6.12" into x. */
static int parse_exclude(const char *name, const char *value, struct matrix_exclude *x,
                         struct err *e)
{
    struct sv w = SV_INIT;
    int rc = -1;

    memset(x, 0, sizeof(*x));
    x->name = xstrdup(name);
    sv_split(&w, value, " \t");
    if (w.n == 0) {
        err_set(e, ERR_CONFIG, "an exclusion needs conditions, e.g. xen=4.14 linux=6.12");
        goto out;
    }
    for (size_t i = 0; i < w.n; i++) {
        char **slot = !strncmp(w.v[i], "xen=", 4)     ? &x->xen
                      : !strncmp(w.v[i], "linux=", 6) ? &x->linux_
                      : !strncmp(w.v[i], "repro=", 6) ? &x->repro
                                                      : NULL;
        if (!slot) {
            err_set(e, ERR_CONFIG, "'%s' is not a condition (xen=GLOB, linux=GLOB, repro=GLOB)",
                    w.v[i]);
            goto out;
        }
        free(*slot);
        *slot = xstrdup(strchr(w.v[i], '=') + 1);
    }
    rc = 0;
out:
    sv_clear(&w);
    return rc;
}

/* Adds label = spec to an axis, refusing a label given twice. */
static int add_axis(struct matrix_axis_entry **axis, size_t *n, const char *label, const char *spec,
                    int line, struct err *e)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*axis)[i].label, label)) {
            err_set(e, ERR_CONFIG, "label '%s' appears twice (first at line %d)", label,
                    (*axis)[i].line);
            return -1;
        }
    if (!*spec) {
        err_set(e, ERR_CONFIG, "needs a spec (a version, file:PATH, git:REPO@REV, ...)");
        return -1;
    }
    GROW(*axis, *n);
    (*axis)[*n].label = xstrdup(label);
    (*axis)[*n].spec = xstrdup(spec);
    (*axis)[*n].line = line;
    (*n)++;
    return 0;
}

/* [sources] NAME = URL COMMIT TREE */
static int add_source(struct matrix_def *m, const char *name, const char *value, int line,
                      struct err *e)
{
    struct sv w = SV_INIT;
    int rc = -1;

    for (size_t i = 0; i < m->nsrc; i++)
        if (!strcmp(m->src[i].name, name)) {
            err_set(e, ERR_CONFIG, "source '%s' appears twice (first at line %d)", name,
                    m->src[i].line);
            return -1;
        }
    sv_split(&w, value, " \t");
    if (w.n != 3 || !strstr(w.v[0], "://") || !git_is_full_id(w.v[1]) || !git_is_full_id(w.v[2])) {
        err_set(e, ERR_CONFIG,
                "want 'URL COMMIT TREE' (the repository it was cloned from, the "
                "full commit id the specs name and its tree id), not '%s'",
                value);
        goto out;
    }
    GROW(m->src, m->nsrc);
    m->src[m->nsrc++] = (struct matrix_source){ xstrdup(name), xstrdup(w.v[0]), xstrdup(w.v[1]),
                                                xstrdup(w.v[2]), line };
    rc = 0;
out:
    sv_clear(&w);
    return rc;
}

static int apply(struct parse_ctx *pc, const char *section, const char *key, const char *value)
{
    struct matrix_def *m = pc->m;
    struct err *e = &pc->err;
    long n;

    if (!strcmp(section, "matrix")) {
        if (!strcmp(key, "name")) {
            free(m->name);
            m->name = xstrdup(value);
            return 0;
        }
        if (!strcmp(key, "trials")) {
            if (parse_long(value, 1, 100000, &n, e) < 0)
                return -1;
            m->trials = (int)n;
            return 0;
        }
        if (!strcmp(key, "iterations"))
            return parse_long(value, 1, 10000000, &m->iterations, e);
        err_set(e, ERR_CONFIG, "unknown key; keys of [matrix] are: name, trials, iterations");
        return -1;
    }
    if (!strcmp(section, "xen"))
        return add_axis(&m->xen, &m->nxen, key, value, pc->line, e);
    if (!strcmp(section, "linux"))
        return add_axis(&m->linux_, &m->nlinux, key, value, pc->line, e);
    if (!strcmp(section, "repro")) {
        for (size_t i = 0; i < m->nrepro; i++)
            if (!strcmp(m->repro[i].label, key)) {
                err_set(e, ERR_CONFIG, "label '%s' appears twice (first at line %d)", key,
                        m->repro[i].line);
                return -1;
            }
        GROW(m->repro, m->nrepro);
        if (parse_repro(key, value, &m->repro[m->nrepro], e) < 0) {
            m->nrepro++; /* freed with the rest */
            return -1;
        }
        m->repro[m->nrepro++].line = pc->line;
        return 0;
    }
    if (!strcmp(section, "exclude")) {
        GROW(m->excl, m->nexcl);
        if (parse_exclude(key, value, &m->excl[m->nexcl], e) < 0) {
            m->nexcl++;
            return -1;
        }
        m->excl[m->nexcl++].line = pc->line;
        return 0;
    }
    if (!strcmp(section, "bisect")) {
        char **slot = !strcmp(key, "xen")     ? &m->bisect_xen
                      : !strcmp(key, "linux") ? &m->bisect_linux
                                              : NULL;
        if (!slot) {
            err_set(e, ERR_CONFIG, "unknown key; keys of [bisect] are: xen, linux");
            return -1;
        }
        free(*slot);
        *slot = xstrdup(value);
        return 0;
    }
    if (!strcmp(section, "sources"))
        return add_source(m, key, value, pc->line, e);
    err_set(e, ERR_CONFIG,
            "unknown section [%s]; sections are matrix, xen, linux, repro, "
            "exclude, bisect, sources",
            section);
    return -1;
}

static int on_value(void *user, const char *section, const char *key, const char *value, int lineno)
{
    struct parse_ctx *pc = user;

    if (pc->failed || !key)
        return 1;
    pc->line = lineno;
    if (apply(pc, section, key, value) < 0) {
        snprintf(pc->section, sizeof(pc->section), "%s", section);
        snprintf(pc->key, sizeof(pc->key), "%s", key);
        pc->failed = 1;
        return 0;
    }
    return 1;
}

/* inih calls the handler without a line number; read the file ourselves to keep it. */
struct line_reader {
    FILE *f;
    int *line;
};

static char *read_line(char *str, int num, void *stream)
{
    struct line_reader *lr = stream;
    char *r = fgets(str, num, lr->f);
    if (r)
        (*lr->line)++;
    return r;
}

struct line_ctx {
    struct parse_ctx *pc;
    int line;
};

static int on_value_counted(void *user, const char *section, const char *key, const char *value)
{
    struct line_ctx *lc = user;
    return on_value(lc->pc, section, key, value, lc->line);
}

int matrix_load(const char *path, struct matrix_def *m, struct err *e)
{
    struct parse_ctx pc;
    struct line_ctx lc;
    struct line_reader lr;
    FILE *f = NULL;
    int r, rc = -1;

    memset(m, 0, sizeof(*m));
    memset(&pc, 0, sizeof(pc));
    m->path = xstrdup(path);
    m->trials = 1;
    m->iterations = 2000;
    pc.m = m;
    lc.pc = &pc;
    lc.line = 0;
    f = fopen(path, "r");
    if (!f) {
        err_sys(e, errno, "cannot read matrix file %s", path);
        if (e)
            e->code = errno == ENOENT ? ERR_NOTFOUND : ERR_CONFIG;
        goto out;
    }
    lr.f = f;
    lr.line = &lc.line;
    r = ini_parse_stream(read_line, &lr, on_value_counted, &lc);
    if (pc.failed) {
        err_set(e, ERR_CONFIG, "%s:%d: [%s] %s: %s", path, pc.line, pc.section, pc.key, pc.err.msg);
        goto out;
    }
    if (r != 0) {
        err_set(e, ERR_CONFIG, "%s:%d: syntax error (expected [section] or key = value)", path, r);
        goto out;
    }
    if (!m->name) {
        const char *base = strrchr(path, '/');
        char *dot;
        m->name = xstrdup(base ? base + 1 : path);
        if ((dot = strrchr(m->name, '.')))
            *dot = '\0';
    }
    if (!m->nxen || !m->nlinux || !m->nrepro) {
        err_set(e, ERR_CONFIG,
                "%s: a matrix needs at least one entry in each of [xen], [linux] "
                "and [repro] (it has %zu, %zu and %zu)",
                path, m->nxen, m->nlinux, m->nrepro);
        goto out;
    }
    rc = 0;
out:
    if (f)
        fclose(f);
    if (rc < 0)
        matrix_def_free(m);
    return rc;
}

static void free_axis(struct matrix_axis_entry *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].label);
        free(a[i].spec);
    }
    free(a);
}

void matrix_def_free(struct matrix_def *m)
{
    free(m->path);
    free(m->name);
    free_axis(m->xen, m->nxen);
    free_axis(m->linux_, m->nlinux);
    for (size_t i = 0; i < m->nrepro; i++) {
        free(m->repro[i].label);
        free(m->repro[i].name);
        free(m->repro[i].dom0_args);
        free(m->repro[i].domu_linux);
        free(m->repro[i].amplifiers);
    }
    free(m->repro);
    for (size_t i = 0; i < m->nexcl; i++) {
        free(m->excl[i].name);
        free(m->excl[i].xen);
        free(m->excl[i].linux_);
        free(m->excl[i].repro);
    }
    free(m->excl);
    free(m->bisect_xen);
    free(m->bisect_linux);
    for (size_t i = 0; i < m->nsrc; i++) {
        free(m->src[i].name);
        free(m->src[i].url);
        free(m->src[i].commit);
        free(m->src[i].tree);
    }
    free(m->src);
    memset(m, 0, sizeof(*m));
}

static int glob_ok(const char *glob, const char *label)
{
    return !glob || fnmatch(glob, label, 0) == 0;
}

int matrix_cells(const struct matrix_def *m, struct matrix_cell **cells_r, size_t *n_r,
                 struct err *e)
{
    struct matrix_cell *v = xcalloc(m->nxen * m->nlinux * m->nrepro + 1, sizeof(*v));
    size_t n = 0;

    for (size_t x = 0; x < m->nxen; x++)
        for (size_t l = 0; l < m->nlinux; l++)
            for (size_t r = 0; r < m->nrepro; r++) {
                int excluded = 0;
                for (size_t k = 0; k < m->nexcl && !excluded; k++)
                    excluded = glob_ok(m->excl[k].xen, m->xen[x].label) &&
                               glob_ok(m->excl[k].linux_, m->linux_[l].label) &&
                               glob_ok(m->excl[k].repro, m->repro[r].label);
                if (excluded)
                    continue;
                v[n].xen = &m->xen[x];
                v[n].linux_ = &m->linux_[l];
                v[n].repro = &m->repro[r];
                v[n].trials = m->repro[r].trials ? m->repro[r].trials : m->trials;
                v[n].iterations = m->repro[r].iterations ? m->repro[r].iterations : m->iterations;
                n++;
            }
    if (n == 0) {
        err_set(e, ERR_CONFIG,
                "%s: the matrix is empty: its %zu exclusion%s remove every one "
                "of its %zu cells",
                m->path, m->nexcl, m->nexcl == 1 ? "" : "s", m->nxen * m->nlinux * m->nrepro);
        free(v);
        return -1;
    }
    *cells_r = v;
    *n_r = n;
    return 0;
}
