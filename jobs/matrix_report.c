#include "jobs/matrix_report.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/xalloc.h"

const char *cell_change_name(enum cell_change c)
{
    switch (c) {
    case CHANGE_COULD_NOT_TEST: return "could-not-test";
    case CHANGE_NEW: return "new";
    case CHANGE_PASS: return "pass";
    case CHANGE_NEVER_PASS: return "never-pass";
    case CHANGE_REGRESSION: return "REGRESSION";
    case CHANGE_FIXED: return "FIXED";
    case CHANGE_HEISENBUG: return "heisenbug";
    }
    return "?";
}

static enum cell_state state_of(const struct run_rates *r)
{
    if (r->boots == 0)
        return CELL_UNTESTED;
    return r->boots_corrupt ? CELL_CORRUPT : CELL_CLEAN;
}

/*
 * Whether `clean` iterations without corruption are implausible (P <= 0.05) at the other side's
 * per-iteration rate: its lower bound, which respects boots, so a rare or one-boot signal does
 * not count as a change.
 */
static int clean_implausible(const struct run_rates *corrupt, const struct run_rates *clean)
{
    double lo = corrupt->rate_lo;

    if (!(lo > 0) || clean->iterations <= 0)
        return 0;
    return exp((double)clean->iterations * log1p(-lo)) <= 0.05;
}

enum cell_change cell_classify(int has_prev, enum cell_state ps, const struct run_rates *p,
                               enum cell_state cs, const struct run_rates *c)
{
    if (cs == CELL_UNTESTED)
        return CHANGE_COULD_NOT_TEST;
    if (!has_prev || ps == CELL_UNTESTED)
        return cs == CELL_CLEAN ? CHANGE_NEW : CHANGE_NEVER_PASS;
    if (ps == CELL_CLEAN && cs == CELL_CLEAN)
        return CHANGE_PASS;
    if (ps == CELL_CORRUPT && cs == CELL_CORRUPT)
        return CHANGE_NEVER_PASS;
    if (ps == CELL_CLEAN)
        return clean_implausible(c, p) ? CHANGE_REGRESSION : CHANGE_HEISENBUG;
    return clean_implausible(p, c) ? CHANGE_FIXED : CHANGE_HEISENBUG;
}

/*
 * Rates and infra count of run id, and the run itself (what booted) when rr is not NULL; skip
 * (may be NULL) gets the trials recorded as skip (a source that did not build) and *why the
 * first one's reason.
 */
static int cell_rates(struct store *st, long long run_id, struct run_rates *r, long *infra,
                      long *skip, char **why, struct run_rec *rr, struct err *e)
{
    struct run_rec tmp;
    struct trial_rec *t = NULL;
    size_t n = 0;

    memset(r, 0, sizeof(*r));
    *infra = 0;
    if (!rr)
        rr = &tmp;
    memset(rr, 0, sizeof(*rr));
    if (run_id <= 0)
        return 0;
    if (store_run_get(st, run_id, rr, &t, &n, e) < 0)
        return -1;
    run_rates(t, n, r);
    for (size_t i = 0; i < n; i++) {
        *infra += t[i].verdict && !strcmp(t[i].verdict, "infra");
        if (skip && t[i].verdict && !strcmp(t[i].verdict, "skip")) {
            if (!(*skip)++ && why && t[i].reason)
                *why = xstrdup(t[i].reason);
        }
    }
    if (rr == &tmp)
        run_rec_free(&tmp);
    trial_recs_free(t, n);
    return 0;
}

int debian_upstream_rev(const char *axis, const char *version, char *out, size_t n)
{
    char v[128];
    const char *p = version;
    size_t len;

    if (!p || !*p || n < 2)
        return -1;
    if (strchr(p, ':'))
        p = strchr(p, ':') + 1; /* epoch */
    /* the upstream part: up to the last '-' (the Debian revision) */
    len = strlen(p);
    if (len >= sizeof(v))
        return -1;
    memcpy(v, p, len + 1);
    char *dash = strrchr(v, '-');
    if (!strcmp(axis, "xen")) {
        /* "4.17.7+13-g2445b30a44-0+deb12u1": the upstream part holds "+N-gHASH" */
        char *g = strstr(v, "-g");
        if (g && strchr(v, '+') && strchr(v, '+') < g) {
            size_t k = 0;
            g += 2;
            while (isxdigit((unsigned char)g[k]))
                k++;
            if (k < 7 || k >= n)
                return -1;
            memcpy(out, g, k);
            out[k] = '\0';
            return 0;
        }
        if (dash)
            *dash = '\0';
        for (const char *q = v; *q; q++)
            if (!isdigit((unsigned char)*q) && *q != '.')
                return -1;
        if (!isdigit((unsigned char)v[0]))
            return -1;
        return snprintf(out, n, "RELEASE-%s", v) < (int)n ? 0 : -1;
    }
    if (strcmp(axis, "linux"))
        return -1;
    if (dash)
        *dash = '\0';
    char *rc = strstr(v, "~rc");
    if (rc)
        *rc = '\0';
    for (const char *q = v; *q; q++)
        if (!isdigit((unsigned char)*q) && *q != '.')
            return -1;
    if (!isdigit((unsigned char)v[0]) || !strchr(v, '.'))
        return -1;
    /* "6.1.0" is tagged v6.1 */
    len = strlen(v);
    if (len > 2 && !strcmp(v + len - 2, ".0") && strchr(v, '.') != v + len - 2)
        v[len - 2] = '\0';
    int k = rc ? snprintf(out, n, "v%s-rc%s", v, rc + 3) : snprintf(out, n, "v%s", v);
    if (rc)
        for (char *q = out; *q; q++)
            if (*q == '~') {
                *q = '\0'; /* "~exp1" after the rc number */
                break;
            }
    return k < (int)n ? 0 : -1;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static void add_change(struct buf *b, const char *what, const char *from, const char *to)
{
    buf_addf(b, "%s%s %s -> %s", b->len ? "; " : "", what, from ? from : "?", to ? to : "?");
}

/*
 * What differs between the previous run p and the present run c of a cell, and the bisection
 * that would find the commit when exactly one image changed and the matrix names a repository
 * for its axis (params: "bisect_xen", "bisect_linux").
 */
static void cell_cause(const struct cell_report *cr, const struct run_rec *p,
                       const struct run_rec *c, const struct json_flat *params,
                       struct cell_cause *out)
{
    struct buf b = BUF_INIT;
    int xen = !same(p->xen_sha256, c->xen_sha256), lin = !same(p->linux_sha256, c->linux_sha256);
    int init = !same(p->initramfs_sha256, c->initramfs_sha256);

    memset(out, 0, sizeof(*out));
    if (xen)
        add_change(&b, "xen", p->xen_version, c->xen_version);
    if (lin)
        add_change(&b, "linux", p->linux_version, c->linux_version);
    if (init)
        buf_adds(&b, b.len ? "; initramfs (the reproducer) changed"
                           : "initramfs (the reproducer) changed");
    if (!same(p->qemu_version, c->qemu_version))
        add_change(&b, "qemu", p->qemu_version, c->qemu_version);
    if (!same(p->accel, c->accel))
        add_change(&b, "accel", p->accel, c->accel);
    if (!same(p->cpu_model, c->cpu_model))
        add_change(&b, "cpu", p->cpu_model, c->cpu_model);
    if (!same(p->l0_kernel, c->l0_kernel))
        add_change(&b, "L0 kernel", p->l0_kernel, c->l0_kernel);
    out->changed = buf_detach(&b, NULL);
    if (xen + lin != 1 || init)
        return;
    const char *axis = xen ? "xen" : "linux";
    const char *repo = json_flat_str(params, xen ? "bisect_xen" : "bisect_linux");
    char old[96], new_[96];
    if (!repo ||
        debian_upstream_rev(axis, xen ? p->xen_version : p->linux_version, old, sizeof(old)) < 0 ||
        debian_upstream_rev(axis, xen ? c->xen_version : c->linux_version, new_, sizeof(new_)) <
            0 ||
        !strcmp(old, new_))
        return;
    out->axis = xstrdup(axis);
    out->repo = xstrdup(repo);
    /* a regression: the old end is good; a fix: the old end is bad */
    int fix = cr->change == CHANGE_FIXED;
    out->find = fix ? "fix" : "regression";
    out->good = xstrdup(fix ? new_ : old);
    out->bad = xstrdup(fix ? old : new_);
    out->other_spec = xstrdup(xen ? cr->c.linux_spec : cr->c.xen_spec);
}

static void cell_cause_free(struct cell_cause *c)
{
    free(c->changed);
    free(c->axis);
    free(c->repo);
    free(c->good);
    free(c->bad);
    free(c->other_spec);
    memset(c, 0, sizeof(*c));
}

int label_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            const char *ea = a, *eb = b;
            size_t la, lb;
            while (*a == '0' && isdigit((unsigned char)a[1]))
                a++;
            while (*b == '0' && isdigit((unsigned char)b[1]))
                b++;
            for (ea = a; isdigit((unsigned char)*ea); ea++)
                ;
            for (eb = b; isdigit((unsigned char)*eb); eb++)
                ;
            la = (size_t)(ea - a);
            lb = (size_t)(eb - b);
            if (la != lb)
                return la < lb ? -1 : 1;
            if (memcmp(a, b, la))
                return memcmp(a, b, la) < 0 ? -1 : 1;
            a = ea;
            b = eb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return *a ? 1 : *b ? -1 : 0;
}

/* Adds the cells of run `id` to rep's, a cell with the same labels replacing the earlier one. */
static int merge_run(struct store *st, long long id, struct matrix_report *rep, struct err *e)
{
    struct matrix_rec m2;
    struct matrix_cell_rec *c2 = NULL;
    size_t n2 = 0;
    int rc = -1;

    memset(&m2, 0, sizeof(m2));
    if (store_matrix_get(st, id, &m2, &c2, &n2, e) < 0)
        return -1;
    if (strcmp(m2.name, rep->m.name)) {
        err_set(e, ERR_USAGE,
                "matrix %lld is a run of '%s', matrix %lld of '%s': only runs of one matrix "
                "make one table",
                id, m2.name, rep->m.id, rep->m.name);
        goto out;
    }
    rep->cells = xrealloc(rep->cells, (rep->ncells + n2 + 1) * sizeof(*rep->cells));
    rep->cell_from = xrealloc(rep->cell_from, (rep->ncells + n2 + 1) * sizeof(long long));
    for (size_t k = 0; k < n2; k++) {
        size_t i;
        for (i = 0; i < rep->ncells; i++)
            if (!strcmp(rep->cells[i].xen, c2[k].xen) &&
                !strcmp(rep->cells[i].linux_, c2[k].linux_) &&
                !strcmp(rep->cells[i].repro, c2[k].repro))
                break;
        if (i < rep->ncells) { /* the run named later wins: free the earlier record */
            struct matrix_cell_rec *old = xmalloc(sizeof(*old));
            *old = rep->cells[i];
            matrix_cell_recs_free(old, 1);
        } else {
            rep->ncells++;
        }
        rep->cells[i] = c2[k];
        rep->cell_from[i] = id;
        memset(&c2[k], 0, sizeof(c2[k])); /* moved */
    }
    rc = 0;
out:
    matrix_rec_free(&m2);
    matrix_cell_recs_free(c2, n2);
    return rc;
}

int matrix_report_build(struct store *st, long long id, long long against,
                        struct matrix_report *rep, struct err *e)
{
    return matrix_report_build_many(st, &id, 1, against, rep, e);
}

int matrix_report_build_many(struct store *st, const long long *ids, size_t n, long long against,
                             struct matrix_report *rep, struct err *e)
{
    struct matrix_rec pm;
    struct matrix_cell_rec *pc = NULL;
    size_t npc = 0;
    struct json_flat params = { 0 };
    int rc = -1;

    memset(rep, 0, sizeof(*rep));
    memset(&pm, 0, sizeof(pm));
    if (n > 1 && against) {
        err_set(e, ERR_USAGE,
                "several matrix runs make one table: nothing to compare it with "
                "(--against takes one run)");
        return -1;
    }
    if (store_matrix_get(st, ids[0], &rep->m, &rep->cells, &rep->ncells, e) < 0)
        return -1;
    rep->nfrom = n;
    rep->from = xcalloc(n, sizeof(long long));
    memcpy(rep->from, ids, n * sizeof(long long));
    rep->cell_from = xcalloc(rep->ncells + 1, sizeof(long long));
    for (size_t i = 0; i < rep->ncells; i++)
        rep->cell_from[i] = ids[0];
    for (size_t k = 1; k < n; k++)
        if (merge_run(st, ids[k], rep, e) < 0)
            goto out;
    if (against < 0 && store_matrix_previous(st, ids[0], &against, e) < 0)
        goto out;
    rep->against = against > 0 ? against : 0;
    if (rep->against && store_matrix_get(st, rep->against, &pm, &pc, &npc, e) < 0)
        goto out;
    rep->cr = xcalloc(rep->ncells ? rep->ncells : 1, sizeof(*rep->cr));
    json_flat_parse(rep->m.params_json ? rep->m.params_json : "{}", &params, NULL);
    for (size_t i = 0; i < rep->ncells; i++) {
        struct cell_report *c = &rep->cr[i];
        struct run_rec cur, prev;
        long pinfra = 0;
        int has_run = 0;
        c->c = rep->cells[i];
        c->planned = c->c.trials;
        if (cell_rates(st, c->c.run_id, &c->r, &c->infra, &c->skipped, &c->untestable, &cur, e) < 0)
            goto out;
        c->state = state_of(&c->r);
        memset(&prev, 0, sizeof(prev));
        /* the same cell in the other run: the same labels */
        for (size_t k = 0; k < npc; k++)
            if (!strcmp(pc[k].xen, c->c.xen) && !strcmp(pc[k].linux_, c->c.linux_) &&
                !strcmp(pc[k].repro, c->c.repro)) {
                c->has_prev = 1;
                c->prev_run_id = pc[k].run_id;
                run_rec_free(&prev);
                if (cell_rates(st, pc[k].run_id, &c->prev, &pinfra, NULL, NULL, &prev, e) < 0) {
                    run_rec_free(&cur);
                    goto out;
                }
                c->prev_state = state_of(&c->prev);
                has_run = 1;
            }
        if (cur.linux_sha256) {
            c->booted_linux =
                xasprintf("%s %s %s", cur.linux_package ? cur.linux_package : "-",
                          cur.linux_version ? cur.linux_version : "-", cur.linux_sha256);
            c->booted_xen = xasprintf("%s %s %s", cur.xen_package ? cur.xen_package : "-",
                                      cur.xen_version ? cur.xen_version : "-",
                                      cur.xen_sha256 ? cur.xen_sha256 : "-");
            c->booted_host =
                xasprintf("%s, %s, cpu %s, L0 %s", cur.qemu_version ? cur.qemu_version : "-",
                          cur.accel ? cur.accel : "-", cur.cpu_model ? cur.cpu_model : "-",
                          cur.l0_kernel ? cur.l0_kernel : "-");
        }
        c->change = cell_classify(c->has_prev, c->prev_state, &c->prev, c->state, &c->r);
        rep->changes[c->change]++;
        if (has_run && (c->change == CHANGE_REGRESSION || c->change == CHANGE_FIXED))
            cell_cause(c, &prev, &cur, &params, &c->cause);
        run_rec_free(&prev);
        run_rec_free(&cur);
    }
    rc = 0;
out:
    json_flat_free(&params);
    matrix_rec_free(&pm);
    matrix_cell_recs_free(pc, npc);
    if (rc < 0)
        matrix_report_free(rep);
    return rc;
}

void matrix_report_free(struct matrix_report *rep)
{
    matrix_rec_free(&rep->m);
    matrix_cell_recs_free(rep->cells, rep->ncells);
    free(rep->from);
    free(rep->cell_from);
    for (size_t i = 0; rep->cr && i < rep->ncells; i++) {
        cell_cause_free(&rep->cr[i].cause);
        free(rep->cr[i].booted_xen);
        free(rep->cr[i].booted_linux);
        free(rep->cr[i].booted_host);
        free(rep->cr[i].untestable);
    }
    free(rep->cr);
    memset(rep, 0, sizeof(*rep));
}

static int label_qcmp(const void *a, const void *b)
{
    return label_cmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct labels in order of first appearance (cells are ordered xen, linux, repro); with
 * merged runs, Xen and Linux labels by version. */
static size_t labels(const struct matrix_report *rep, int which, const char **out)
{
    size_t n = 0;

    for (size_t i = 0; i < rep->ncells; i++) {
        const char *l = which == 0   ? rep->cells[i].xen
                        : which == 1 ? rep->cells[i].linux_
                                     : rep->cells[i].repro;
        size_t k;
        for (k = 0; k < n && strcmp(out[k], l); k++)
            ;
        if (k == n)
            out[n++] = l;
    }
    if (rep->nfrom > 1 && which < 2) /* merged runs: no single file order to follow */
        qsort(out, n, sizeof(*out), label_qcmp);
    return n;
}

static const struct cell_report *find(const struct matrix_report *rep, const char *x, const char *l,
                                      const char *r)
{
    for (size_t i = 0; i < rep->ncells; i++)
        if (!strcmp(rep->cr[i].c.xen, x) && !strcmp(rep->cr[i].c.linux_, l) &&
            !strcmp(rep->cr[i].c.repro, r))
            return &rep->cr[i];
    return NULL;
}

/* Whether nothing of cell c could be booted: every trial recorded is a skip (a source that does not
 * build), none an infra result or a measurement. */
static int cell_untestable(const struct cell_report *c)
{
    return c->state == CELL_UNTESTED && c->skipped && !c->infra;
}

/* "pass 0/4000 <7.5e-04", "FAIL 2/2 boots 12/4000", "infra 2/2" and the change. */
static void cell_text(const struct cell_report *c, int with_change, struct buf *out)
{
    if (!c) {
        buf_adds(out, "-");
        return;
    }
    if (cell_untestable(c))
        buf_addf(out, "untestable %ld/%ld", c->skipped, c->planned);
    else if (c->state == CELL_UNTESTED)
        buf_addf(out, "infra %ld/%ld", c->infra, c->planned);
    else if (c->state == CELL_CLEAN)
        buf_addf(out, "pass 0/%lld <%.1e", c->r.iterations, c->r.rate_hi);
    else
        buf_addf(out, "FAIL %ld/%ld boots %lld/%lld", c->r.boots_corrupt, c->r.boots,
                 c->r.corruptions, c->r.iterations);
    if (with_change && c->change != CHANGE_PASS && c->change != CHANGE_NEW &&
        !(c->change == CHANGE_COULD_NOT_TEST))
        buf_addf(out, " %s", cell_change_name(c->change));
}

/* One table per reproducer: Linux down, Xen across. md selects Markdown. */
static void tables(const struct matrix_report *rep, struct buf *out, int md)
{
    const char **xs = xcalloc(rep->ncells + 1, sizeof(char *));
    const char **ls = xcalloc(rep->ncells + 1, sizeof(char *));
    const char **rs = xcalloc(rep->ncells + 1, sizeof(char *));
    size_t nx = labels(rep, 0, xs), nl = labels(rep, 1, ls), nr = labels(rep, 2, rs);
    struct buf cell = BUF_INIT;
    int lw = 12; /* the Linux column, as wide as its longest label in text */

    for (size_t l = 0; l < nl; l++)
        if ((int)strlen(ls[l]) > lw)
            lw = (int)strlen(ls[l]);
    for (size_t r = 0; r < nr; r++) {
        if (md)
            buf_addf(out, "\n### %s\n\n| Linux \\\\ Xen |", rs[r]);
        else
            buf_addf(out, "\n%s\n%-*s", rs[r], lw, "Linux \\ Xen");
        for (size_t x = 0; x < nx; x++)
            buf_addf(out, md ? " %s |" : "  %-34s", xs[x]);
        buf_adds(out, "\n");
        if (md) {
            buf_adds(out, "|---|");
            for (size_t x = 0; x < nx; x++)
                buf_adds(out, "---|");
            buf_adds(out, "\n");
        }
        for (size_t l = 0; l < nl; l++) {
            if (md)
                buf_addf(out, "| %s |", ls[l]);
            else
                buf_addf(out, "%-*s", lw, ls[l]);
            for (size_t x = 0; x < nx; x++) {
                buf_reset(&cell);
                cell_text(find(rep, xs[x], ls[l], rs[r]), rep->against != 0, &cell);
                buf_addf(out, md ? " %s |" : "  %-34s", cell.data);
            }
            buf_adds(out, "\n");
        }
    }
    buf_release(&cell);
    free(xs);
    free(ls);
    free(rs);
}

int cell_lazy_fpu(const struct cell_report *c)
{
    struct json_flat o = { NULL, 0 };
    const struct json_field *f;
    int lazy;

    json_flat_parse(c->c.options_json ? c->c.options_json : "{}", &o, NULL);
    f = json_flat_get(&o, "lazy_fpu");
    lazy = f && f->type == JF_BOOL && f->num;
    json_flat_free(&o);
    return lazy;
}

void cell_bisect_cmd(const struct cell_report *c, struct buf *out)
{
    buf_addf(out,
             "pvlab bisect start --repo %s --axis %s --find %s --good %s --bad %s --%s %s "
             "--repro %s --iterations %ld%s",
             c->cause.repo, c->cause.axis, c->cause.find, c->cause.good, c->cause.bad,
             !strcmp(c->cause.axis, "xen") ? "linux" : "xen", c->cause.other_spec, c->c.repro_name,
             c->c.iterations, cell_lazy_fpu(c) ? " --lazy-fpu" : "");
}

/* The cells whose change is worth a line: REGRESSION, FIXED, heisenbug, could-not-test. */
static void changes(const struct matrix_report *rep, struct buf *out, int md)
{
    for (size_t i = 0; i < rep->ncells; i++) {
        const struct cell_report *c = &rep->cr[i];
        if (c->change != CHANGE_REGRESSION && c->change != CHANGE_FIXED &&
            c->change != CHANGE_HEISENBUG && c->change != CHANGE_COULD_NOT_TEST)
            continue;
        buf_addf(out,
                 "%s%-14s Xen %s x Linux %s %s: now %ld of %ld boots, %lld of %lld "
                 "iterations (run %lld)",
                 md ? "- " : "", cell_change_name(c->change), c->c.xen, c->c.linux_, c->c.repro,
                 c->r.boots_corrupt, c->r.boots, c->r.corruptions, c->r.iterations, c->c.run_id);
        if (c->has_prev)
            buf_addf(out, "; before %ld of %ld boots, %lld of %lld iterations (run %lld)",
                     c->prev.boots_corrupt, c->prev.boots, c->prev.corruptions, c->prev.iterations,
                     c->prev_run_id);
        buf_adds(out, "\n");
        if (c->cause.changed)
            buf_addf(out, "%s  changed: %s\n", md ? " " : "",
                     *c->cause.changed ? c->cause.changed
                                       : "nothing (same images, same host stack): flaky, "
                                         "or the host");
        if (c->cause.axis) {
            struct buf cmd = BUF_INIT;
            cell_bisect_cmd(c, &cmd);
            buf_addf(out, md ? "   bisect: `%s`\n" : "  bisect: %s\n", cmd.data);
            buf_release(&cmd);
        }
    }
}

/* The cells that could not be tested and why ("- xen x linux x repro: reason"), or nothing. */
static void untestable_list(const struct matrix_report *rep, struct buf *out, int md)
{
    int any = 0;

    for (size_t i = 0; i < rep->ncells; i++) {
        const struct cell_report *c = &rep->cr[i];
        if (!cell_untestable(c))
            continue;
        if (!any++)
            buf_adds(out, md ? "\n### Could not be tested\n\n" : "\nuntestable:\n");
        buf_addf(out, md ? "- %s x %s x %s: %s\n" : "  %s x %s x %s: %s\n", c->c.xen, c->c.linux_,
                 c->c.repro, c->untestable ? c->untestable : "?");
    }
}

void matrix_report_text(const struct matrix_report *rep, struct buf *out)
{
    buf_addf(out, "matrix %lld (%s), %s, %s; %ld of %ld trials done", rep->m.id, rep->m.name,
             rep->m.status, rep->m.created, rep->m.done,
             rep->m.done + rep->m.queued + rep->m.leased);
    if (rep->against)
        buf_addf(out, "; compared with matrix %lld", rep->against);
    for (size_t k = 1; k < rep->nfrom; k++)
        buf_addf(out, "%s%lld", k == 1 ? "; with the cells of matrices " : ", ", rep->from[k]);
    buf_adds(out, "\n");
    tables(rep, out, 0);
    untestable_list(rep, out, 0);
    if (rep->against) {
        buf_addf(out,
                 "\nchanges: %ld REGRESSION, %ld FIXED, %ld heisenbug, %ld never-pass, "
                 "%ld could-not-test, %ld pass\n",
                 rep->changes[CHANGE_REGRESSION], rep->changes[CHANGE_FIXED],
                 rep->changes[CHANGE_HEISENBUG], rep->changes[CHANGE_NEVER_PASS],
                 rep->changes[CHANGE_COULD_NOT_TEST], rep->changes[CHANGE_PASS]);
        changes(rep, out, 0);
    }
    buf_adds(out, "\npass 0/N <B: no corruption in N iterations, B the 95% upper bound of the "
                  "per-iteration rate; FAIL k/m boots c/N: corruption in k of m boots.\n");
}

/* Markdown: each axis label with the spec and the image that booted (package, version, sha256). */
static void booted_md(const struct matrix_report *rep, struct buf *out)
{
    const char **ls = xcalloc(rep->ncells + 1, sizeof(*ls));
    const char *host = NULL;

    for (int which = 0; which < 2; which++) {
        size_t n = labels(rep, which, ls);
        buf_addf(out, "\n| %s | spec | image (package or tree, version, sha256) |\n|---|---|---|\n",
                 which ? "Linux" : "Xen");
        for (size_t k = 0; k < n; k++) {
            const struct cell_report *c = NULL;
            for (size_t i = 0; i < rep->ncells && !c; i++)
                if (!strcmp(which ? rep->cr[i].c.linux_ : rep->cr[i].c.xen, ls[k]) &&
                    rep->cr[i].booted_linux)
                    c = &rep->cr[i];
            for (size_t i = 0; i < rep->ncells && !c; i++)
                if (!strcmp(which ? rep->cr[i].c.linux_ : rep->cr[i].c.xen, ls[k]))
                    c = &rep->cr[i]; /* no trial yet: the spec alone */
            buf_addf(out, "| %s | `%s` | %s |\n", ls[k], which ? c->c.linux_spec : c->c.xen_spec,
                     !c->booted_linux ? "(not booted)"
                     : which          ? c->booted_linux
                                      : c->booted_xen);
            if (c->booted_host && !host)
                host = c->booted_host;
        }
    }
    if (host)
        buf_addf(out, "\nHost: %s.\n", host);
    free(ls);
}

void matrix_report_md(const struct matrix_report *rep, struct buf *out)
{
    if (rep->nfrom > 1) {
        buf_addf(out, "## %s, matrices ", rep->m.name);
        for (size_t k = 0; k < rep->nfrom; k++)
            buf_addf(out, "%s%lld", k ? ", " : "", rep->from[k]);
        buf_adds(out, " (a cell run in several: the last named)\n");
    } else {
        buf_addf(out, "## %s, matrix %lld (%s)\n", rep->m.name, rep->m.id, rep->m.created);
    }
    tables(rep, out, 1);
    untestable_list(rep, out, 1);
    buf_adds(out, "\n### What booted\n");
    booted_md(rep, out);
    if (rep->against) {
        buf_addf(out, "\nCompared with matrix %lld:\n\n", rep->against);
        changes(rep, out, 1);
    }
    buf_adds(out, "\n`pass 0/N <B`: no corruption in N iterations (B: 95% upper bound of the "
                  "per-iteration rate); `FAIL k/m boots c/N`: corruption in k of m boots, c of "
                  "N iterations.\n");
}

static void rates_json(struct jw *w, const char *key, const struct run_rates *r)
{
    jw_key(w, key);
    jw_obj(w);
    jw_kv_int(w, "boots", r->boots);
    jw_kv_int(w, "boots_corrupt", r->boots_corrupt);
    jw_kv_dbl(w, "boot_share_lo95", r->share_lo);
    jw_kv_dbl(w, "boot_share_hi95", r->share_hi);
    jw_kv_int(w, "iterations", r->iterations);
    jw_kv_int(w, "corruptions", r->corruptions);
    jw_kv_dbl(w, "rate", r->rate);
    jw_kv_dbl(w, "rate_lo95", r->rate_lo);
    jw_kv_dbl(w, "rate_hi95", r->rate_hi);
    jw_kv_dbl(w, "dispersion", r->dispersion);
    jw_end(w);
}

static const char *state_name(enum cell_state s)
{
    return s == CELL_CLEAN ? "pass" : s == CELL_CORRUPT ? "fail" : "infra";
}

/* A cell's verdict: its state, or "skip" when its trials were skipped (nothing to boot). */
static const char *cell_verdict(const struct cell_report *c)
{
    return cell_untestable(c) ? "skip" : state_name(c->state);
}

void matrix_report_json(const struct matrix_report *rep, struct buf *out)
{
    struct jw w;

    jw_init(&w, out);
    jw_obj(&w);
    jw_kv_int(&w, "id", rep->m.id);
    jw_key(&w, "matrices"); /* the runs the cells come from ("matrix" per cell) */
    jw_arr(&w);
    for (size_t k = 0; k < rep->nfrom; k++)
        jw_int(&w, rep->from[k]);
    jw_end(&w);
    jw_kv_s(&w, "name", rep->m.name);
    jw_kv_s(&w, "status", rep->m.status);
    jw_kv_s(&w, "created", rep->m.created);
    jw_kv_s(&w, "finished", rep->m.finished);
    jw_kv_s(&w, "file", rep->m.file);
    jw_kv_s(&w, "file_sha256", rep->m.file_sha256);
    jw_key(&w, "params");
    jw_raw(&w, rep->m.params_json ? rep->m.params_json : "{}");
    jw_key(&w, "jobs");
    jw_obj(&w);
    jw_kv_int(&w, "queued", rep->m.queued);
    jw_kv_int(&w, "leased", rep->m.leased);
    jw_kv_int(&w, "done", rep->m.done);
    jw_end(&w);
    if (rep->against)
        jw_kv_int(&w, "against", rep->against);
    else {
        jw_key(&w, "against");
        jw_null(&w);
    }
    jw_key(&w, "changes");
    jw_obj(&w);
    for (int k = 0; k <= CHANGE_HEISENBUG; k++)
        jw_kv_int(&w, cell_change_name((enum cell_change)k), rep->changes[k]);
    jw_end(&w);
    jw_key(&w, "cells");
    jw_arr(&w);
    for (size_t i = 0; i < rep->ncells; i++) {
        const struct cell_report *c = &rep->cr[i];
        jw_obj(&w);
        jw_kv_int(&w, "cell", c->c.cell);
        jw_kv_s(&w, "xen", c->c.xen);
        jw_kv_s(&w, "linux", c->c.linux_);
        jw_kv_s(&w, "repro", c->c.repro);
        jw_kv_s(&w, "xen_spec", c->c.xen_spec);
        jw_kv_s(&w, "linux_spec", c->c.linux_spec);
        jw_key(&w, "options");
        jw_raw(&w, c->c.options_json ? c->c.options_json : "{}");
        jw_kv_int(&w, "run_id", c->c.run_id);
        jw_kv_int(&w, "matrix", rep->cell_from ? rep->cell_from[i] : rep->m.id);
        jw_kv_s(&w, "verdict", cell_verdict(c));
        jw_kv_int(&w, "trials_planned", c->planned);
        jw_kv_int(&w, "infra", c->infra);
        jw_kv_int(&w, "skipped", c->skipped);
        if (c->untestable)
            jw_kv_s(&w, "untestable", c->untestable);
        jw_kv_int(&w, "infra_retries", c->c.infra_retries);
        rates_json(&w, "rates", &c->r);
        jw_kv_s(&w, "change", rep->against ? cell_change_name(c->change) : NULL);
        if (c->cause.changed) {
            jw_key(&w, "cause");
            jw_obj(&w);
            jw_kv_s(&w, "changed", c->cause.changed);
            if (c->cause.axis) {
                struct buf cmd = BUF_INIT;
                cell_bisect_cmd(c, &cmd);
                jw_key(&w, "bisect");
                jw_obj(&w);
                jw_kv_s(&w, "axis", c->cause.axis);
                jw_kv_s(&w, "repo", c->cause.repo);
                jw_kv_s(&w, "find", c->cause.find);
                jw_kv_s(&w, "good", c->cause.good);
                jw_kv_s(&w, "bad", c->cause.bad);
                jw_kv_s(&w, !strcmp(c->cause.axis, "xen") ? "linux" : "xen", c->cause.other_spec);
                jw_kv_s(&w, "repro", c->c.repro_name);
                jw_kv_int(&w, "iterations", c->c.iterations);
                jw_kv_s(&w, "command", cmd.data);
                jw_end(&w);
                buf_release(&cmd);
            }
            jw_end(&w);
        }
        if (c->has_prev) {
            jw_kv_int(&w, "prev_run_id", c->prev_run_id);
            jw_kv_s(&w, "prev_verdict", state_name(c->prev_state));
            rates_json(&w, "prev_rates", &c->prev);
        }
        jw_end(&w);
    }
    jw_end(&w);
    jw_end(&w);
}
