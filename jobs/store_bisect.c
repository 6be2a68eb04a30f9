/* The store's bisection tables (schema 2): requests, trials with posterior snapshots. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/store.h"
#include "jobs/store_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : NULL;
}

/* Binds this process as the owner at parameters i..i+3 (host, boot id, pid, start). */
static void bind_owner(struct store *s, sqlite3_stmt *st, int i)
{
    char state;
    long long start = 0;

    if (store_proc_stat(getpid(), &state, &start) < 0)
        start = 0;
    sqlite3_bind_text(st, i, s->host, -1, SQLITE_STATIC);
    bind_text(st, i + 1, s->boot_id[0] ? s->boot_id : NULL);
    sqlite3_bind_int64(st, i + 2, (long long)getpid());
    if (start > 0)
        sqlite3_bind_int64(st, i + 3, start);
    else
        sqlite3_bind_null(st, i + 3);
}

int store_bisect_begin(struct store *s, struct bisect_rec *b, struct err *e)
{
    sqlite3_stmt *st;
    char *created = clock_iso_now();

    st = store_db_prepare(s,
                          "INSERT INTO bisections (created, status, owner_host, owner_boot_id, "
                          "owner_pid, owner_start, repo, axis, find, good, bad, params_json) "
                          "VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          "recording a new bisection", e);
    if (!st) {
        free(created);
        return -1;
    }
    sqlite3_bind_text(st, 1, created, -1, SQLITE_TRANSIENT);
    bind_owner(s, st, 2);
    bind_text(st, 6, b->repo);
    bind_text(st, 7, b->axis);
    bind_text(st, 8, b->find);
    bind_text(st, 9, b->good);
    bind_text(st, 10, b->bad);
    bind_text(st, 11, b->params_json);
    if (store_db_step_done(s, st, "recording a new bisection", e) < 0) {
        free(created);
        return -1;
    }
    b->id = sqlite3_last_insert_rowid(s->db);
    free(b->created);
    b->created = created;
    return 0;
}

int store_bisect_trial_add(struct store *s, const struct bisect_trial_rec *t, struct err *e)
{
    sqlite3_stmt *st;
    char *created = clock_iso_now();
    int rc = -1;

    st = store_db_prepare(s,
                          "INSERT INTO bisect_trials (bisection_id, seq, phase, commit_sha, "
                          "outcome, run_id, detail, wall_ms, created, best_sha, best_prob, "
                          "candidates, p_est) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          "recording a bisection trial", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, t->bisection_id);
    sqlite3_bind_int(st, 2, t->seq);
    bind_text(st, 3, t->phase);
    bind_text(st, 4, t->commit_sha);
    bind_text(st, 5, t->outcome);
    if (t->run_id > 0)
        sqlite3_bind_int64(st, 6, t->run_id);
    else
        sqlite3_bind_null(st, 6);
    bind_text(st, 7, t->detail);
    sqlite3_bind_int64(st, 8, t->wall_ms);
    bind_text(st, 9, created);
    bind_text(st, 10, t->best_sha);
    sqlite3_bind_double(st, 11, t->best_prob);
    sqlite3_bind_int64(st, 12, t->candidates);
    sqlite3_bind_double(st, 13, t->p_est);
    if (store_db_step_done(s, st, "recording a bisection trial", e) < 0)
        goto out;
    rc = 0;
out:
    free(created);
    return rc;
}

int store_bisect_set_status(struct store *s, long long id, const char *status,
                            const char *result_json, struct err *e)
{
    sqlite3_stmt *st;
    char *now = clock_iso_now();
    int rc;

    st = store_db_prepare(s,
                          "UPDATE bisections SET status = ?, result_json = COALESCE(?, "
                          "result_json), finished = CASE WHEN ? = 'running' THEN NULL ELSE ? END "
                          "WHERE id = ?",
                          "updating a bisection", e);
    if (!st) {
        free(now);
        return -1;
    }
    bind_text(st, 1, status);
    bind_text(st, 2, result_json);
    bind_text(st, 3, status);
    bind_text(st, 4, now);
    sqlite3_bind_int64(st, 5, id);
    rc = store_db_step_done(s, st, "updating a bisection", e);
    free(now);
    return rc;
}

#define BISECT_COLS "id, created, finished, status, repo, axis, find, good, bad, params_json, " \
                    "result_json"

static void read_bisect(sqlite3_stmt *st, struct bisect_rec *b)
{
    memset(b, 0, sizeof(*b));
    b->id = sqlite3_column_int64(st, 0);
    b->created = col_text(st, 1);
    b->finished = col_text(st, 2);
    b->status = col_text(st, 3);
    b->repo = col_text(st, 4);
    b->axis = col_text(st, 5);
    b->find = col_text(st, 6);
    b->good = col_text(st, 7);
    b->bad = col_text(st, 8);
    b->params_json = col_text(st, 9);
    b->result_json = col_text(st, 10);
}

static int read_trials(struct store *s, long long id, struct bisect_trial_rec **trials_r,
                       size_t *n_r, struct err *e)
{
    sqlite3_stmt *st;
    struct bisect_trial_rec *v = NULL;
    size_t n = 0;
    int r;

    st = store_db_prepare(s,
                          "SELECT seq, phase, commit_sha, outcome, run_id, detail, wall_ms, "
                          "created, best_sha, best_prob, candidates, p_est FROM bisect_trials "
                          "WHERE bisection_id = ? ORDER BY seq",
                          "reading bisection trials", e);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct bisect_trial_rec *t;
        v = xrealloc(v, (n + 1) * sizeof(*v));
        t = &v[n++];
        memset(t, 0, sizeof(*t));
        t->bisection_id = id;
        t->seq = sqlite3_column_int(st, 0);
        t->phase = col_text(st, 1);
        t->commit_sha = col_text(st, 2);
        t->outcome = col_text(st, 3);
        t->run_id = sqlite3_column_int64(st, 4);
        t->detail = col_text(st, 5);
        t->wall_ms = sqlite3_column_int64(st, 6);
        t->created = col_text(st, 7);
        t->best_sha = col_text(st, 8);
        t->best_prob = sqlite3_column_double(st, 9);
        t->candidates = sqlite3_column_int64(st, 10);
        t->p_est = sqlite3_column_double(st, 11);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "reading bisection trials");
        for (size_t i = 0; i < n; i++)
            bisect_trial_rec_free(&v[i]);
        free(v);
        return -1;
    }
    *trials_r = v;
    *n_r = n;
    return 0;
}

int store_bisect_get(struct store *s, long long id, struct bisect_rec *b_out,
                     struct bisect_trial_rec **trials_r, size_t *n_r, struct err *e)
{
    sqlite3_stmt *st;
    int r;

    memset(b_out, 0, sizeof(*b_out));
    if (trials_r) {
        *trials_r = NULL;
        *n_r = 0;
    }
    st = store_db_prepare(s, "SELECT " BISECT_COLS " FROM bisections WHERE id = ?",
                          "reading a bisection", e);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        read_bisect(st, b_out);
    sqlite3_finalize(st);
    if (r == SQLITE_DONE) {
        err_set(e, ERR_NOTFOUND, "no bisection %lld in %s (pvlab bisect status lists them)", id,
                s->path);
        return -1;
    }
    if (r != SQLITE_ROW) {
        store_db_fail(s, e, r, "reading a bisection");
        return -1;
    }
    if (trials_r && read_trials(s, id, trials_r, n_r, e) < 0) {
        bisect_rec_free(b_out);
        return -1;
    }
    return 0;
}

int store_bisect_list(struct store *s, int limit, struct bisect_rec **recs_r, size_t *n_r,
                      struct err *e)
{
    sqlite3_stmt *st;
    struct bisect_rec *v = NULL;
    size_t n = 0;
    int r;

    *recs_r = NULL;
    *n_r = 0;
    st = store_db_prepare(s, "SELECT " BISECT_COLS " FROM bisections ORDER BY id DESC LIMIT ?",
                          "listing bisections", e);
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, limit > 0 ? limit : -1);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        v = xrealloc(v, (n + 1) * sizeof(*v));
        read_bisect(st, &v[n++]);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "listing bisections");
        for (size_t i = 0; i < n; i++)
            bisect_rec_free(&v[i]);
        free(v);
        return -1;
    }
    *recs_r = v;
    *n_r = n;
    return 0;
}

/* Reads the owner columns of a bisection; returns 1 if its owner is alive, 0 if gone. */
static int owner_alive(struct store *s, sqlite3_stmt *st)
{
    return !store_owner_gone(s, (const char *)sqlite3_column_text(st, 0),
                             (const char *)sqlite3_column_text(st, 1),
                             (long)sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3));
}

int store_bisect_owner_alive(struct store *s, long long id, struct err *e)
{
    sqlite3_stmt *st;
    int r, alive = 0;

    st = store_db_prepare(s,
                          "SELECT owner_host, owner_boot_id, owner_pid, owner_start, status FROM "
                          "bisections WHERE id = ?",
                          "reading a bisection's owner", e);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 4);
        alive = status && !strcmp(status, "running") && owner_alive(s, st) &&
                sqlite3_column_int64(st, 2) != (long long)getpid();
    }
    sqlite3_finalize(st);
    if (r == SQLITE_DONE) {
        err_set(e, ERR_NOTFOUND, "no bisection %lld in %s", id, s->path);
        return -1;
    }
    return alive;
}

int store_bisect_owner_pid(struct store *s, long long id, long long *pid_r, struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s, "SELECT owner_pid FROM bisections WHERE id = ?",
                                        "reading a bisection's owner", e);
    int r;

    *pid_r = 0;
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *pid_r = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : (store_db_fail(s, e, r, "reading"), -1);
}

int store_bisect_claim(struct store *s, long long id, struct err *e)
{
    sqlite3_stmt *st;

    st = store_db_prepare(s,
                          "UPDATE bisections SET status = 'running', finished = NULL, owner_host "
                          "= ?, owner_boot_id = ?, owner_pid = ?, owner_start = ? WHERE id = ?",
                          "claiming a bisection", e);
    if (!st)
        return -1;
    bind_owner(s, st, 1);
    sqlite3_bind_int64(st, 5, id);
    return store_db_step_done(s, st, "claiming a bisection", e);
}

int store_bisect_mark_stale(struct store *s, struct err *e)
{
    sqlite3_stmt *st;
    long long *ids = NULL;
    size_t n = 0;
    int rc = -1;

    if (store_tx_begin(s, "marking interrupted bisections", e) < 0)
        return -1;
    if (store_stale_ids(s, "bisections", &ids, &n, e) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        st = store_db_prepare(s, "UPDATE bisections SET status = 'interrupted' WHERE id = ?",
                              "marking an interrupted bisection", e);
        if (!st)
            goto out;
        sqlite3_bind_int64(st, 1, ids[i]);
        if (store_db_step_done(s, st, "marking an interrupted bisection", e) < 0)
            goto out;
    }
    if (store_tx_commit(s, "committing interrupted bisections", e) < 0)
        goto out;
    rc = (int)n;
out:
    if (rc < 0)
        store_tx_rollback(s);
    free(ids);
    return rc;
}

void bisect_rec_free(struct bisect_rec *b)
{
    free(b->created);
    free(b->finished);
    free(b->status);
    free(b->repo);
    free(b->axis);
    free(b->find);
    free(b->good);
    free(b->bad);
    free(b->params_json);
    free(b->result_json);
    memset(b, 0, sizeof(*b));
}

void bisect_trial_rec_free(struct bisect_trial_rec *t)
{
    free(t->phase);
    free(t->commit_sha);
    free(t->outcome);
    free(t->detail);
    free(t->created);
    free(t->best_sha);
    memset(t, 0, sizeof(*t));
}
