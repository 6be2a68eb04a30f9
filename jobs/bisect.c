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
double bisect_q_star(double p)
{
    if (p >= 1)
        return 0.5;
    return 1 / (p * (1 + exp2(h2(p) / p)));
}

int bisect_calibrating(const struct bisect *b)
{
    return b->p == 0 && b->fails < b->calib;
}

/* ---- linear history ---- */

/* Index of the segment holding candidate t (t <= hi). */
size_t bisect_seg_of(const struct bisect *b, size_t t)
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
double bisect_lin_mass(const struct bisect *b, size_t t)
{
    const struct seg *s;

    if (t >= b->hi)
        return 1;
    s = &b->segs[bisect_seg_of(b, t)];
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
size_t bisect_lin_lo(const struct bisect *b)
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
        b->segs[ns++] = (struct seg){ .lo = start, .hi = b->pts[j].idx, .nb = suffix };
        start = b->pts[j].idx + 1;
        suffix -= b->pts[j].npass;
    }
    b->segs[ns++] = (struct seg){ .lo = start, .hi = b->hi, .nb = suffix };
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
void bisect_refresh(struct bisect *b)
{
    estimate_p(b);
    posterior(b);
    b->pc = b->p > 0 ? b->p : bisect_calibrating(b) ? NAN : b->joint ? b->pmean : b->phat;
    if (b->contradiction || (b->max_trials > 0 && b->trials >= b->max_trials) ||
        b->maxprob >= b->conf)
        b->done = 1;
    else if (bisect_calibrating(b))
        b->done = b->skipped[b->n - 1]; /* cannot calibrate: the prior is the answer */
    else
        b->done = !(b->linear ? lin_set_splittable(b) : bisect_dag_set_splittable(b));
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
    b->pts[lo] = (struct tpoint){ idx, 1 };
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
    bisect_refresh(b);
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
    struct bisect_opts def = { 0, 0.95, 0, 0, 0 };
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
    bisect_refresh(b);
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
    return idx > b->hi ? 0 : b->segs[bisect_seg_of(b, idx)].unit;
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
    return bisect_bad_mass(b, idx);
}

double bisect_priv_gain(struct bisect *b, size_t idx)
{
    return bisect_gain_at(b, idx);
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
