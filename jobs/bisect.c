/*
 * Flaky-aware bisection engine (see jobs/bisect.h for the contract, docs/bisect.md for the
 * algorithm and its measured figures).
 *
 * State is integer counts only: per tested commit its passes, the lowest failing commit (linear)
 * or the surviving candidate set (DAG), the number of fails, the skip and built marks. The
 * posterior is recomputed from the counts after every observation ("refresh"), which makes replay
 * after a crash bit-identical and lets an estimated p change without re-reading history.
 *
 * Likelihood of culprit c with B(c) = passes at commits that are bad under c, F = fails (all at
 * commits bad under every surviving c): p^F (1-p)^B(c), so the weight is (1-p)^B(c). When p is
 * estimated on a linear history, the posterior is joint over (culprit, p) with p on a grid, see
 * lin_refresh_joint(); on a DAG the weight uses a lower credible bound of p (an over-estimated p
 * makes answers wrong: a bad commit that passed by chance would look good), see estimate_p().
 *
 * The state (struct bisect) is in jobs/bisect_int.h; the merge-history walks are in
 * jobs/bisect_dag.c.
 */
#include "jobs/bisect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/bisect_int.h"
#include "jobs/bisect_priv.h"
#include "util/stats.h"
#include "util/xalloc.h"

/* The bad-mass q* maximising gain_q: the capacity-achieving input of the Z-channel. */
static double q_star(double p)
{
    if (p >= 1)
        return 0.5;
    return 1 / (p * (1 + exp2(h2(p) / p)));
}

static int calibrating(const struct bisect *b)
{
    return b->p == 0 && b->fails < b->calib;
}

/* ---- linear history ---- */

/* Index of the segment holding candidate t (t <= hi). */
static size_t seg_of(const struct bisect *b, size_t t)
{
    size_t lo = 0, hi = b->nsegs - 1;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (b->segs[mid].hi < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* P(t bad) = mass of candidates <= t, O(log segments). */
static double lin_mass(const struct bisect *b, size_t t)
{
    const struct seg *s;

    if (t >= b->hi)
        return 1;
    s = &b->segs[seg_of(b, t)];
    return s->cum - (double)(s->hi - t) * s->unit;
}

/* Number of skipped commits in [a, z]. */
static size_t lin_skips_in(const struct bisect *b, size_t a, size_t z)
{
    size_t lo = 0, hi = b->nskips, first;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (b->skips[mid] < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    first = lo;
    hi = b->nskips;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (b->skips[mid] <= z)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - first;
}

/* Whether some commit in [a, z] can still be tested. */
static int lin_testable_in(const struct bisect *b, size_t a, size_t z)
{
    return a <= z && lin_skips_in(b, a, z) < z - a + 1;
}

/* First candidate with positive weight (p = 1 zeroes everything at or below a pass). */
static size_t lin_lo(const struct bisect *b)
{
    size_t j;

    for (j = 0; j < b->nsegs; j++)
        if (b->segs[j].unit > 0)
            return b->segs[j].lo;
    return b->hi;
}

static int seg_cmp_unit(const void *x, const void *y)
{
    const struct seg *a = *(const struct seg *const *)x, *c = *(const struct seg *const *)y;

    if (a->unit != c->unit)
        return a->unit > c->unit ? -1 : 1;
    return a->lo < c->lo ? -1 : 1;
}

/* Segments ordered most probable first; caller frees. */
static const struct seg **lin_by_unit(const struct bisect *b)
{
    const struct seg **v = xmalloc(b->nsegs * sizeof(*v));
    size_t j;

    for (j = 0; j < b->nsegs; j++)
        v[j] = &b->segs[j];
    qsort(v, b->nsegs, sizeof(*v), seg_cmp_unit);
    return v;
}

/*
 * Whether a testable commit can still split the credible set: the set's candidates span [a, z]
 * and any untested-skip commit t in [a, z-1] separates those <= t from those above.
 */
static int lin_set_splittable(const struct bisect *b)
{
    const struct seg **v = lin_by_unit(b);
    size_t j, a = (size_t)-1, z = 0;
    double acc = 0;

    for (j = 0; j < b->nsegs && v[j]->unit > 0; j++) {
        if (v[j]->lo < a)
            a = v[j]->lo;
        if (v[j]->hi > z)
            z = v[j]->hi;
        acc += v[j]->unit * (double)(v[j]->hi - v[j]->lo + 1);
        if (acc >= b->conf - 1e-12)
            break;
    }
    free(v);
    return a != (size_t)-1 && z > a && lin_testable_in(b, a, z - 1);
}

/* Cuts [0, hi] into runs of candidates with equal pass counts B. */
static void lin_segments(struct bisect *b)
{
    size_t j, start = 0, ns = 0;
    long suffix = 0;

    b->segs = xrealloc(b->segs, (b->npts + 1) * sizeof(*b->segs));
    for (j = 0; j < b->npts; j++)
        suffix += b->pts[j].npass;
    for (j = 0; j < b->npts && b->pts[j].idx < b->hi; j++) {
        b->segs[ns++] = (struct seg){.lo = start, .hi = b->pts[j].idx, .nb = suffix};
        start = b->pts[j].idx + 1;
        suffix -= b->pts[j].npass;
    }
    b->segs[ns++] = (struct seg){.lo = start, .hi = b->hi, .nb = suffix};
    b->nsegs = ns;
}

/*
 * Joint posterior over (culprit, p) with p on a log-spaced grid (prior uniform in log p): weight
 * of (c, p_g) = p_g^F (1 - p_g)^B(c). The culprit marginal is piecewise constant like the plug-in
 * posterior; per run it also keeps E[p | culprit] and E[h2(p) | culprit] for the gain. Grid
 * points whose best weight is negligible are skipped: a step costs O(runs x live grid points).
 */
static void lin_refresh_joint(struct bisect *b)
{
    double gmax[P_GRID], top = -INFINITY, z = 0, cum = 0, cf = 0, ch = 0, acc = 0, mean = 0;
    long nbmin = b->segs[b->nsegs - 1].nb;
    size_t j;
    int g;

    for (g = 0; g < P_GRID; g++) {
        gmax[g] = (double)b->fails * b->glogp[g] + (double)nbmin * b->glog1m[g];
        if (gmax[g] > top)
            top = gmax[g];
        b->gpost[g] = 0;
    }
    for (j = 0; j < b->nsegs; j++) {
        struct seg *s = &b->segs[j];
        double u = 0, pu = 0, hu = 0, len = (double)(s->hi - s->lo + 1);

        for (g = 0; g < P_GRID; g++) {
            double e;

            if (gmax[g] < top - P_PRUNE)
                continue;
            e = exp((double)b->fails * b->glogp[g] + (double)s->nb * b->glog1m[g] - top);
            u += e;
            pu += e * b->gp[g];
            hu += e * b->gh[g];
            b->gpost[g] += e * len;
        }
        s->unit = u;
        s->pbar = u > 0 ? pu / u : 0;
        s->hp = u > 0 ? hu / u : 0;
        z += u * len;
    }
    b->contradiction = 0;
    b->maxprob = 0;
    b->best = BISECT_NONE;
    for (j = 0; j < b->nsegs; j++) {
        struct seg *s = &b->segs[j];
        double mass;

        s->unit /= z;
        mass = s->unit * (double)(s->hi - s->lo + 1);
        s->cf0 = cf;
        s->ch0 = ch;
        cf += mass * s->pbar;
        ch += mass * s->hp;
        cum += mass;
        s->cum = cum;
        if (s->unit > b->maxprob) {
            b->maxprob = s->unit;
            b->best = s->lo;
        }
    }
    b->bbar = 0;
    b->phat = 0;
    for (g = 0; g < P_GRID; g++) {
        b->gpost[g] /= z;
        mean += b->gpost[g] * b->gp[g];
        if (b->phat == 0 && acc + b->gpost[g] >= b->level) {
            /* the level quantile of p's marginal, each grid point's mass spread over its cell */
            double frac = (b->level - acc) / b->gpost[g];

            b->phat = exp(b->glogp[g] + (frac - 0.5) * (b->glogp[1] - b->glogp[0]));
        }
        acc += b->gpost[g];
    }
    b->pmean = mean;
    if (b->fails == 0)
        b->phat = 0;
}

/* Rebuilds the piecewise-constant posterior from the counts: O(tested commits). */
static void lin_refresh(struct bisect *b)
{
    size_t j, ns;
    double maxlw = -INFINITY, z = 0, cum = 0, pm = 0;
    double *lw;

    lin_segments(b);
    if (b->joint) {
        lin_refresh_joint(b);
        return;
    }
    ns = b->nsegs;

    lw = xmalloc(ns * sizeof(*lw));
    for (j = 0; j < ns; j++) {
        lw[j] = log_weight(b, b->segs[j].nb);
        if (lw[j] > maxlw)
            maxlw = lw[j];
    }
    b->contradiction = maxlw == -INFINITY;
    for (j = 0; j < ns && !b->contradiction; j++)
        z += (double)(b->segs[j].hi - b->segs[j].lo + 1) * exp(lw[j] - maxlw);
    b->maxprob = 0;
    b->best = BISECT_NONE;
    for (j = 0; j < ns; j++) {
        struct seg *s = &b->segs[j];
        double mass;

        s->unit = b->contradiction ? 0 : exp(lw[j] - maxlw) / z;
        mass = s->unit * (double)(s->hi - s->lo + 1);
        cum += mass;
        s->cum = cum;
        pm += mass * (double)s->nb;
        if (s->unit > b->maxprob) {
            b->maxprob = s->unit;
            b->best = s->lo;
        }
    }
    free(lw);
    b->bbar = pm;
}

/*
 * Lower credible bound of p after F fails and B passes on bad commits: the `level` quantile of
 * its posterior Beta(F, B+1) under the scale-free prior 1/p, which is the Clopper-Pearson bound.
 * B is rounded up on a 1% grid (rounding up only lowers the bound) and memoised, because the
 * exact bound costs a root search and B moves by one pass at a time.
 */
static double p_lower(struct bisect *b, long fails, double nb)
{
    long key = nb < 100 ? (long)ceil(nb) : (long)ceil(exp(ceil(log(nb) / 0.01) * 0.01));
    int i;

    i = (int)(((uint64_t)fails * 0x9e3779b97f4a7c15ULL + (uint64_t)key * 0xbf58476d1ce4e5b9ULL) >>
              55);
    if (b->memo_key[i][0] == fails && b->memo_key[i][1] == key)
        return b->memo_val[i];
    b->memo_key[i][0] = fails;
    b->memo_key[i][1] = key;
    b->memo_val[i] = stats_binom_lower(fails, fails + key, 1 - b->level);
    return b->memo_val[i];
}

static void posterior(struct bisect *b)
{
    if (b->linear)
        lin_refresh(b);
    else
        bisect_dag_refresh(b);
}

/* Passes at commits that are bad under every surviving candidate (proven bad). */
static long proven_bad_passes(const struct bisect *b)
{
    long m = -1;
    size_t i;

    if (b->linear) {
        for (i = 0, m = 0; i < b->npts; i++)
            if (b->pts[i].idx >= b->hi)
                m += b->pts[i].npass;
        return m;
    }
    for (i = 0; i < b->n; i++)
        if (b->alive[i] && (m < 0 || (long)b->cnt[i] < m))
            m = b->cnt[i];
    return m < 0 ? 0 : m;
}

/*
 * The p plugged in when p is estimated. Counting only trials at proven-bad commits would bias the
 * estimate up (a bad commit that has only passed so far is not yet known to be bad, so its passes
 * would be left out), so B is the posterior mean of B(culprit): passes at every commit that is bad
 * under the culprit, averaged over the posterior. One fixed-point step from the proven-bad count
 * (which gives the higher bound) keeps this a pure function of the counts.
 */
static void estimate_p(struct bisect *b)
{
    if (b->joint)
        return; /* the joint posterior sets phat */
    b->phat = 0;
    if (b->p > 0 || b->fails == 0)
        return;
    b->phat = p_lower(b, b->fails, (double)proven_bad_passes(b));
    posterior(b);
    b->phat = p_lower(b, b->fails, b->bbar);
}

/* Recomputes the posterior and the stop decision after any change of the counts. */
static void refresh(struct bisect *b)
{
    estimate_p(b);
    posterior(b);
    b->pc = b->p > 0 ? b->p : calibrating(b) ? NAN : b->joint ? b->pmean : b->phat;
    if (b->contradiction || (b->max_trials > 0 && b->trials >= b->max_trials) ||
        b->maxprob >= b->conf)
        b->done = 1;
    else if (calibrating(b))
        b->done = b->skipped[b->n - 1]; /* cannot calibrate: the prior is the answer */
    else
        b->done = !(b->linear ? lin_set_splittable(b) : bisect_dag_set_splittable(b));
}

/* ---- choosing ---- */

/* P(t bad) under the current posterior. */
static double bad_mass(struct bisect *b, size_t t)
{
    return b->linear ? lin_mass(b, t) : bisect_dag_walk(b, t, 0);
}

/* Whether t is among the first m entries of v. */
static int in_list(const size_t *v, size_t m, size_t t)
{
    size_t i;

    for (i = 0; i < m; i++)
        if (v[i] == t)
            return 1;
    return 0;
}

/* git bisect's pick on a window of m equally likely candidates: offset of the tested commit. */
static size_t git_offset(size_t m)
{
    size_t w;

    if (m <= 2)
        return 0;
    /* the oldest is never taken by git's halfway shortcut, which then takes the first commit
     * reaching ceil((m-1)/2) candidates */
    w = m / 2; /* == ceil((m - 1) / 2) */
    return (w < 2 ? 2 : w) - 1;
}

/*
 * Information (bits) between one test at t and the pair (culprit, p) under the joint posterior:
 * the outcome is a fail with probability p when c <= t, so I = h2(sum_{c<=t} P(c) E[p|c]) -
 * sum_{c<=t} P(c) E[h2(p)|c]. Counting what a test teaches about p (not only about the culprit)
 * makes tests at proven-bad commits (t >= hi) worth something while p is uncertain: that is how
 * the joint model keeps calibrating, and it took fewer trials than the information about the
 * culprit alone (docs/bisect.md).
 */
static double lin_jgain(const struct bisect *b, size_t t)
{
    const struct seg *s = &b->segs[t >= b->hi ? b->nsegs - 1 : seg_of(b, t)];
    double k = (double)((t >= b->hi ? s->hi : t) - s->lo + 1), g;

    g = h2(s->cf0 + k * s->unit * s->pbar) - (s->ch0 + k * s->unit * s->hp);
    return g > 0 ? g : 0;
}

/* Nearest testable commit to t within [lo, hi] (t itself first, then below, then above). */
static size_t lin_testable_near(const struct bisect *b, size_t t, size_t lo, size_t hi)
{
    size_t d;

    for (d = 0; d <= hi - lo; d++) {
        if (t >= lo + d && !b->skipped[t - d])
            return t - d;
        if (t + d <= hi && !b->skipped[t + d])
            return t + d;
    }
    return BISECT_NONE;
}

/*
 * Best point under the joint posterior. Inside one run of equal weights the gain is concave in
 * the offset (h2 of a linear function minus a linear function), so each run's best point is one
 * of the two around the stationary point, where the fail probability reaches 1/(1 + 2^(hp/pbar)).
 */
static size_t lin_pick_joint(struct bisect *b, double *gain_r)
{
    size_t j, best = BISECT_NONE;
    double bestg = 0;

    for (j = 0; j < b->nsegs; j++) {
        const struct seg *s = &b->segs[j];
        size_t len = s->hi - s->lo + 1, top = j + 1 == b->nsegs ? b->n - 1 : s->hi, i;
        double a = s->unit * s->pbar, k;

        if (a <= 0)
            continue;
        k = floor((1 / (1 + exp2(s->hp / s->pbar)) - s->cf0) / a);
        for (i = 0; i < 2; i++) {
            double kk = k + (double)i < 1 ? 1 : k + (double)i > (double)len ? (double)len : k + i;
            size_t t = lin_testable_near(b, s->lo + (size_t)kk - 1, s->lo, top);
            double g;

            if (t == BISECT_NONE)
                continue;
            g = lin_jgain(b, t);
            if (g > bestg || (g == bestg && t < best)) {
                bestg = g;
                best = t;
            }
        }
    }
    *gain_r = bestg;
    return best;
}

/* Best point of a linear history ignoring built marks: O(log segments + skipped run). */
static size_t lin_pick(struct bisect *b, double *gain_r)
{
    size_t lo = lin_lo(b), t0, l, r, j;
    double qs, gl, gr;

    if (b->joint)
        return lin_pick_joint(b, gain_r);
    qs = q_star(b->pc);
    *gain_r = 0;
    if (lo >= b->hi)
        return BISECT_NONE;
    if (b->p >= 1) {
        t0 = lo + git_offset(b->hi - lo + 1);
    } else {
        /* smallest t with q(t) >= q*; the optimum is t or t-1 since gain is concave in q */
        for (j = 0; j < b->nsegs && b->segs[j].cum < qs; j++)
            ;
        if (j == b->nsegs)
            j = b->nsegs - 1;
        {
            const struct seg *s = &b->segs[j];
            double before = s->cum - s->unit * (double)(s->hi - s->lo + 1);
            double k = s->unit > 0 ? ceil((qs - before) / s->unit) : 1;

            t0 = s->lo + (size_t)(k < 1 ? 1 : k) - 1;
        }
        if (t0 < lo)
            t0 = lo;
        if (t0 > b->hi - 1)
            t0 = b->hi - 1;
        if (t0 > lo && gain_q(lin_mass(b, t0 - 1), b->pc) >= gain_q(lin_mass(b, t0), b->pc))
            t0--;
    }
    if (!b->skipped[t0]) {
        *gain_r = gain_q(lin_mass(b, t0), b->pc);
        return t0;
    }
    /* gain is unimodal in t, so the best testable commit is the nearest on either side */
    for (l = t0; l > lo && b->skipped[l]; l--)
        ;
    for (r = t0; r < b->hi - 1 && b->skipped[r]; r++)
        ;
    gl = b->skipped[l] ? -1 : gain_q(lin_mass(b, l), b->pc);
    gr = b->skipped[r] ? -1 : gain_q(lin_mass(b, r), b->pc);
    if (gl < 0 && gr < 0)
        return BISECT_NONE;
    *gain_r = gl >= gr ? gl : gr;
    return gl >= gr ? l : r;
}

/* Single-test information gain at t under the model the engine uses for choosing. */
static double gain_at(struct bisect *b, size_t t)
{
    return b->joint ? lin_jgain(b, t) : gain_q(bad_mass(b, t), b->pc);
}

/*
 * One point: the best by information gain, unless a built commit (or one already picked this
 * round, which will be built anyway) reaches BUILT_SHARE of its gain.
 */
static size_t pick_one(struct bisect *b, const size_t *round, size_t nround, double *gain_r)
{
    double g, bg = -1;
    size_t t = b->linear ? lin_pick(b, &g) : bisect_dag_pick(b, &g), bt = BISECT_NONE, i;

    if (t == BISECT_NONE || g <= 0)
        return BISECT_NONE;
    for (i = 0; i < b->nbuilt + nround; i++) {
        size_t c = i < b->nbuilt ? b->built_list[i] : round[i - b->nbuilt];
        double gc;

        if (b->skipped[c])
            continue;
        gc = gain_at(b, c);
        if (gc > bg || (gc == bg && c < bt)) {
            bg = gc;
            bt = c;
        }
    }
    if (bt != BISECT_NONE && bg >= BUILT_SHARE * g && bg > 0) {
        t = bt;
        g = bg;
    }
    *gain_r = g;
    return t;
}

/*
 * Mutual information between the culprit and the outcomes of k tests at bad-masses q (linear
 * history, so the tests are nested). Sorting the tests, a culprit in region j (between tests j
 * and j+1) makes tests j+1..k bad. An outcome is fixed by its first fail f and fail count s, and
 * P(f, s) = (p/(1-p))^s * sum_{j<f} pi_j (1-p)^(k-j), shared by C(k-f, s-1) outcomes: O(k^2).
 */
double bisect_priv_joint_gain(const double *q, size_t k, double p)
{
    double qs[MAX_JOINT + 1], pi[MAX_JOINT + 1], a[MAX_JOINT + 2];
    double hy = 0, hyc = 0, r, lr, x;
    size_t i, j, f, s;

    if (k == 0 || k > MAX_JOINT)
        return 0;
    for (i = 0; i < k; i++) {
        x = q[i] < 0 ? 0 : q[i] > 1 ? 1 : q[i];
        for (j = i; j > 0 && qs[j - 1] > x; j--)
            qs[j] = qs[j - 1];
        qs[j] = x;
    }
    for (j = 0; j <= k; j++)
        pi[j] = (j == k ? 1 : qs[j]) - (j == 0 ? 0 : qs[j - 1]);
    if (p >= 1) {
        for (j = 0; j <= k; j++)
            hy += pi[j] > 0 ? -pi[j] * log2(pi[j]) : 0;
        return hy;
    }
    a[0] = 0;
    for (j = 0; j <= k; j++) {
        a[j + 1] = a[j] + pi[j] * pow(1 - p, (double)(k - j));
        hyc += pi[j] * (double)(k - j);
    }
    hyc *= h2(p);
    r = p / (1 - p);
    lr = log2(r);
    if (a[k + 1] > 0)
        hy -= a[k + 1] * log2(a[k + 1]);
    for (f = 1; f <= k; f++) {
        double binom = 1, la;

        if (a[f] <= 0)
            continue;
        la = log2(a[f]);
        for (s = 1; s <= k - f + 1; s++) {
            double lp = (double)s * lr + la;

            hy -= binom * exp2(lp) * lp;
            binom = binom * (double)(k - f - (s - 1)) / (double)s;
        }
    }
    x = hy - hyc;
    return x > 0 ? x : 0;
}

/* Smallest testable commit with bad-mass >= level, or the nearest testable one below it. */
static void lin_level_points(struct bisect *b, double level, size_t lo, size_t *c, size_t *m)
{
    size_t j, t, l, r;

    for (j = 0; j < b->nsegs && b->segs[j].cum < level; j++)
        ;
    if (j == b->nsegs)
        j = b->nsegs - 1;
    {
        const struct seg *s = &b->segs[j];
        double before = s->cum - s->unit * (double)(s->hi - s->lo + 1);
        double k = s->unit > 0 ? ceil((level - before) / s->unit) : 1;

        t = s->lo + (size_t)(k < 1 ? 1 : k) - 1;
    }
    if (t < lo)
        t = lo;
    if (t > b->hi - 1)
        t = b->hi - 1;
    for (l = t; l > lo && b->skipped[l]; l--)
        ;
    for (r = t; r < b->hi - 1 && b->skipped[r]; r++)
        ;
    if (!b->skipped[l])
        c[(*m)++] = l;
    if (r != l && !b->skipped[r])
        c[(*m)++] = r;
}

/*
 * Extra points of a k-point round on a linear history: greedy in the joint information of the
 * round (each point maximises the round's information given the points already chosen; the joint
 * information is submodular, so greedy is within 1 - 1/e of the best round). Candidates are a
 * grid of bad-mass levels plus repeats of chosen and built commits, under the built rule.
 */
static size_t lin_more(struct bisect *b, size_t *out, size_t m, size_t k)
{
    double q[MAX_JOINT], cur, lvl;
    size_t lo = lin_lo(b), cand[2 * Q_GRID + 2], i;

    for (i = 0; i < m; i++)
        q[i] = lin_mass(b, out[i]);
    cur = bisect_priv_joint_gain(q, m, b->pc);
    while (m < k && m < MAX_JOINT) {
        size_t nc = 0, bt = BISECT_NONE, rt = BISECT_NONE;
        double bv = -1, rv = -1;

        for (i = 0; i < Q_GRID; i++) {
            lvl = ((double)i + 0.5) / Q_GRID;
            lin_level_points(b, lvl, lo, cand, &nc);
        }
        for (i = 0; i < nc + m + b->nbuilt; i++) {
            size_t t = i < nc ? cand[i] : i < nc + m ? out[i - nc] : b->built_list[i - nc - m];
            int reuse = i >= nc || b->built[t] || in_list(out, m, t);
            double v;

            if (t >= b->hi || t < lo || b->skipped[t])
                continue;
            q[m] = lin_mass(b, t);
            v = bisect_priv_joint_gain(q, m + 1, b->pc);
            if (v > bv || (v == bv && t < bt)) {
                bv = v;
                bt = t;
            }
            if (reuse && (v > rv || (v == rv && t < rt))) {
                rv = v;
                rt = t;
            }
        }
        if (bt == BISECT_NONE || bv - cur <= 1e-12)
            break;
        if (rt != BISECT_NONE && rv - cur >= BUILT_SHARE * (bv - cur)) {
            bt = rt;
            bv = rv;
        }
        out[m] = bt;
        q[m++] = lin_mass(b, bt);
        cur = bv;
    }
    return m;
}

/*
 * Extra points of a k-point round on a DAG: greedy, each point chosen as if the points before it
 * had passed (the likely outcome whenever p * q < 1/2). With small p a pass barely moves the
 * posterior, so this repeats the best commit (one build, k trials); with large p it spreads out.
 */
static size_t dag_more(struct bisect *b, size_t *out, size_t m, size_t k)
{
    uint32_t *save = xmalloc(b->n * sizeof(*save));
    double g;

    memcpy(save, b->cnt, b->n * sizeof(*save));
    while (m < k) {
        size_t t;

        bisect_dag_walk(b, out[m - 1], 1);
        bisect_dag_refresh(b);
        t = pick_one(b, out, m, &g);
        if (t == BISECT_NONE)
            break;
        out[m++] = t;
    }
    memcpy(b->cnt, save, b->n * sizeof(*save));
    free(save);
    refresh(b);
    return m;
}

size_t bisect_next(struct bisect *b, size_t *out, size_t k)
{
    size_t m = 0, t;
    double g;

    if (k == 0 || b->done)
        return 0;
    if (calibrating(b)) {
        for (m = 0; m < k; m++)
            out[m] = b->n - 1;
        return k;
    }
    t = pick_one(b, NULL, 0, &g);
    if (t == BISECT_NONE)
        return 0;
    out[m++] = t;
    if (k > 1)
        m = b->linear ? lin_more(b, out, m, k) : dag_more(b, out, m, k);
    return m;
}

/* ---- observations ---- */

/* Adds one pass at idx on a linear history (kept sorted for the segment sweep). */
static void lin_add_pass(struct bisect *b, size_t idx)
{
    size_t lo = 0, hi = b->npts;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (b->pts[mid].idx < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < b->npts && b->pts[lo].idx == idx) {
        b->pts[lo].npass++;
        return;
    }
    b->pts = xrealloc(b->pts, (b->npts + 1) * sizeof(*b->pts));
    memmove(b->pts + lo + 1, b->pts + lo, (b->npts - lo) * sizeof(*b->pts));
    b->pts[lo] = (struct tpoint){idx, 1};
    b->npts++;
}

/* Records a skip in the sorted list a linear history uses for range queries. */
static void lin_add_skip(struct bisect *b, size_t idx)
{
    size_t i = b->nskips;

    b->skips = xrealloc(b->skips, (b->nskips + 1) * sizeof(*b->skips));
    for (; i > 0 && b->skips[i - 1] > idx; i--)
        b->skips[i] = b->skips[i - 1];
    b->skips[i] = idx;
    b->nskips++;
}

int bisect_observe(struct bisect *b, size_t idx, enum bisect_outcome o)
{
    size_t c;

    if (idx >= b->n || (o != BISECT_PASS && o != BISECT_FAIL && o != BISECT_SKIP))
        return -1;
    switch (o) {
    case BISECT_SKIP:
        if (b->skipped[idx])
            return 0;
        b->skipped[idx] = 1;
        if (b->linear)
            lin_add_skip(b, idx);
        break;
    case BISECT_PASS:
        b->trials++;
        if (b->linear)
            lin_add_pass(b, idx);
        else
            bisect_dag_walk(b, idx, 1);
        break;
    case BISECT_FAIL:
        b->trials++;
        b->fails++;
        if (b->linear) {
            if (idx < b->hi)
                b->hi = idx;
        } else {
            bisect_dag_walk(b, idx, 0);
            for (c = 0; c < b->n; c++)
                if (b->stamp[c] != b->cur_stamp)
                    b->alive[c] = 0;
        }
        break;
    }
    refresh(b);
    return 0;
}

void bisect_mark_built(struct bisect *b, size_t idx)
{
    if (idx >= b->n || b->built[idx])
        return;
    b->built[idx] = 1;
    b->built_list = xrealloc(b->built_list, (b->nbuilt + 1) * sizeof(*b->built_list));
    b->built_list[b->nbuilt++] = idx;
}

/* ---- construction and queries ---- */

struct bisect *bisect_new(const struct bisect_dag *dag, size_t n, const struct bisect_opts *o,
                          struct err *e)
{
    struct bisect_opts def = {0, 0.95, 0, 0, 0};
    struct bisect *b = NULL;
    size_t i, ne;

    if (!o)
        o = &def;
    if (n == 0 || n > UINT32_MAX - 1 || (dag && dag->n != n)) {
        err_set(e, ERR_USAGE, "bisect: %zu candidates (dag says %zu); need at least the bad commit",
                n, dag ? dag->n : n);
        return NULL;
    }
    if (!(o->p >= 0 && o->p <= 1) || !(o->confidence >= 0 && o->confidence < 1) ||
        !(o->p_level >= 0 && o->p_level < 1)) {
        err_set(e, ERR_USAGE, "bisect: p = %g and confidence = %g must lie in [0, 1] and [0, 1)",
                o->p, o->confidence);
        return NULL;
    }
    if (dag) {
        if (dag->parent_off[0] != 0) {
            err_set(e, ERR_USAGE, "bisect: parent_off[0] must be 0");
            return NULL;
        }
        for (i = 0; i < n; i++) {
            uint32_t k;

            if (dag->parent_off[i + 1] < dag->parent_off[i]) {
                err_set(e, ERR_USAGE, "bisect: parent_off decreases at %zu", i);
                return NULL;
            }
            for (k = dag->parent_off[i]; k < dag->parent_off[i + 1]; k++)
                if (dag->parents[k] >= i) {
                    err_set(e, ERR_USAGE,
                            "bisect: commit %zu lists parent %u: candidates must be in "
                            "topological order (parents first)",
                            i, dag->parents[k]);
                    return NULL;
                }
        }
    }
    b = xcalloc(1, sizeof(*b));
    b->n = n;
    b->linear = dag == NULL;
    b->p = o->p;
    b->conf = o->confidence > 0 ? o->confidence : 0.95;
    b->max_trials = o->max_trials;
    b->calib = o->calib_fails > 0 ? o->calib_fails : 5;
    b->level = o->p_level > 0 ? o->p_level : P_LEVEL;
    b->joint = dag == NULL && o->p == 0;
    if (b->joint && o->calib_fails <= 0)
        b->calib = JOINT_CALIB;
    for (i = 0; i < P_GRID && b->joint; i++) {
        double lp =
            log(P_GRID_MIN) + (log(P_GRID_MAX) - log(P_GRID_MIN)) * (double)i / (P_GRID - 1);

        b->gp[i] = exp(lp);
        b->glogp[i] = lp;
        b->glog1m[i] = log1p(-b->gp[i]);
        b->gh[i] = h2(b->gp[i]);
    }
    memset(b->memo_key, 0xff, sizeof(b->memo_key));
    b->skipped = xcalloc(n, 1);
    b->built = xcalloc(n, 1);
    b->hi = n - 1;
    if (dag) {
        ne = dag->parent_off[n];
        b->poff = xmalloc((n + 1) * sizeof(*b->poff));
        b->par = xmalloc((ne ? ne : 1) * sizeof(*b->par));
        memcpy(b->poff, dag->parent_off, (n + 1) * sizeof(*b->poff));
        memcpy(b->par, dag->parents, ne * sizeof(*b->par));
        b->cnt = xcalloc(n, sizeof(*b->cnt));
        b->alive = xmalloc(n);
        memset(b->alive, 1, n);
        b->post = xcalloc(n, sizeof(*b->post));
        b->lb = xcalloc(n, sizeof(*b->lb));
        b->ub = xcalloc(n, sizeof(*b->ub));
        b->stamp = xcalloc(n, sizeof(*b->stamp));
        b->stack = xmalloc(n * sizeof(*b->stack));
        b->mask = xmalloc(n * sizeof(*b->mask));
    }
    refresh(b);
    return b;
}

void bisect_free(struct bisect *b)
{
    if (!b)
        return;
    free(b->poff);
    free(b->par);
    free(b->skipped);
    free(b->built);
    free(b->built_list);
    free(b->pts);
    free(b->skips);
    free(b->segs);
    free(b->cnt);
    free(b->alive);
    free(b->post);
    free(b->lb);
    free(b->ub);
    free(b->stamp);
    free(b->stack);
    free(b->mask);
    free(b);
}

int bisect_done(const struct bisect *b)
{
    return b->done;
}

double bisect_prob(const struct bisect *b, size_t idx)
{
    if (idx >= b->n)
        return 0;
    if (!b->linear)
        return b->post[idx];
    return idx > b->hi ? 0 : b->segs[seg_of(b, idx)].unit;
}

size_t bisect_best(const struct bisect *b, double *prob_r)
{
    if (prob_r)
        *prob_r = b->maxprob;
    return b->best;
}

/* qsort_r order: most probable first, lower index on ties. */
static int cand_cmp(const void *x, const void *y, void *ctx)
{
    const double *post = ctx;
    size_t a = *(const size_t *)x, c = *(const size_t *)y;

    if (post[a] != post[c])
        return post[a] > post[c] ? -1 : 1;
    return a < c ? -1 : 1;
}

size_t bisect_credible_set(const struct bisect *b, double mass, size_t *out, size_t max)
{
    size_t cnt = 0, j, i;
    double acc = 0;

    if (b->contradiction)
        return 0;
    if (b->linear) {
        const struct seg **v = lin_by_unit(b);

        for (j = 0; j < b->nsegs && acc < mass - 1e-12 && v[j]->unit > 0; j++)
            for (i = v[j]->lo; i <= v[j]->hi && acc < mass - 1e-12; i++) {
                if (cnt < max)
                    out[cnt] = i;
                cnt++;
                acc += v[j]->unit;
            }
        free(v);
        return cnt;
    }
    {
        size_t *v = xmalloc(b->n * sizeof(*v)), m = 0;

        for (i = 0; i < b->n; i++)
            if (b->post[i] > 0)
                v[m++] = i;
        qsort_r(v, m, sizeof(*v), cand_cmp, b->post);
        for (i = 0; i < m && acc < mass - 1e-12; i++) {
            if (cnt < max)
                out[cnt] = v[i];
            cnt++;
            acc += b->post[v[i]];
        }
        free(v);
    }
    return cnt;
}

double bisect_p_estimate(const struct bisect *b)
{
    return b->p > 0 ? b->p : b->phat;
}

long bisect_trials(const struct bisect *b)
{
    return b->trials;
}

double bisect_priv_bad_mass(struct bisect *b, size_t idx)
{
    return bad_mass(b, idx);
}

double bisect_priv_gain(struct bisect *b, size_t idx)
{
    return gain_at(b, idx);
}

double bisect_priv_p_choice(const struct bisect *b)
{
    return b->pc;
}

size_t bisect_priv_p_grid(const struct bisect *b, const double **p_r)
{
    *p_r = b->gp;
    return b->joint ? P_GRID : 0;
}
