/* Unit tests for util/stats: exact binomial confidence bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "util/stats.h"

/* |got - want| <= rel * |want|, with a message naming both. */
static void assert_rel(double got, double want, double rel)
{
    if (!(fabs(got - want) <= rel * fabs(want))) {
        print_error("got %.17g, want %.17g (relative error %.3g > %.3g)\n", got, want,
                    fabs(got - want) / fabs(want), rel);
        fail();
    }
}

/* P(X <= k) by a plain long-double sum of C(n, j) p^j q^(n-j): independent of stats.c. */
static long double brute_cdf(long k, long n, long double p)
{
    long double sum = 0, c = 1; /* c = C(n, j) */
    long j;

    for (j = 0; j <= k; j++) {
        sum += c * powl(p, j) * powl(1 - p, n - j);
        c = c * (n - j) / (j + 1);
    }
    return sum;
}

/* Root of brute_cdf(k, n, p) = target, by bisection in long double. */
static double brute_upper(long k, long n, double conf)
{
    long double lo = 0, hi = 1, mid;
    int i;

    for (i = 0; i < 80; i++) {
        mid = (lo + hi) / 2;
        if (brute_cdf(k, n, mid) > 1 - (long double)conf)
            lo = mid;
        else
            hi = mid;
    }
    return (double)((lo + hi) / 2);
}

static void test_zero_events_closed_form(void **state)
{
    long ns[] = { 1, 2, 3, 10, 100, 1000, 4000, 12000, 1000000, 10000000 };
    double confs[] = { 0.5, 0.9, 0.95, 0.99 };
    size_t i, j;

    for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
        for (j = 0; j < sizeof(confs) / sizeof(confs[0]); j++)
            assert_rel(stats_binom_upper(0, ns[i], confs[j]), -expm1(log(1 - confs[j]) / ns[i]),
                       1e-9);
    /* the rule of three */
    assert_rel(stats_binom_upper(0, 1000000, 0.95) * 1000000, 3.0, 0.002);
    assert_true(stats_binom_lower(0, 1000000, 0.95) == 0);
}

static void test_all_events_closed_form(void **state)
{
    long ns[] = { 1, 7, 100, 10000, 10000000 };
    size_t i;

    for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        assert_true(stats_binom_upper(ns[i], ns[i], 0.95) == 1);
        assert_rel(stats_binom_lower(ns[i], ns[i], 0.95), exp(log(0.05) / ns[i]), 1e-9);
    }
}

static void test_brute_force_small_n(void **state)
{
    long n, k;

    for (n = 1; n <= 40; n++)
        for (k = 0; k < n; k++) {
            assert_rel(stats_binom_upper(k, n, 0.95), brute_upper(k, n, 0.95), 1e-9);
            assert_rel(stats_binom_upper(k, n, 0.99), brute_upper(k, n, 0.99), 1e-9);
        }
}

static void test_published_values(void **state)
{
    /* Clopper-Pearson 90% two-sided interval for 1 of 10 is (0.00512, 0.3942) */
    assert_rel(stats_binom_upper(1, 10, 0.95), 0.394163, 1e-5);
    assert_rel(stats_binom_lower(1, 10, 0.95), 0.005116, 1e-3);
    /* the DESIGN's fixed-kernel run: 0 of 12,000 execs */
    assert_rel(stats_binom_upper(0, 12000, 0.95), 2.4963e-4, 1e-4);
}

static void test_large_n_defining_equation(void **state)
{
    long n = 10000000;
    double u, f;

    /* k = 1: P(X <= 1) = q^n + n p q^(n-1), evaluated with log1p */
    u = stats_binom_upper(1, n, 0.95);
    f = exp(n * log1p(-u)) + n * u * exp((n - 1) * log1p(-u));
    assert_rel(f, 0.05, 1e-9);
    /* k = 2 adds C(n, 2) p^2 q^(n-2) */
    u = stats_binom_upper(2, n, 0.95);
    f = exp(n * log1p(-u)) + n * u * exp((n - 1) * log1p(-u)) +
        0.5 * n * (n - 1.0) * u * u * exp((n - 2) * log1p(-u));
    assert_rel(f, 0.05, 1e-9);
}

static void test_large_n_normal_approximation(void **state)
{
    long n = 10000000, k = 5000000;
    double sd = sqrt(0.25 / n);

    /* at n = 10^7 the normal approximation is good to well under 1e-5 */
    assert_rel(stats_binom_upper(k, n, 0.95), 0.5 + 1.6448536269514722 * sd, 1e-5);
    assert_rel(stats_binom_lower(k, n, 0.95), 0.5 - 1.6448536269514722 * sd, 1e-5);
}

static void test_symmetry_and_order(void **state)
{
    long ns[] = { 5, 37, 1000, 123457 };
    size_t i;
    long k;

    for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        long n = ns[i], step = n / 5 ? n / 5 : 1;
        for (k = 0; k <= n; k += step) {
            double u = stats_binom_upper(k, n, 0.95), l = stats_binom_lower(k, n, 0.95);
            assert_true(fabs(l - (1 - stats_binom_upper(n - k, n, 0.95))) < 1e-12);
            assert_true(l <= (double)k / n && (double)k / n <= u);
            if (k == n)
                continue;
            assert_true(stats_binom_upper(k + 1, n, 0.95) > u);
            assert_true(stats_binom_upper(k, n, 0.99) > u);
        }
    }
}

static void test_tails(void **state)
{
    double le, gt;

    stats_binom_tails(3, 10, 0.3, &le, &gt);
    assert_rel(le, (double)brute_cdf(3, 10, 0.3L), 1e-13);
    assert_rel(gt, 1 - (double)brute_cdf(3, 10, 0.3L), 1e-13);
    /* a small tail keeps its relative precision, on either side of the mean */
    stats_binom_tails(0, 1000, 1e-12, &le, &gt);
    assert_rel(gt, -expm1(1000 * log1p(-1e-12)), 1e-12);
    stats_binom_tails(999, 1000, 1 - 0x1p-40, &le, &gt); /* 1 - 2^-40 is exact in a double */
    assert_rel(le, -expm1(1000 * log1p(-0x1p-40)), 1e-12);
    stats_binom_tails(5, 10, 0.5, &le, &gt);
    assert_rel(le, 638.0 / 1024, 1e-14);
    assert_rel(gt, 386.0 / 1024, 1e-14);
}

static void test_invalid_input(void **state)
{
    assert_true(isnan(stats_binom_upper(-1, 10, 0.95)));
    assert_true(isnan(stats_binom_upper(11, 10, 0.95)));
    assert_true(isnan(stats_binom_upper(1, 10, 1.0)));
    assert_true(isnan(stats_binom_lower(1, 10, 0.0)));
    assert_true(isnan(stats_binom_lower(1, -1, 0.95)));
    assert_true(stats_binom_upper(0, 0, 0.95) == 1);
    assert_true(stats_binom_lower(0, 0, 0.95) == 0);
}

/* Boots that disagree widen the interval; boots that agree keep the binomial one. */
static void test_rate_boots(void **state)
{
    /* the measured pair: 3 and 1,394 corruptions in 3,000 iterations each */
    long long c1[] = { 3, 1394 }, n1[] = { 3000, 3000 };
    /* the same total spread evenly: the boots agree */
    long long c2[] = { 698, 699 }, n2[] = { 3000, 3000 };
    double est, lo, hi, phi, blo, bhi;

    stats_rate_boots(c1, n1, 2, 0.95, &est, &lo, &hi, &phi);
    assert_true(fabs(est - 1397.0 / 6000) < 1e-12);
    assert_true(phi > 1000);           /* far more spread than one binomial sample */
    assert_true(lo < 0.1 && hi > 0.6); /* honest: two boots say little */
    stats_share(1397, 6000, 0.95, &blo, &bhi);
    assert_true(bhi - blo < 0.05); /* what treating them as one sample would claim */
    stats_rate_boots(c2, n2, 2, 0.95, &est, &lo, &hi, &phi);
    assert_true(phi == 1);
    assert_true(fabs(lo - blo) < 1e-12 && fabs(hi - bhi) < 1e-12);
    /* clean boots: the binomial upper bound over every iteration, lower bound 0 */
    {
        long long c[] = { 0, 0, 0 }, n[] = { 2000, 2000, 2000 };
        stats_rate_boots(c, n, 3, 0.95, &est, &lo, &hi, &phi);
        assert_true(est == 0 && lo == 0);
        assert_true(fabs(hi - stats_binom_upper(0, 6000, 0.975)) < 1e-15);
    }
    /* nothing ran */
    stats_rate_boots(NULL, NULL, 0, 0.95, &est, &lo, &hi, &phi);
    assert_true(isnan(est) && isnan(hi));
}

static void test_share(void **state)
{
    double lo, hi;

    stats_share(0, 2, 0.95, &lo, &hi);
    assert_true(lo == 0 && hi > 0.8 && hi < 0.9); /* 1 - 0.025^(1/2) = 0.842 */
    stats_share(2, 2, 0.95, &lo, &hi);
    assert_true(hi == 1 && fabs(lo - 0.1581) < 1e-3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_boots),
        cmocka_unit_test(test_share),
        cmocka_unit_test(test_zero_events_closed_form),
        cmocka_unit_test(test_all_events_closed_form),
        cmocka_unit_test(test_brute_force_small_n),
        cmocka_unit_test(test_published_values),
        cmocka_unit_test(test_large_n_defining_equation),
        cmocka_unit_test(test_large_n_normal_approximation),
        cmocka_unit_test(test_symmetry_and_order),
        cmocka_unit_test(test_tails),
        cmocka_unit_test(test_invalid_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
