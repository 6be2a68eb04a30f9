/*
 * The store's matrix queue: a job's result and its completion are one transaction (a trial is
 * never lost or recorded twice), infra retries go back to the queue, a dead owner's leases come
 * back on claim, a live owner is refused, the previous complete run of a name is found.
 */
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
    snprintf(dir, sizeof(dir), "/tmp/pvlab-sm-XXXXXX");
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

static void sql(const char *q)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* A 2-cell matrix (2 and 1 trials), each cell with its own run. */
static long long begin(struct store *s, const char *name)
{
    struct matrix_info mi = { name, "/x/nightly.conf", "ab", "{}" };
    struct matrix_cell_info c[2];
    struct run_info ri = { 0 };
    struct err e = ERR_INIT;
    long long id = 0;

    memset(c, 0, sizeof(c));
    for (int i = 0; i < 2; i++) {
        ri.xen_spec = "4.17";
        ri.linux_spec = i ? "6.1" : "5.10";
        ri.repro = "fpu-leak";
        ri.trials_planned = i ? 1 : 2;
        assert_int_equal(store_run_begin(s, &ri, &c[i].run_id, &e), 0);
        c[i].cell = i;
        c[i].xen = "4.17";
        c[i].linux_ = i ? "6.1" : "5.10";
        c[i].repro = "fpu-leak";
        c[i].xen_spec = "4.17";
        c[i].linux_spec = c[i].linux_;
        c[i].repro_name = "fpu-leak";
        c[i].trials = i ? 1 : 2;
        c[i].iterations = 2000;
    }
    assert_int_equal(store_matrix_begin(s, &mi, c, 2, &id, &e), 0);
    return id;
}

static void trial_for(struct store *s, long long id, const struct matrix_job *j,
                      struct trial_info *t)
{
    struct matrix_rec m;
    struct matrix_cell_rec *cells = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;

    assert_int_equal(store_matrix_get(s, id, &m, &cells, &n, &e), 0);
    memset(t, 0, sizeof(*t));
    t->run_id = cells[j->cell].run_id;
    t->idx = j->idx;
    t->verdict = VERDICT_PASS;
    t->reason = "2000 iterations, no corruption";
    t->iterations = 2000;
    t->host = "hostA";
    matrix_rec_free(&m);
    matrix_cell_recs_free(cells, n);
}

static void test_queue(void **state)
{
    struct store *s = NULL;
    struct err e = ERR_INIT;
    struct matrix_job j, j2;
    struct trial_info t;
    struct matrix_rec m;
    struct trial_rec *tr = NULL;
    struct run_rec r;
    size_t nt = 0;
    long long id;

    assert_int_equal(store_open(dbpath, &s, &e), 0);
    id = begin(s, "nightly");
    assert_int_equal(store_matrix_get(s, id, &m, NULL, NULL, &e), 0);
    assert_int_equal(m.queued, 3);
    matrix_rec_free(&m);
    /* lease, complete: the trial and the job's state together */
    assert_int_equal(store_matrix_lease(s, id, 600, &j, &e), 1);
    trial_for(s, id, &j, &t);
    assert_int_equal(store_matrix_complete(s, id, &j, &t, &e), 0);
    /* the same result again (a second coordinator, a replay): refused, nothing written */
    assert_int_equal(store_matrix_complete(s, id, &j, &t, &e), -1);
    assert_int_equal(e.code, ERR_DB);
    assert_non_null(strstr(e.msg, "not leased"));
    assert_int_equal(store_run_get(s, t.run_id, &r, &tr, &nt, &e), 0);
    assert_int_equal(nt, 1);
    assert_string_equal(tr[0].host, "hostA");
    run_rec_free(&r);
    trial_recs_free(tr, nt);
    /* an infra result goes back to the queue with a retry counted, and comes first again */
    assert_int_equal(store_matrix_lease(s, id, 600, &j2, &e), 1);
    assert_int_equal(store_matrix_retry(s, id, &j2, "timeout: no PVLAB-BEGIN", &e), 0);
    assert_int_equal(store_matrix_get(s, id, &m, NULL, NULL, &e), 0);
    assert_int_equal(m.queued, 2);
    assert_int_equal(m.done, 1);
    matrix_rec_free(&m);
    /* leases run out: an expired lease is leased again */
    assert_int_equal(store_matrix_lease(s, id, -10, &j, &e), 1);
    assert_int_equal(j.infra_retries, 0); /* fresh jobs before retried ones */
    assert_int_equal(store_matrix_lease(s, id, 600, &j2, &e), 1); /* the expired one */
    assert_true(j2.cell == j.cell && j2.idx == j.idx);
    assert_int_equal(store_matrix_lease(s, id, 600, &j2, &e), 1);
    assert_int_equal(j2.infra_retries, 1);
    assert_int_equal(store_matrix_lease(s, id, 600, &j2, &e), 0); /* nothing queued */
    /* a lease given back unrun (the coordinator stops) is queued as it was: no retry */
    assert_int_equal(store_matrix_release(s, id, &j2, &e), 0);
    assert_int_equal(store_matrix_lease(s, id, 600, &j, &e), 1);
    assert_true(j.cell == j2.cell && j.idx == j2.idx);
    assert_int_equal(j.infra_retries, 1);
    assert_int_equal(store_matrix_release(s, id, &j, &e), 0);
    assert_int_equal(store_matrix_release(s, id, &j, &e), -1); /* not leased any more */
    store_close(s);
}

static void test_claim_and_previous(void **state)
{
    struct store *s = NULL;
    struct err e = ERR_INIT;
    struct matrix_job j;
    struct matrix_rec m;
    long long a, b, prev;
    char q[160];

    assert_int_equal(store_open(dbpath, &s, &e), 0);
    a = begin(s, "weekly");
    assert_int_equal(store_matrix_finish(s, a, "done", &e), 0);
    b = begin(s, "weekly");
    assert_int_equal(store_matrix_previous(s, b, &prev, &e), 0);
    assert_int_equal(prev, a);
    assert_int_equal(store_matrix_previous(s, a, &prev, &e), 0);
    assert_int_equal(prev, 0);
    /* a live owner (ourselves counts as a resume of our own) then a dead one */
    assert_int_equal(store_matrix_lease(s, b, 600, &j, &e), 1);
    snprintf(q, sizeof(q), "UPDATE matrices SET owner_pid = 999999999 WHERE id = %lld", b);
    sql(q);
    assert_int_equal(store_matrix_mark_stale(s, &e), 1);
    if (store_matrix_claim(s, b, &e) < 0)
        fail_msg("claim: %s", e.msg);
    assert_int_equal(store_matrix_get(s, b, &m, NULL, NULL, &e), 0);
    assert_string_equal(m.status, "running");
    assert_int_equal(m.leased, 0); /* the dead owner's lease is queued again */
    assert_int_equal(m.queued, 3);
    matrix_rec_free(&m);
    /* another host's running matrix is not ours to take */
    snprintf(q, sizeof(q), "UPDATE matrices SET owner_host = 'elsewhere' WHERE id = %lld", b);
    sql(q);
    assert_int_equal(store_matrix_claim(s, b, &e), -1);
    assert_int_equal(e.code, ERR_BUSY);
    /* done is done */
    assert_int_equal(store_matrix_claim(s, a, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_and_previous, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
