/* Internals shared by the dashboard database's files (dash_db.c, dash_db_req.c). */
#ifndef PVLAB_REPORTER_DASH_DB_INT_H
#define PVLAB_REPORTER_DASH_DB_INT_H

#include <sqlite3.h>

#include "reporter/dash_db.h"

struct dash_db {
    sqlite3 *db;
    char *path;
};

/* A SQLite failure as an error naming the database and what was being done. */
void dash_db_fail(const struct dash_db *db, struct err *e, int rc, const char *what);
sqlite3_stmt *dash_db_prepare(struct dash_db *db, const char *sql, const char *what, struct err *e);
int dash_db_exec(struct dash_db *db, const char *sql, const char *what, struct err *e);
/* Steps a statement that returns no rows to its end and finalizes it. */
int dash_db_done(struct dash_db *db, sqlite3_stmt *st, const char *what, struct err *e);
/* Rolls back the open transaction, if any. */
void dash_db_rollback(struct dash_db *db);
/* Column i as a malloc'd string, or NULL for SQL NULL. */
char *dash_col(sqlite3_stmt *st, int i);

#endif
