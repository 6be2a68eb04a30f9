/* The matrix comparison's decision table: every row, and the "never on one lucky pass" rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/matrix_report.h"
#include "reporter/client.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

static struct run_rates rates(long boots, long corrupt, long long iters, long long corr, double lo)
{
    struct run_rates r;

    memset(&r, 0, sizeof(r));
    r.boots = boots;
    r.boots_corrupt = corrupt;
    r.iterations = iters;
    r.corruptions = corr;
    r.rate = iters ? (double)corr / (double)iters : NAN;
    r.rate_lo = lo;
    return r;
}

static void test_table(void **state)
{
    struct run_rates clean = rates(2, 0, 4000, 0, 0);
    struct run_rates strong = rates(2, 2, 4000, 400, 0.05); /* 10%, lower bound 5% */
    struct run_rates rare = rates(2, 1, 4000, 1, 0.00001);  /* 1 in 4000 */
    struct run_rates none = rates(0, 0, 0, 0, NAN);

    assert_int_equal(cell_classify(1, CELL_CLEAN, &clean, CELL_UNTESTED, &none),
                     CHANGE_COULD_NOT_TEST);
    assert_int_equal(cell_classify(0, CELL_UNTESTED, &none, CELL_CLEAN, &clean), CHANGE_NEW);
    assert_int_equal(cell_classify(0, CELL_UNTESTED, &none, CELL_CORRUPT, &strong),
                     CHANGE_NEVER_PASS);
    assert_int_equal(cell_classify(1, CELL_CLEAN, &clean, CELL_CLEAN, &clean), CHANGE_PASS);
    assert_int_equal(cell_classify(1, CELL_CORRUPT, &strong, CELL_CORRUPT, &rare),
                     CHANGE_NEVER_PASS);
    /* clean before, clearly corrupt now: 4000 clean iterations at >= 5% is impossible */
    assert_int_equal(cell_classify(1, CELL_CLEAN, &clean, CELL_CORRUPT, &strong),
                     CHANGE_REGRESSION);
    /* clean before, one corruption in 4000 now: 4000 clean iterations are quite possible */
    assert_int_equal(cell_classify(1, CELL_CLEAN, &clean, CELL_CORRUPT, &rare), CHANGE_HEISENBUG);
    /* the other way round: FIXED only when the old rate would surely have shown */
    assert_int_equal(cell_classify(1, CELL_CORRUPT, &strong, CELL_CLEAN, &clean), CHANGE_FIXED);
    assert_int_equal(cell_classify(1, CELL_CORRUPT, &rare, CELL_CLEAN, &clean), CHANGE_HEISENBUG);
    /* a previous run that could not test is no baseline */
    assert_int_equal(cell_classify(1, CELL_UNTESTED, &none, CELL_CORRUPT, &strong),
                     CHANGE_NEVER_PASS);
    /* a single lucky clean boot of 50 iterations does not make a FIXED */
    {
        struct run_rates lucky = rates(1, 0, 50, 0, 0);
        assert_int_equal(cell_classify(1, CELL_CORRUPT, &strong, CELL_CLEAN, &lucky),
                         CHANGE_HEISENBUG);
    }
}

static void test_upstream_rev(void **state)
{
    char r[64];

    assert_int_equal(debian_upstream_rev("linux", "6.1.192-3", r, sizeof(r)), 0);
    assert_string_equal(r, "v6.1.192");
    assert_int_equal(debian_upstream_rev("linux", "6.12.118-1", r, sizeof(r)), 0);
    assert_string_equal(r, "v6.12.118");
    assert_int_equal(debian_upstream_rev("linux", "6.1.0-1", r, sizeof(r)), 0);
    assert_string_equal(r, "v6.1");
    assert_int_equal(debian_upstream_rev("linux", "6.13~rc5-1~exp1", r, sizeof(r)), 0);
    assert_string_equal(r, "v6.13-rc5");
    assert_int_equal(debian_upstream_rev("linux", "1:5.10.237-1", r, sizeof(r)), 0);
    assert_string_equal(r, "v5.10.237");
    assert_int_equal(debian_upstream_rev("xen", "4.17.7+13-g2445b30a44-0+deb12u1", r, sizeof(r)),
                     0);
    assert_string_equal(r, "2445b30a44");
    assert_int_equal(debian_upstream_rev("xen", "4.17.0-1", r, sizeof(r)), 0);
    assert_string_equal(r, "RELEASE-4.17.0");
    /* no upstream revision in these: no bisection is proposed */
    assert_int_equal(debian_upstream_rev("linux", "local build", r, sizeof(r)), -1);
    assert_int_equal(debian_upstream_rev("linux", "", r, sizeof(r)), -1);
    assert_int_equal(debian_upstream_rev("linux", NULL, r, sizeof(r)), -1);
    assert_int_equal(debian_upstream_rev("xen", "4.17.7+13-gzz-1", r, sizeof(r)), -1);
    assert_int_equal(debian_upstream_rev("qemu", "7.2.0-1", r, sizeof(r)), -1);
    assert_int_equal(debian_upstream_rev("linux", "6.1.192-3", r, 4), -1);
}

/*
 * One matrix, one cell, two nights: clean under linux A, corrupt under linux B (or the same
 * images both nights). The report names what changed and, with a repository for the axis,
 * the bisection from A's tag to B's. corrupt: 0 clean, 1 corrupt, 2 skipped (did not build).
 */
static long long night_of(struct store *s, const char *name, const char *linux_label,
                          const char *params, const char *lver, const char *lsha, int corrupt)
{
    struct matrix_info mi = { name, "/x/n.conf", "ab", params };
    struct matrix_cell_info c;
    struct run_info ri = { 0 };
    struct matrix_job j;
    struct trial_info t;
    struct matrix_rec m;
    struct matrix_cell_rec *cells = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    long long id = 0;

    ri.xen_spec = "4.17";
    ri.linux_spec = "6.1";
    ri.repro = "fpu-leak";
    ri.trials_planned = 2;
    ri.xen_version = "4.17.7+13-g2445b30a44-0+deb12u1";
    ri.xen_sha256 = "x1";
    ri.linux_version = lver;
    ri.linux_sha256 = lsha;
    ri.initramfs_sha256 = "i1";
    ri.qemu_version = "7.2.0";
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_run_begin(s, &ri, &c.run_id, &e), 0);
    c.xen = c.xen_spec = "4.17";
    c.linux_ = c.linux_spec = linux_label;
    c.repro = c.repro_name = "fpu-leak";
    c.options_json = "{\"lazy_fpu\":true}";
    c.trials = 2;
    c.iterations = 2000;
    assert_int_equal(store_matrix_begin(s, &mi, &c, 1, &id, &e), 0);
    assert_int_equal(store_matrix_get(s, id, &m, &cells, &n, &e), 0);
    while (store_matrix_lease(s, id, 600, &j, &e) == 1) {
        memset(&t, 0, sizeof(t));
        t.run_id = cells[0].run_id;
        t.idx = j.idx;
        t.verdict = corrupt == 2 ? VERDICT_SKIP : corrupt ? VERDICT_FAIL : VERDICT_PASS;
        t.reason =
            corrupt == 2 ? "Linux '6.1': linux abc does not build (make bzImage failed)" : "r";
        t.iterations = corrupt == 2 ? 0 : 2000;
        t.corruptions = corrupt == 1 ? 300 : 0;
        assert_int_equal(store_matrix_complete(s, id, &j, &t, &e), 0);
    }
    assert_int_equal(store_run_finish(s, cells[0].run_id, "done", &e), 0);
    assert_int_equal(store_matrix_finish(s, id, "done", &e), 0);
    matrix_rec_free(&m);
    matrix_cell_recs_free(cells, n);
    return id;
}

static long long night(struct store *s, const char *params, const char *lver, const char *lsha,
                       int corrupt)
{
    return night_of(s, "n", "6.1", params, lver, lsha, corrupt);
}

/* Each store test gets a fresh store in a temporary directory (the directory is the store's). */
static char store_dir[] = "/tmp/pvlab-mr-XXXXXX";

static int store_setup(void **state)
{
    struct store *s = NULL;
    char *db;
    int rc;

    strcpy(store_dir, "/tmp/pvlab-mr-XXXXXX");
    if (!mkdtemp(store_dir))
        return -1;
    db = xasprintf("%s/pvlab.db", store_dir);
    rc = store_open(db, &s, NULL);
    free(db);
    *state = s;
    return rc;
}

static int store_teardown(void **state)
{
    store_close(*state);
    return fs_rmtree(store_dir, NULL);
}

static void test_cause(void **state)
{
    struct store *s = *state;
    struct err e = ERR_INIT;
    struct matrix_report rep;
    const char *hint = "{\"bisect_linux\":\"linux-stable\"}";

    /* linux changed and the matrix names a repository: a bisection from tag to tag */
    long long a = night(s, hint, "6.1.192-3", "l1", 0);
    long long b = night(s, hint, "6.1.195-1", "l2", 1);
    assert_int_equal(matrix_report_build(s, b, a, &rep, &e), 0);
    assert_int_equal(rep.cr[0].change, CHANGE_REGRESSION);
    assert_string_equal(rep.cr[0].cause.changed, "linux 6.1.192-3 -> 6.1.195-1");
    assert_string_equal(rep.cr[0].cause.axis, "linux");
    assert_string_equal(rep.cr[0].cause.repo, "linux-stable");
    assert_string_equal(rep.cr[0].cause.find, "regression");
    assert_string_equal(rep.cr[0].cause.good, "v6.1.192");
    assert_string_equal(rep.cr[0].cause.bad, "v6.1.195");
    {
        struct buf cmd = BUF_INIT;
        cell_bisect_cmd(&rep.cr[0], &cmd);
        assert_string_equal(cmd.data, "pvlab bisect start --repo linux-stable --axis linux "
                                      "--find regression --good v6.1.192 --bad v6.1.195 "
                                      "--xen 4.17 --repro fpu-leak --iterations 2000 --lazy-fpu");
        buf_release(&cmd);
        /* the same bisection as a dashboard request */
        reporter_bisect_request(&rep.cr[0], &cmd);
        assert_string_equal(cmd.data, "{\"alias\":\"linux-stable\",\"good\":\"v6.1.192\","
                                      "\"bad\":\"v6.1.195\",\"axis\":\"linux\",\"find\":"
                                      "\"regression\",\"xen\":\"4.17\",\"repro\":\"fpu-leak\","
                                      "\"options\":{\"iterations\":2000,\"lazy_fpu\":true}}");
        buf_release(&cmd);
        /* the published page says what booted in each axis: spec, version, hash */
        matrix_report_md(&rep, &cmd);
        assert_non_null(strstr(cmd.data, "### What booted"));
        assert_non_null(strstr(cmd.data, "| 6.1 | `6.1` | - 6.1.195-1 l2 |"));
        assert_non_null(
            strstr(cmd.data, "| 4.17 | `4.17` | - 4.17.7+13-g2445b30a44-0+deb12u1 x1 |"));
        assert_non_null(strstr(cmd.data, "Host: 7.2.0"));
        buf_release(&cmd);
    }
    matrix_report_free(&rep);

    /* the way back is a fix: the old end is bad */
    long long c = night(s, hint, "6.1.196-1", "l3", 0);
    assert_int_equal(matrix_report_build(s, c, b, &rep, &e), 0);
    assert_int_equal(rep.cr[0].change, CHANGE_FIXED);
    assert_string_equal(rep.cr[0].cause.find, "fix");
    assert_string_equal(rep.cr[0].cause.good, "v6.1.196");
    assert_string_equal(rep.cr[0].cause.bad, "v6.1.195");
    matrix_report_free(&rep);

    /* same images: nothing changed, nothing to bisect */
    long long d = night(s, hint, "6.1.196-1", "l3", 1);
    assert_int_equal(matrix_report_build(s, d, c, &rep, &e), 0);
    assert_int_equal(rep.cr[0].change, CHANGE_REGRESSION);
    assert_string_equal(rep.cr[0].cause.changed, "");
    assert_null(rep.cr[0].cause.axis);
    matrix_report_free(&rep);

    /* no repository for the axis: the change is named, no bisection */
    long long f = night(s, "{}", "6.1.190-1", "l4", 0);
    long long g = night(s, "{}", "6.1.191-1", "l5", 1);
    assert_int_equal(matrix_report_build(s, g, f, &rep, &e), 0);
    assert_string_equal(rep.cr[0].cause.changed, "linux 6.1.190-1 -> 6.1.191-1");
    assert_null(rep.cr[0].cause.axis);
    matrix_report_free(&rep);

    /* a pass is no change to explain */
    long long h = night(s, hint, "6.1.191-1", "l5", 0);
    long long k = night(s, hint, "6.1.199-1", "l6", 0);
    assert_int_equal(matrix_report_build(s, k, h, &rep, &e), 0);
    assert_int_equal(rep.cr[0].change, CHANGE_PASS);
    assert_null(rep.cr[0].cause.changed);
    matrix_report_free(&rep);
}

/* Several runs of one matrix (slices), one table: every cell of each, the run named last
 * winning a cell run twice, labels by version; runs of another matrix are refused. */
static void test_merge(void **state)
{
    struct store *s = *state;
    struct err e = ERR_INIT;
    struct matrix_report rep;
    struct buf out = BUF_INIT;
    long long ids[3];
    char want[128];

    assert_true(label_cmp("6.1", "6.12") < 0);
    assert_true(label_cmp("2.6.39.4", "3.4.113") < 0);
    assert_true(label_cmp("4.2.8-ckt12-ubuntu", "4.4.178") < 0);
    assert_true(label_cmp("4.20", "4.17") > 0);
    assert_true(label_cmp("3.10.108", "3.7.2") > 0);
    assert_int_equal(label_cmp("4.17", "4.17"), 0);
    long long a = night_of(s, "n", "6.12", "{}", "6.12.1-1", "l2", 0);
    long long b = night_of(s, "n", "6.1", "{}", "6.1.192-3", "l1", 1);
    long long c = night_of(s, "n", "6.12", "{}", "6.12.1-1", "l2", 1);
    long long x = night_of(s, "other", "6.1", "{}", "6.1.192-3", "l1", 0);

    ids[0] = a, ids[1] = b;
    assert_int_equal(matrix_report_build_many(s, ids, 2, 0, &rep, &e), 0);
    assert_int_equal(rep.ncells, 2);
    matrix_report_text(&rep, &out);
    /* 6.1 (from b) above 6.12 (from a, named first): by version, not by run */
    assert_non_null(strstr(out.data, "6.1 "));
    assert_true(strstr(out.data, "\n6.1 ") < strstr(out.data, "\n6.12 "));
    buf_reset(&out);
    matrix_report_md(&rep, &out);
    snprintf(want, sizeof(want), "matrices %lld, %lld (a cell run in several: the last named)", a,
             b);
    assert_non_null(strstr(out.data, want));
    buf_reset(&out);
    matrix_report_json(&rep, &out);
    snprintf(want, sizeof(want), "\"matrices\":[%lld,%lld]", a, b);
    assert_non_null(strstr(out.data, want));
    snprintf(want, sizeof(want), "\"matrix\":%lld", b);
    assert_non_null(strstr(out.data, want));
    buf_reset(&out);
    matrix_report_free(&rep);

    ids[0] = a, ids[1] = b, ids[2] = c; /* 6.12 again in c, corrupt there: c's wins */
    assert_int_equal(matrix_report_build_many(s, ids, 3, 0, &rep, &e), 0);
    assert_int_equal(rep.ncells, 2);
    for (size_t i = 0; i < rep.ncells; i++)
        if (!strcmp(rep.cr[i].c.linux_, "6.12")) {
            assert_int_equal(rep.cell_from[i], c);
            assert_int_equal(rep.cr[i].state, CELL_CORRUPT);
        }
    matrix_report_free(&rep);
    ids[0] = c, ids[1] = b, ids[2] = a; /* the other way round: a's clean cell */
    assert_int_equal(matrix_report_build_many(s, ids, 3, 0, &rep, &e), 0);
    for (size_t i = 0; i < rep.ncells; i++)
        if (!strcmp(rep.cr[i].c.linux_, "6.12")) {
            assert_int_equal(rep.cell_from[i], a);
            assert_int_equal(rep.cr[i].state, CELL_CLEAN);
        }
    matrix_report_free(&rep);

    /* text: the Linux column as wide as its longest label, so every row's cells line up */
    long long d = night_of(s, "n", "4.2.8-ckt12-ubuntu", "{}", "4.2.8", "l3", 0);
    ids[0] = b, ids[1] = d;
    assert_int_equal(matrix_report_build_many(s, ids, 2, 0, &rep, &e), 0);
    matrix_report_text(&rep, &out);
    {
        const char *head = strstr(out.data, "\nLinux \\ Xen"), *lng, *sht;
        assert_non_null(head);
        lng = strstr(head, "\n4.2.8-ckt12-ubuntu ");
        sht = strstr(head, "\n6.1 ");
        assert_non_null(lng);
        assert_non_null(sht);
        assert_non_null(strstr(lng, "pass"));
        assert_non_null(strstr(sht, "FAIL"));
        assert_int_equal(strstr(head, "4.17") - head, strstr(lng, "pass") - lng);
        assert_int_equal(strstr(lng, "pass") - lng, strstr(sht, "FAIL") - sht);
    }
    buf_reset(&out);
    matrix_report_free(&rep);

    ids[0] = a, ids[1] = x; /* another matrix's run */
    assert_int_equal(matrix_report_build_many(s, ids, 2, 0, &rep, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "only runs of one matrix"));
    err_clear(&e);
    ids[0] = a, ids[1] = b; /* nothing to compare a merged table with */
    assert_int_equal(matrix_report_build_many(s, ids, 2, a, &rep, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    err_clear(&e);
    buf_release(&out);
}

/* A cell whose kernel did not build: untestable with the build's reason in every format, and no
 * REGRESSION against a clean night (nothing was measured). */
static void test_untestable(void **state)
{
    struct store *s = *state;
    struct err e = ERR_INIT;
    struct matrix_report rep;
    struct buf out = BUF_INIT;

    long long a = night(s, "{}", "6.1.192-3", "l1", 0);
    long long b = night(s, "{}", "6.1.192-3", "l1", 2);
    assert_int_equal(matrix_report_build(s, b, a, &rep, &e), 0);
    assert_int_equal(rep.cr[0].state, CELL_UNTESTED);
    assert_int_equal(rep.cr[0].skipped, 2);
    assert_int_equal(rep.cr[0].infra, 0);
    assert_string_equal(rep.cr[0].untestable,
                        "Linux '6.1': linux abc does not build (make bzImage failed)");
    assert_int_equal(rep.cr[0].change, CHANGE_COULD_NOT_TEST);
    matrix_report_text(&rep, &out);
    assert_non_null(strstr(out.data, "untestable 2/2"));
    assert_non_null(strstr(out.data, "  4.17 x 6.1 x fpu-leak: Linux '6.1': linux abc does not"));
    buf_reset(&out);
    matrix_report_md(&rep, &out);
    assert_non_null(strstr(out.data, "### Could not be tested\n\n- 4.17 x 6.1 x fpu-leak: "));
    buf_reset(&out);
    matrix_report_json(&rep, &out);
    assert_non_null(strstr(out.data, "\"verdict\":\"skip\""));
    assert_non_null(strstr(out.data, "\"skipped\":2"));
    assert_non_null(strstr(out.data, "\"untestable\":\"Linux '6.1': linux abc does not build"));
    matrix_report_free(&rep);
    /* the negative control: a measured night says nothing of the kind */
    buf_reset(&out);
    assert_int_equal(matrix_report_build(s, a, 0, &rep, &e), 0);
    assert_null(rep.cr[0].untestable);
    matrix_report_md(&rep, &out);
    assert_null(strstr(out.data, "Could not be tested"));
    buf_reset(&out);
    matrix_report_json(&rep, &out);
    assert_non_null(strstr(out.data, "\"verdict\":\"pass\""));
    matrix_report_free(&rep);
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_upstream_rev),
        cmocka_unit_test_setup_teardown(test_cause, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_untestable, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_merge, store_setup, store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
