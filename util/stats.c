#include "util/stats.h"

#include <math.h>
#include <stddef.h>

/*
 * The binomial pmf is computed with Loader's saddle-point method ("Fast and accurate computation
 * of binomial probabilities", 2000; the method R's dbinom uses): log-gamma differences of numbers
 * near 10^8 would lose ~8 digits to cancellation, the Stirling-error and deviance terms do not.
 * Tails are sums of the pmf walked away from the mean with the term ratio, so every term shrinks
 * and the sum stops after O(sqrt(n)) terms. Bounds are found by bisection on p.
 */

#define LN_SQRT_2PI 0.918938533204672741780329736406

/* stirlerr(n) = log(n!) - log(sqrt(2*pi*n) * (n/e)^n), for integer n >= 1. */
static double stirlerr(double n)
{
    const double s0 = 1.0 / 12, s1 = 1.0 / 360, s2 = 1.0 / 1260, s3 = 1.0 / 1680, s4 = 1.0 / 1188;
    double nn;

    if (n <= 15) /* the series is not accurate enough yet; lgammal keeps ~18 digits here */
        return (double)(lgammal((long double)n + 1) - ((long double)n + 0.5L) * logl(n) + n -
                        LN_SQRT_2PI);
    nn = n * n;
    if (n > 500)
        return (s0 - s1 / nn) / n;
    if (n > 80)
        return (s0 - (s1 - s2 / nn) / nn) / n;
    if (n > 35)
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n;
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n;
}

/* bd0(x, np) = x log(x/np) + np - x, without the cancellation when x is close to np. */
static double bd0(double x, double np)
{
    double v, s, s1, ej;
    int j;

    if (fabs(x - np) < 0.1 * (x + np)) {
        v = (x - np) / (x + np);
        s = (x - np) * v;
        ej = 2 * x * v;
        v = v * v;
        for (j = 1; j < 1000; j++) {
            ej *= v;
            s1 = s + ej / (2 * j + 1);
            if (s1 == s)
                return s1;
            s = s1;
        }
        return s;
    }
    return x * log(x / np) + np - x;
}

/* P(X = x) for X ~ Binomial(n, p), q = 1 - p passed separately to keep its precision. */
static double dbinom_raw(double x, double n, double p, double q)
{
    double lc, lf;

    if (p == 0)
        return x == 0 ? 1 : 0;
    if (q == 0)
        return x == n ? 1 : 0;
    if (x == 0) {
        lc = p < 0.1 ? -bd0(n, n * q) - n * p : n * log(q);
        return exp(lc);
    }
    if (x == n) {
        lc = q < 0.1 ? -bd0(n, n * p) - n * q : n * log(p);
        return exp(lc);
    }
    if (x < 0 || x > n)
        return 0;
    lc = stirlerr(n) - stirlerr(x) - stirlerr(n - x) - bd0(x, n * p) - bd0(n - x, n * q);
    lf = log(2 * M_PI) + log(x) + log1p(-x / n);
    return exp(lc - 0.5 * lf);
}

/*
 * P(X <= k), walking down from k with pmf(j-1)/pmf(j) = j q / ((n-j+1) p) until the terms no
 * longer matter. Callers start at most about one step past the mode, so the terms shrink at once.
 */
static double lower_tail(long k, long n, double p, double q)
{
    double term, sum;
    long j;

    term = sum = dbinom_raw(k, n, p, q);
    for (j = k; j > 0 && term > sum * 1e-18; j--) {
        term *= (double)j / (double)(n - j + 1) * (q / p);
        sum += term;
    }
    return sum;
}

/* P(X >= k), walking up from k with pmf(j+1)/pmf(j) = (n-j) p / ((j+1) q). */
static double upper_tail(long k, long n, double p, double q)
{
    double term, sum;
    long j;

    if (k > n)
        return 0;
    term = sum = dbinom_raw(k, n, p, q);
    for (j = k; j < n && term > sum * 1e-18; j++) {
        term *= (double)(n - j) / (double)(j + 1) * (p / q);
        sum += term;
    }
    return sum;
}

void stats_binom_tails(long k, long n, double p, double *le_r, double *gt_r)
{
    double q = 1 - p, le, gt;

    if (k < 0 || n < 0 || !(p >= 0 && p <= 1)) {
        le = gt = NAN;
        goto out;
    }
    if (k >= n) {
        le = 1;
        gt = 0;
        goto out;
    }
    /*
     * Sum the tail on the far side of the mean (its terms shrink at once); if that tail came out
     * above one half, k sits at the median and the other tail is the small one: sum it too, so
     * neither is ever 1 minus a number close to 1.
     */
    if ((double)k <= n * p) {
        le = lower_tail(k, n, p, q);
        gt = le > 0.5 ? upper_tail(k + 1, n, p, q) : 1 - le;
    } else {
        gt = upper_tail(k + 1, n, p, q);
        le = gt > 0.5 ? lower_tail(k, n, p, q) : 1 - gt;
    }
out:
    if (le_r)
        *le_r = le;
    if (gt_r)
        *gt_r = gt;
}

/*
 * Bisection for the p where the chosen tail equals alpha. upper != 0: P(X <= k) falls as p grows;
 * otherwise P(X >= k) = P(X > k-1) rises. Bisection (not Newton) because it cannot diverge and
 * 1100 halvings of [0, 1] always reach the last representable digit, even for p ~ 1e-300.
 */
static double binom_solve(long k, long n, double alpha, int upper)
{
    double lo = 0, hi = 1, mid, le, gt;
    int i;

    for (i = 0; i < 1100; i++) {
        mid = lo + (hi - lo) / 2;
        if (mid <= lo || mid >= hi)
            break;
        if (upper) {
            stats_binom_tails(k, n, mid, &le, NULL);
            if (le > alpha)
                lo = mid;
            else
                hi = mid;
        } else {
            stats_binom_tails(k - 1, n, mid, NULL, &gt);
            if (gt < alpha)
                lo = mid;
            else
                hi = mid;
        }
        if (hi - lo <= hi * 1e-15)
            break;
    }
    return lo + (hi - lo) / 2;
}

static int bad_input(long k, long n, double conf)
{
    return k < 0 || n < 0 || k > n || !(conf > 0 && conf < 1);
}

double stats_binom_upper(long k, long n, double conf)
{
    if (bad_input(k, n, conf))
        return NAN;
    if (k == n)
        return 1;
    return binom_solve(k, n, 1 - conf, 1);
}

double stats_binom_lower(long k, long n, double conf)
{
    if (bad_input(k, n, conf))
        return NAN;
    if (k == 0)
        return 0;
    return binom_solve(k, n, 1 - conf, 0);
}

void stats_share(long k, long n, double conf, double *lo_r, double *hi_r)
{
    double side = (1 + conf) / 2;

    if (lo_r)
        *lo_r = n > 0 ? stats_binom_lower(k, n, side) : NAN;
    if (hi_r)
        *hi_r = n > 0 ? stats_binom_upper(k, n, side) : NAN;
}

void stats_rate_boots(const long long *c, const long long *n, size_t m, double conf, double *est_r,
                      double *lo_r, double *hi_r, double *phi_r)
{
    long long sc = 0, sn = 0;
    double p, phi = 1, chi2 = 0;
    long keff, neff;

    for (size_t i = 0; i < m; i++) {
        sc += c[i];
        sn += n[i];
    }
    if (sn <= 0) {
        if (est_r)
            *est_r = NAN;
        if (lo_r)
            *lo_r = NAN;
        if (hi_r)
            *hi_r = NAN;
        if (phi_r)
            *phi_r = NAN;
        return;
    }
    p = (double)sc / (double)sn;
    if (m >= 2 && sc > 0 && sc < sn) {
        for (size_t i = 0; i < m; i++) {
            double expect = (double)n[i] * p;
            if (n[i] > 0)
                chi2 += ((double)c[i] - expect) * ((double)c[i] - expect) / (expect * (1 - p));
        }
        phi = chi2 / (double)(m - 1);
        if (phi < 1)
            phi = 1;
    }
    neff = (long)llround((double)sn / phi);
    if (neff < 1)
        neff = 1;
    keff = (long)llround((double)sc / phi);
    if (keff > neff)
        keff = neff;
    if (est_r)
        *est_r = p;
    stats_share(keff, neff, conf, lo_r, hi_r);
    if (phi_r)
        *phi_r = phi;
}
