/*
 * Which process owns a running row (a run or a bisection): host, boot id, pid and the pid's
 * start time, so a later pvlab can tell a live owner from a dead one or from an unrelated
 * process that got the same pid.
 */
#include "jobs/store.h"
#include "jobs/store_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/xalloc.h"

void store_bind_owner(struct store *s, sqlite3_stmt *st, int i)
{
    char state;
    long long start = 0;

    if (store_proc_stat(getpid(), &state, &start) < 0)
        start = 0;
    sqlite3_bind_text(st, i, s->host, -1, SQLITE_STATIC);
    if (s->boot_id[0])
        sqlite3_bind_text(st, i + 1, s->boot_id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i + 1);
    sqlite3_bind_int64(st, i + 2, (long long)getpid());
    if (start > 0)
        sqlite3_bind_int64(st, i + 3, start);
    else
        sqlite3_bind_null(st, i + 3);
}

int store_owner_here(const struct store *s, const char *host)
{
    return host && !strcmp(host, s->host);
}

/* Whether the process that began a run is gone (so the run can never finish). */
int store_owner_gone(const struct store *s, const char *host, const char *boot_id, long pid,
                     long long start)
{
    char state;
    long long now_start;

    if (!host || pid <= 0)
        return 1; /* no owner recorded: nothing can be running it */
    if (strcmp(host, s->host) != 0)
        return 0; /* another machine's pid means nothing here */
    if (boot_id && s->boot_id[0] && strcmp(boot_id, s->boot_id) != 0)
        return 1; /* rebooted since */
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return 1;
    if (store_proc_stat(pid, &state, &now_start) == 0) {
        if (state == 'Z' || state == 'X')
            return 1; /* dead, not yet reaped */
        if (start > 0 && now_start != start)
            return 1; /* the pid was reused by another process */
    }
    return 0;
}

int store_stale_ids(struct store *s, const char *table, long long **ids_r, size_t *n_r,
                    struct err *e)
{
    sqlite3_stmt *st;
    long long *ids = NULL;
    size_t n = 0;
    char sql[160];
    int r;

    snprintf(sql, sizeof(sql),
             "SELECT id, owner_host, owner_boot_id, owner_pid, owner_start FROM %s "
             "WHERE status = 'running'",
             table);
    st = store_db_prepare(s, sql, "looking for stale runs", e);
    if (!st)
        return -1;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (!store_owner_gone(s, (const char *)sqlite3_column_text(st, 1),
                              (const char *)sqlite3_column_text(st, 2),
                              (long)sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4)))
            continue;
        ids = xrealloc(ids, (n + 1) * sizeof(*ids));
        ids[n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "looking for stale runs");
        free(ids);
        return -1;
    }
    *ids_r = ids;
    *n_r = n;
    return 0;
}

int store_row_claim(struct store *s, const char *table, const char *what, long long id,
                    const char *release_sql, struct err *e)
{
    sqlite3_stmt *st = NULL;
    char *status = NULL, *host = NULL, sql[256];
    long long pid = 0;
    int rc = -1, r, alive;

    /* the check and the claim in one write transaction: of two claims at once, one waits for
     * the other's commit and then sees a live owner */
    if (store_tx_begin(s, "claiming", e) < 0)
        return -1;
    snprintf(sql, sizeof(sql),
             "SELECT owner_host, owner_boot_id, owner_pid, owner_start, "
             "status FROM %s WHERE id = ?",
             table);
    if (!(st = store_db_prepare(s, sql, "claiming", e)))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        if (r == SQLITE_DONE)
            err_set(e, ERR_NOTFOUND, "no %s %lld in %s", what, id, s->path);
        else
            store_db_fail(s, e, r, "claiming");
        goto out;
    }
    host = store_col_text(st, 0);
    pid = sqlite3_column_int64(st, 2);
    status = store_col_text(st, 4);
    /* running elsewhere: its pid cannot be checked here, so it counts as alive */
    alive = status && !strcmp(status, "running") &&
            (!store_owner_here(s, host) ||
             (pid != (long long)getpid() &&
              !store_owner_gone(s, host, (const char *)sqlite3_column_text(st, 1), (long)pid,
                                sqlite3_column_int64(st, 3))));
    sqlite3_finalize(st);
    st = NULL;
    if (alive && store_owner_here(s, host)) {
        err_set(e, ERR_BUSY,
                "%s %lld is running in pvlab process %lld; wait for it (or stop "
                "that process)",
                what, id, pid);
        goto out;
    }
    if (alive) {
        err_set(e, ERR_BUSY, "%s %lld is running on host %s (pid %lld); resume or stop it there",
                what, id, host ? host : "?", pid);
        goto out;
    }
    if (status && !strcmp(status, "done")) {
        err_set(e, ERR_USAGE, "%s %lld is already done", what, id);
        goto out;
    }
    if (release_sql) {
        if (!(st = store_db_prepare(s, release_sql, "releasing a dead owner's work", e)))
            goto out;
        sqlite3_bind_int64(st, 1, id);
        r = store_db_step_done(s, st, "releasing a dead owner's work", e);
        st = NULL;
        if (r < 0)
            goto out;
    }
    snprintf(sql, sizeof(sql),
             "UPDATE %s SET status = 'running', finished = NULL, owner_host = "
             "?, owner_boot_id = ?, owner_pid = ?, owner_start = ? WHERE id = ?",
             table);
    if (!(st = store_db_prepare(s, sql, "claiming", e)))
        goto out;
    store_bind_owner(s, st, 1);
    sqlite3_bind_int64(st, 5, id);
    r = store_db_step_done(s, st, "claiming", e);
    st = NULL;
    if (r < 0 || store_tx_commit(s, "claiming", e) < 0)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(st);
    store_tx_rollback(s);
    free(status);
    free(host);
    return rc;
}
