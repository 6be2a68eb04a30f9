/*
 * The store's bisection tables (schema 2, 4): requests, trials with posterior snapshots, owners
 * and the process groups of running trials.
 */
#include "jobs/store.h"
#include "jobs/store_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util/clock.h"
#include "util/xalloc.h"

/* "pass" ... for the outcome column; the column's CHECK keeps it to these four. */
static enum verdict_kind outcome_of(const char *v)
{
    if (v && !strcmp(v, "pass"))
        return VERDICT_PASS;
    if (v && !strcmp(v, "fail"))
        return VERDICT_FAIL;
    if (v && !strcmp(v, "skip"))
        return VERDICT_SKIP;
    return VERDICT_INFRA;
}

int store_bisect_begin(struct store *s, const struct bisect_info *in, long long *id_r,
                       struct err *e)
{
    sqlite3_stmt *st;
    char *created = clock_iso_now();
    int rc = -1;

    *id_r = 0;
    st = store_db_prepare(s,
                          "INSERT INTO bisections (created, status, owner_host, owner_boot_id, "
                          "owner_pid, owner_start, repo, axis, find, good, bad, params_json) "
                          "VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          "recording a new bisection", e);
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, created, -1, SQLITE_STATIC);
    store_bind_owner(s, st, 2);
    store_bind_text(st, 6, in->repo);
    store_bind_text(st, 7, in->axis);
    store_bind_text(st, 8, in->find);
    store_bind_text(st, 9, in->good);
    store_bind_text(st, 10, in->bad);
    store_bind_text(st, 11, in->params_json);
    if (store_db_step_done(s, st, "recording a new bisection", e) < 0)
        goto out;
    *id_r = sqlite3_last_insert_rowid(s->db);
    rc = 0;
out:
    free(created);
    return rc;
}

int store_bisect_trial_add(struct store *s, const struct bisect_trial_info *t, struct err *e)
{
    sqlite3_stmt *st;
    char *created = clock_iso_now();
    int rc = -1;

    st = store_db_prepare(s,
                          "INSERT INTO bisect_trials (bisection_id, seq, phase, commit_sha, "
                          "outcome, run_id, detail, wall_ms, created, best_sha, best_prob, "
                          "candidates, p_est, cset, log_path) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          "recording a bisection trial", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, t->bisection_id);
    sqlite3_bind_int(st, 2, t->seq);
    store_bind_text(st, 3, t->phase);
    store_bind_text(st, 4, t->commit_sha);
    sqlite3_bind_text(st, 5, verdict_name(t->outcome), -1, SQLITE_STATIC);
    if (t->run_id > 0)
        sqlite3_bind_int64(st, 6, t->run_id);
    else
        sqlite3_bind_null(st, 6);
    store_bind_text(st, 7, t->detail);
    sqlite3_bind_int64(st, 8, t->wall_ms);
    store_bind_text(st, 9, created);
    store_bind_text(st, 10, t->best_sha);
    sqlite3_bind_double(st, 11, t->best_prob);
    sqlite3_bind_int64(st, 12, t->candidates);
    sqlite3_bind_double(st, 13, t->p_est);
    sqlite3_bind_int64(st, 14, t->cset);
    store_bind_text(st, 15, t->log_path);
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
    store_bind_text(st, 1, status);
    store_bind_text(st, 2, result_json);
    store_bind_text(st, 3, status);
    store_bind_text(st, 4, now);
    sqlite3_bind_int64(st, 5, id);
    rc = store_db_step_done(s, st, "updating a bisection", e);
    free(now);
    return rc;
}

#define BISECT_COLS                                                                                \
    "id, created, finished, status, repo, axis, find, good, bad, params_json, "                    \
    "result_json, owner_host, owner_pid"

static void read_bisect(sqlite3_stmt *st, struct bisect_rec *b)
{
    memset(b, 0, sizeof(*b));
    b->id = sqlite3_column_int64(st, 0);
    b->created = store_col_text(st, 1);
    b->finished = store_col_text(st, 2);
    b->status = store_col_text(st, 3);
    b->repo = store_col_text(st, 4);
    b->axis = store_col_text(st, 5);
    b->find = store_col_text(st, 6);
    b->good = store_col_text(st, 7);
    b->bad = store_col_text(st, 8);
    b->params_json = store_col_text(st, 9);
    b->result_json = store_col_text(st, 10);
    b->owner_host = store_col_text(st, 11);
    b->owner_pid = sqlite3_column_int64(st, 12);
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
                          "created, best_sha, best_prob, candidates, p_est, coalesce(cset, -1), "
                          "log_path FROM bisect_trials WHERE bisection_id = ? ORDER BY seq",
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
        t->phase = store_col_text(st, 1);
        t->commit_sha = store_col_text(st, 2);
        t->outcome = outcome_of((const char *)sqlite3_column_text(st, 3));
        t->run_id = sqlite3_column_int64(st, 4);
        t->detail = store_col_text(st, 5);
        t->wall_ms = sqlite3_column_int64(st, 6);
        t->created = store_col_text(st, 7);
        t->best_sha = store_col_text(st, 8);
        t->best_prob = sqlite3_column_double(st, 9);
        t->candidates = sqlite3_column_int64(st, 10);
        t->p_est = sqlite3_column_double(st, 11);
        t->cset = sqlite3_column_int64(st, 12);
        t->log_path = store_col_text(st, 13);
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

/*
 * The owner of bisection id as store_bisect_owner_state answers, from a statement whose columns
 * 0..4 are owner_host, owner_boot_id, owner_pid, owner_start, status.
 */
static int owner_state(struct store *s, sqlite3_stmt *st)
{
    const char *host = (const char *)sqlite3_column_text(st, 0);
    const char *status = (const char *)sqlite3_column_text(st, 4);
    long long pid = sqlite3_column_int64(st, 2);

    if (!status || strcmp(status, "running"))
        return 0;
    if (host && !store_owner_here(s, host))
        return 2;
    if (pid == (long long)getpid())
        return 0; /* ourselves (a resume of our own bisection) */
    return store_owner_gone(s, host, (const char *)sqlite3_column_text(st, 1), (long)pid,
                            sqlite3_column_int64(st, 3))
               ? 0
               : 1;
}

static sqlite3_stmt *owner_query(struct store *s, long long id, struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s,
                                        "SELECT owner_host, owner_boot_id, owner_pid, "
                                        "owner_start, status FROM bisections WHERE id = ?",
                                        "reading a bisection's owner", e);
    if (st)
        sqlite3_bind_int64(st, 1, id);
    return st;
}

int store_bisect_owner_state(struct store *s, long long id, struct err *e)
{
    sqlite3_stmt *st = owner_query(s, id, e);
    int r, state = -1;

    if (!st)
        return -1;
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        state = owner_state(s, st);
    else if (r == SQLITE_DONE)
        err_set(e, ERR_NOTFOUND, "no bisection %lld in %s", id, s->path);
    else
        store_db_fail(s, e, r, "reading a bisection's owner");
    sqlite3_finalize(st);
    return state;
}

int store_bisect_claim(struct store *s, long long id, struct err *e)
{
    return store_row_claim(s, "bisections", "bisection", id, NULL, e);
}

int store_bisect_slot_set(struct store *s, long long id, int slot, long pgid, struct err *e)
{
    sqlite3_stmt *st;
    char state;
    long long start = 0;

    if (store_proc_stat(pgid, &state, &start) < 0)
        start = 0;
    st = store_db_prepare(s,
                          "INSERT OR REPLACE INTO bisect_slots (bisection_id, slot, host, "
                          "boot_id, pgid, pgid_start) VALUES (?, ?, ?, ?, ?, ?)",
                          "recording a running trial", e);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, slot);
    sqlite3_bind_text(st, 3, s->host, -1, SQLITE_STATIC);
    store_bind_text(st, 4, s->boot_id[0] ? s->boot_id : NULL);
    sqlite3_bind_int64(st, 5, pgid);
    if (start > 0)
        sqlite3_bind_int64(st, 6, start);
    else
        sqlite3_bind_null(st, 6);
    return store_db_step_done(s, st, "recording a running trial", e);
}

int store_bisect_slot_clear(struct store *s, long long id, int slot, struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s,
                                        "DELETE FROM bisect_slots WHERE bisection_id = ? AND "
                                        "slot = ?",
                                        "forgetting a finished trial", e);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, slot);
    return store_db_step_done(s, st, "forgetting a finished trial", e);
}

int store_bisect_slots_reap(struct store *s, long long id, struct err *e)
{
    sqlite3_stmt *st;
    int r, killed = 0;

    st = store_db_prepare(s,
                          "SELECT host, boot_id, pgid, pgid_start FROM bisect_slots WHERE "
                          "bisection_id = ?",
                          "reading running trials", e);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *host = (const char *)sqlite3_column_text(st, 0);
        const char *boot = (const char *)sqlite3_column_text(st, 1);
        long pgid = (long)sqlite3_column_int64(st, 2);
        long long start = sqlite3_column_int64(st, 3), now_start;
        char state;

        if (pgid <= 1 || !store_owner_here(s, host) || (boot && strcmp(boot, s->boot_id)))
            continue; /* another machine, or a boot ago: nothing of it runs here */
        /* the group's leader must still be the process we started (its start time), or the
         * leader is gone and members may linger: both cases are ours to kill */
        if (store_proc_stat(pgid, &state, &now_start) == 0 && start > 0 && now_start != start)
            continue;
        if (kill(-(pid_t)pgid, SIGKILL) == 0)
            killed++;
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "reading running trials");
        return -1;
    }
    st = store_db_prepare(s, "DELETE FROM bisect_slots WHERE bisection_id = ?",
                          "forgetting running trials", e);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    if (store_db_step_done(s, st, "forgetting running trials", e) < 0)
        return -1;
    return killed;
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
    free(b->owner_host);
    memset(b, 0, sizeof(*b));
}

void bisect_trial_rec_free(struct bisect_trial_rec *t)
{
    free(t->phase);
    free(t->commit_sha);
    free(t->log_path);
    free(t->detail);
    free(t->created);
    free(t->best_sha);
    memset(t, 0, sizeof(*t));
}

void bisect_trial_recs_free(struct bisect_trial_rec *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        bisect_trial_rec_free(&v[i]);
    free(v);
}
