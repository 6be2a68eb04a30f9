#include "jobs/matrix_report.h"

#include <math.h>
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

/* Rates and infra count of run id. */
static int cell_rates(struct store *st, long long run_id, struct run_rates *r, long *infra,
                      struct err *e)
{
    struct run_rec rr;
    struct trial_rec *t = NULL;
    size_t n = 0;

    memset(r, 0, sizeof(*r));
    *infra = 0;
    if (run_id <= 0)
        return 0;
    if (store_run_get(st, run_id, &rr, &t, &n, e) < 0)
        return -1;
    run_rates(t, n, r);
    for (size_t i = 0; i < n; i++)
        *infra += t[i].verdict && !strcmp(t[i].verdict, "infra");
    run_rec_free(&rr);
    trial_recs_free(t, n);
    return 0;
}

int matrix_report_build(struct store *st, long long id, long long against,
                        struct matrix_report *rep, struct err *e)
{
    struct matrix_rec pm;
    struct matrix_cell_rec *pc = NULL;
    size_t npc = 0;
    int rc = -1;

    memset(rep, 0, sizeof(*rep));
    memset(&pm, 0, sizeof(pm));
    if (store_matrix_get(st, id, &rep->m, &rep->cells, &rep->ncells, e) < 0)
        return -1;
    if (against < 0 && store_matrix_previous(st, id, &against, e) < 0)
        goto out;
    rep->against = against > 0 ? against : 0;
    if (rep->against && store_matrix_get(st, rep->against, &pm, &pc, &npc, e) < 0)
        goto out;
    rep->cr = xcalloc(rep->ncells ? rep->ncells : 1, sizeof(*rep->cr));
    for (size_t i = 0; i < rep->ncells; i++) {
        struct cell_report *c = &rep->cr[i];
        long pinfra = 0;
        c->c = rep->cells[i];
        c->planned = c->c.trials;
        if (cell_rates(st, c->c.run_id, &c->r, &c->infra, e) < 0)
            goto out;
        c->state = state_of(&c->r);
        /* the same cell in the other run: the same labels */
        for (size_t k = 0; k < npc; k++)
            if (!strcmp(pc[k].xen, c->c.xen) && !strcmp(pc[k].linux_, c->c.linux_) &&
                !strcmp(pc[k].repro, c->c.repro)) {
                c->has_prev = 1;
                c->prev_run_id = pc[k].run_id;
                if (cell_rates(st, pc[k].run_id, &c->prev, &pinfra, e) < 0)
                    goto out;
                c->prev_state = state_of(&c->prev);
            }
        c->change = cell_classify(c->has_prev, c->prev_state, &c->prev, c->state, &c->r);
        rep->changes[c->change]++;
    }
    rc = 0;
out:
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
    free(rep->cr);
    memset(rep, 0, sizeof(*rep));
}

/* Distinct labels in order of first appearance (cells are ordered xen, linux, repro). */
static size_t labels(const struct matrix_report *rep, int which, const char **out)
{
    size_t n = 0;

    for (size_t i = 0; i < rep->ncells; i++) {
        const char *l = which == 0 ? rep->cells[i].xen : which == 1 ? rep->cells[i].linux_
                                                                    : rep->cells[i].repro;
        size_t k;
        for (k = 0; k < n && strcmp(out[k], l); k++)
            ;
        if (k == n)
            out[n++] = l;
    }
    return n;
}

static const struct cell_report *find(const struct matrix_report *rep, const char *x,
                                      const char *l, const char *r)
{
    for (size_t i = 0; i < rep->ncells; i++)
        if (!strcmp(rep->cr[i].c.xen, x) && !strcmp(rep->cr[i].c.linux_, l) &&
            !strcmp(rep->cr[i].c.repro, r))
            return &rep->cr[i];
    return NULL;
}

/* "pass 0/4000 <7.5e-04", "FAIL 2/2 boots 12/4000", "infra 2/2" and the change. */
static void cell_text(const struct cell_report *c, int with_change, struct buf *out)
{
    if (!c) {
        buf_adds(out, "-");
        return;
    }
    if (c->state == CELL_UNTESTED)
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

    for (size_t r = 0; r < nr; r++) {
        buf_addf(out, md ? "\n### %s\n\n| Linux \\\\ Xen |" : "\n%s\n%-12s", rs[r],
                 md ? "" : "Linux \\ Xen");
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
            buf_addf(out, md ? "| %s |" : "%-12s", ls[l]);
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

/* The cells whose change is worth a line: REGRESSION, FIXED, heisenbug, could-not-test. */
static void changes(const struct matrix_report *rep, struct buf *out, int md)
{
    for (size_t i = 0; i < rep->ncells; i++) {
        const struct cell_report *c = &rep->cr[i];
        if (c->change != CHANGE_REGRESSION && c->change != CHANGE_FIXED &&
            c->change != CHANGE_HEISENBUG && c->change != CHANGE_COULD_NOT_TEST)
            continue;
        buf_addf(out, "%s%-14s Xen %s x Linux %s %s: now %ld of %ld boots, %lld of %lld "
                      "iterations (run %lld)",
                 md ? "- " : "", cell_change_name(c->change), c->c.xen, c->c.linux_,
                 c->c.repro, c->r.boots_corrupt, c->r.boots, c->r.corruptions,
                 c->r.iterations, c->c.run_id);
        if (c->has_prev)
            buf_addf(out, "; before %ld of %ld boots, %lld of %lld iterations (run %lld)",
                     c->prev.boots_corrupt, c->prev.boots, c->prev.corruptions,
                     c->prev.iterations, c->prev_run_id);
        buf_adds(out, "\n");
    }
}

void matrix_report_text(const struct matrix_report *rep, struct buf *out)
{
    buf_addf(out, "matrix %lld (%s), %s, %s; %ld of %ld trials done", rep->m.id, rep->m.name,
             rep->m.status, rep->m.created, rep->m.done,
             rep->m.done + rep->m.queued + rep->m.leased);
    if (rep->against)
        buf_addf(out, "; compared with matrix %lld", rep->against);
    buf_adds(out, "\n");
    tables(rep, out, 0);
    if (rep->against) {
        buf_addf(out, "\nchanges: %ld REGRESSION, %ld FIXED, %ld heisenbug, %ld never-pass, "
                      "%ld could-not-test, %ld pass\n",
                 rep->changes[CHANGE_REGRESSION], rep->changes[CHANGE_FIXED],
                 rep->changes[CHANGE_HEISENBUG], rep->changes[CHANGE_NEVER_PASS],
                 rep->changes[CHANGE_COULD_NOT_TEST], rep->changes[CHANGE_PASS]);
        changes(rep, out, 0);
    }
    buf_adds(out, "\npass 0/N <B: no corruption in N iterations, B the 95% upper bound of the "
                  "per-iteration rate; FAIL k/m boots c/N: corruption in k of m boots.\n");
}

void matrix_report_md(const struct matrix_report *rep, struct buf *out)
{
    buf_addf(out, "## %s, matrix %lld (%s)\n", rep->m.name, rep->m.id, rep->m.created);
    tables(rep, out, 1);
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

void matrix_report_json(const struct matrix_report *rep, struct buf *out)
{
    struct jw w;

    jw_init(&w, out);
    jw_obj(&w);
    jw_kv_int(&w, "id", rep->m.id);
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
        jw_kv_s(&w, "verdict", state_name(c->state));
        jw_kv_int(&w, "trials_planned", c->planned);
        jw_kv_int(&w, "infra", c->infra);
        jw_kv_int(&w, "infra_retries", c->c.infra_retries);
        rates_json(&w, "rates", &c->r);
        jw_kv_s(&w, "change", rep->against ? cell_change_name(c->change) : NULL);
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
