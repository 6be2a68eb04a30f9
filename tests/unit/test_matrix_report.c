/* The matrix comparison's decision table: every row, and the "never on one lucky pass" rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/matrix_report.h"

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
    struct run_rates strong = rates(2, 2, 4000, 400, 0.05);   /* 10%, lower bound 5% */
    struct run_rates rare = rates(2, 1, 4000, 1, 0.00001);    /* 1 in 4000 */
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
    assert_int_equal(cell_classify(1, CELL_CLEAN, &clean, CELL_CORRUPT, &rare),
                     CHANGE_HEISENBUG);
    /* the other way round: FIXED only when the old rate would surely have shown */
    assert_int_equal(cell_classify(1, CELL_CORRUPT, &strong, CELL_CLEAN, &clean), CHANGE_FIXED);
    assert_int_equal(cell_classify(1, CELL_CORRUPT, &rare, CELL_CLEAN, &clean),
                     CHANGE_HEISENBUG);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
