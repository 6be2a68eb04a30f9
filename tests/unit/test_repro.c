/* images/payload: the reproducer table and the pvlab.* kernel parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "images/payload.h"
#include "util/buf.h"

static void test_find(void **state)
{
    const struct repro_info *r;
    size_t n;

    r = repro_find("fpu-leak");
    assert_non_null(r);
    assert_string_equal(r->probe, "fpu-probe");
    assert_int_equal(r->self_test_only, 0);
    r = repro_find("seed-memcmp");
    assert_non_null(r);
    assert_string_equal(r->probe, "memcmp-probe");
    r = repro_find("self-test-hang");
    assert_non_null(r);
    assert_null(r->probe);
    assert_int_equal(r->self_test_only, 1);
    assert_null(repro_find("fpu"));
    assert_null(repro_find(""));
    assert_null(repro_find(NULL));
    assert_non_null(repro_table(&n));
    assert_int_equal(n, 3);
}

static void test_lookup_error_lists_names(void **state)
{
    struct err e = ERR_INIT;
    struct buf names = BUF_INIT;

    assert_null(repro_lookup("x", &e));
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_string_equal(e.msg, "unknown reproducer 'x'; known: fpu-leak, seed-memcmp, "
                               "self-test-hang");
    repro_names(&names);
    assert_string_equal(names.data, "fpu-leak, seed-memcmp, self-test-hang");
    buf_release(&names);
}

static void test_cmdline_output(void **state)
{
    struct repro_params p = { "fpu-leak", 2000, 0, 0, 0, 0 };
    struct buf b = BUF_INIT;
    struct err e = ERR_INIT;

    buf_adds(&b, "console=hvc0");
    assert_int_equal(repro_cmdline(&p, &b, &e), 0);
    assert_string_equal(b.data, "console=hvc0 pvlab.repro=fpu-leak pvlab.iterations=2000 "
                                "pvlab.workers=0 pvlab.self_test_corrupt=0 pvlab.seed=0");
    buf_reset(&b);
    p = (struct repro_params){ "seed-memcmp", 10000000, 7, 0.25, 4242, 0 };
    assert_int_equal(repro_cmdline(&p, &b, &e), 0);
    assert_string_equal(b.data, " pvlab.repro=seed-memcmp pvlab.iterations=10000000 "
                                "pvlab.workers=7 pvlab.self_test_corrupt=0.25 pvlab.seed=4242");
    buf_reset(&b);
    p = (struct repro_params){ "fpu-leak", 1, 256, 1, 1, 0 };
    assert_int_equal(repro_cmdline(&p, &b, &e), 0);
    assert_non_null(strstr(b.data, " pvlab.self_test_corrupt=1 "));
    buf_release(&b);
}

static void test_cmdline_validation(void **state)
{
    static const struct repro_params bad[] = {
        { "fpu-leak", 0, 0, 0, 0, 0 },
        { "fpu-leak", -5, 0, 0, 0, 0 },
        { "fpu-leak", 10000001, 0, 0, 0, 0 },
        { "fpu-leak", 10, -1, 0, 0, 0 },
        { "fpu-leak", 10, 257, 0, 0, 0 },
        { "fpu-leak", 10, 0, -0.01, 0, 0 },
        { "fpu-leak", 10, 0, 1.01, 0, 0 },
        { "nope", 10, 0, 0, 0, 0 },
        { NULL, 10, 0, 0, 0, 0 },
    };
    struct repro_params nan_rate = { "fpu-leak", 10, 0, NAN, 0, 0 };
    struct buf b = BUF_INIT;
    struct err e = ERR_INIT;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&e);
        assert_int_equal(repro_cmdline(&bad[i], &b, &e), -1);
        assert_int_not_equal(e.code, ERR_OK);
        assert_int_equal(b.len, 0); /* nothing appended on error */
    }
    assert_int_equal(repro_cmdline(&nan_rate, &b, &e), -1);
    assert_non_null(strstr(e.msg, "between 0 and 1"));
    assert_int_equal(repro_cmdline(&bad[2], &b, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "10000000"));
    assert_int_equal(repro_cmdline(&bad[7], &b, &e), -1);
    assert_non_null(strstr(e.msg, "known: fpu-leak"));
    buf_release(&b);
}

/* Amplifiers: names to a mask and back; churn and overcommit reach the guest's command line. */
static void test_amplifiers(void **state)
{
    struct repro_params p = { "fpu-leak", 100, 0, 0, 1, 0 };
    struct buf b = BUF_INIT;
    struct err e = ERR_INIT;
    unsigned m;

    assert_int_equal(amplifier_parse("overcommit, lazy-fpu", &m, &e), 0);
    assert_int_equal(m, AMP_LAZY_FPU | AMP_OVERCOMMIT);
    amplifier_names(m, &b);
    assert_string_equal(b.data, "lazy-fpu,overcommit");
    buf_reset(&b);
    assert_int_equal(amplifier_parse(NULL, &m, &e), 0);
    assert_int_equal(m, 0);
    assert_int_equal(amplifier_parse("mem-pressure,turbo", &m, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_string_equal(e.msg, "unknown amplifier 'turbo'; known: lazy-fpu, mem-pressure, "
                               "overcommit (docs/reproducers.md)");
    /* the guest's words: none without amplifiers (negative control), then each */
    assert_int_equal(repro_cmdline(&p, &b, &e), 0);
    assert_null(strstr(b.data, "churn"));
    assert_null(strstr(b.data, "overcommit"));
    buf_reset(&b);
    p.amplifiers = AMP_MEM_PRESSURE | AMP_OVERCOMMIT;
    assert_int_equal(repro_cmdline(&p, &b, &e), 0);
    assert_non_null(strstr(b.data, " pvlab.churn=1"));
    assert_non_null(strstr(b.data, " pvlab.overcommit=8"));
    buf_release(&b);
}

/* A plug-in travels in the initramfs; its command line names only "plugin". */
static void test_cmdline_plugin(void **state)
{
    struct repro_params p = { "plugin", 1, 0, 0, 7, 0 };
    struct buf b = BUF_INIT;
    struct err e = ERR_INIT;

    assert_int_equal(repro_cmdline(&p, &b, &e), 0);
    assert_non_null(strstr(b.data, " pvlab.repro=plugin pvlab.iterations=1 "));
    assert_non_null(strstr(b.data, " pvlab.seed=7"));
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),           cmocka_unit_test(test_lookup_error_lists_names),
        cmocka_unit_test(test_cmdline_output), cmocka_unit_test(test_cmdline_validation),
        cmocka_unit_test(test_cmdline_plugin), cmocka_unit_test(test_amplifiers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
