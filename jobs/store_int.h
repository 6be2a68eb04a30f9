/*
 * Internals of the store shared by its source files (store_db.c: connection, schema, SQL
 * helpers; store_owner.c: row owners; store_run.c: runs and trials; store_bisect.c:
 * bisections). Not for other modules: they use jobs/store.h.
 */
#ifndef PVLAB_JOBS_STORE_INT_H
#define PVLAB_JOBS_STORE_INT_H

#include <sqlite3.h>

#include "jobs/store.h"

struct store {
    sqlite3 *db;
    char *path;
    char host[256];
    char boot_id[64];
};

/* Turns a SQLite failure into an error that names the database and says what to do. */
void store_db_fail(const struct store *s, struct err *e, int rc, const char *what);
sqlite3_stmt *store_db_prepare(struct store *s, const char *sql, const char *what, struct err *e);
int store_db_exec(struct store *s, const char *sql, const char *what, struct err *e);
/* Runs a statement that returns no rows (or ignores them); finalizes it. */
int store_db_step_done(struct store *s, sqlite3_stmt *st, const char *what, struct err *e);
/* BEGIN IMMEDIATE: a busy database fails here, not half-way through a transaction. */
int store_tx_begin(struct store *s, const char *what, struct err *e);
int store_tx_commit(struct store *s, const char *what, struct err *e);
void store_tx_rollback(struct store *s);
int store_db_int(struct store *s, const char *sql, const char *what, long long *v_r, struct err *e);
/* Binds v (NULL: SQL NULL) at parameter i, copied. */
void store_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Column i as a malloc'd string (SQL NULL: NULL). */
char *store_col_text(sqlite3_stmt *st, int i);
/* State and start time of pid from /proc/<pid>/stat; 0 or -1. */
int store_proc_stat(long pid, char *state_r, long long *start_r);

/* Inserts a trial and refreshes its run's counts, inside the caller's transaction. */
int store_trial_insert(struct store *s, const struct trial_info *t, struct err *e);
/* Binds this process as a row's owner at parameters i..i+3 (host, boot id, pid, start). */
void store_bind_owner(struct store *s, sqlite3_stmt *st, int i);
/* Whether host is this machine (a pid recorded elsewhere means nothing here). */
int store_owner_here(const struct store *s, const char *host);
/* Whether the process recorded as a row's owner is gone (so the row can never finish). */
int store_owner_gone(const struct store *s, const char *host, const char *boot_id, long pid,
                     long long start);
/*
 * Claims row id of table (bisections, matrices) for this process in one write transaction:
 * refuses a live owner (ERR_BUSY; another host's counts as live) and a done row (ERR_USAGE),
 * runs release_sql (one id parameter; may be NULL) to give back what a dead owner held, and
 * records this process as the owner, status running. what names the row in messages.
 */
int store_row_claim(struct store *s, const char *table, const char *what, long long id,
                    const char *release_sql, struct err *e);
/* Ids of the table's "running" rows whose owner is gone, in a malloc'd array. */
int store_stale_ids(struct store *s, const char *table, long long **ids_r, size_t *n_r,
                    struct err *e);

#endif
