/*
 * A dashboard request as a bisection of this lab: the repository and test command come from
 * the lab's own [repos] / [repo_test], never from the request; the resolved commit ids are
 * used; options map onto the bisection; what this lab cannot or must not run is refused with
 * the reason (positive controls for each refusal, and a request that passes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "config/config.h"
#include "reporter/worker.h"

static struct config cfg;
static json_t *req; /* rq's strings point into it (or into cfg) until the next map */

static int setup(void **state)
{
    struct err e = ERR_INIT;

    (void)state;
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "repos", "linux-stable", "/srv/linux", &e), 0);
    assert_int_equal(config_set(&cfg, "repos", "tiny", "/srv/tiny", &e), 0);
    assert_int_equal(config_set(&cfg, "repo_test", "tiny", "./t.sh $1", &e), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(req);
    req = NULL;
    config_free(&cfg);
    return 0;
}

/* Maps req_json; returns worker_request's result, message in msg. */
static int map(const char *req_json, struct bisect_request *rq, char *msg, size_t n)
{
    json_error_t je;
    struct err e = ERR_INIT;
    int rc;

    json_decref(req);
    req = json_loads(req_json, 0, &je);
    assert_non_null(req);
    memset(rq, 0, sizeof(*rq));
    rc = worker_request(&cfg, req, rq, &e);
    snprintf(msg, n, "%s", e.msg);
    return rc;
}

static void test_boot_request(void **state)
{
    struct bisect_request rq;
    char msg[512];

    (void)state;
    assert_int_equal(
        map("{\"id\":7,\"alias\":\"linux-stable\",\"good\":\"v6.1.1\","
            "\"bad\":\"v6.1.2\",\"good_sha\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
            "\"bad_sha\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"axis\":\"linux\","
            "\"find\":\"fix\",\"xen\":\"4.20\",\"repro\":\"fpu-leak\",\"confidence\":0.9,"
            "\"options\":{\"iterations\":500,\"lazy_fpu\":true,\"p\":0.5,"
            "\"max_trials\":40,\"verify\":false,\"workers\":2}}",
            &rq, msg, sizeof(msg)),
        0);
    assert_string_equal(rq.repo, "/srv/linux");
    /* the commit ids the dashboard resolved, not the names */
    assert_string_equal(rq.good.v[0], "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_string_equal(rq.bad, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    assert_int_equal(rq.find_fix, 1);
    assert_string_equal(rq.axis, "linux");
    assert_null(rq.test_cmd);
    assert_string_equal(rq.xen_spec, "4.20");
    assert_string_equal(rq.linux_spec, cfg.run_linux); /* not named: the lab's default */
    assert_string_equal(rq.repro, "fpu-leak");
    assert_int_equal(rq.iterations, 500);
    assert_int_equal(rq.lazy_fpu, 1);
    assert_true(rq.p == 0.5);
    assert_int_equal(rq.max_trials, 40);
    assert_int_equal(rq.verify, 0);
    assert_int_equal(rq.workers, 2);
    assert_true(rq.confidence == 0.9);
    sv_clear(&rq.good);
}

static void test_test_cmd_request(void **state)
{
    struct bisect_request rq;
    char msg[512];

    (void)state;
    assert_int_equal(map("{\"id\":1,\"alias\":\"tiny\",\"good\":\"A\",\"bad\":\"B\","
                         "\"axis\":\"test-cmd\",\"options\":{\"workers\":0}}",
                         &rq, msg, sizeof(msg)),
                     0);
    assert_int_equal(rq.workers, cfg.bisect_workers); /* 0: the lab's own */
    assert_string_equal(rq.repo, "/srv/tiny");
    assert_string_equal(rq.test_cmd, "./t.sh $1"); /* the lab's, from [repo_test] */
    assert_string_equal(rq.good.v[0], "A");        /* no resolved ids: the names */
    assert_int_equal(rq.find_fix, 0);
    sv_clear(&rq.good);
}

static void test_refusals(void **state)
{
    static const struct {
        const char *req, *why;
    } bad[] = {
        { "{\"alias\":\"nope\",\"good\":\"A\",\"bad\":\"B\",\"axis\":\"linux\"}",
          "no repository 'nope'" },
        { "{\"alias\":\"../etc\",\"good\":\"A\",\"bad\":\"B\",\"axis\":\"linux\"}",
          "no repository" },
        { "{\"alias\":\"linux-stable\",\"good\":\"A\",\"bad\":\"B\",\"axis\":\"test-cmd\"}",
          "no test command for 'linux-stable'" },
        { "{\"alias\":\"linux-stable\",\"good\":\"A\",\"bad\":\"B\",\"axis\":\"linux\","
          "\"xen\":\"file:/etc/shadow\"}",
          "not a plain version" },
        { "{\"alias\":\"linux-stable\",\"good\":\"A\",\"bad\":\"B\",\"axis\":\"xen\","
          "\"linux\":\"git:/srv/x@HEAD\"}",
          "not a plain version" },
        { "{\"alias\":\"linux-stable\",\"good\":\"A\",\"bad\":\"B\",\"axis\":\"qemu\"}",
          "axis must be" },
        { "{\"alias\":\"linux-stable\",\"good\":\"--all\",\"bad\":\"B\",\"axis\":\"linux\"}",
          "no good and bad" },
        { "{\"alias\":\"linux-stable\",\"bad\":\"B\",\"axis\":\"linux\"}", "no good and bad" },
        { "{\"alias\":\"linux-stable\",\"good\":\"A\",\"bad\":\"B\",\"axis\":\"linux\","
          "\"confidence\":1.5}",
          "confidence must be" },
    };
    struct bisect_request rq;
    char msg[512];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(map(bad[i].req, &rq, msg, sizeof(msg)), -1);
        if (!strstr(msg, bad[i].why))
            fail_msg("request %zu: '%s' does not say '%s'", i, msg, bad[i].why);
        sv_clear(&rq.good);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boot_request),
        cmocka_unit_test(test_test_cmd_request),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
