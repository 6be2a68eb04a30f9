/* The store's runs and trials (schema 1, accel_note since 3). */
#include "jobs/store.h"
#include "jobs/store_int.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/stats.h"
#include "util/xalloc.h"

/*
 * Column tables: one place maps struct fields to SQL columns for every query. The input table
 * reads a borrowed run_info (const strings); the output table fills an owned run_rec; the names
 * of the input columns are a subset of the output ones (a mismatch fails every query in tests).
 */
enum col_type { T_TEXT, T_INT, T_LONG, T_LL, T_REAL, T_VERDICT };

struct col {
    const char *name;
    enum col_type type;
    size_t off;
};

/* clang-format off */
#define ICOL(f, t) { #f, t, offsetof(struct run_info, f) }
static const struct col run_in_cols[] = {
    ICOL(xen_spec, T_TEXT), ICOL(linux_spec, T_TEXT), ICOL(repro, T_TEXT),
    ICOL(params_json, T_TEXT), ICOL(trials_planned, T_INT),
    ICOL(xen_version, T_TEXT), ICOL(xen_package, T_TEXT), ICOL(xen_sha256, T_TEXT),
    ICOL(linux_version, T_TEXT), ICOL(linux_package, T_TEXT), ICOL(linux_sha256, T_TEXT),
    ICOL(initramfs_sha256, T_TEXT), ICOL(qemu_version, T_TEXT), ICOL(accel, T_TEXT),
    ICOL(cpu_model, T_TEXT), ICOL(l0_kernel, T_TEXT), ICOL(hostname, T_TEXT),
    ICOL(qemu_cmd, T_TEXT), ICOL(accel_note, T_TEXT),
};
#define NRUN_IN_COLS (sizeof(run_in_cols) / sizeof(run_in_cols[0]))

#define RCOL(f, t) { #f, t, offsetof(struct run_rec, f) }
static const struct col run_cols[] = {
    RCOL(id, T_LL), RCOL(created, T_TEXT), RCOL(finished, T_TEXT), RCOL(status, T_TEXT),
    RCOL(xen_spec, T_TEXT), RCOL(linux_spec, T_TEXT), RCOL(repro, T_TEXT),
    RCOL(params_json, T_TEXT), RCOL(trials_planned, T_INT), RCOL(verdict, T_TEXT),
    RCOL(trials_pass, T_LONG), RCOL(trials_fail, T_LONG), RCOL(trials_infra, T_LONG),
    RCOL(trials_skip, T_LONG), RCOL(iterations, T_LL), RCOL(corruptions, T_LL),
    RCOL(rate_upper95, T_REAL),
    RCOL(xen_version, T_TEXT), RCOL(xen_package, T_TEXT), RCOL(xen_sha256, T_TEXT),
    RCOL(linux_version, T_TEXT), RCOL(linux_package, T_TEXT), RCOL(linux_sha256, T_TEXT),
    RCOL(initramfs_sha256, T_TEXT), RCOL(qemu_version, T_TEXT), RCOL(accel, T_TEXT),
    RCOL(cpu_model, T_TEXT), RCOL(l0_kernel, T_TEXT), RCOL(hostname, T_TEXT),
    RCOL(qemu_cmd, T_TEXT), RCOL(accel_note, T_TEXT),
};
#define NRUN_COLS (sizeof(run_cols) / sizeof(run_cols[0]))

#define TICOL(f, t) { #f, t, offsetof(struct trial_info, f) }
static const struct col trial_in_cols[] = {
    TICOL(run_id, T_LL), TICOL(idx, T_INT), TICOL(verdict, T_VERDICT), TICOL(reason, T_TEXT),
    TICOL(iterations, T_LL), TICOL(corruptions, T_LL), TICOL(mismatches, T_LL),
    TICOL(deaths, T_LL), TICOL(klog_faults, T_LL), TICOL(evidence_json, T_TEXT),
    TICOL(started, T_TEXT), TICOL(finished, T_TEXT), TICOL(wall_ms, T_LL),
    TICOL(boot_ms, T_LL), TICOL(log_path, T_TEXT), TICOL(host, T_TEXT),
    TICOL(places_json, T_TEXT), TICOL(snapshot, T_TEXT),
};
#define NTRIAL_COLS (sizeof(trial_in_cols) / sizeof(trial_in_cols[0]))

#define TCOL(f, t) { #f, t, offsetof(struct trial_rec, f) }
static const struct col trial_cols[] = {
    TCOL(run_id, T_LL), TCOL(idx, T_INT), TCOL(verdict, T_TEXT), TCOL(reason, T_TEXT),
    TCOL(iterations, T_LL), TCOL(corruptions, T_LL), TCOL(mismatches, T_LL),
    TCOL(deaths, T_LL), TCOL(klog_faults, T_LL), TCOL(evidence_json, T_TEXT),
    TCOL(started, T_TEXT), TCOL(finished, T_TEXT), TCOL(wall_ms, T_LL), TCOL(boot_ms, T_LL),
    TCOL(log_path, T_TEXT), TCOL(host, T_TEXT), TCOL(places_json, T_TEXT),
    TCOL(snapshot, T_TEXT),
};
/* clang-format on */

/* Appends "a, b, c": the column names of a table. */
static void cols_list(struct buf *b, const struct col *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf_adds(b, i ? ", " : "");
        buf_adds(b, c[i].name);
    }
}

/* Binds field c of the record rec (a borrowed input record) to parameter i. */
static int bind_col(sqlite3_stmt *st, int i, const struct col *c, const void *rec)
{
    const char *p = (const char *)rec + c->off;
    const char *s;
    double d;

    switch (c->type) {
    case T_TEXT:
        s = *(const char *const *)p;
        return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
    case T_VERDICT:
        return sqlite3_bind_text(st, i, verdict_name(*(const enum verdict_kind *)p), -1,
                                 SQLITE_STATIC);
    case T_INT: return sqlite3_bind_int64(st, i, *(const int *)p);
    case T_LONG: return sqlite3_bind_int64(st, i, *(const long *)p);
    case T_LL: return sqlite3_bind_int64(st, i, *(const long long *)p);
    case T_REAL:
        d = *(const double *)p;
        return isfinite(d) ? sqlite3_bind_double(st, i, d) : sqlite3_bind_null(st, i);
    }
    return SQLITE_MISUSE;
}

/* Fills an owned record's fields from result columns 0..n-1 (strings malloc'd; NULL -> NULL). */
static void read_cols(sqlite3_stmt *st, const struct col *c, size_t n, void *rec)
{
    for (size_t i = 0; i < n; i++) {
        char *p = (char *)rec + c[i].off;
        int null = sqlite3_column_type(st, (int)i) == SQLITE_NULL;
        switch (c[i].type) {
        case T_TEXT:
        case T_VERDICT: /* owned records keep the verdict as text */
            *(char **)p = null ? NULL : xstrdup((const char *)sqlite3_column_text(st, (int)i));
            break;
        case T_INT: *(int *)p = sqlite3_column_int(st, (int)i); break;
        case T_LONG: *(long *)p = (long)sqlite3_column_int64(st, (int)i); break;
        case T_LL: *(long long *)p = sqlite3_column_int64(st, (int)i); break;
        case T_REAL: *(double *)p = null ? NAN : sqlite3_column_double(st, (int)i); break;
        }
    }
}

const char *store_run_verdict(long pass, long fail, long infra, long skip)
{
    if (fail > 0)
        return "fail";
    if (pass > 0)
        return "pass";
    if (infra > 0)
        return "infra";
    return "skip";
}

static void not_found(const struct store *s, long long id, struct err *e)
{
    err_set(e, ERR_NOTFOUND, "no run %lld in %s (pvlab list shows the runs)", id, s->path);
}

/* Checks that run id exists (inside the caller's transaction). */
static int run_exists(struct store *s, long long id, struct err *e)
{
    sqlite3_stmt *st =
        store_db_prepare(s, "SELECT 1 FROM runs WHERE id = ?", "looking up a run", e);
    int r;

    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r == SQLITE_ROW)
        return 0;
    if (r == SQLITE_DONE)
        not_found(s, id, e);
    else
        store_db_fail(s, e, r, "looking up a run");
    return -1;
}

struct tally {
    long pass, fail, infra, skip;
    long long iterations, corruptions;
    double bound; /* rate_upper95 */
};

/*
 * Recomputes run id's counts and rate bound from its trials and writes them to the row, so that
 * readers see a running run's progress. Must run inside the caller's transaction.
 */
static int run_refresh(struct store *s, long long id, struct tally *t, struct err *e)
{
    static const char *const tally_sql =
        "SELECT coalesce(sum(verdict = 'pass'), 0), coalesce(sum(verdict = 'fail'), 0),"
        " coalesce(sum(verdict = 'infra'), 0), coalesce(sum(verdict = 'skip'), 0),"
        " coalesce(sum(CASE WHEN verdict IN ('pass', 'fail') THEN iterations END), 0),"
        " coalesce(sum(CASE WHEN verdict IN ('pass', 'fail') THEN corruptions END), 0)"
        " FROM trials WHERE run_id = ?";
    static const char *const update_sql =
        "UPDATE runs SET trials_pass = ?, trials_fail = ?, trials_infra = ?, trials_skip = ?,"
        " iterations = ?, corruptions = ?, rate_upper95 = ? WHERE id = ?";
    sqlite3_stmt *st = NULL;
    int rc = -1, r;

    st = store_db_prepare(s, tally_sql, "counting trials", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        store_db_fail(s, e, r, "counting trials");
        goto out;
    }
    t->pass = (long)sqlite3_column_int64(st, 0);
    t->fail = (long)sqlite3_column_int64(st, 1);
    t->infra = (long)sqlite3_column_int64(st, 2);
    t->skip = (long)sqlite3_column_int64(st, 3);
    t->iterations = sqlite3_column_int64(st, 4);
    t->corruptions = sqlite3_column_int64(st, 5);
    sqlite3_finalize(st);
    st = NULL;
    /* NaN (stored as NULL) without iterations, or if a guest reported more events than runs */
    t->bound = NAN;
    if (t->iterations > 0 && t->corruptions <= t->iterations)
        t->bound = stats_binom_upper((long)t->corruptions, (long)t->iterations, 0.95);
    st = store_db_prepare(s, update_sql, "updating run counts", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, t->pass);
    sqlite3_bind_int64(st, 2, t->fail);
    sqlite3_bind_int64(st, 3, t->infra);
    sqlite3_bind_int64(st, 4, t->skip);
    sqlite3_bind_int64(st, 5, t->iterations);
    sqlite3_bind_int64(st, 6, t->corruptions);
    if (isfinite(t->bound))
        sqlite3_bind_double(st, 7, t->bound);
    sqlite3_bind_int64(st, 8, id);
    r = store_db_step_done(s, st, "updating run counts", e);
    st = NULL;
    if (r < 0)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/*
 * Verdict of a run being closed with status: store_run_verdict, except that an interrupted run
 * with no trial has none (it was never tested, which "skip" would claim it could not be).
 */
static const char *close_verdict(const char *status, const struct tally *t)
{
    if (!strcmp(status, "interrupted") && t->pass + t->fail + t->infra + t->skip == 0)
        return NULL;
    return store_run_verdict(t->pass, t->fail, t->infra, t->skip);
}

/* Sets a run's final status and verdict (NULL = none); finished NULL keeps the stored value. */
static int run_close(struct store *s, long long id, const char *status, const char *verdict,
                     const char *finished, struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s,
                                        "UPDATE runs SET status = ?, verdict = ?,"
                                        " finished = coalesce(?, finished) WHERE id = ?",
                                        "closing a run", e);

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, verdict, -1, SQLITE_STATIC); /* NULL binds SQL NULL */
    sqlite3_bind_text(st, 3, finished, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, id);
    return store_db_step_done(s, st, "closing a run", e);
}

int store_run_begin(struct store *s, const struct run_info *in, long long *id_r, struct err *e)
{
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    char *created = clock_iso_now();
    int rc = -1, i = 1;

    *id_r = 0;
    buf_adds(&sql, "INSERT INTO runs (created, status, owner_host, owner_boot_id, owner_pid, "
                   "owner_start, ");
    cols_list(&sql, run_in_cols, NRUN_IN_COLS);
    buf_adds(&sql, ") VALUES (?, 'running', ?, ?, ?, ?");
    for (size_t c = 0; c < NRUN_IN_COLS; c++)
        buf_adds(&sql, ", ?");
    buf_adds(&sql, ")");
    st = store_db_prepare(s, sql.data, "recording a new run", e);
    if (!st)
        goto out;
    sqlite3_bind_text(st, i++, created, -1, SQLITE_STATIC);
    store_bind_owner(s, st, i);
    i += 4;
    for (size_t c = 0; c < NRUN_IN_COLS; c++)
        bind_col(st, i++, &run_in_cols[c], in);
    if (store_db_step_done(s, st, "recording a new run", e) < 0)
        goto out; /* store_db_step_done finalized st */
    *id_r = sqlite3_last_insert_rowid(s->db);
    rc = 0;
out:
    buf_release(&sql);
    free(created);
    return rc;
}

int store_run_update(struct store *s, long long id, const struct run_info *in, struct err *e)
{
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    int rc = -1, i = 1;
    size_t c;

    buf_adds(&sql, "UPDATE runs SET ");
    for (c = 0; c < NRUN_IN_COLS; c++) /* strings: NULL keeps the stored value */
        if (run_in_cols[c].type == T_TEXT)
            buf_addf(&sql, "%s = coalesce(?, %s), ", run_in_cols[c].name, run_in_cols[c].name);
    buf_adds(&sql, "trials_planned = CASE WHEN :planned > 0 THEN :planned ELSE trials_planned "
                   "END WHERE id = :id");
    st = store_db_prepare(s, sql.data, "updating a run", e);
    if (!st)
        goto out;
    for (c = 0; c < NRUN_IN_COLS; c++)
        if (run_in_cols[c].type == T_TEXT)
            bind_col(st, i++, &run_in_cols[c], in);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":planned"), in->trials_planned);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":id"), id);
    if (store_db_step_done(s, st, "updating a run", e) < 0)
        goto out;
    if (sqlite3_changes(s->db) == 0) {
        not_found(s, id, e);
        goto out;
    }
    rc = 0;
out:
    buf_release(&sql);
    return rc;
}

int store_trial_insert(struct store *s, const struct trial_info *t, struct err *e)
{
    struct buf sql = BUF_INIT;
    struct tally tally;
    sqlite3_stmt *st = NULL;
    int rc = -1, r;
    size_t c;

    if (t->verdict < VERDICT_PASS || t->verdict > VERDICT_SKIP || t->idx < 1) {
        err_set(e, ERR_INTERNAL,
                "cannot record trial %d of run %lld in %s: verdict %d (pass, fail, infra or "
                "skip expected), index %d (from 1 expected); a pvlab bug: please report it",
                t->idx, t->run_id, s->path, (int)t->verdict, t->idx);
        return -1;
    }
    buf_adds(&sql, "INSERT INTO trials (");
    cols_list(&sql, trial_in_cols, NTRIAL_COLS);
    buf_adds(&sql, ") VALUES (?");
    for (c = 1; c < NTRIAL_COLS; c++)
        buf_adds(&sql, ", ?");
    buf_adds(&sql, ")");
    if (run_exists(s, t->run_id, e) < 0)
        goto out;
    st = store_db_prepare(s, sql.data, "recording a trial", e);
    if (!st)
        goto out;
    for (c = 0; c < NTRIAL_COLS; c++)
        bind_col(st, (int)c + 1, &trial_in_cols[c], t);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if ((r & 0xff) == SQLITE_CONSTRAINT) {
        err_set(e, ERR_DB,
                "trial %d of run %lld is already recorded in %s; trial indexes must "
                "be unique within a run",
                t->idx, t->run_id, s->path);
        goto out;
    }
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "recording a trial");
        goto out;
    }
    if (run_refresh(s, t->run_id, &tally, e) < 0)
        goto out;
    rc = 0;
out:
    buf_release(&sql);
    return rc;
}

int store_trial_add(struct store *s, const struct trial_info *t, struct err *e)
{
    int rc = -1;

    if (store_tx_begin(s, "recording a trial", e) < 0)
        return -1;
    if (store_trial_insert(s, t, e) < 0 || store_tx_commit(s, "committing a trial", e) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        store_tx_rollback(s);
    return rc;
}

int store_run_finish(struct store *s, long long id, const char *status, struct err *e)
{
    const char *verdict;
    char *finished = clock_iso_now();
    struct tally t;
    int rc = -1;

    if (!status)
        status = "done";
    if (strcmp(status, "done") && strcmp(status, "error") && strcmp(status, "interrupted")) {
        err_set(e, ERR_INTERNAL,
                "cannot finish run %lld in %s with status '%s' (done, error or "
                "interrupted expected); a pvlab bug: please report it",
                id, s->path, status);
        goto out;
    }
    if (store_tx_begin(s, "finishing a run", e) < 0)
        goto out;
    if (run_exists(s, id, e) < 0 || run_refresh(s, id, &t, e) < 0)
        goto out;
    verdict = close_verdict(status, &t);
    if (run_close(s, id, status, verdict, finished, e) < 0)
        goto out;
    if (store_tx_commit(s, "committing a finished run", e) < 0)
        goto out;
    rc = 0;
out:
    store_tx_rollback(s); /* no-op after a commit */
    free(finished);
    return rc;
}

/* Runs a SELECT of run_cols (with sql_tail after FROM runs) and collects the rows. */
static int select_runs(struct store *s, const char *sql_tail, long long arg,
                       struct run_rec **runs_r, size_t *n_r, struct err *e)
{
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    struct run_rec *v = NULL;
    size_t n = 0, alloc = 0;
    int rc = -1, r;

    buf_adds(&sql, "SELECT ");
    cols_list(&sql, run_cols, NRUN_COLS);
    buf_addf(&sql, " FROM runs %s", sql_tail);
    st = store_db_prepare(s, sql.data, "reading runs", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, arg);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            v = xrealloc(v, alloc * sizeof(*v));
        }
        memset(&v[n], 0, sizeof(v[n]));
        read_cols(st, run_cols, NRUN_COLS, &v[n++]);
    }
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "reading runs");
        goto out;
    }
    *runs_r = v;
    *n_r = n;
    v = NULL;
    rc = 0;
out:
    sqlite3_finalize(st);
    run_recs_free(v, n);
    buf_release(&sql);
    return rc;
}

static int select_trials(struct store *s, long long run_id, struct trial_rec **trials_r,
                         size_t *n_r, struct err *e)
{
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    struct trial_rec *v = NULL;
    size_t n = 0, alloc = 0;
    int rc = -1, r;

    buf_adds(&sql, "SELECT ");
    cols_list(&sql, trial_cols, NTRIAL_COLS);
    buf_adds(&sql, " FROM trials WHERE run_id = ? ORDER BY idx");
    st = store_db_prepare(s, sql.data, "reading trials", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, run_id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            v = xrealloc(v, alloc * sizeof(*v));
        }
        memset(&v[n], 0, sizeof(v[n]));
        read_cols(st, trial_cols, NTRIAL_COLS, &v[n++]);
    }
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "reading trials");
        goto out;
    }
    *trials_r = v;
    *n_r = n;
    v = NULL;
    rc = 0;
out:
    sqlite3_finalize(st);
    trial_recs_free(v, n);
    buf_release(&sql);
    return rc;
}

int store_run_get(struct store *s, long long id, struct run_rec *r_out, struct trial_rec **trials_r,
                  size_t *ntrials_r, struct err *e)
{
    struct run_rec *runs = NULL;
    size_t n = 0;
    int rc = -1;

    memset(r_out, 0, sizeof(*r_out));
    if (trials_r) {
        *trials_r = NULL;
        *ntrials_r = 0;
    }
    /* one read transaction, so the run and its trials are one consistent snapshot */
    if (store_db_exec(s, "BEGIN", "reading a run", e) < 0)
        return -1;
    if (select_runs(s, "WHERE id = ?", id, &runs, &n, e) < 0)
        goto out;
    if (n == 0) {
        not_found(s, id, e);
        goto out;
    }
    if (trials_r && select_trials(s, id, trials_r, ntrials_r, e) < 0)
        goto out;
    *r_out = runs[0];
    memset(&runs[0], 0, sizeof(runs[0]));
    rc = 0;
out:
    store_tx_rollback(s); /* read-only: nothing to commit */
    run_recs_free(runs, n);
    return rc;
}

int store_run_list(struct store *s, int limit, struct run_rec **runs_r, size_t *n_r, struct err *e)
{
    *runs_r = NULL;
    *n_r = 0;
    return select_runs(s, "ORDER BY created DESC, id DESC LIMIT ?", limit > 0 ? limit : -1, runs_r,
                       n_r, e);
}

int store_mark_stale(struct store *s, struct err *e)
{
    long long *ids = NULL;
    size_t n = 0, i;
    struct tally t;
    int rc = -1;

    if (store_tx_begin(s, "marking interrupted runs", e) < 0)
        return -1;
    if (store_stale_ids(s, "runs", &ids, &n, e) < 0)
        goto out;
    for (i = 0; i < n; i++) {
        if (run_refresh(s, ids[i], &t, e) < 0 ||
            run_close(s, ids[i], "interrupted", close_verdict("interrupted", &t), NULL, e) < 0)
            goto out;
        log_info("store", "run %lld in %s was interrupted (its pvlab process is gone)", ids[i],
                 s->path);
    }
    if (store_tx_commit(s, "committing interrupted runs", e) < 0)
        goto out;
    rc = (int)n;
out:
    if (rc < 0)
        store_tx_rollback(s);
    free(ids);
    return rc;
}

static void free_text_cols(const struct col *c, size_t n, void *rec)
{
    size_t i;

    char **p;

    for (i = 0; i < n; i++) {
        if (c[i].type != T_TEXT)
            continue;
        p = (char **)((char *)rec + c[i].off);
        free(*p);
        *p = NULL;
    }
}

void run_rec_free(struct run_rec *r)
{
    if (!r)
        return;
    free_text_cols(run_cols, NRUN_COLS, r);
    memset(r, 0, sizeof(*r));
}

void trial_rec_free(struct trial_rec *t)
{
    if (!t)
        return;
    free_text_cols(trial_cols, NTRIAL_COLS, t);
    memset(t, 0, sizeof(*t));
}

void run_recs_free(struct run_rec *v, size_t n)
{
    size_t i;

    if (!v)
        return;
    for (i = 0; i < n; i++)
        run_rec_free(&v[i]);
    free(v);
}

void trial_recs_free(struct trial_rec *v, size_t n)
{
    size_t i;

    if (!v)
        return;
    for (i = 0; i < n; i++)
        trial_rec_free(&v[i]);
    free(v);
}
