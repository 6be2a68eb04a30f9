/* The store's bisection tables: round trip, trial order, stale owners, claim on resume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "jobs/store.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

static char dir[64];
static char *dbpath;

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/pvlab-sb-XXXXXX");
    assert_non_null(mkdtemp(dir));
    dbpath = xasprintf("%s/pvlab.db", dir);
    return 0;
}

static int teardown(void **state)
{
    fs_rmtree(dir, NULL);
    free(dbpath);
    return 0;
}

static long long begin(struct store *s)
{
    struct bisect_info b = { 0 };
    struct err e = ERR_INIT;
    long long id = 0;

    b.repo = "/src/linux";
    b.axis = "linux";
    b.find = "regression";
    b.good = "aaaa,bbbb";
    b.bad = "cccc";
    b.params_json = "{\"p\":0.5}";
    assert_int_equal(store_bisect_begin(s, &b, &id, &e), 0);
    assert_true(id > 0);
    return id;
}

static void test_round_trip(void **state)
{
    struct store *s = NULL;
    struct err e = ERR_INIT;
    struct bisect_rec b;
    struct bisect_trial_rec *t = NULL;
    size_t n = 0;
    long long id;

    assert_int_equal(store_open(dbpath, &s, &e), 0);
    id = begin(s);
    for (int i = 1; i <= 3; i++) {
        struct bisect_trial_info tr = { 0 };
        tr.bisection_id = id;
        tr.seq = i;
        tr.phase = i == 1 ? "check-bad" : "bisect";
        tr.commit_sha = i == 2 ? "dddd" : "cccc";
        tr.outcome = i == 3 ? VERDICT_FAIL : VERDICT_PASS;
        tr.detail = "exit 0";
        tr.log_path = i == 2 ? "/state/bisect/1/trial-2.log" : NULL;
        tr.best_sha = "dddd";
        tr.best_prob = 0.25 * i;
        tr.cset = 5 - i;
        tr.candidates = 10 - i;
        tr.p_est = 0.5;
        assert_int_equal(store_bisect_trial_add(s, &tr, &e), 0);
    }
    {
        /* a duplicate seq is refused: the sequence is the replay order */
        struct bisect_trial_info dup = { .bisection_id = id,
                                         .seq = 2,
                                         .phase = "bisect",
                                         .commit_sha = "x",
                                         .outcome = VERDICT_PASS };
        assert_int_equal(store_bisect_trial_add(s, &dup, &e), -1);
    }
    assert_int_equal(store_bisect_set_status(s, id, "done", "{\"culprit\":\"dddd\"}", &e), 0);
    assert_int_equal(store_bisect_get(s, id, &b, &t, &n, &e), 0);
    assert_string_equal(b.status, "done");
    assert_non_null(b.finished);
    assert_string_equal(b.good, "aaaa,bbbb");
    assert_string_equal(b.result_json, "{\"culprit\":\"dddd\"}");
    assert_int_equal(n, 3);
    assert_string_equal(t[1].commit_sha, "dddd");
    assert_int_equal(t[2].outcome, VERDICT_FAIL);
    assert_int_equal(t[1].outcome, VERDICT_PASS);
    assert_true(t[2].best_prob == 0.75);
    assert_int_equal(t[0].candidates, 9);
    assert_int_equal(t[0].cset, 4);
    assert_string_equal(t[1].log_path, "/state/bisect/1/trial-2.log");
    assert_null(t[0].log_path);
    for (size_t i = 0; i < n; i++)
        bisect_trial_rec_free(&t[i]);
    free(t);
    bisect_rec_free(&b);
    assert_int_equal(store_bisect_get(s, 9999, &b, NULL, NULL, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    store_close(s);
}

static void test_stale_and_claim(void **state)
{
    struct store *s = NULL;
    struct err e = ERR_INIT;
    struct bisect_rec b;
    sqlite3 *db;
    long long id;
    char sql[128];

    assert_int_equal(store_open(dbpath, &s, &e), 0);
    id = begin(s);
    /* our own process owns it: alive for everyone else, not stale */
    assert_int_equal(store_bisect_mark_stale(s, &e), 0);
    /* pretend its owner died */
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    snprintf(sql, sizeof(sql), "UPDATE bisections SET owner_pid = 999999999 WHERE id = %lld", id);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_bisect_owner_state(s, id, &e), 0);
    assert_true(store_bisect_mark_stale(s, &e) >= 1);
    assert_int_equal(store_bisect_get(s, id, &b, NULL, NULL, &e), 0);
    assert_string_equal(b.status, "interrupted");
    bisect_rec_free(&b);
    assert_int_equal(store_bisect_claim(s, id, &e), 0);
    assert_int_equal(store_bisect_get(s, id, &b, NULL, NULL, &e), 0);
    assert_string_equal(b.status, "running");
    assert_null(b.finished);
    bisect_rec_free(&b);
    {
        struct bisect_rec *v = NULL;
        size_t n = 0;
        assert_int_equal(store_bisect_list(s, 10, &v, &n, &e), 0);
        assert_true(n >= 1);
        assert_int_equal(v[0].id, id); /* newest first */
        for (size_t i = 0; i < n; i++)
            bisect_rec_free(&v[i]);
        free(v);
    }
    store_close(s);
}

/* Runs f in a child process (own process group), which writes "ready" and then waits to be
 * killed; returns its pid. */
static pid_t sleeper(void)
{
    int fds[2];
    char c;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        close(fds[0]);
        (void)!write(fds[1], "r", 1);
        for (;;)
            pause();
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    return pid;
}

/* Two resumes at once: a live owner (another process) makes the second claim fail, cleanly. */
static void test_claim_is_exclusive(void **state)
{
    struct store *s = NULL;
    struct err e = ERR_INIT;
    sqlite3 *db;
    long long id;
    char sql[160];
    pid_t other = sleeper();
    int status;

    assert_int_equal(store_open(dbpath, &s, &e), 0);
    id = begin(s);
    /* the bisection is owned by another live process of this host */
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "UPDATE bisections SET owner_pid = %d, owner_start = NULL "
             "WHERE id = %lld",
             (int)other, id);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_bisect_owner_state(s, id, &e), 1);
    assert_int_equal(store_bisect_claim(s, id, &e), -1);
    assert_int_equal(e.code, ERR_BUSY);
    assert_non_null(strstr(e.msg, "is running in pvlab process"));
    /* once that process is gone, the claim succeeds and makes us the owner */
    kill(other, SIGKILL);
    waitpid(other, &status, 0);
    err_clear(&e);
    assert_int_equal(store_bisect_claim(s, id, &e), 0);
    assert_int_equal(store_bisect_owner_state(s, id, &e), 0); /* ourselves */
    /* owned by a process of another host: its pid means nothing here */
    snprintf(sql, sizeof(sql),
             "UPDATE bisections SET owner_host = 'elsewhere', owner_pid = 1 "
             "WHERE id = %lld",
             id);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_bisect_owner_state(s, id, &e), 2);
    assert_int_equal(store_bisect_claim(s, id, &e), -1);
    assert_int_equal(e.code, ERR_BUSY);
    assert_non_null(strstr(e.msg, "elsewhere"));
    sqlite3_close(db);
    store_close(s);
}

/* What a dead owner left running is killed on resume; another host's record is left alone. */
static void test_slots_reaped(void **state)
{
    struct store *s = NULL;
    struct err e = ERR_INIT;
    sqlite3 *db;
    long long id;
    pid_t left = sleeper(), foreign = sleeper();
    char sql[160];
    int status;

    assert_int_equal(store_open(dbpath, &s, &e), 0);
    id = begin(s);
    assert_int_equal(store_bisect_slot_set(s, id, 0, (long)left, &e), 0);
    assert_int_equal(store_bisect_slot_set(s, id, 1, (long)foreign, &e), 0);
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    snprintf(sql, sizeof(sql), "UPDATE bisect_slots SET host = 'elsewhere' WHERE slot = 1");
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_bisect_slots_reap(s, id, &e), 1);
    assert_int_equal(waitpid(left, &status, 0), left);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* the other host's pgid was not signalled, and the records are gone */
    assert_int_equal(kill(foreign, 0), 0);
    assert_int_equal(store_bisect_slots_reap(s, id, &e), 0);
    /* a cleared slot is not reaped */
    assert_int_equal(store_bisect_slot_set(s, id, 0, (long)foreign, &e), 0);
    assert_int_equal(store_bisect_slot_clear(s, id, 0, &e), 0);
    assert_int_equal(store_bisect_slots_reap(s, id, &e), 0);
    assert_int_equal(kill(foreign, 0), 0);
    kill(foreign, SIGKILL);
    waitpid(foreign, &status, 0);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_stale_and_claim),
        cmocka_unit_test(test_claim_is_exclusive),
        cmocka_unit_test(test_slots_reaped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
