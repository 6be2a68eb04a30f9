/* The store's memory of what the reporter has spooled (schema 6). */
#include "jobs/store.h"
#include "jobs/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/xalloc.h"

int store_reported_mark(struct store *s, const char *kind, long long id, struct err *e)
{
    char *now = clock_iso_now();
    sqlite3_stmt *st = store_db_prepare(s,
                                        "INSERT OR REPLACE INTO reported (kind, local_id, "
                                        "spooled) VALUES (?, ?, ?)",
                                        "recording a reported result", e);
    int rc = -1;

    if (st) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, id);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
        rc = store_db_step_done(s, st, "recording a reported result", e);
    }
    free(now);
    return rc;
}

int store_unreported(struct store *s, const char *kind, long long **ids_r, size_t *n_r,
                     struct err *e)
{
    /* runs inside a matrix or a bisection travel with it, not on their own */
    const char *sql =
        !strcmp(kind, "run")
            ? "SELECT id FROM runs r WHERE status != 'running' AND NOT EXISTS (SELECT 1 FROM "
              "reported WHERE kind = 'run' AND local_id = r.id) AND NOT EXISTS (SELECT 1 FROM "
              "matrix_cells c WHERE c.run_id = r.id) AND NOT EXISTS (SELECT 1 FROM "
              "bisect_trials t WHERE t.run_id = r.id) ORDER BY id"
        : !strcmp(kind, "matrix")
            ? "SELECT id FROM matrices m WHERE status != 'running' AND NOT EXISTS (SELECT 1 "
              "FROM reported WHERE kind = 'matrix' AND local_id = m.id) ORDER BY id"
            : "SELECT id FROM bisections b WHERE status != 'running' AND NOT EXISTS (SELECT 1 "
              "FROM reported WHERE kind = 'bisect' AND local_id = b.id) ORDER BY id";
    sqlite3_stmt *st = store_db_prepare(s, sql, "listing unreported results", e);
    long long *ids = NULL;
    size_t n = 0;
    int r;

    *ids_r = NULL;
    *n_r = 0;
    if (!st)
        return -1;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        ids = xrealloc(ids, (n + 1) * sizeof(*ids));
        ids[n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "listing unreported results");
        free(ids);
        return -1;
    }
    *ids_r = ids;
    *n_r = n;
    return 0;
}
