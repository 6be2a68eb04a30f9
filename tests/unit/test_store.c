/* Unit tests for jobs/store: a real SQLite file in a private temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/store.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/stats.h"
#include "util/xalloc.h"

struct fix {
    char dir[64];
    char *db; /* <dir>/state/sub/pvlab.db: the store must create the directories */
    struct store *s;
};

static int setup(void **state)
{
    struct fix *f = xcalloc(1, sizeof(*f));
    struct err e = ERR_INIT;

    log_set_level(LOG_WARN);
    snprintf(f->dir, sizeof(f->dir), "/tmp/pvlab-test-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->db = xasprintf("%s/state/sub/pvlab.db", f->dir);
    if (store_open(f->db, &f->s, &e) < 0) {
        fprintf(stderr, "store_open: %s\n", e.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;

    store_close(f->s);
    fs_rmtree(f->dir, NULL);
    free(f->db);
    free(f);
    return 0;
}

/* Runs SQL on the database through a separate connection (as another process would). */
static void raw_exec(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        print_error("%s: %s\n", sql, msg);
        fail();
    }
    sqlite3_close(h);
}

/* First column of the first row of sql, as a malloc'd string (NULL for SQL NULL). */
static char *raw_text(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    char *v = NULL;

    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void assert_raw(const char *db, const char *sql, const char *want)
{
    char *got = raw_text(db, sql);

    if (!want)
        assert_null(got);
    else
        assert_string_equal(got ? got : "(null)", want);
    free(got);
}

static void fill_run(struct run_info *r)
{
    memset(r, 0, sizeof(*r));
    r->xen_spec = "4.17";
    r->linux_spec = "debian:6.1";
    r->repro = "fpu-leak";
    r->params_json = "{\"iterations\":2000,\"workers\":2,\"lazy_fpu\":true}";
    r->trials_planned = 3;
    r->xen_version = "4.17.5";
    r->linux_version = "6.1.0-30";
    r->qemu_version = "7.2.15";
    r->accel = "tcg";
    r->hostname = "l0-host";
}

/* "pass" -> VERDICT_PASS; anything else -> an invalid value the store must refuse */
static enum verdict_kind vk(const char *v)
{
    return !strcmp(v, "pass")    ? VERDICT_PASS
           : !strcmp(v, "fail")  ? VERDICT_FAIL
           : !strcmp(v, "infra") ? VERDICT_INFRA
           : !strcmp(v, "skip")  ? VERDICT_SKIP
                                 : (enum verdict_kind)42;
}

static void fill_trial(struct trial_info *t, long long run_id, int idx, const char *verdict,
                       long long iterations, long long corruptions)
{
    memset(t, 0, sizeof(*t));
    t->run_id = run_id;
    t->idx = idx;
    t->verdict = vk(verdict);
    t->reason = corruptions ? "corruption events" : "ok";
    t->iterations = iterations;
    t->corruptions = corruptions;
    t->mismatches = idx * 10 + 1;
    t->deaths = idx * 10 + 2;
    t->klog_faults = idx * 10 + 3;
    t->evidence_json = "[\"fpu-leak[42]: segfault at 0 ip 401000\"]";
    t->started = "2025-01-31T12:00:00Z";
    t->finished = "2025-01-31T12:01:00Z";
    t->wall_ms = 60000 + idx;
    t->boot_ms = 9000 + idx;
    t->log_path = "/var/lib/pvlab/runs/1/trial-1.log";
}

/* Begins a run with fill_run's fields; returns its id. */
static long long begin_run(struct fix *f)
{
    struct run_info r;
    struct err e = ERR_INIT;
    long long id = 0;

    fill_run(&r);
    assert_int_equal(store_run_begin(f->s, &r, &id, &e), 0);
    assert_true(id > 0);
    return id;
}

/* Finishes run id with status and reads it back into *got (free with run_rec_free). */
static void finish_run(struct fix *f, long long id, const char *status, struct run_rec *got)
{
    struct err e = ERR_INIT;

    assert_int_equal(store_run_finish(f->s, id, status, &e), 0);
    assert_int_equal(store_run_get(f->s, id, got, NULL, NULL, &e), 0);
}

static void test_round_trip(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct run_info r, upd;
    struct run_rec got, fin;
    struct trial_info t;
    struct trial_rec *trials = NULL;
    size_t nt = 0, i;
    long long id = 0;

    fill_run(&r);
    assert_int_equal(store_run_begin(f->s, &r, &id, &e), 0);
    assert_true(id > 0);

    /* artifact and host facts arrive later; NULL fields keep their stored values */
    memset(&upd, 0, sizeof(upd));
    upd.xen_package = "xen-hypervisor-4.17-amd64_4.17.5+23-ga4e5191dcb-1_amd64.deb";
    upd.xen_sha256 = "aa";
    upd.linux_package = "linux-image-6.1.0-30-amd64.deb";
    upd.linux_sha256 = "bb";
    upd.initramfs_sha256 = "cc";
    upd.cpu_model = "max,-smap";
    upd.l0_kernel = "6.1.0-30-amd64";
    upd.qemu_cmd = "qemu-system-x86_64 -machine q35 -kernel 'xen.bin'";
    upd.accel_note = "kvm: /dev/kvm not present; using tcg";
    assert_int_equal(store_run_update(f->s, id, &upd, &e), 0);

    fill_trial(&t, id, 1, "pass", 2000, 0);
    assert_int_equal(store_trial_add(f->s, &t, &e), 0);
    fill_trial(&t, id, 2, "fail", 1500, 3);
    assert_int_equal(store_trial_add(f->s, &t, &e), 0);
    fill_trial(&t, id, 3, "infra", 700, 5); /* infra says nothing: not counted */
    assert_int_equal(store_trial_add(f->s, &t, &e), 0);

    finish_run(f, id, "done", &fin);
    assert_string_equal(fin.verdict, "fail");
    assert_non_null(fin.finished);
    assert_int_equal(strlen(fin.created), 20); /* 2025-01-31T12:00:00Z */
    assert_int_equal(fin.created[10], 'T');
    assert_int_equal(fin.created[19], 'Z');
    assert_int_equal(fin.trials_pass, 1);
    assert_int_equal(fin.trials_fail, 1);
    assert_int_equal(fin.trials_infra, 1);
    assert_int_equal(fin.trials_skip, 0);
    assert_int_equal(fin.iterations, 3500);
    assert_int_equal(fin.corruptions, 3);
    assert_true(fabs(fin.rate_upper95 - stats_binom_upper(3, 3500, 0.95)) < 1e-15);

    assert_int_equal(store_run_get(f->s, id, &got, &trials, &nt, &e), 0);
    assert_int_equal(got.id, id);
    assert_string_equal(got.created, fin.created);
    assert_string_equal(got.finished, fin.finished);
    assert_string_equal(got.status, "done");
    assert_string_equal(got.xen_spec, "4.17");
    assert_string_equal(got.linux_spec, "debian:6.1");
    assert_string_equal(got.repro, "fpu-leak");
    assert_string_equal(got.params_json, r.params_json);
    assert_int_equal(got.trials_planned, 3);
    assert_string_equal(got.verdict, "fail");
    assert_int_equal(got.trials_pass, 1);
    assert_int_equal(got.trials_fail, 1);
    assert_int_equal(got.trials_infra, 1);
    assert_int_equal(got.trials_skip, 0);
    assert_int_equal(got.iterations, 3500);
    assert_int_equal(got.corruptions, 3);
    assert_true(got.rate_upper95 == fin.rate_upper95);
    assert_string_equal(got.xen_version, "4.17.5");
    assert_string_equal(got.xen_package, upd.xen_package);
    assert_string_equal(got.xen_sha256, "aa");
    assert_string_equal(got.linux_version, "6.1.0-30");
    assert_string_equal(got.linux_package, upd.linux_package);
    assert_string_equal(got.linux_sha256, "bb");
    assert_string_equal(got.initramfs_sha256, "cc");
    assert_string_equal(got.qemu_version, "7.2.15");
    assert_string_equal(got.accel, "tcg");
    assert_string_equal(got.cpu_model, "max,-smap");
    assert_string_equal(got.l0_kernel, "6.1.0-30-amd64");
    assert_string_equal(got.hostname, "l0-host");
    assert_string_equal(got.qemu_cmd, upd.qemu_cmd);
    assert_string_equal(got.accel_note, upd.accel_note);

    assert_int_equal(nt, 3);
    for (i = 0; i < nt; i++) {
        assert_int_equal(trials[i].run_id, id);
        assert_int_equal(trials[i].idx, (int)i + 1);
        assert_string_equal(trials[i].reason, i == 1 || i == 2 ? "corruption events" : "ok");
        assert_int_equal(trials[i].mismatches, (long long)(i + 1) * 10 + 1);
        assert_int_equal(trials[i].deaths, (long long)(i + 1) * 10 + 2);
        assert_int_equal(trials[i].klog_faults, (long long)(i + 1) * 10 + 3);
        assert_string_equal(trials[i].evidence_json, t.evidence_json);
        assert_string_equal(trials[i].started, t.started);
        assert_string_equal(trials[i].finished, t.finished);
        assert_int_equal(trials[i].wall_ms, 60000 + (long long)i + 1);
        assert_int_equal(trials[i].boot_ms, 9000 + (long long)i + 1);
        assert_string_equal(trials[i].log_path, t.log_path);
    }
    assert_string_equal(trials[0].verdict, "pass");
    assert_string_equal(trials[1].verdict, "fail");
    assert_string_equal(trials[2].verdict, "infra");
    assert_int_equal(trials[1].iterations, 1500);
    assert_int_equal(trials[1].corruptions, 3);

    run_rec_free(&got);
    assert_null(got.xen_spec);
    run_rec_free(&fin);
    trial_recs_free(trials, nt);
}

static void test_list_newest_first(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct run_rec *runs = NULL;
    long long ids[4];
    size_t n = 0, i;

    for (i = 0; i < 4; i++)
        ids[i] = begin_run(f);
    /* an older creation time sorts last even with a higher id */
    {
        char sql[96];
        snprintf(sql, sizeof(sql),
                 "UPDATE runs SET created = '2001-01-01T00:00:00Z' "
                 "WHERE id = %lld",
                 ids[2]);
        raw_exec(f->db, sql);
    }
    assert_int_equal(store_run_list(f->s, 0, &runs, &n, &e), 0);
    assert_int_equal(n, 4);
    assert_int_equal(runs[0].id, ids[3]);
    assert_int_equal(runs[1].id, ids[1]);
    assert_int_equal(runs[2].id, ids[0]);
    assert_int_equal(runs[3].id, ids[2]);
    assert_string_equal(runs[0].status, "running");
    assert_null(runs[0].verdict);
    assert_true(isnan(runs[0].rate_upper95));
    run_recs_free(runs, n);

    assert_int_equal(store_run_list(f->s, 2, &runs, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_int_equal(runs[0].id, ids[3]);
    run_recs_free(runs, n);
}

static void test_verdict_table(void **state)
{
    static const struct {
        long pass, fail, infra, skip;
        const char *want;
    } cases[] = {
        { 0, 0, 0, 0, "skip" },  { 0, 0, 0, 3, "skip" },  { 0, 0, 2, 0, "infra" },
        { 0, 0, 2, 5, "infra" }, { 1, 0, 0, 0, "pass" },  { 9, 0, 4, 4, "pass" },
        { 0, 1, 0, 0, "fail" },  { 99, 1, 0, 0, "fail" }, { 5, 2, 3, 4, "fail" },
        { 0, 1, 7, 0, "fail" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(
            store_run_verdict(cases[i].pass, cases[i].fail, cases[i].infra, cases[i].skip),
            cases[i].want);
}

/* The same aggregation through the store, with live counts while the run is going. */
static void test_verdict_through_store(void **state)
{
    static const struct {
        const char *trials[4];
        const char *want;
    } cases[] = {
        { { "skip", "infra", "pass", NULL }, "pass" },
        { { "skip", "infra", NULL }, "infra" },
        { { "skip", NULL }, "skip" },
        { { "pass", "pass", "fail", NULL }, "fail" },
        { { NULL }, "skip" },
    };
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct run_rec r;
    struct trial_info t;
    size_t i, j;
    char sql[128];
    long long id;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        id = begin_run(f);
        for (j = 0; cases[i].trials[j]; j++) {
            fill_trial(&t, id, (int)j + 1, cases[i].trials[j], 100, 0);
            assert_int_equal(store_trial_add(f->s, &t, &e), 0);
        }
        /* counts are current before the run finishes (a dashboard reads them) */
        snprintf(sql, sizeof(sql),
                 "SELECT (trials_pass + trials_fail + trials_infra + trials_skip) || ' ' || "
                 "coalesce(verdict, '-') FROM runs WHERE id = %lld",
                 id);
        {
            char want[32];
            snprintf(want, sizeof(want), "%zu -", j);
            assert_raw(f->db, sql, want);
        }
        finish_run(f, id, "done", &r);
        assert_string_equal(r.verdict, cases[i].want);
        run_rec_free(&r);
    }
}

static void test_rate_bound(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct run_rec r;
    struct trial_info t;
    long long id;

    id = begin_run(f);
    fill_trial(&t, id, 1, "pass", 6000, 0);
    assert_int_equal(store_trial_add(f->s, &t, &e), 0);
    fill_trial(&t, id, 2, "pass", 6000, 0);
    assert_int_equal(store_trial_add(f->s, &t, &e), 0);
    finish_run(f, id, "done", &r);
    assert_string_equal(r.verdict, "pass");
    assert_true(fabs(r.rate_upper95 - (-expm1(log(0.05) / 12000))) < 1e-15);
    run_rec_free(&r);

    /* no iterations: no bound (NaN, stored as NULL) */
    id = begin_run(f);
    fill_trial(&t, id, 1, "infra", 0, 0);
    assert_int_equal(store_trial_add(f->s, &t, &e), 0);
    finish_run(f, id, "error", &r);
    assert_true(isnan(r.rate_upper95));
    {
        char sql[96];
        snprintf(sql, sizeof(sql),
                 "SELECT status || ' ' || typeof(rate_upper95) FROM runs "
                 "WHERE id = %lld",
                 id);
        assert_raw(f->db, sql, "error null");
    }
    run_rec_free(&r);

    /* interrupted (Ctrl-C) before any trial: finished, but no verdict rather than "skip" */
    id = begin_run(f);
    finish_run(f, id, "interrupted", &r);
    assert_null(r.verdict);
    assert_non_null(r.finished);
    run_rec_free(&r);
}

static void test_trial_errors(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct trial_info t;
    long long id = begin_run(f);

    fill_trial(&t, id, 1, "pass", 10, 0);
    assert_int_equal(store_trial_add(f->s, &t, &e), 0);
    /* duplicate index: refused, and the first one is kept */
    fill_trial(&t, id, 1, "fail", 10, 1);
    assert_int_equal(store_trial_add(f->s, &t, &e), -1);
    assert_int_equal(e.code, ERR_DB);
    assert_non_null(strstr(e.msg, "already recorded"));
    assert_non_null(strstr(e.msg, f->db));
    assert_raw(f->db, "SELECT group_concat(verdict) FROM trials", "pass");
    /* bad verdict */
    fill_trial(&t, id, 2, "maybe", 10, 0);
    assert_int_equal(store_trial_add(f->s, &t, &e), -1);
    /* unknown run */
    fill_trial(&t, id + 100, 1, "pass", 10, 0);
    assert_int_equal(store_trial_add(f->s, &t, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    /* the store is still usable: no transaction left open */
    fill_trial(&t, id, 2, "pass", 10, 0);
    assert_int_equal(store_trial_add(f->s, &t, &e), 0);
    /* durable at once: another connection sees it before the run finishes */
    assert_raw(f->db, "SELECT count(*) FROM trials", "2");
}

static void test_unknown_id(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct run_rec got;
    struct run_info r;
    struct trial_rec *trials = NULL;
    size_t nt = 5;

    assert_int_equal(store_run_get(f->s, 42, &got, &trials, &nt, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "no run 42"));
    assert_non_null(strstr(e.msg, "pvlab list"));
    assert_null(trials);
    assert_int_equal(nt, 0);

    memset(&r, 0, sizeof(r));
    r.accel = "kvm";
    err_clear(&e);
    assert_int_equal(store_run_update(f->s, 42, &r, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    err_clear(&e);
    assert_int_equal(store_run_finish(f->s, 42, "done", &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
}

static void test_reopen_and_schema_version(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct store *s2 = NULL;
    struct run_rec *runs = NULL;
    size_t n = 0;
    char want[16];
    long long id = begin_run(f);

    snprintf(want, sizeof(want), "%d", STORE_SCHEMA_VERSION);
    assert_raw(f->db, "PRAGMA user_version", want);
    /* a second open (another pvlab, or a dashboard) while the first is open: no re-migration */
    assert_int_equal(store_open(f->db, &s2, &e), 0);
    assert_int_equal(store_run_list(s2, 0, &runs, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].id, id);
    run_recs_free(runs, n);
    store_close(s2);
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(store_open(f->db, &f->s, &e), 0);
    assert_raw(f->db, "PRAGMA user_version", want);
    assert_raw(f->db, "SELECT count(*) FROM runs", "1");
}

/* Reads a whole file for byte comparison. */
static char *slurp(const char *path, size_t *len_r)
{
    struct buf b = BUF_INIT;

    assert_int_equal(buf_read_file(&b, path, NULL), 0);
    return buf_detach(&b, len_r);
}

static void test_future_schema_refused(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct store *s2 = NULL;
    char *before, *after, *path = xasprintf("%s/future.db", f->dir);
    size_t nb, na;

    raw_exec(path, "CREATE TABLE runs (id INTEGER PRIMARY KEY, shiny TEXT);"
                   "PRAGMA user_version = 99");
    before = slurp(path, &nb);
    assert_int_equal(store_open(path, &s2, &e), -1);
    assert_null(s2);
    assert_int_equal(e.code, ERR_DB);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "newer pvlab"));
    assert_non_null(strstr(e.msg, "99"));
    after = slurp(path, &na);
    assert_int_equal(na, nb); /* not touched: still version 99, still a rollback journal */
    assert_memory_equal(before, after, nb);
    assert_raw(path, "PRAGMA journal_mode", "delete");
    free(before);
    free(after);
    free(path);
}

static void test_foreign_database_refused(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct store *s2 = NULL;
    char *path = xasprintf("%s/other.db", f->dir);
    char *junk = xasprintf("%s/junk.db", f->dir);

    raw_exec(path, "CREATE TABLE photos (id INTEGER PRIMARY KEY)");
    assert_int_equal(store_open(path, &s2, &e), -1);
    assert_non_null(strstr(e.msg, "not a pvlab database"));
    assert_non_null(strstr(e.msg, path));
    assert_raw(path, "SELECT count(*) FROM sqlite_master WHERE name = 'trials'", "0");

    assert_int_equal(
        fs_write_atomic(junk, "this is not sqlite at all, not even close....", 45, NULL), 0);
    err_clear(&e);
    assert_int_equal(store_open(junk, &s2, &e), -1);
    assert_non_null(strstr(e.msg, junk));
    assert_non_null(strstr(e.msg, "not a pvlab database"));
    free(path);
    free(junk);
}

static void test_unwritable_location(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct store *s2 = NULL;
    char *file = xasprintf("%s/regular-file", f->dir);
    char *path = xasprintf("%s/regular-file/sub/pvlab.db", f->dir);

    /* tests run as root, which ignores permission bits: a regular file blocks the path instead */
    assert_int_equal(fs_write_atomic(file, "x", 1, NULL), 0);
    assert_int_equal(store_open(path, &s2, &e), -1);
    assert_null(s2);
    assert_int_equal(e.code, ERR_IO);
    assert_non_null(strstr(e.msg, "cannot create database"));
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "choose another database path"));
    free(file);
    free(path);
}

static void test_wal_mode(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    char *wal = xasprintf("%s-wal", f->db);

    (void)e;
    assert_raw(f->db, "PRAGMA journal_mode", "wal");
    begin_run(f);
    assert_true(fs_exists(wal));
    assert_raw(f->db, "PRAGMA application_id", "1347832898");
    free(wal);
}

static void test_locked_database(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct trial_info t;
    sqlite3 *h = NULL;
    long long id = begin_run(f);

    /* another writer holds the lock for longer than the busy timeout (5 s) */
    assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    fill_trial(&t, id, 1, "pass", 10, 0);
    assert_int_equal(store_trial_add(f->s, &t, &e), -1);
    assert_int_equal(e.code, ERR_DB);
    assert_non_null(strstr(e.msg, "locked by another pvlab"));
    assert_non_null(strstr(e.msg, f->db));
    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(h);
    /* readers are never blocked, and the trial can be added once the lock is gone */
    assert_int_equal(store_trial_add(f->s, &t, &e), 0);
}

/* A pid that certainly belonged to a process that is gone now. */
static long dead_pid(void)
{
    pid_t pid = fork();

    if (pid == 0)
        _exit(0);
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return (long)pid;
}

static void test_stale_runs(void **state)
{
    struct fix *f = *state;
    struct err e = ERR_INIT;
    struct run_rec got;
    struct trial_info t;
    long long live, dead, reused, other_host, rebooted, empty;
    char sql[256];

    live = begin_run(f);
    dead = begin_run(f);
    fill_trial(&t, dead, 1, "pass", 100, 0);
    assert_int_equal(store_trial_add(f->s, &t, &e), 0);
    fill_trial(&t, dead, 2, "fail", 100, 2);
    assert_int_equal(store_trial_add(f->s, &t, &e), 0);
    reused = begin_run(f);
    other_host = begin_run(f);
    rebooted = begin_run(f);
    empty = begin_run(f);

    /* everything is ours and alive: nothing is stale */
    assert_int_equal(store_mark_stale(f->s, &e), 0);

    snprintf(sql, sizeof(sql), "UPDATE runs SET owner_pid = %ld WHERE id IN (%lld, %lld)",
             dead_pid(), dead, empty);
    raw_exec(f->db, sql);
    /* our own pid, but a start time that is not ours: the pid was reused */
    snprintf(sql, sizeof(sql), "UPDATE runs SET owner_start = owner_start + 1 WHERE id = %lld",
             reused);
    raw_exec(f->db, sql);
    snprintf(sql, sizeof(sql),
             "UPDATE runs SET owner_host = 'elsewhere', owner_pid = %ld "
             "WHERE id = %lld",
             dead_pid(), other_host);
    raw_exec(f->db, sql);
    snprintf(sql, sizeof(sql), "UPDATE runs SET owner_boot_id = 'before-reboot' WHERE id = %lld",
             rebooted);
    raw_exec(f->db, sql);

    assert_int_equal(store_mark_stale(f->s, &e), 4);
    assert_int_equal(store_mark_stale(f->s, &e), 0); /* idempotent */

    assert_int_equal(store_run_get(f->s, live, &got, NULL, NULL, &e), 0);
    assert_string_equal(got.status, "running");
    run_rec_free(&got);
    assert_int_equal(store_run_get(f->s, other_host, &got, NULL, NULL, &e), 0);
    assert_string_equal(got.status, "running"); /* cannot check a pid on another machine */
    run_rec_free(&got);
    assert_int_equal(store_run_get(f->s, reused, &got, NULL, NULL, &e), 0);
    assert_string_equal(got.status, "interrupted");
    run_rec_free(&got);
    assert_int_equal(store_run_get(f->s, rebooted, &got, NULL, NULL, &e), 0);
    assert_string_equal(got.status, "interrupted");
    run_rec_free(&got);
    /* the trials recorded before the crash are kept and counted */
    assert_int_equal(store_run_get(f->s, dead, &got, NULL, NULL, &e), 0);
    assert_string_equal(got.status, "interrupted");
    assert_string_equal(got.verdict, "fail");
    assert_int_equal(got.trials_pass, 1);
    assert_int_equal(got.trials_fail, 1);
    assert_int_equal(got.corruptions, 2);
    assert_null(got.finished);
    run_rec_free(&got);
    assert_int_equal(store_run_get(f->s, empty, &got, NULL, NULL, &e), 0);
    assert_string_equal(got.status, "interrupted");
    assert_null(got.verdict);
    run_rec_free(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_newest_first, setup, teardown),
        cmocka_unit_test(test_verdict_table),
        cmocka_unit_test_setup_teardown(test_verdict_through_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trial_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_and_schema_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_future_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_database_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_location, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_runs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
