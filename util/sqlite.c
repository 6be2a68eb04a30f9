#include "util/sqlite.h"

#include "util/xalloc.h"

void sql_fail(sqlite3 *db, const char *path, int rc, const char *what, struct err *e)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        err_set(e, ERR_DB,
                "database %s is locked by another pvlab (still busy after %d s while %s); wait "
                "for it to finish, or see who holds it with: fuser %s",
                path, SQL_BUSY_TIMEOUT_MS / 1000, what, path);
        break;
    case SQLITE_READONLY:
        err_set(e, ERR_IO,
                "database %s is read-only (%s while %s); fix its permissions or "
                "choose another database path",
                path, msg, what);
        break;
    case SQLITE_FULL:
        err_set(e, ERR_NOSPACE, "disk full while %s in database %s; free some space and retry",
                what, path);
        break;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        err_set(e, ERR_IO,
                "cannot open database %s (%s while %s); check that its directory is "
                "writable by this user or choose another database path",
                path, msg, what);
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        err_set(e, ERR_DB,
                "database %s is damaged or not a pvlab database (%s while %s); move "
                "it away and pvlab will start a new one",
                path, msg, what);
        break;
    case SQLITE_IOERR:
        err_set(e, ERR_IO, "I/O error on database %s while %s: %s; check the disk and retry", path,
                what, msg);
        break;
    default: err_set(e, ERR_DB, "database %s: %s failed: %s", path, what, msg); break;
    }
}

sqlite3_stmt *sql_prepare(sqlite3 *db, const char *path, const char *sql, const char *what,
                          struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK) {
        sql_fail(db, path, rc, what, e);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

int sql_exec(sqlite3 *db, const char *path, const char *sql, const char *what, struct err *e)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        sql_fail(db, path, rc, what, e);
        return -1;
    }
    return 0;
}

int sql_step_done(sqlite3 *db, const char *path, sqlite3_stmt *st, const char *what, struct err *e)
{
    int rc = sqlite3_step(st);

    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        sql_fail(db, path, rc, what, e);
        return -1;
    }
    return 0;
}

void sql_rollback(sqlite3 *db)
{
    if (db && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

void sql_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

char *sql_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : NULL;
}
