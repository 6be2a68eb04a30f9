/* The dashboard's database: schema, tokens, results and their cells (requests: dash_db_req.c). */
#include "reporter/dash_db.h"
#include "reporter/dash_db_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/fsutil.h"
#include "util/sqlite.h"
#include "util/xalloc.h"

#define DASH_APP_ID 0x50564C44 /* "PVLD" */
#define DASH_SCHEMA 1

static const char schema[] =
    "CREATE TABLE results ("
    " id TEXT PRIMARY KEY," /* <lab>/<kind>/<local id> */
    " kind TEXT NOT NULL CHECK (kind IN ('run', 'matrix', 'bisect')),"
    " lab TEXT NOT NULL, local_id INTEGER NOT NULL,"
    " name TEXT, status TEXT, created TEXT NOT NULL, verdict TEXT, summary TEXT,"
    " changes_json TEXT, regressions INTEGER NOT NULL DEFAULT 0, request_id INTEGER,"
    " received TEXT NOT NULL, updated TEXT NOT NULL, posted_by TEXT,"
    " doc TEXT NOT NULL);"
    "CREATE INDEX results_by_kind ON results (kind, created DESC, local_id DESC);"
    "CREATE INDEX results_by_name ON results (kind, lab, name, created DESC, local_id DESC);"
    "CREATE INDEX results_by_request ON results (request_id) WHERE request_id IS NOT NULL;"
    "CREATE TABLE cells ("
    " result_id TEXT NOT NULL REFERENCES results (id) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL,"
    " xen TEXT NOT NULL, linux TEXT NOT NULL, repro TEXT NOT NULL,"
    " verdict TEXT, change TEXT, run_id INTEGER,"
    " PRIMARY KEY (result_id, pos));"
    "CREATE TABLE tokens ("
    " name TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, created TEXT NOT NULL);"
    "CREATE TABLE requests ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " created TEXT NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'queued'"
    "  CHECK (state IN ('queued', 'running', 'done', 'refused')),"
    " alias TEXT NOT NULL, good TEXT NOT NULL, bad TEXT NOT NULL, axis TEXT NOT NULL,"
    " find TEXT NOT NULL, spec_json TEXT NOT NULL, by_token TEXT,"
    " worker TEXT, claimed TEXT, lease_until INTEGER,"
    " progress_json TEXT, progress_at TEXT,"
    " outcome TEXT, bisect TEXT, reason TEXT, finished TEXT);"
    "CREATE INDEX requests_by_state ON requests (state, id);";

const char *dash_kind_name(enum dash_kind k)
{
    return k == DASH_RUN ? "run" : k == DASH_MATRIX ? "matrix" : "bisect";
}

int dash_kind_parse(const char *s, enum dash_kind *k_r)
{
    if (!s)
        return -1;
    if (!strcmp(s, "run"))
        *k_r = DASH_RUN;
    else if (!strcmp(s, "matrix"))
        *k_r = DASH_MATRIX;
    else if (!strcmp(s, "bisect"))
        *k_r = DASH_BISECT;
    else
        return -1;
    return 0;
}

int dash_lab_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int dash_result_id_parse(const char *s, char *lab_r, enum dash_kind *kind_r, long long *id_r)
{
    const char *a = s ? strchr(s, '/') : NULL;
    const char *b = a ? strchr(a + 1, '/') : NULL;
    char kind[16], *end;
    long long id;

    if (!a || !b || a - s > 64 || b - a - 1 >= (long)sizeof(kind))
        return -1;
    memcpy(lab_r, s, (size_t)(a - s));
    lab_r[a - s] = '\0';
    memcpy(kind, a + 1, (size_t)(b - a - 1));
    kind[b - a - 1] = '\0';
    if (!dash_lab_valid(lab_r) || dash_kind_parse(kind, kind_r) < 0)
        return -1;
    if (b[1] < '1' || b[1] > '9')
        return -1;
    errno = 0;
    id = strtoll(b + 1, &end, 10);
    if (*end || errno || id <= 0)
        return -1;
    *id_r = id;
    return 0;
}

void dash_db_fail(const struct dash_db *db, struct err *e, int rc, const char *what)
{
    sql_fail(db->db, db->path, rc, what, e);
}

sqlite3_stmt *dash_db_prepare(struct dash_db *db, const char *sql, const char *what, struct err *e)
{
    return sql_prepare(db->db, db->path, sql, what, e);
}

int dash_db_exec(struct dash_db *db, const char *sql, const char *what, struct err *e)
{
    return sql_exec(db->db, db->path, sql, what, e);
}

int dash_db_done(struct dash_db *db, sqlite3_stmt *st, const char *what, struct err *e)
{
    return sql_step_done(db->db, db->path, st, what, e);
}

void dash_db_rollback(struct dash_db *db)
{
    sql_rollback(db->db);
}

char *dash_col(sqlite3_stmt *st, int i)
{
    return sql_col_text(st, i);
}

static int db_int(struct dash_db *db, const char *sql, long long *v_r, struct err *e)
{
    sqlite3_stmt *st = dash_db_prepare(db, sql, "reading the schema", e);
    int rc;

    if (!st)
        return -1;
    rc = sqlite3_step(st);
    *v_r = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        dash_db_fail(db, e, rc, "reading the schema");
        return -1;
    }
    return 0;
}

/* Creates the schema in a new database; refuses a database of another program or version. */
static int migrate(struct dash_db *db, struct err *e)
{
    long long version, app, ntables;
    char sql[96];
    int rc = -1;

    if (dash_db_exec(db, "BEGIN IMMEDIATE", "creating the schema", e) < 0)
        return -1;
    if (db_int(db, "PRAGMA user_version", &version, e) < 0 ||
        db_int(db, "PRAGMA application_id", &app, e) < 0 ||
        db_int(db, "SELECT count(*) FROM sqlite_master", &ntables, e) < 0)
        goto out;
    if ((app != 0 && app != DASH_APP_ID) || (version == 0 && ntables > 0)) {
        err_set(e, ERR_DB,
                "%s is not a pvlab dashboard database (the lab's store is "
                "pvlab.db; the dashboard keeps its own, dashboard.db); choose another --db",
                db->path);
        goto out;
    }
    if (version > DASH_SCHEMA) {
        err_set(e, ERR_DB,
                "%s was written by a newer pvlab (dashboard schema %lld, this one "
                "knows %d); it was not modified",
                db->path, version, DASH_SCHEMA);
        goto out;
    }
    if (version == 0) {
        if (dash_db_exec(db, schema, "creating the schema", e) < 0)
            goto out;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d;",
                 DASH_SCHEMA, DASH_APP_ID);
        if (dash_db_exec(db, sql, "creating the schema", e) < 0)
            goto out;
    }
    if (dash_db_exec(db, "COMMIT", "creating the schema", e) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        dash_db_rollback(db);
    return rc;
}

int dash_db_open(const char *path, struct dash_db **db_r, struct err *e)
{
    struct dash_db *db = xcalloc(1, sizeof(*db));
    char *dir = fs_dirname(path);
    int rc = -1, r;

    db->path = xstrdup(path);
    if (fs_mkdirs(dir, e) < 0)
        goto out;
    r = sqlite3_open_v2(path, &db->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (r != SQLITE_OK) {
        dash_db_fail(db, e, r, "opening");
        goto out;
    }
    sqlite3_busy_timeout(db->db, SQL_BUSY_TIMEOUT_MS);
    if (dash_db_exec(db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                     "PRAGMA foreign_keys = ON;",
                     "setting WAL mode", e) < 0)
        goto out;
    if (migrate(db, e) < 0)
        goto out;
    *db_r = db;
    db = NULL;
    rc = 0;
out:
    dash_db_close(db);
    free(dir);
    return rc;
}

void dash_db_close(struct dash_db *db)
{
    if (!db)
        return;
    sqlite3_close(db->db);
    free(db->path);
    free(db);
}

const char *dash_db_path(const struct dash_db *db)
{
    return db->path;
}

/* ---- tokens ---- */

void dash_token_hash(const char *token, char out[SHA256_HEX_LEN + 1])
{
    sha256_hex_buf(token, strlen(token), out);
}

int dash_token_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._-@", c)))
            return 0;
    }
    return 1;
}

int dash_token_add(struct dash_db *db, const char *name, char **token_r, struct err *e)
{
    unsigned char raw[32];
    char hex[2 * sizeof(raw) + 1], hash[SHA256_HEX_LEN + 1];
    char *token = NULL, *now = clock_iso_now();
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (!dash_token_name_valid(name)) {
        err_set(e, ERR_USAGE, "'%s' cannot name a token: use 1 to 64 of A-Z a-z 0-9 . _ - @", name);
        goto out;
    }
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        err_sys(e, errno, "cannot read random bytes for a token");
        goto out;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    token = xasprintf("pvl_%s", hex);
    dash_token_hash(token, hash);
    st = dash_db_prepare(db,
                         "INSERT INTO tokens (name, sha256, created) VALUES (?, ?, ?) "
                         "ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, "
                         "created = excluded.created",
                         "adding a token", e);
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
    if (dash_db_done(db, st, "adding a token", e) < 0)
        goto out;
    *token_r = token;
    token = NULL;
    rc = 0;
out:
    free(token);
    free(now);
    return rc;
}

int dash_token_revoke(struct dash_db *db, const char *name, struct err *e)
{
    sqlite3_stmt *st =
        dash_db_prepare(db, "DELETE FROM tokens WHERE name = ?", "revoking a token", e);

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    if (dash_db_done(db, st, "revoking a token", e) < 0)
        return -1;
    if (sqlite3_changes(db->db) == 0) {
        err_set(e, ERR_NOTFOUND, "no token is named '%s'", name);
        return -1;
    }
    return 0;
}

int dash_token_check(struct dash_db *db, const char *token, char **name_r, struct err *e)
{
    char hash[SHA256_HEX_LEN + 1];
    sqlite3_stmt *st;
    int r;

    if (!token || !*token || strlen(token) > 256)
        return 0;
    dash_token_hash(token, hash);
    st = dash_db_prepare(db, "SELECT name FROM tokens WHERE sha256 = ?", "checking a token", e);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        if (name_r)
            *name_r = dash_col(st, 0);
        sqlite3_finalize(st);
        return 1;
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        dash_db_fail(db, e, r, "checking a token");
        return -1;
    }
    return 0;
}

/* ---- results ---- */

static char *result_id(enum dash_kind k, const char *lab, long long local_id)
{
    return xasprintf("%s/%s/%lld", lab, dash_kind_name(k), local_id);
}

static int put_cells(struct dash_db *db, const char *id, const struct dash_result_info *r,
                     struct err *e)
{
    sqlite3_stmt *st =
        dash_db_prepare(db, "DELETE FROM cells WHERE result_id = ?", "replacing cells", e);

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (dash_db_done(db, st, "replacing cells", e) < 0)
        return -1;
    st = dash_db_prepare(db,
                         "INSERT INTO cells (result_id, pos, xen, linux, repro, verdict, "
                         "change, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         "storing cells", e);
    if (!st)
        return -1;
    for (size_t i = 0; i < r->ncells; i++) {
        const struct dash_cell_info *c = &r->cells[i];
        int rc;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, (long long)i);
        sqlite3_bind_text(st, 3, c->xen, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, c->linux_, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, c->repro, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, c->verdict, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, c->change, -1, SQLITE_TRANSIENT);
        if (c->run_id > 0)
            sqlite3_bind_int64(st, 8, c->run_id);
        else
            sqlite3_bind_null(st, 8);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            dash_db_fail(db, e, rc, "storing cells");
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return 0;
}

int dash_db_put(struct dash_db *db, const struct dash_result_info *r, int *created_r, struct err *e)
{
    char *id = result_id(r->kind, r->lab, r->local_id);
    char *now = clock_iso_now();
    sqlite3_stmt *st = NULL;
    int rc = -1, exists;

    if (dash_db_exec(db, "BEGIN IMMEDIATE", "storing a result", e) < 0)
        goto out;
    st = dash_db_prepare(db, "SELECT 1 FROM results WHERE id = ?", "storing a result", e);
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    exists = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    st = dash_db_prepare(
        db,
        "INSERT INTO results (id, kind, lab, local_id, name, status, created, verdict, summary,"
        " changes_json, regressions, request_id, received, updated, posted_by, doc)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, ?15)"
        " ON CONFLICT (id) DO UPDATE SET name = ?5, status = ?6, created = ?7, verdict = ?8,"
        " summary = ?9, changes_json = ?10, regressions = ?11, request_id = ?12, updated = ?13,"
        " posted_by = ?14, doc = ?15",
        "storing a result", e);
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, dash_kind_name(r->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->lab, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, r->local_id);
    sqlite3_bind_text(st, 5, r->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, r->status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, r->created && *r->created ? r->created : now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, r->verdict, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, r->summary, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, r->changes_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 11, r->regressions);
    if (r->request_id > 0)
        sqlite3_bind_int64(st, 12, r->request_id);
    else
        sqlite3_bind_null(st, 12);
    sqlite3_bind_text(st, 13, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 14, r->posted_by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 15, r->doc, -1, SQLITE_TRANSIENT);
    if (dash_db_done(db, st, "storing a result", e) < 0)
        goto out;
    if (r->kind == DASH_MATRIX && put_cells(db, id, r, e) < 0)
        goto out;
    if (dash_db_exec(db, "COMMIT", "storing a result", e) < 0)
        goto out;
    if (created_r)
        *created_r = !exists;
    rc = 0;
out:
    if (rc < 0)
        dash_db_rollback(db);
    free(id);
    free(now);
    return rc;
}

void dash_row_free(struct dash_row *r)
{
    free(r->lab);
    free(r->name);
    free(r->status);
    free(r->created);
    free(r->received);
    free(r->verdict);
    free(r->summary);
    free(r->changes_json);
    memset(r, 0, sizeof(*r));
}

void dash_rows_free(struct dash_row *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dash_row_free(&v[i]);
    free(v);
}

#define ROW_COLS                                                                                   \
    "kind, lab, local_id, name, status, created, received, verdict, summary, changes_json,"        \
    " regressions, request_id"

/* Reads the ROW_COLS columns starting at column 0. */
static void read_row(sqlite3_stmt *st, struct dash_row *r)
{
    memset(r, 0, sizeof(*r));
    dash_kind_parse((const char *)sqlite3_column_text(st, 0), &r->kind);
    r->lab = dash_col(st, 1);
    r->local_id = sqlite3_column_int64(st, 2);
    r->name = dash_col(st, 3);
    r->status = dash_col(st, 4);
    r->created = dash_col(st, 5);
    r->received = dash_col(st, 6);
    r->verdict = dash_col(st, 7);
    r->summary = dash_col(st, 8);
    r->changes_json = dash_col(st, 9);
    r->regressions = sqlite3_column_int(st, 10);
    r->request_id = sqlite3_column_int64(st, 11);
}

/* Steps st to its end, collecting rows (and the document in column 12 when doc_r). */
static int collect(struct dash_db *db, sqlite3_stmt *st, const char *what, struct dash_row **rows_r,
                   size_t *n_r, char **doc_r, struct err *e)
{
    struct dash_row *v = NULL;
    size_t n = 0, alloc = 0;
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            v = xrealloc(v, alloc * sizeof(*v));
        }
        read_row(st, &v[n]);
        if (doc_r && n == 0)
            *doc_r = dash_col(st, 12);
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        dash_db_fail(db, e, rc, what);
        dash_rows_free(v, n);
        return -1;
    }
    *rows_r = v;
    *n_r = n;
    return 0;
}

/* The WHERE clause of a query (parameters ?1 kind, ?2 lab, ?3 name, ?4 request). */
static const char query_where[] =
    " WHERE kind = ?1 AND (?2 IS NULL OR lab = ?2) AND (?3 IS NULL OR name = ?3)"
    " AND (?4 IS NULL OR request_id = ?4)";

static void bind_query(sqlite3_stmt *st, enum dash_kind kind, const struct dash_query *q)
{
    sqlite3_bind_text(st, 1, dash_kind_name(kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, q ? q->lab : NULL, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, q ? q->name : NULL, -1, SQLITE_TRANSIENT);
    if (q && q->request_id > 0)
        sqlite3_bind_int64(st, 4, q->request_id);
}

int dash_db_list(struct dash_db *db, enum dash_kind kind, const struct dash_query *q,
                 struct dash_row **rows_r, size_t *n_r, struct err *e)
{
    char *sql = xasprintf("SELECT " ROW_COLS " FROM results%s ORDER BY created DESC, "
                          "local_id DESC LIMIT ?5 OFFSET ?6",
                          query_where);
    sqlite3_stmt *st = dash_db_prepare(db, sql, "listing results", e);

    free(sql);
    if (!st)
        return -1;
    bind_query(st, kind, q);
    sqlite3_bind_int(st, 5, q && q->limit > 0 ? q->limit : 50);
    sqlite3_bind_int(st, 6, q && q->offset > 0 ? q->offset : 0);
    return collect(db, st, "listing results", rows_r, n_r, NULL, e);
}

int dash_db_count(struct dash_db *db, enum dash_kind kind, const struct dash_query *q,
                  long long *n_r, struct err *e)
{
    char *sql = xasprintf("SELECT count(*) FROM results%s", query_where);
    sqlite3_stmt *st = dash_db_prepare(db, sql, "counting results", e);
    int rc;

    free(sql);
    if (!st)
        return -1;
    bind_query(st, kind, q);
    rc = sqlite3_step(st);
    *n_r = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        dash_db_fail(db, e, rc, "counting results");
        return -1;
    }
    return 0;
}

/* The first row of st (a query of ROW_COLS, doc) into row_r / doc_r; ERR_NOTFOUND with what. */
static int get_one(struct dash_db *db, sqlite3_stmt *st, const char *what, struct dash_row *row_r,
                   char **doc_r, struct err *e)
{
    struct dash_row *v = NULL;
    char *doc = NULL;
    size_t n = 0;

    if (collect(db, st, "reading a result", &v, &n, &doc, e) < 0)
        return -1;
    if (n == 0) {
        err_set(e, ERR_NOTFOUND, "no %s on this dashboard", what);
        free(v);
        return -1;
    }
    if (row_r) {
        *row_r = v[0];
        memset(&v[0], 0, sizeof(v[0]));
    }
    if (doc_r)
        *doc_r = doc;
    else
        free(doc);
    dash_rows_free(v, n);
    return 0;
}

int dash_db_get(struct dash_db *db, enum dash_kind kind, const char *lab, long long local_id,
                struct dash_row *row_r, char **doc_r, struct err *e)
{
    char *id = result_id(kind, lab, local_id);
    sqlite3_stmt *st = dash_db_prepare(db, "SELECT " ROW_COLS ", doc FROM results WHERE id = ?",
                                       "reading a result", e);
    int rc = -1;

    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        rc = get_one(db, st, id, row_r, doc_r, e);
    }
    free(id);
    return rc;
}

int dash_db_latest(struct dash_db *db, const char *lab, const char *name, struct dash_row *row_r,
                   char **doc_r, struct err *e)
{
    sqlite3_stmt *st = dash_db_prepare(db,
                                       "SELECT " ROW_COLS ", doc FROM results WHERE "
                                       "kind = 'matrix' AND lab = ? AND name = ? ORDER BY "
                                       "created DESC, local_id DESC LIMIT 1",
                                       "reading a result", e);
    char what[256];

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, lab, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    snprintf(what, sizeof(what), "matrix named '%.100s' from lab '%.64s'", name, lab);
    return get_one(db, st, what, row_r, doc_r, e);
}

int dash_db_latest_names(struct dash_db *db, struct dash_row **rows_r, size_t *n_r, struct err *e)
{
    /* SQLite: with max(), the bare columns come from the row holding the maximum */
    sqlite3_stmt *st = dash_db_prepare(db,
                                       "SELECT " ROW_COLS
                                       " FROM (SELECT *, max(created || printf('%020d', local_id))"
                                       " FROM results WHERE kind = 'matrix' GROUP BY lab, name)"
                                       " ORDER BY created DESC, local_id DESC",
                                       "listing matrix names", e);

    if (!st)
        return -1;
    return collect(db, st, "listing matrix names", rows_r, n_r, NULL, e);
}

int dash_db_nights(struct dash_db *db, const struct dash_row *m, int max, struct dash_row **rows_r,
                   size_t *n_r, struct err *e)
{
    sqlite3_stmt *st =
        dash_db_prepare(db,
                        "SELECT " ROW_COLS " FROM results WHERE kind = 'matrix' AND lab = ?1 AND "
                        "name IS ?2 AND (created, local_id) <= (?3, ?4) ORDER BY created DESC, "
                        "local_id DESC LIMIT ?5",
                        "reading a matrix's history", e);

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, m->lab, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, m->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, m->created, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, m->local_id);
    sqlite3_bind_int(st, 5, max > 0 ? max : 1);
    return collect(db, st, "reading a matrix's history", rows_r, n_r, NULL, e);
}

void dash_cells_free(struct dash_cell *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].xen);
        free(v[i].linux_);
        free(v[i].repro);
        free(v[i].verdict);
        free(v[i].change);
    }
    free(v);
}

int dash_db_cells_each(struct dash_db *db, const char *lab, long long local_id, int notable_only,
                       dash_cell_fn fn, void *ctx, struct err *e)
{
    char *id = result_id(DASH_MATRIX, lab, local_id);
    sqlite3_stmt *st = dash_db_prepare(
        db,
        notable_only ? "SELECT xen, linux, repro, verdict, change, run_id FROM cells WHERE "
                       "result_id = ? AND change IN ('REGRESSION', 'FIXED', 'heisenbug') "
                       "ORDER BY pos"
                     : "SELECT xen, linux, repro, verdict, change, run_id FROM cells WHERE "
                       "result_id = ? ORDER BY pos",
        "reading cells", e);
    int rc = -1, r;

    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct dash_cell c = {
            (char *)sqlite3_column_text(st, 0), (char *)sqlite3_column_text(st, 1),
            (char *)sqlite3_column_text(st, 2), (char *)sqlite3_column_text(st, 3),
            (char *)sqlite3_column_text(st, 4), sqlite3_column_int64(st, 5),
        };
        fn(ctx, &c);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        dash_db_fail(db, e, r, "reading cells");
        goto out;
    }
    rc = 0;
out:
    free(id);
    return rc;
}

struct cells_acc {
    struct dash_cell *v;
    size_t n, alloc;
};

static void cells_add(void *ctx, const struct dash_cell *c)
{
    struct cells_acc *a = ctx;

    if (a->n == a->alloc) {
        a->alloc = a->alloc ? 2 * a->alloc : 64;
        a->v = xrealloc(a->v, a->alloc * sizeof(a->v[0]));
    }
    a->v[a->n++] = (struct dash_cell){ xstrdup(c->xen),     xstrdup(c->linux_), xstrdup(c->repro),
                                       xstrdup(c->verdict), xstrdup(c->change), c->run_id };
}

int dash_db_cells(struct dash_db *db, const char *lab, long long local_id, int notable_only,
                  struct dash_cell **cells_r, size_t *n_r, struct err *e)
{
    struct cells_acc a = { NULL, 0, 0 };

    if (dash_db_cells_each(db, lab, local_id, notable_only, cells_add, &a, e) < 0) {
        dash_cells_free(a.v, a.n);
        return -1;
    }
    *cells_r = a.v;
    *n_r = a.n;
    return 0;
}
