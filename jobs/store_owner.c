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
             "WHERE status = 'running'", table);
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

