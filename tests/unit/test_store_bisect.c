/* The store's bisection tables: round trip, trial order, stale owners, claim on resume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    struct bisect_rec b = { 0 };
    struct err e = ERR_INIT;

    b.repo = "/src/linux";
    b.axis = "linux";
    b.find = "regression";
    b.good = "aaaa,bbbb";
    b.bad = "cccc";
    b.params_json = "{\"p\":0.5}";
    assert_int_equal(store_bisect_begin(s, &b, &e), 0);
    assert_true(b.id > 0);
    assert_non_null(b.created);
    free(b.created);
    return b.id;
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
        struct bisect_trial_rec tr = { 0 };
        tr.bisection_id = id;
        tr.seq = i;
        tr.phase = i == 1 ? "check-bad" : "bisect";
        tr.commit_sha = i == 2 ? "dddd" : "cccc";
        tr.outcome = i == 3 ? "fail" : "pass";
        tr.detail = "exit 0";
        tr.best_sha = "dddd";
        tr.best_prob = 0.25 * i;
        tr.candidates = 10 - i;
        tr.p_est = 0.5;
        assert_int_equal(store_bisect_trial_add(s, &tr, &e), 0);
    }
    {
        /* a duplicate seq is refused: the sequence is the replay order */
        struct bisect_trial_rec dup = { .bisection_id = id, .seq = 2, .phase = "bisect",
                                        .commit_sha = "x", .outcome = "pass" };
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
    assert_string_equal(t[2].outcome, "fail");
    assert_true(t[2].best_prob == 0.75);
    assert_int_equal(t[0].candidates, 9);
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
    assert_int_equal(store_bisect_owner_alive(s, id, &e), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_stale_and_claim),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
