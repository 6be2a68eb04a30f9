/*
 * SQLite plumbing shared by pvlab's store (jobs/store_db.c) and the dashboard's database
 * (reporter/dash_db.c): statements that fail say which database, what was being done, and
 * what to do about it (locked, disk full, read-only, damaged...).
 */
#ifndef PVLAB_UTIL_SQLITE_H
#define PVLAB_UTIL_SQLITE_H

#include <sqlite3.h>

#include "util/err.h"

/* How long a connection waits for another process's lock before failing. */
#define SQL_BUSY_TIMEOUT_MS 5000

/* Sets e from a SQLite result code rc of an operation on db (may be NULL) at path. */
void sql_fail(sqlite3 *db, const char *path, int rc, const char *what, struct err *e);
/* A prepared statement, or NULL with e set. */
sqlite3_stmt *sql_prepare(sqlite3 *db, const char *path, const char *sql, const char *what,
                          struct err *e);
/* Runs SQL without results. 0 or -1 with e set. */
int sql_exec(sqlite3 *db, const char *path, const char *sql, const char *what, struct err *e);
/* Steps st to its end (rows ignored) and finalizes it. 0 or -1 with e set. */
int sql_step_done(sqlite3 *db, const char *path, sqlite3_stmt *st, const char *what, struct err *e);
/* Rolls back the open transaction, if any. */
void sql_rollback(sqlite3 *db);
/* Binds v, or NULL when v is NULL. */
void sql_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Column i as a malloc'd string, NULL for SQL NULL. */
char *sql_col_text(sqlite3_stmt *st, int i);

#endif
