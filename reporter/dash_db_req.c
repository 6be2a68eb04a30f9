/*
 * On-demand bisection requests in the dashboard database:
 *
 *   queued --claim--> running (lease_until = now + lease) --done--> done | refused
 *                       |  ^ progress: lease extended
 *                       +--+ lease expired: claimable again (a worker that died loses it)
 */
#include "reporter/dash_db.h"
#include "reporter/dash_db_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/xalloc.h"

#define REQ_COLS                                                                                   \
    "id, created, state, alias, good, bad, axis, find, spec_json, by_token, worker, claimed,"      \
    " lease_until, progress_json, progress_at, outcome, bisect, reason, finished"

static void read_req(sqlite3_stmt *st, struct dash_request *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    r->created = dash_col(st, 1);
    r->state = dash_col(st, 2);
    r->alias = dash_col(st, 3);
    r->good = dash_col(st, 4);
    r->bad = dash_col(st, 5);
    r->axis = dash_col(st, 6);
    r->find = dash_col(st, 7);
    r->spec_json = dash_col(st, 8);
    r->by = dash_col(st, 9);
    r->worker = dash_col(st, 10);
    r->claimed = dash_col(st, 11);
    r->lease_until = sqlite3_column_int64(st, 12);
    r->progress_json = dash_col(st, 13);
    r->progress_at = dash_col(st, 14);
    r->outcome = dash_col(st, 15);
    r->bisect = dash_col(st, 16);
    r->reason = dash_col(st, 17);
    r->finished = dash_col(st, 18);
}

void dash_request_free(struct dash_request *r)
{
    char **s[] = { &r->created, &r->state,         &r->alias,       &r->good,    &r->bad,
                   &r->axis,    &r->find,          &r->spec_json,   &r->by,      &r->worker,
                   &r->claimed, &r->progress_json, &r->progress_at, &r->outcome, &r->bisect,
                   &r->reason,  &r->finished };
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        free(*s[i]);
    memset(r, 0, sizeof(*r));
}

void dash_requests_free(struct dash_request *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dash_request_free(&v[i]);
    free(v);
}

int dash_db_request_add(struct dash_db *db, const struct dash_request_info *r, long long *id_r,
                        struct err *e)
{
    char *now = clock_iso_now();
    sqlite3_stmt *st = dash_db_prepare(db,
                                       "INSERT INTO requests (created, alias, good, bad, "
                                       "axis, find, spec_json, by_token) VALUES "
                                       "(?, ?, ?, ?, ?, ?, ?, ?)",
                                       "queueing a request", e);
    int rc = -1;

    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->alias, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, r->good, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, r->bad, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, r->axis, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, r->find, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, r->spec_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, r->by, -1, SQLITE_TRANSIENT);
    if (dash_db_done(db, st, "queueing a request", e) < 0)
        goto out;
    *id_r = sqlite3_last_insert_rowid(db->db);
    rc = 0;
out:
    free(now);
    return rc;
}

/* The request of id (in the caller's transaction or not); ERR_NOTFOUND. */
int dash_db_request_get(struct dash_db *db, long long id, struct dash_request *r_r, struct err *e)
{
    sqlite3_stmt *st = dash_db_prepare(db, "SELECT " REQ_COLS " FROM requests WHERE id = ?",
                                       "reading a request", e);
    int r;

    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        read_req(st, r_r);
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        dash_db_fail(db, e, r, "reading a request");
        return -1;
    }
    err_set(e, ERR_NOTFOUND, "no request %lld on this dashboard", id);
    return -1;
}

int dash_db_request_claim(struct dash_db *db, const char *worker, long long now, int lease_s,
                          struct dash_request *r_r, struct err *e)
{
    char *iso = clock_iso_now();
    sqlite3_stmt *st = NULL;
    long long id = 0;
    int rc = -1, r;

    if (dash_db_exec(db, "BEGIN IMMEDIATE", "claiming a request", e) < 0)
        goto out;
    st = dash_db_prepare(db,
                         "SELECT id FROM requests WHERE state = 'queued' OR "
                         "(state = 'running' AND lease_until < ?) ORDER BY id LIMIT 1",
                         "claiming a request", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, now);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        dash_db_fail(db, e, r, "claiming a request");
        goto out;
    }
    if (id == 0) {
        rc = 0;
        goto out;
    }
    st = dash_db_prepare(db,
                         "UPDATE requests SET state = 'running', worker = ?, claimed = ?, "
                         "lease_until = ? WHERE id = ?",
                         "claiming a request", e);
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, worker, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, iso, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, now + lease_s);
    sqlite3_bind_int64(st, 4, id);
    if (dash_db_done(db, st, "claiming a request", e) < 0 ||
        dash_db_request_get(db, id, r_r, e) < 0)
        goto out;
    rc = 1;
out:
    if (rc < 0)
        dash_db_rollback(db);
    else if (dash_db_exec(db, "COMMIT", "claiming a request", e) < 0) {
        if (rc == 1)
            dash_request_free(r_r);
        dash_db_rollback(db);
        rc = -1;
    }
    free(iso);
    return rc;
}

/* Runs an UPDATE of one running request (parameter 1: id); ERR_NOTFOUND / ERR_BUSY when it
 * changed nothing. */
static int update_running(struct dash_db *db, sqlite3_stmt *st, long long id, const char *what,
                          struct err *e)
{
    struct dash_request r;

    if (dash_db_done(db, st, what, e) < 0)
        return -1;
    if (sqlite3_changes(db->db) > 0)
        return 0;
    if (dash_db_request_get(db, id, &r, e) < 0)
        return -1;
    err_set(e, ERR_BUSY, "request %lld is %s, not running: only a claimed request takes %s", id,
            r.state, what);
    dash_request_free(&r);
    return -1;
}

int dash_db_request_progress(struct dash_db *db, long long id, const char *progress_json,
                             long long now, int lease_s, struct err *e)
{
    char *iso = clock_iso_now();
    sqlite3_stmt *st = dash_db_prepare(db,
                                       "UPDATE requests SET progress_json = ?2, "
                                       "progress_at = ?3, lease_until = ?4 WHERE id = ?1 "
                                       "AND state = 'running'",
                                       "recording progress", e);
    int rc = -1;

    if (st) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, progress_json, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, iso, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, now + lease_s);
        rc = update_running(db, st, id, "progress", e);
    }
    free(iso);
    return rc;
}

int dash_db_request_done(struct dash_db *db, long long id, const char *outcome, const char *bisect,
                         const char *reason, struct err *e)
{
    char *iso = clock_iso_now();
    sqlite3_stmt *st = dash_db_prepare(db,
                                       "UPDATE requests SET state = ?2, outcome = ?3, "
                                       "bisect = ?4, reason = ?5, finished = ?6, "
                                       "lease_until = NULL WHERE id = ?1 AND "
                                       "state = 'running'",
                                       "ending a request", e);
    int rc = -1;

    if (st) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, !strcmp(outcome, "refused") ? "refused" : "done", -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 3, outcome, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, bisect, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, iso, -1, SQLITE_TRANSIENT);
        rc = update_running(db, st, id, "an end", e);
    }
    free(iso);
    return rc;
}

int dash_db_request_list(struct dash_db *db, int limit, struct dash_request **v_r, size_t *n_r,
                         struct err *e)
{
    sqlite3_stmt *st = dash_db_prepare(db,
                                       "SELECT " REQ_COLS " FROM requests ORDER BY id DESC "
                                       "LIMIT ?",
                                       "listing requests", e);
    struct dash_request *v = NULL;
    size_t n = 0, alloc = 0;
    int r;

    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, limit > 0 ? limit : 50);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            v = xrealloc(v, alloc * sizeof(*v));
        }
        read_req(st, &v[n++]);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        dash_db_fail(db, e, r, "listing requests");
        dash_requests_free(v, n);
        return -1;
    }
    *v_r = v;
    *n_r = n;
    return 0;
}

int dash_db_request_count(struct dash_db *db, long long *n_r, struct err *e)
{
    sqlite3_stmt *st = dash_db_prepare(db, "SELECT count(*) FROM requests", "counting requests", e);
    int r;

    if (!st)
        return -1;
    r = sqlite3_step(st);
    *n_r = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (r != SQLITE_ROW) {
        dash_db_fail(db, e, r, "counting requests");
        return -1;
    }
    return 0;
}
