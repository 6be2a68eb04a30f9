/* The store's matrix tables (schema 5): matrix runs, their cells and their queue of trials. */
#include "jobs/store.h"
#include "jobs/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/xalloc.h"

/* Runs one statement with an id parameter (and optional more binds by the caller). */
static int exec_id(struct store *s, const char *sql, long long id, const char *what, struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s, sql, what, e);

    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    return store_db_step_done(s, st, what, e);
}

int store_matrix_begin(struct store *s, const struct matrix_info *in,
                       const struct matrix_cell_info *cells, size_t n, long long *id_r,
                       struct err *e)
{
    sqlite3_stmt *st = NULL;
    char *created = clock_iso_now();
    long long id = 0;
    int rc = -1;

    *id_r = 0;
    if (store_tx_begin(s, "recording a new matrix", e) < 0)
        goto out;
    st = store_db_prepare(s,
                          "INSERT INTO matrices (name, file, file_sha256, params_json, created, "
                          "status, owner_host, owner_boot_id, owner_pid, owner_start) VALUES "
                          "(?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                          "recording a new matrix", e);
    if (!st)
        goto out;
    store_bind_text(st, 1, in->name);
    store_bind_text(st, 2, in->file);
    store_bind_text(st, 3, in->file_sha256);
    store_bind_text(st, 4, in->params_json);
    store_bind_text(st, 5, created);
    store_bind_owner(s, st, 6);
    if (store_db_step_done(s, st, "recording a new matrix", e) < 0)
        goto out;
    id = sqlite3_last_insert_rowid(s->db);
    for (size_t i = 0; i < n; i++) {
        const struct matrix_cell_info *c = &cells[i];
        st = store_db_prepare(s,
                              "INSERT INTO matrix_cells (matrix_id, cell, xen, linux, repro, "
                              "xen_spec, linux_spec, repro_name, options_json, trials, "
                              "iterations, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              "recording a matrix cell", e);
        if (!st)
            goto out;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, c->cell);
        store_bind_text(st, 3, c->xen);
        store_bind_text(st, 4, c->linux_);
        store_bind_text(st, 5, c->repro);
        store_bind_text(st, 6, c->xen_spec);
        store_bind_text(st, 7, c->linux_spec);
        store_bind_text(st, 8, c->repro_name);
        store_bind_text(st, 9, c->options_json);
        sqlite3_bind_int(st, 10, c->trials);
        sqlite3_bind_int64(st, 11, c->iterations);
        if (c->run_id > 0)
            sqlite3_bind_int64(st, 12, c->run_id);
        else
            sqlite3_bind_null(st, 12);
        if (store_db_step_done(s, st, "recording a matrix cell", e) < 0)
            goto out;
        for (int k = 1; k <= c->trials; k++) {
            st = store_db_prepare(s,
                                  "INSERT INTO matrix_jobs (matrix_id, cell, idx) VALUES "
                                  "(?, ?, ?)",
                                  "queueing a matrix trial", e);
            if (!st)
                goto out;
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int(st, 2, c->cell);
            sqlite3_bind_int(st, 3, k);
            if (store_db_step_done(s, st, "queueing a matrix trial", e) < 0)
                goto out;
        }
    }
    st = NULL;
    if (store_tx_commit(s, "committing a new matrix", e) < 0)
        goto out;
    *id_r = id;
    rc = 0;
out:
    store_tx_rollback(s);
    free(created);
    return rc;
}

/* "host:boot:pid": who holds a lease (only this process's own leases are ever held). */
static char *lease_owner(const struct store *s)
{
    return xasprintf("%s:%s:%ld", s->host, s->boot_id, (long)getpid());
}

int store_matrix_lease(struct store *s, long long id, int lease_s, struct matrix_job *job_r,
                       struct err *e)
{
    sqlite3_stmt *st = NULL;
    char *owner = lease_owner(s);
    int rc = -1, r;

    if (store_tx_begin(s, "leasing a matrix trial", e) < 0)
        goto out;
    /* a lease whose time ran out is free again (its holder hung or is gone) */
    st = store_db_prepare(s,
                          "SELECT cell, idx, infra_retries FROM matrix_jobs WHERE matrix_id = ? "
                          "AND (state = 'queued' OR (state = 'leased' AND lease_until < ?)) "
                          "ORDER BY infra_retries, cell, idx LIMIT 1",
                          "leasing a matrix trial", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (long long)time(NULL));
    r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        sqlite3_finalize(st);
        st = NULL;
        store_tx_rollback(s);
        rc = 0;
        goto out;
    }
    if (r != SQLITE_ROW) {
        store_db_fail(s, e, r, "leasing a matrix trial");
        goto out;
    }
    job_r->cell = sqlite3_column_int(st, 0);
    job_r->idx = sqlite3_column_int(st, 1);
    job_r->infra_retries = sqlite3_column_int(st, 2);
    sqlite3_finalize(st);
    st = store_db_prepare(s,
                          "UPDATE matrix_jobs SET state = 'leased', lease_owner = ?, "
                          "lease_until = ? WHERE matrix_id = ? AND cell = ? AND idx = ?",
                          "leasing a matrix trial", e);
    if (!st)
        goto out;
    store_bind_text(st, 1, owner);
    sqlite3_bind_int64(st, 2, (long long)time(NULL) + lease_s);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_int(st, 4, job_r->cell);
    sqlite3_bind_int(st, 5, job_r->idx);
    r = store_db_step_done(s, st, "leasing a matrix trial", e);
    st = NULL;
    if (r < 0 || store_tx_commit(s, "committing a lease", e) < 0)
        goto out;
    rc = 1;
out:
    sqlite3_finalize(st);
    store_tx_rollback(s);
    free(owner);
    return rc;
}

/* Sets a leased job's state (and host/reason); ERR_DB when it is not leased. */
static int job_update(struct store *s, long long id, const struct matrix_job *job,
                      const char *state, const char *host, const char *reason, int add_retry,
                      struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s,
                                        "UPDATE matrix_jobs SET state = ?, host = coalesce(?, "
                                        "host), last_reason = coalesce(?, last_reason), "
                                        "infra_retries = infra_retries + ?, lease_owner = NULL, "
                                        "lease_until = NULL WHERE matrix_id = ? AND cell = ? "
                                        "AND idx = ? AND state = 'leased'",
                                        "updating a matrix trial", e);
    if (!st)
        return -1;
    store_bind_text(st, 1, state);
    store_bind_text(st, 2, host);
    store_bind_text(st, 3, reason);
    sqlite3_bind_int(st, 4, add_retry);
    sqlite3_bind_int64(st, 5, id);
    sqlite3_bind_int(st, 6, job->cell);
    sqlite3_bind_int(st, 7, job->idx);
    if (store_db_step_done(s, st, "updating a matrix trial", e) < 0)
        return -1;
    if (sqlite3_changes(s->db) != 1) {
        err_set(e, ERR_DB,
                "trial %d of cell %d of matrix %lld is not leased (done already?) "
                "in %s; nothing was written",
                job->idx, job->cell, id, s->path);
        return -1;
    }
    return 0;
}

int store_matrix_complete(struct store *s, long long id, const struct matrix_job *job,
                          const struct trial_info *t, struct err *e)
{
    int rc = -1;

    if (store_tx_begin(s, "recording a matrix trial", e) < 0)
        return -1;
    if (job_update(s, id, job, "done", t->host, t->reason, 0, e) < 0 ||
        store_trial_insert(s, t, e) < 0 || store_tx_commit(s, "committing a matrix trial", e) < 0)
        goto out;
    rc = 0;
out:
    store_tx_rollback(s);
    return rc;
}

static int requeue(struct store *s, long long id, const struct matrix_job *job, const char *reason,
                   int add_retry, struct err *e)
{
    int rc = -1;

    if (store_tx_begin(s, "queueing a matrix trial again", e) < 0)
        return -1;
    if (job_update(s, id, job, "queued", NULL, reason, add_retry, e) < 0 ||
        store_tx_commit(s, "queueing a matrix trial again", e) < 0)
        goto out;
    rc = 0;
out:
    store_tx_rollback(s);
    return rc;
}

int store_matrix_retry(struct store *s, long long id, const struct matrix_job *job,
                       const char *reason, struct err *e)
{
    return requeue(s, id, job, reason, 1, e);
}

int store_matrix_release(struct store *s, long long id, const struct matrix_job *job, struct err *e)
{
    return requeue(s, id, job, NULL, 0, e);
}

int store_matrix_claim(struct store *s, long long id, struct err *e)
{
    /* the previous owner is gone: what it held goes back to the queue */
    return store_row_claim(s, "matrices", "matrix", id,
                           "UPDATE matrix_jobs SET state = 'queued', lease_owner = NULL, "
                           "lease_until = NULL WHERE matrix_id = ? AND state = 'leased'",
                           e);
}

int store_matrix_finish(struct store *s, long long id, const char *status, struct err *e)
{
    struct matrix_cell_rec *cells = NULL;
    struct matrix_rec m;
    size_t n = 0;
    sqlite3_stmt *st;
    char *now = clock_iso_now();
    int rc = -1;

    memset(&m, 0, sizeof(m));
    if (store_matrix_get(s, id, &m, &cells, &n, e) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (cells[i].run_id > 0 &&
            store_run_finish(s, cells[i].run_id, !strcmp(status, "done") ? "done" : status, e) < 0)
            goto out;
    st = store_db_prepare(s, "UPDATE matrices SET status = ?, finished = ? WHERE id = ?",
                          "finishing a matrix", e);
    if (!st)
        goto out;
    store_bind_text(st, 1, status);
    store_bind_text(st, 2, now);
    sqlite3_bind_int64(st, 3, id);
    if (store_db_step_done(s, st, "finishing a matrix", e) < 0)
        goto out;
    rc = 0;
out:
    matrix_rec_free(&m);
    matrix_cell_recs_free(cells, n);
    free(now);
    return rc;
}

#define MATRIX_COLS                                                                                \
    "id, name, file, file_sha256, params_json, created, finished, status, "                        \
    "(SELECT count(*) FROM matrix_jobs j WHERE j.matrix_id = m.id AND state = 'queued'), "         \
    "(SELECT count(*) FROM matrix_jobs j WHERE j.matrix_id = m.id AND state = 'leased'), "         \
    "(SELECT count(*) FROM matrix_jobs j WHERE j.matrix_id = m.id AND state = 'done')"

static void read_matrix(sqlite3_stmt *st, struct matrix_rec *m)
{
    memset(m, 0, sizeof(*m));
    m->id = sqlite3_column_int64(st, 0);
    m->name = store_col_text(st, 1);
    m->file = store_col_text(st, 2);
    m->file_sha256 = store_col_text(st, 3);
    m->params_json = store_col_text(st, 4);
    m->created = store_col_text(st, 5);
    m->finished = store_col_text(st, 6);
    m->status = store_col_text(st, 7);
    m->queued = (long)sqlite3_column_int64(st, 8);
    m->leased = (long)sqlite3_column_int64(st, 9);
    m->done = (long)sqlite3_column_int64(st, 10);
}

static int read_cells(struct store *s, long long id, struct matrix_cell_rec **cells_r, size_t *n_r,
                      struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s,
                                        "SELECT cell, xen, linux, repro, xen_spec, linux_spec, "
                                        "repro_name, options_json, trials, iterations, "
                                        "coalesce(run_id, 0), (SELECT coalesce(sum("
                                        "infra_retries), 0) FROM matrix_jobs j WHERE "
                                        "j.matrix_id = c.matrix_id AND j.cell = c.cell) FROM "
                                        "matrix_cells c WHERE matrix_id = ? ORDER BY cell",
                                        "reading matrix cells", e);
    struct matrix_cell_rec *v = NULL;
    size_t n = 0;
    int r;

    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct matrix_cell_rec *c;
        v = xrealloc(v, (n + 1) * sizeof(*v));
        c = &v[n++];
        c->cell = sqlite3_column_int(st, 0);
        c->xen = store_col_text(st, 1);
        c->linux_ = store_col_text(st, 2);
        c->repro = store_col_text(st, 3);
        c->xen_spec = store_col_text(st, 4);
        c->linux_spec = store_col_text(st, 5);
        c->repro_name = store_col_text(st, 6);
        c->options_json = store_col_text(st, 7);
        c->trials = sqlite3_column_int(st, 8);
        c->iterations = (long)sqlite3_column_int64(st, 9);
        c->run_id = sqlite3_column_int64(st, 10);
        c->infra_retries = (long)sqlite3_column_int64(st, 11);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "reading matrix cells");
        matrix_cell_recs_free(v, n);
        return -1;
    }
    *cells_r = v;
    *n_r = n;
    return 0;
}

int store_matrix_get(struct store *s, long long id, struct matrix_rec *m_r,
                     struct matrix_cell_rec **cells_r, size_t *n_r, struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s, "SELECT " MATRIX_COLS " FROM matrices m WHERE id = ?",
                                        "reading a matrix", e);
    int r;

    memset(m_r, 0, sizeof(*m_r));
    if (cells_r) {
        *cells_r = NULL;
        *n_r = 0;
    }
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        read_matrix(st, m_r);
    sqlite3_finalize(st);
    if (r == SQLITE_DONE) {
        err_set(e, ERR_NOTFOUND, "no matrix %lld in %s (pvlab matrix list shows them)", id,
                s->path);
        return -1;
    }
    if (r != SQLITE_ROW) {
        store_db_fail(s, e, r, "reading a matrix");
        return -1;
    }
    if (cells_r && read_cells(s, id, cells_r, n_r, e) < 0) {
        matrix_rec_free(m_r);
        return -1;
    }
    return 0;
}

int store_matrix_list(struct store *s, const char *name, int limit, struct matrix_rec **v_r,
                      size_t *n_r, struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s,
                                        "SELECT " MATRIX_COLS " FROM matrices m WHERE (?1 IS "
                                        "NULL OR name = ?1) ORDER BY id DESC LIMIT ?2",
                                        "listing matrices", e);
    struct matrix_rec *v = NULL;
    size_t n = 0;
    int r;

    *v_r = NULL;
    *n_r = 0;
    if (!st)
        return -1;
    store_bind_text(st, 1, name);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        v = xrealloc(v, (n + 1) * sizeof(*v));
        read_matrix(st, &v[n++]);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "listing matrices");
        matrix_recs_free(v, n);
        return -1;
    }
    *v_r = v;
    *n_r = n;
    return 0;
}

int store_matrix_previous(struct store *s, long long id, long long *prev_r, struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s,
                                        "SELECT max(p.id) FROM matrices p, matrices m WHERE "
                                        "m.id = ? AND p.name = m.name AND p.id < m.id AND "
                                        "p.status = 'done'",
                                        "finding the previous matrix", e);
    int r;

    *prev_r = 0;
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *prev_r = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        store_db_fail(s, e, r, "finding the previous matrix");
        return -1;
    }
    return 0;
}

int store_matrix_mark_stale(struct store *s, struct err *e)
{
    long long *ids = NULL;
    size_t n = 0;
    int rc = -1;

    if (store_tx_begin(s, "marking interrupted matrices", e) < 0)
        return -1;
    if (store_stale_ids(s, "matrices", &ids, &n, e) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (exec_id(s, "UPDATE matrices SET status = 'interrupted' WHERE id = ?", ids[i],
                    "marking an interrupted matrix", e) < 0)
            goto out;
    if (store_tx_commit(s, "committing interrupted matrices", e) < 0)
        goto out;
    rc = (int)n;
out:
    if (rc < 0)
        store_tx_rollback(s);
    free(ids);
    return rc;
}

void matrix_rec_free(struct matrix_rec *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->file);
    free(m->file_sha256);
    free(m->params_json);
    free(m->created);
    free(m->finished);
    free(m->status);
    memset(m, 0, sizeof(*m));
}

void matrix_recs_free(struct matrix_rec *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        matrix_rec_free(&v[i]);
    free(v);
}

void matrix_cell_recs_free(struct matrix_cell_rec *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].xen);
        free(v[i].linux_);
        free(v[i].repro);
        free(v[i].xen_spec);
        free(v[i].linux_spec);
        free(v[i].repro_name);
        free(v[i].options_json);
    }
    free(v);
}
