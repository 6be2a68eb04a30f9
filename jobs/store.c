#include "jobs/store.h"
#include "jobs/store_int.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/stats.h"
#include "util/xalloc.h"

#define BUSY_TIMEOUT_MS 5000
#define PVLAB_APP_ID 0x50564C42 /* "PVLB" in PRAGMA application_id */

/*
 * Schema migrations: step i brings user_version from i to i + 1. Append steps; never edit one that
 * has shipped. Later tables (bisections, matrices, dashboard caches) hang off runs(id), and new
 * run columns come as ALTER TABLE ... ADD COLUMN steps, which old rows read as NULL.
 */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    /* 1: runs and trials */
    "CREATE TABLE runs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT," /* AUTOINCREMENT: a run id is never reused */
    " created TEXT NOT NULL,"
    " finished TEXT,"
    " status TEXT NOT NULL DEFAULT 'running'"
    "  CHECK (status IN ('running', 'done', 'interrupted', 'error')),"
    " owner_host TEXT, owner_boot_id TEXT, owner_pid INTEGER, owner_start INTEGER,"
    " xen_spec TEXT, linux_spec TEXT, repro TEXT, params_json TEXT,"
    " trials_planned INTEGER NOT NULL DEFAULT 0,"
    " verdict TEXT CHECK (verdict IN ('pass', 'fail', 'infra', 'skip')),"
    " trials_pass INTEGER NOT NULL DEFAULT 0, trials_fail INTEGER NOT NULL DEFAULT 0,"
    " trials_infra INTEGER NOT NULL DEFAULT 0, trials_skip INTEGER NOT NULL DEFAULT 0,"
    " iterations INTEGER NOT NULL DEFAULT 0, corruptions INTEGER NOT NULL DEFAULT 0,"
    " rate_upper95 REAL,"
    " xen_version TEXT, xen_package TEXT, xen_sha256 TEXT,"
    " linux_version TEXT, linux_package TEXT, linux_sha256 TEXT, initramfs_sha256 TEXT,"
    " qemu_version TEXT, accel TEXT, cpu_model TEXT, l0_kernel TEXT, hostname TEXT,"
    " qemu_cmd TEXT);"
    "CREATE INDEX runs_by_created ON runs (created);"
    "CREATE INDEX runs_by_status ON runs (status);"
    "CREATE TABLE trials ("
    " run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL CHECK (idx >= 1),"
    " verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'fail', 'infra', 'skip')),"
    " reason TEXT,"
    " iterations INTEGER NOT NULL DEFAULT 0, corruptions INTEGER NOT NULL DEFAULT 0,"
    " mismatches INTEGER NOT NULL DEFAULT 0, deaths INTEGER NOT NULL DEFAULT 0,"
    " klog_faults INTEGER NOT NULL DEFAULT 0,"
    " evidence_json TEXT, started TEXT, finished TEXT, wall_ms INTEGER, boot_ms INTEGER,"
    " log_path TEXT,"
    " PRIMARY KEY (run_id, idx));"
    "PRAGMA application_id = 1347832898;", /* PVLAB_APP_ID */
    /* 2: bisections, their trials (each may link to a run) and posterior snapshots */
    "CREATE TABLE bisections ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " created TEXT NOT NULL,"
    " finished TEXT,"
    " status TEXT NOT NULL DEFAULT 'running'"
    "  CHECK (status IN ('running', 'done', 'interrupted', 'error', 'stopped')),"
    " owner_host TEXT, owner_boot_id TEXT, owner_pid INTEGER, owner_start INTEGER,"
    " repo TEXT NOT NULL, axis TEXT, find TEXT, good TEXT NOT NULL, bad TEXT NOT NULL,"
    " params_json TEXT, result_json TEXT);"
    "CREATE INDEX bisections_by_created ON bisections (created);"
    "CREATE TABLE bisect_trials ("
    " bisection_id INTEGER NOT NULL REFERENCES bisections (id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL CHECK (seq >= 1),"
    " phase TEXT NOT NULL,"
    " commit_sha TEXT NOT NULL,"
    " outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'infra', 'skip')),"
    " run_id INTEGER REFERENCES runs (id),"
    " detail TEXT, wall_ms INTEGER, created TEXT,"
    " best_sha TEXT, best_prob REAL, candidates INTEGER, p_est REAL,"
    " PRIMARY KEY (bisection_id, seq));",
    /* 3: why the run used its accelerator (the probe's one-line answer) */
    "ALTER TABLE runs ADD COLUMN accel_note TEXT;",
};


/* Column tables: one place maps struct fields to SQL columns for every query. */
enum col_type { T_TEXT, T_INT, T_LONG, T_LL, T_REAL };
#define C_IN 1 /* written by the caller (store_run_begin / store_run_update), not by the store */

struct col {
    const char *name;
    enum col_type type;
    size_t off;
    int flags;
};

/* clang-format off */
#define RCOL(f, t, fl) { #f, t, offsetof(struct run_rec, f), fl }
static const struct col run_cols[] = {
    RCOL(id, T_LL, 0), RCOL(created, T_TEXT, 0), RCOL(finished, T_TEXT, 0),
    RCOL(status, T_TEXT, 0), RCOL(xen_spec, T_TEXT, C_IN), RCOL(linux_spec, T_TEXT, C_IN),
    RCOL(repro, T_TEXT, C_IN), RCOL(params_json, T_TEXT, C_IN),
    RCOL(trials_planned, T_INT, C_IN), RCOL(verdict, T_TEXT, 0),
    RCOL(trials_pass, T_LONG, 0), RCOL(trials_fail, T_LONG, 0), RCOL(trials_infra, T_LONG, 0),
    RCOL(trials_skip, T_LONG, 0), RCOL(iterations, T_LL, 0), RCOL(corruptions, T_LL, 0),
    RCOL(rate_upper95, T_REAL, 0),
    RCOL(xen_version, T_TEXT, C_IN), RCOL(xen_package, T_TEXT, C_IN),
    RCOL(xen_sha256, T_TEXT, C_IN), RCOL(linux_version, T_TEXT, C_IN),
    RCOL(linux_package, T_TEXT, C_IN), RCOL(linux_sha256, T_TEXT, C_IN),
    RCOL(initramfs_sha256, T_TEXT, C_IN), RCOL(qemu_version, T_TEXT, C_IN),
    RCOL(accel, T_TEXT, C_IN), RCOL(cpu_model, T_TEXT, C_IN), RCOL(l0_kernel, T_TEXT, C_IN),
    RCOL(hostname, T_TEXT, C_IN), RCOL(qemu_cmd, T_TEXT, C_IN), RCOL(accel_note, T_TEXT, C_IN),
};
#define NRUN_COLS (sizeof(run_cols) / sizeof(run_cols[0]))

#define TCOL(f, t) { #f, t, offsetof(struct trial_rec, f), C_IN }
static const struct col trial_cols[] = {
    TCOL(run_id, T_LL), TCOL(idx, T_INT), TCOL(verdict, T_TEXT), TCOL(reason, T_TEXT),
    TCOL(iterations, T_LL), TCOL(corruptions, T_LL), TCOL(mismatches, T_LL),
    TCOL(deaths, T_LL), TCOL(klog_faults, T_LL), TCOL(evidence_json, T_TEXT),
    TCOL(started, T_TEXT), TCOL(finished, T_TEXT), TCOL(wall_ms, T_LL), TCOL(boot_ms, T_LL),
    TCOL(log_path, T_TEXT),
};
/* clang-format on */
#define NTRIAL_COLS (sizeof(trial_cols) / sizeof(trial_cols[0]))

/* Appends "a, b, c": the names of the columns whose flags include need. */
static void cols_list(struct buf *b, const struct col *c, size_t n, int need)
{
    size_t i;
    int first = 1;

    for (i = 0; i < n; i++) {
        if ((c[i].flags & need) != need)
            continue;
        buf_adds(b, first ? "" : ", ");
        buf_adds(b, c[i].name);
        first = 0;
    }
}

static int bind_col(sqlite3_stmt *st, int i, const struct col *c, const void *rec)
{
    const char *p = (const char *)rec + c->off;
    const char *s;
    double d;

    switch (c->type) {
    case T_TEXT:
        s = *(char *const *)p;
        return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
    case T_INT:
        return sqlite3_bind_int64(st, i, *(const int *)p);
    case T_LONG:
        return sqlite3_bind_int64(st, i, *(const long *)p);
    case T_LL:
        return sqlite3_bind_int64(st, i, *(const long long *)p);
    case T_REAL:
        d = *(const double *)p;
        return isfinite(d) ? sqlite3_bind_double(st, i, d) : sqlite3_bind_null(st, i);
    }
    return SQLITE_MISUSE;
}

/* Fills rec's fields from result columns 0..n-1 (strings malloc'd; SQL NULL -> NULL / NaN). */
static void read_cols(sqlite3_stmt *st, const struct col *c, size_t n, void *rec)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char *p = (char *)rec + c[i].off;
        int null = sqlite3_column_type(st, (int)i) == SQLITE_NULL;
        switch (c[i].type) {
        case T_TEXT:
            *(char **)p = null ? NULL : xstrdup((const char *)sqlite3_column_text(st, (int)i));
            break;
        case T_INT:
            *(int *)p = sqlite3_column_int(st, (int)i);
            break;
        case T_LONG:
            *(long *)p = (long)sqlite3_column_int64(st, (int)i);
            break;
        case T_LL:
            *(long long *)p = sqlite3_column_int64(st, (int)i);
            break;
        case T_REAL:
            *(double *)p = null ? NAN : sqlite3_column_double(st, (int)i);
            break;
        }
    }
}

/* Turns a SQLite failure into an error that names the database and says what to do. */
void store_db_fail(const struct store *s, struct err *e, int rc, const char *what)
{
    const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        err_set(e, ERR_DB,
                "database %s is locked by another pvlab (still busy after %d s while %s); wait "
                "for it to finish, or see who holds it with: fuser %s",
                s->path, BUSY_TIMEOUT_MS / 1000, what, s->path);
        break;
    case SQLITE_READONLY:
        err_set(e, ERR_IO,
                "database %s is read-only (%s while %s); fix its permissions or "
                "choose another database path",
                s->path, msg, what);
        break;
    case SQLITE_FULL:
        err_set(e, ERR_NOSPACE, "disk full while %s in database %s; free some space and retry",
                what, s->path);
        break;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        err_set(e, ERR_IO,
                "cannot open database %s (%s while %s); check that its directory is "
                "writable by this user or choose another database path",
                s->path, msg, what);
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        err_set(e, ERR_DB,
                "database %s is damaged or not a pvlab database (%s while %s); move "
                "it away and pvlab will start a new one",
                s->path, msg, what);
        break;
    case SQLITE_IOERR:
        err_set(e, ERR_IO, "I/O error on database %s while %s: %s; check the disk and retry",
                s->path, what, msg);
        break;
    default:
        err_set(e, ERR_DB, "database %s: %s failed: %s", s->path, what, msg);
        break;
    }
}

sqlite3_stmt *store_db_prepare(struct store *s, const char *sql, const char *what, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK) {
        store_db_fail(s, e, rc, what);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

int store_db_exec(struct store *s, const char *sql, const char *what, struct err *e)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        store_db_fail(s, e, rc, what);
        return -1;
    }
    return 0;
}

/* Runs a statement that returns no rows (or ignores them); finalizes it. */
int store_db_step_done(struct store *s, sqlite3_stmt *st, const char *what, struct err *e)
{
    int rc = sqlite3_step(st);

    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_db_fail(s, e, rc, what);
        return -1;
    }
    return 0;
}

/* BEGIN IMMEDIATE takes the write lock up front, so a busy database fails here, not mid-way. */
int store_tx_begin(struct store *s, const char *what, struct err *e)
{
    return store_db_exec(s, "BEGIN IMMEDIATE", what, e);
}

int store_tx_commit(struct store *s, const char *what, struct err *e)
{
    return store_db_exec(s, "COMMIT", what, e);
}

void store_tx_rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Reads a single integer from a query such as "PRAGMA user_version". */
int store_db_int(struct store *s, const char *sql, const char *what, long long *v_r, struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s, sql, what, e);
    int rc;

    if (!st)
        return -1;
    rc = sqlite3_step(st);
    *v_r = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_db_fail(s, e, rc, what);
        return -1;
    }
    return 0;
}


/*
 * State and start time (clock ticks after boot) of pid from /proc/<pid>/stat. The start time tells
 * a live owner from an unrelated process that got the same pid later. Returns 0 or -1.
 */
int store_proc_stat(long pid, char *state_r, long long *start_r)
{
    char path[64], line[1024], *p;
    FILE *f;
    size_t n;
    int field;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "re");
    if (!f)
        return -1;
    n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    p = strrchr(line, ')'); /* comm may contain spaces and parentheses */
    if (!p || sscanf(p + 1, " %c", state_r) != 1)
        return -1;
    for (field = 2; field < 22 && p; field++) /* p is at the end of field 2 (comm) */
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p, " %lld", start_r) != 1)
        return -1;
    return 0;
}

static void read_boot_id(char *out, size_t size)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

    out[0] = '\0';
    if (!f)
        return;
    if (fgets(out, (int)size, f))
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

/* Refuses databases this pvlab must not write: newer schema, or not a pvlab database at all. */
static int check_foreign(struct store *s, long long version, struct err *e)
{
    long long app_id, ntables;

    if (version > STORE_SCHEMA_VERSION) {
        err_set(e, ERR_DB,
                "database %s has schema version %lld but this pvlab knows only up to "
                "%d: it was written by a newer pvlab; use that version, or point pvlab at another "
                "database (it was not modified)",
                s->path, version, STORE_SCHEMA_VERSION);
        return -1;
    }
    if (store_db_int(s, "PRAGMA application_id", "reading the application id", &app_id, e) < 0)
        return -1;
    if (store_db_int(s, "SELECT count(*) FROM sqlite_master", "listing tables", &ntables, e) < 0)
        return -1;
    if ((app_id != 0 && app_id != PVLAB_APP_ID) || (version == 0 && ntables > 0)) {
        err_set(e, ERR_DB,
                "%s is an SQLite database of another program, not a pvlab database; "
                "choose another database path (it was not modified)",
                s->path);
        return -1;
    }
    return 0;
}

/* Applies the pending migration steps in one transaction (re-checked under the write lock, since
 * two pvlab processes may open a fresh database at once). */
static int migrate(struct store *s, struct err *e)
{
    long long version;
    char sql[64];
    int rc = -1;

    if (store_tx_begin(s, "starting the schema migration", e) < 0)
        return -1;
    if (store_db_int(s, "PRAGMA user_version", "reading the schema version", &version, e) < 0)
        goto out;
    if (check_foreign(s, version, e) < 0)
        goto out;
    for (; version < STORE_SCHEMA_VERSION; version++) {
        log_info("store", "migrating %s to schema version %lld", s->path, version + 1);
        if (store_db_exec(s, migrations[version], "migrating the schema", e) < 0)
            goto out;
    }
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
    if (store_db_exec(s, sql, "recording the schema version", e) < 0)
        goto out;
    if (store_tx_commit(s, "committing the schema migration", e) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        store_tx_rollback(s);
    return rc;
}

/* Sets the connection up: busy timeout, WAL, foreign keys, fsync on every commit. */
static int configure(struct store *s, struct err *e)
{
    sqlite3_stmt *st = NULL;
    const char *mode;
    int rc = -1, r;

    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    st = store_db_prepare(s, "PRAGMA journal_mode = WAL", "switching to WAL mode", e);
    if (!st)
        goto out;
    r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        store_db_fail(s, e, r, "switching to WAL mode");
        goto out;
    }
    mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
        err_set(e, ERR_DB,
                "database %s cannot use WAL mode (journal mode stays '%s'); put it "
                "on a local file system",
                s->path, mode ? mode : "?");
        goto out;
    }
    if (store_db_exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL",
                "setting up the connection", e) < 0)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

int store_open(const char *path, struct store **s_r, struct err *e)
{
    struct store *s = NULL;
    struct err sub = ERR_INIT;
    char *dir = NULL;
    long long version;
    int rc = -1, r;

    *s_r = NULL;
    if (!path || !*path) {
        err_set(e, ERR_USAGE, "no database path given");
        return -1;
    }
    s = xcalloc(1, sizeof(*s));
    s->path = xstrdup(path);
    dir = fs_dirname(path);
    if (fs_mkdirs(dir, &sub) < 0) {
        err_set(e, sub.code,
                "cannot create database %s: %s; choose another database path or "
                "fix the permissions",
                path, sub.msg);
        goto out;
    }
    r = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (r != SQLITE_OK) {
        store_db_fail(s, e, r, "opening");
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        err_set(e, ERR_IO,
                "database %s is read-only for this user; fix its permissions or "
                "choose another database path",
                path);
        goto out;
    }
    /* look before touching: switching to WAL writes the header of a newer pvlab's database */
    if (store_db_int(s, "PRAGMA user_version", "reading the schema version", &version, e) < 0)
        goto out;
    if (check_foreign(s, version, e) < 0)
        goto out;
    if (configure(s, e) < 0)
        goto out;
    if (version < STORE_SCHEMA_VERSION && migrate(s, e) < 0)
        goto out;
    if (gethostname(s->host, sizeof(s->host) - 1) < 0)
        snprintf(s->host, sizeof(s->host), "localhost");
    read_boot_id(s->boot_id, sizeof(s->boot_id));
    *s_r = s;
    s = NULL;
    rc = 0;
out:
    store_close(s);
    free(dir);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db); /* NULL is a harmless no-op */
    free(s->path);
    free(s);
}

const char *store_path(const struct store *s)
{
    return s->path;
}

const char *store_run_verdict(long pass, long fail, long infra, long skip)
{
    if (fail > 0)
        return "fail";
    if (pass > 0)
        return "pass";
    if (infra > 0)
        return "infra";
    return "skip";
}

static int verdict_ok(const char *v)
{
    return v &&
           (!strcmp(v, "pass") || !strcmp(v, "fail") || !strcmp(v, "infra") || !strcmp(v, "skip"));
}

static void not_found(const struct store *s, long long id, struct err *e)
{
    err_set(e, ERR_NOTFOUND, "no run %lld in %s (pvlab list shows the runs)", id, s->path);
}

/* Checks that run id exists (inside the caller's transaction). */
static int run_exists(struct store *s, long long id, struct err *e)
{
    sqlite3_stmt *st =
        store_db_prepare(s, "SELECT 1 FROM runs WHERE id = ?", "looking up a run", e);
    int r;

    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r == SQLITE_ROW)
        return 0;
    if (r == SQLITE_DONE)
        not_found(s, id, e);
    else
        store_db_fail(s, e, r, "looking up a run");
    return -1;
}

struct tally {
    long pass, fail, infra, skip;
    long long iterations, corruptions;
    double bound; /* rate_upper95 */
};

/*
 * Recomputes run id's counts and rate bound from its trials and writes them to the row, so that
 * readers see a running run's progress. Must run inside the caller's transaction.
 */
static int run_refresh(struct store *s, long long id, struct tally *t, struct err *e)
{
    static const char *const tally_sql =
        "SELECT coalesce(sum(verdict = 'pass'), 0), coalesce(sum(verdict = 'fail'), 0),"
        " coalesce(sum(verdict = 'infra'), 0), coalesce(sum(verdict = 'skip'), 0),"
        " coalesce(sum(CASE WHEN verdict IN ('pass', 'fail') THEN iterations END), 0),"
        " coalesce(sum(CASE WHEN verdict IN ('pass', 'fail') THEN corruptions END), 0)"
        " FROM trials WHERE run_id = ?";
    static const char *const update_sql =
        "UPDATE runs SET trials_pass = ?, trials_fail = ?, trials_infra = ?, trials_skip = ?,"
        " iterations = ?, corruptions = ?, rate_upper95 = ? WHERE id = ?";
    sqlite3_stmt *st = NULL;
    int rc = -1, r;

    st = store_db_prepare(s, tally_sql, "counting trials", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        store_db_fail(s, e, r, "counting trials");
        goto out;
    }
    t->pass = (long)sqlite3_column_int64(st, 0);
    t->fail = (long)sqlite3_column_int64(st, 1);
    t->infra = (long)sqlite3_column_int64(st, 2);
    t->skip = (long)sqlite3_column_int64(st, 3);
    t->iterations = sqlite3_column_int64(st, 4);
    t->corruptions = sqlite3_column_int64(st, 5);
    sqlite3_finalize(st);
    st = NULL;
    /* NaN (stored as NULL) without iterations, or if a guest reported more events than runs */
    t->bound = NAN;
    if (t->iterations > 0 && t->corruptions <= t->iterations)
        t->bound = stats_binom_upper((long)t->corruptions, (long)t->iterations, 0.95);
    st = store_db_prepare(s, update_sql, "updating run counts", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, t->pass);
    sqlite3_bind_int64(st, 2, t->fail);
    sqlite3_bind_int64(st, 3, t->infra);
    sqlite3_bind_int64(st, 4, t->skip);
    sqlite3_bind_int64(st, 5, t->iterations);
    sqlite3_bind_int64(st, 6, t->corruptions);
    if (isfinite(t->bound))
        sqlite3_bind_double(st, 7, t->bound);
    sqlite3_bind_int64(st, 8, id);
    r = store_db_step_done(s, st, "updating run counts", e);
    st = NULL;
    if (r < 0)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/*
 * Verdict of a run being closed with status: store_run_verdict, except that an interrupted run
 * with no trial has none (it was never tested, which "skip" would claim it could not be).
 */
static const char *close_verdict(const char *status, const struct tally *t)
{
    if (!strcmp(status, "interrupted") && t->pass + t->fail + t->infra + t->skip == 0)
        return NULL;
    return store_run_verdict(t->pass, t->fail, t->infra, t->skip);
}

/* Sets a run's final status and verdict (NULL = none); finished NULL keeps the stored value. */
static int run_close(struct store *s, long long id, const char *status, const char *verdict,
                     const char *finished, struct err *e)
{
    sqlite3_stmt *st = store_db_prepare(s,
                                  "UPDATE runs SET status = ?, verdict = ?,"
                                  " finished = coalesce(?, finished) WHERE id = ?",
                                  "closing a run", e);

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, verdict, -1, SQLITE_STATIC); /* NULL binds SQL NULL */
    sqlite3_bind_text(st, 3, finished, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, id);
    return store_db_step_done(s, st, "closing a run", e);
}

int store_run_begin(struct store *s, struct run_rec *r, struct err *e)
{
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    char *created = clock_iso_now();
    char state;
    long long start = 0;
    int rc = -1, i = 1;
    size_t c;

    if (store_proc_stat(getpid(), &state, &start) < 0)
        start = 0;
    buf_adds(&sql, "INSERT INTO runs (created, status, owner_host, owner_boot_id, owner_pid, "
                   "owner_start, ");
    cols_list(&sql, run_cols, NRUN_COLS, C_IN);
    buf_adds(&sql, ") VALUES (?, 'running', ?, ?, ?, ?");
    for (c = 0; c < NRUN_COLS; c++)
        if (run_cols[c].flags & C_IN)
            buf_adds(&sql, ", ?");
    buf_adds(&sql, ")");
    st = store_db_prepare(s, sql.data, "recording a new run", e);
    if (!st)
        goto out;
    sqlite3_bind_text(st, i++, created, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, s->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, s->boot_id[0] ? s->boot_id : NULL, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, i++, (long long)getpid());
    if (start > 0)
        sqlite3_bind_int64(st, i, start);
    i++;
    for (c = 0; c < NRUN_COLS; c++)
        if (run_cols[c].flags & C_IN)
            bind_col(st, i++, &run_cols[c], r);
    if (store_db_step_done(s, st, "recording a new run", e) < 0)
        goto out; /* store_db_step_done finalized st */
    r->id = sqlite3_last_insert_rowid(s->db);
    free(r->created);
    r->created = created;
    created = NULL;
    rc = 0;
out:
    buf_release(&sql);
    free(created);
    return rc;
}

int store_run_update(struct store *s, const struct run_rec *r, struct err *e)
{
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    int rc = -1, i = 1;
    size_t c;

    buf_adds(&sql, "UPDATE runs SET ");
    for (c = 0; c < NRUN_COLS; c++) /* strings: NULL keeps the stored value */
        if ((run_cols[c].flags & C_IN) && run_cols[c].type == T_TEXT)
            buf_addf(&sql, "%s = coalesce(?, %s), ", run_cols[c].name, run_cols[c].name);
    buf_adds(&sql, "trials_planned = CASE WHEN :planned > 0 THEN :planned ELSE trials_planned "
                   "END WHERE id = :id");
    st = store_db_prepare(s, sql.data, "updating a run", e);
    if (!st)
        goto out;
    for (c = 0; c < NRUN_COLS; c++)
        if ((run_cols[c].flags & C_IN) && run_cols[c].type == T_TEXT)
            bind_col(st, i++, &run_cols[c], r);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":planned"), r->trials_planned);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":id"), r->id);
    if (store_db_step_done(s, st, "updating a run", e) < 0)
        goto out;
    if (sqlite3_changes(s->db) == 0) {
        not_found(s, r->id, e);
        goto out;
    }
    rc = 0;
out:
    buf_release(&sql);
    return rc;
}

int store_trial_add(struct store *s, const struct trial_rec *t, struct err *e)
{
    struct buf sql = BUF_INIT;
    struct tally tally;
    sqlite3_stmt *st = NULL;
    int rc = -1, r;
    size_t c;

    if (!verdict_ok(t->verdict) || t->idx < 1) {
        err_set(e, ERR_INTERNAL,
                "cannot record trial %d of run %lld in %s: verdict '%s' (pass, fail, infra or "
                "skip expected), index %d (from 1 expected); a pvlab bug: please report it",
                t->idx, t->run_id, s->path, t->verdict ? t->verdict : "(none)", t->idx);
        return -1;
    }
    buf_adds(&sql, "INSERT INTO trials (");
    cols_list(&sql, trial_cols, NTRIAL_COLS, 0);
    buf_adds(&sql, ") VALUES (?");
    for (c = 1; c < NTRIAL_COLS; c++)
        buf_adds(&sql, ", ?");
    buf_adds(&sql, ")");
    if (store_tx_begin(s, "recording a trial", e) < 0)
        goto out;
    if (run_exists(s, t->run_id, e) < 0)
        goto out;
    st = store_db_prepare(s, sql.data, "recording a trial", e);
    if (!st)
        goto out;
    for (c = 0; c < NTRIAL_COLS; c++)
        bind_col(st, (int)c + 1, &trial_cols[c], t);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if ((r & 0xff) == SQLITE_CONSTRAINT) {
        err_set(e, ERR_DB,
                "trial %d of run %lld is already recorded in %s; trial indexes must "
                "be unique within a run",
                t->idx, t->run_id, s->path);
        goto out;
    }
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "recording a trial");
        goto out;
    }
    if (run_refresh(s, t->run_id, &tally, e) < 0)
        goto out;
    if (store_tx_commit(s, "committing a trial", e) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        store_tx_rollback(s);
    buf_release(&sql);
    return rc;
}

int store_run_finish(struct store *s, struct run_rec *r, struct err *e)
{
    const char *status = r->status ? r->status : "done";
    const char *verdict;
    char *finished = clock_iso_now();
    struct tally t;
    int rc = -1;

    if (strcmp(status, "done") && strcmp(status, "error") && strcmp(status, "interrupted")) {
        err_set(e, ERR_INTERNAL,
                "cannot finish run %lld in %s with status '%s' (done, error or "
                "interrupted expected); a pvlab bug: please report it",
                r->id, s->path, status);
        goto out;
    }
    if (store_tx_begin(s, "finishing a run", e) < 0)
        goto out;
    if (run_exists(s, r->id, e) < 0 || run_refresh(s, r->id, &t, e) < 0)
        goto out;
    verdict = close_verdict(status, &t);
    if (run_close(s, r->id, status, verdict, finished, e) < 0)
        goto out;
    if (store_tx_commit(s, "committing a finished run", e) < 0)
        goto out;
    r->trials_pass = t.pass;
    r->trials_fail = t.fail;
    r->trials_infra = t.infra;
    r->trials_skip = t.skip;
    r->iterations = t.iterations;
    r->corruptions = t.corruptions;
    r->rate_upper95 = t.bound;
    free(r->verdict);
    r->verdict = xstrdup(verdict);
    free(r->finished);
    r->finished = finished;
    finished = NULL;
    rc = 0;
out:
    store_tx_rollback(s); /* no-op after a commit */
    free(finished);
    return rc;
}

/* Runs a SELECT of run_cols (with sql_tail after FROM runs) and collects the rows. */
static int select_runs(struct store *s, const char *sql_tail, long long arg,
                       struct run_rec **runs_r, size_t *n_r, struct err *e)
{
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    struct run_rec *v = NULL;
    size_t n = 0, alloc = 0;
    int rc = -1, r;

    buf_adds(&sql, "SELECT ");
    cols_list(&sql, run_cols, NRUN_COLS, 0);
    buf_addf(&sql, " FROM runs %s", sql_tail);
    st = store_db_prepare(s, sql.data, "reading runs", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, arg);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            v = xrealloc(v, alloc * sizeof(*v));
        }
        memset(&v[n], 0, sizeof(v[n]));
        read_cols(st, run_cols, NRUN_COLS, &v[n++]);
    }
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "reading runs");
        goto out;
    }
    *runs_r = v;
    *n_r = n;
    v = NULL;
    rc = 0;
out:
    sqlite3_finalize(st);
    run_recs_free(v, n);
    buf_release(&sql);
    return rc;
}

static int select_trials(struct store *s, long long run_id, struct trial_rec **trials_r,
                         size_t *n_r, struct err *e)
{
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    struct trial_rec *v = NULL;
    size_t n = 0, alloc = 0;
    int rc = -1, r;

    buf_adds(&sql, "SELECT ");
    cols_list(&sql, trial_cols, NTRIAL_COLS, 0);
    buf_adds(&sql, " FROM trials WHERE run_id = ? ORDER BY idx");
    st = store_db_prepare(s, sql.data, "reading trials", e);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, run_id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            v = xrealloc(v, alloc * sizeof(*v));
        }
        memset(&v[n], 0, sizeof(v[n]));
        read_cols(st, trial_cols, NTRIAL_COLS, &v[n++]);
    }
    if (r != SQLITE_DONE) {
        store_db_fail(s, e, r, "reading trials");
        goto out;
    }
    *trials_r = v;
    *n_r = n;
    v = NULL;
    rc = 0;
out:
    sqlite3_finalize(st);
    trial_recs_free(v, n);
    buf_release(&sql);
    return rc;
}

int store_run_get(struct store *s, long long id, struct run_rec *r_out, struct trial_rec **trials_r,
                  size_t *ntrials_r, struct err *e)
{
    struct run_rec *runs = NULL;
    size_t n = 0;
    int rc = -1;

    memset(r_out, 0, sizeof(*r_out));
    if (trials_r) {
        *trials_r = NULL;
        *ntrials_r = 0;
    }
    /* one read transaction, so the run and its trials are one consistent snapshot */
    if (store_db_exec(s, "BEGIN", "reading a run", e) < 0)
        return -1;
    if (select_runs(s, "WHERE id = ?", id, &runs, &n, e) < 0)
        goto out;
    if (n == 0) {
        not_found(s, id, e);
        goto out;
    }
    if (trials_r && select_trials(s, id, trials_r, ntrials_r, e) < 0)
        goto out;
    *r_out = runs[0];
    memset(&runs[0], 0, sizeof(runs[0]));
    rc = 0;
out:
    store_tx_rollback(s); /* read-only: nothing to commit */
    run_recs_free(runs, n);
    return rc;
}

int store_run_list(struct store *s, int limit, struct run_rec **runs_r, size_t *n_r, struct err *e)
{
    *runs_r = NULL;
    *n_r = 0;
    return select_runs(s, "ORDER BY created DESC, id DESC LIMIT ?", limit > 0 ? limit : -1, runs_r,
                       n_r, e);
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

int store_mark_stale(struct store *s, struct err *e)
{
    long long *ids = NULL;
    size_t n = 0, i;
    struct tally t;
    int rc = -1;

    if (store_tx_begin(s, "marking interrupted runs", e) < 0)
        return -1;
    if (store_stale_ids(s, "runs", &ids, &n, e) < 0)
        goto out;
    for (i = 0; i < n; i++) {
        if (run_refresh(s, ids[i], &t, e) < 0 ||
            run_close(s, ids[i], "interrupted", close_verdict("interrupted", &t), NULL, e) < 0)
            goto out;
        log_info("store", "run %lld in %s was interrupted (its pvlab process is gone)", ids[i],
                 s->path);
    }
    if (store_tx_commit(s, "committing interrupted runs", e) < 0)
        goto out;
    rc = (int)n;
out:
    if (rc < 0)
        store_tx_rollback(s);
    free(ids);
    return rc;
}

static void free_text_cols(const struct col *c, size_t n, void *rec)
{
    size_t i;

    char **p;

    for (i = 0; i < n; i++) {
        if (c[i].type != T_TEXT)
            continue;
        p = (char **)((char *)rec + c[i].off);
        free(*p);
        *p = NULL;
    }
}

void run_rec_free(struct run_rec *r)
{
    if (!r)
        return;
    free_text_cols(run_cols, NRUN_COLS, r);
    memset(r, 0, sizeof(*r));
}

void run_rec_free_stamps(struct run_rec *r)
{
    if (!r)
        return;
    free(r->created);
    free(r->finished);
    free(r->verdict);
    r->created = r->finished = r->verdict = NULL;
}

void trial_rec_free(struct trial_rec *t)
{
    if (!t)
        return;
    free_text_cols(trial_cols, NTRIAL_COLS, t);
    memset(t, 0, sizeof(*t));
}

void run_recs_free(struct run_rec *v, size_t n)
{
    size_t i;

    if (!v)
        return;
    for (i = 0; i < n; i++)
        run_rec_free(&v[i]);
    free(v);
}

void trial_recs_free(struct trial_rec *v, size_t n)
{
    size_t i;

    if (!v)
        return;
    for (i = 0; i < n; i++)
        trial_rec_free(&v[i]);
    free(v);
}
