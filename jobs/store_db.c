/*
 * The store's connection: opening, the schema and its migrations, and the SQL helpers the other
 * store files share (store_int.h).
 */
#include "jobs/store.h"
#include "jobs/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/log.h"
#include "util/sqlite.h"
#include "util/xalloc.h"

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
    /* 4: bisection trials say how big the credible set was (older rows kept it in candidates)
     * and where a test command's output went; the process groups of running trials, so a
     * resume can kill what a dead owner left behind */
    "ALTER TABLE bisect_trials ADD COLUMN cset INTEGER;"
    "ALTER TABLE bisect_trials ADD COLUMN log_path TEXT;"
    "CREATE TABLE bisect_slots ("
    " bisection_id INTEGER NOT NULL REFERENCES bisections (id) ON DELETE CASCADE,"
    " slot INTEGER NOT NULL,"
    " host TEXT NOT NULL, boot_id TEXT, pgid INTEGER NOT NULL, pgid_start INTEGER,"
    " PRIMARY KEY (bisection_id, slot));",
    /* 5: regression matrices: a matrix run, its cells (each a run), its queue of trials; and the
     * host each trial ran on */
    "ALTER TABLE trials ADD COLUMN host TEXT;"
    "CREATE TABLE matrices ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL, file TEXT, file_sha256 TEXT, params_json TEXT,"
    " created TEXT NOT NULL, finished TEXT,"
    " status TEXT NOT NULL DEFAULT 'running'"
    "  CHECK (status IN ('running', 'done', 'interrupted', 'error')),"
    " owner_host TEXT, owner_boot_id TEXT, owner_pid INTEGER, owner_start INTEGER);"
    "CREATE INDEX matrices_by_name ON matrices (name, id);"
    "CREATE TABLE matrix_cells ("
    " matrix_id INTEGER NOT NULL REFERENCES matrices (id) ON DELETE CASCADE,"
    " cell INTEGER NOT NULL,"
    " xen TEXT NOT NULL, linux TEXT NOT NULL, repro TEXT NOT NULL,"
    " xen_spec TEXT, linux_spec TEXT, repro_name TEXT, options_json TEXT,"
    " trials INTEGER NOT NULL, iterations INTEGER NOT NULL,"
    " run_id INTEGER REFERENCES runs (id),"
    " PRIMARY KEY (matrix_id, cell));"
    "CREATE TABLE matrix_jobs ("
    " matrix_id INTEGER NOT NULL REFERENCES matrices (id) ON DELETE CASCADE,"
    " cell INTEGER NOT NULL, idx INTEGER NOT NULL CHECK (idx >= 1),"
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'leased', 'done')),"
    " lease_owner TEXT, lease_until INTEGER,"
    " infra_retries INTEGER NOT NULL DEFAULT 0, last_reason TEXT, host TEXT,"
    " PRIMARY KEY (matrix_id, cell, idx));"
    "CREATE INDEX matrix_jobs_by_state ON matrix_jobs (matrix_id, state);",
    /* 6: which results the reporter has spooled for the dashboard */
    "CREATE TABLE reported ("
    " kind TEXT NOT NULL CHECK (kind IN ('run', 'matrix', 'bisect')),"
    " local_id INTEGER NOT NULL, spooled TEXT NOT NULL,"
    " PRIMARY KEY (kind, local_id));",
    /* 7: domU trials keep a verdict per place and dom0's stage times */
    "ALTER TABLE trials ADD COLUMN places_json TEXT;",
    /* 8: snapshot trials say where their machine came from (fresh, made or restored KEY) */
    "ALTER TABLE trials ADD COLUMN snapshot TEXT;",
};

/* Turns a SQLite failure into an error that names the database and says what to do. */
void store_db_fail(const struct store *s, struct err *e, int rc, const char *what)
{
    sql_fail(s->db, s->path, rc, what, e);
}

sqlite3_stmt *store_db_prepare(struct store *s, const char *sql, const char *what, struct err *e)
{
    return sql_prepare(s->db, s->path, sql, what, e);
}

int store_db_exec(struct store *s, const char *sql, const char *what, struct err *e)
{
    return sql_exec(s->db, s->path, sql, what, e);
}

/* Runs a statement that returns no rows (or ignores them); finalizes it. */
int store_db_step_done(struct store *s, sqlite3_stmt *st, const char *what, struct err *e)
{
    return sql_step_done(s->db, s->path, st, what, e);
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
    sql_rollback(s->db);
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

    sqlite3_busy_timeout(s->db, SQL_BUSY_TIMEOUT_MS);
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
    sqlite3_busy_timeout(s->db, SQL_BUSY_TIMEOUT_MS);
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

void store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    sql_bind_text(st, i, v);
}

char *store_col_text(sqlite3_stmt *st, int i)
{
    return sql_col_text(st, i);
}
