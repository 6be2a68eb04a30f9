/*
 * Statistics for probabilistic verdicts: exact (Clopper-Pearson) one-sided confidence bounds on a
 * binomial rate. Pure functions, no allocation, thread-safe; they do not block (cost grows like
 * sqrt(n): well under a millisecond for n = 10^7).
 */
#ifndef PVLAB_UTIL_STATS_H
#define PVLAB_UTIL_STATS_H

/*
 * Upper bound p_u on the rate p after k events in n trials, at confidence conf (e.g. 0.95):
 * the p_u with P(X <= k | n, p_u) = 1 - conf. k = 0 gives 1 - (1 - conf)^(1/n) (~3/n at 0.95);
 * k = n gives 1. n = 0 gives 1 (nothing observed). Relative accuracy about 1e-12.
 * Returns NaN when k < 0, n < 0, k > n or conf is not inside (0, 1).
 */
double stats_binom_upper(long k, long n, double conf);

/*
 * Lower bound p_l: the p_l with P(X >= k | n, p_l) = 1 - conf. k = 0 gives 0; k = n gives
 * (1 - conf)^(1/n). stats_binom_lower(k, n, c) == 1 - stats_binom_upper(n - k, n, c).
 * Returns NaN on the same invalid inputs as stats_binom_upper.
 */
double stats_binom_lower(long k, long n, double conf);

/*
 * P(X <= k) and P(X > k) for X ~ Binomial(n, p). The tail on the far side of the mean n*p is
 * summed directly (so a tiny tail keeps its relative precision); the other is 1 minus it. Either
 * output pointer may be NULL. Invalid input (k or n negative, p outside [0, 1]) gives NaN.
 */
void stats_binom_tails(long k, long n, double p, double *le_r, double *gt_r);

#include <stddef.h>

/*
 * A per-iteration rate over m boots (trials) that respects them: iterations inside one boot
 * are not independent (two lazy-FPU boots of one kernel gave 3 and 1,394 corruptions in 3,000
 * iterations each). c[i] events in n[i] iterations in boot i. Quasi-binomial: the dispersion
 * phi = max(1, Pearson chi^2 / (m - 1)) measures how much more the boots differ than one
 * binomial sample would (1 with fewer than two boots or no event: nothing to measure); the
 * interval is the two-sided Clopper-Pearson interval (conf overall) of the effective counts
 * round(c / phi) in round(n / phi) (Kish's effective sample size). *est_r is sum c / sum n.
 * Any output may be NULL; no iteration gives NaN for all of them.
 */
void stats_rate_boots(const long long *c, const long long *n, size_t m, double conf, double *est_r,
                      double *lo_r, double *hi_r, double *phi_r);
/* Two-sided Clopper-Pearson interval (conf overall) for k of n: the share of boots that saw
 * corruption. */
void stats_share(long k, long n, double conf, double *lo_r, double *hi_r);

#endif
