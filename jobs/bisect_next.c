/*
 * The bisection engine's choice of the next commit(s): expected information gain on the
 * posterior that jobs/bisect.c keeps (the linear segment model or the DAG walks), preferring
 * built commits, k points per round chosen jointly on a linear history.
 */
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

/* ---- choosing ---- */

/* P(t bad) under the current posterior. */
double bisect_bad_mass(struct bisect *b, size_t t)
{
    return b->linear ? bisect_lin_mass(b, t) : bisect_dag_walk(b, t, 0);
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
    const struct seg *s = &b->segs[t >= b->hi ? b->nsegs - 1 : bisect_seg_of(b, t)];
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
    size_t lo = bisect_lin_lo(b), t0, l, r, j;
    double qs, gl, gr;

    if (b->joint)
        return lin_pick_joint(b, gain_r);
    qs = bisect_q_star(b->pc);
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
        if (t0 > lo &&
            gain_q(bisect_lin_mass(b, t0 - 1), b->pc) >= gain_q(bisect_lin_mass(b, t0), b->pc))
            t0--;
    }
    if (!b->skipped[t0]) {
        *gain_r = gain_q(bisect_lin_mass(b, t0), b->pc);
        return t0;
    }
    /* gain is unimodal in t, so the best testable commit is the nearest on either side */
    for (l = t0; l > lo && b->skipped[l]; l--)
        ;
    for (r = t0; r < b->hi - 1 && b->skipped[r]; r++)
        ;
    gl = b->skipped[l] ? -1 : gain_q(bisect_lin_mass(b, l), b->pc);
    gr = b->skipped[r] ? -1 : gain_q(bisect_lin_mass(b, r), b->pc);
    if (gl < 0 && gr < 0)
        return BISECT_NONE;
    *gain_r = gl >= gr ? gl : gr;
    return gl >= gr ? l : r;
}

/* Single-test information gain at t under the model the engine uses for choosing. */
double bisect_gain_at(struct bisect *b, size_t t)
{
    return b->joint ? lin_jgain(b, t) : gain_q(bisect_bad_mass(b, t), b->pc);
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
        gc = bisect_gain_at(b, c);
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
    size_t lo = bisect_lin_lo(b), cand[2 * Q_GRID + 2], i;

    for (i = 0; i < m; i++)
        q[i] = bisect_lin_mass(b, out[i]);
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
            q[m] = bisect_lin_mass(b, t);
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
        q[m++] = bisect_lin_mass(b, bt);
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
    bisect_refresh(b);
    return m;
}

size_t bisect_next(struct bisect *b, size_t *out, size_t k)
{
    size_t m = 0, t;
    double g;

    if (k == 0 || b->done)
        return 0;
    if (bisect_calibrating(b)) {
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
