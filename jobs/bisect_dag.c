/*
 * The bisection engine on a merge history (jobs/bisect.c holds the rest): candidates are commits,
 * commit t is bad under culprit c when c is t or one of its ancestors, so a test's bad-mass is an
 * ancestor walk. Counts live in b->cnt (B(c)), the posterior in b->post.
 */
#include <stdlib.h>
#include <string.h>

#include "jobs/bisect_int.h"

#define DAG_SHORTLIST 24 /* exact ancestor walks per heuristic on a DAG step */
#define DAG_SET_MAX 64   /* credible sets larger than this are assumed splittable */

static void next_stamp(struct bisect *b)
{
    if (++b->cur_stamp == 0) {
        memset(b->stamp, 0, b->n * sizeof(*b->stamp));
        b->cur_stamp = 1;
    }
}

/* Stamps t and all its ancestors with a fresh stamp; returns the posterior mass walked. */
double bisect_dag_walk(struct bisect *b, size_t t, long add_pass)
{
    size_t sp = 0;
    double mass = 0;

    next_stamp(b);
    b->stamp[t] = b->cur_stamp;
    b->stack[sp++] = (uint32_t)t;
    while (sp) {
        uint32_t c = b->stack[--sp], k;

        mass += b->post[c];
        b->cnt[c] += (uint32_t)add_pass;
        for (k = b->poff[c]; k < b->poff[c + 1]; k++) {
            uint32_t q = b->par[k];

            if (b->stamp[q] != b->cur_stamp) {
                b->stamp[q] = b->cur_stamp;
                b->stack[sp++] = q;
            }
        }
    }
    return mass;
}

/* Posterior probabilities from counts: O(N). */
void bisect_dag_refresh(struct bisect *b)
{
    size_t c;
    double maxlw = -INFINITY, z = 0, pm = 0;

    for (c = 0; c < b->n; c++) {
        b->post[c] = b->alive[c] ? log_weight(b, b->cnt[c]) : -INFINITY;
        if (b->post[c] > maxlw)
            maxlw = b->post[c];
    }
    b->contradiction = maxlw == -INFINITY;
    b->maxprob = 0;
    b->best = BISECT_NONE;
    for (c = 0; c < b->n; c++) {
        b->post[c] = b->contradiction ? 0 : exp(b->post[c] - maxlw);
        z += b->post[c];
    }
    for (c = 0; c < b->n && !b->contradiction; c++) {
        b->post[c] /= z;
        pm += b->post[c] * (double)b->cnt[c];
        if (b->post[c] > b->maxprob) {
            b->maxprob = b->post[c];
            b->best = c;
        }
    }
    b->bbar = pm;
}

/* Up to DAG_SET_MAX most probable candidates, most probable first; returns the count. */
static size_t dag_top(const struct bisect *b, size_t *top)
{
    size_t c, m = 0, i;

    for (c = 0; c < b->n; c++) {
        double w = b->post[c];

        if (w <= 0 || (m == DAG_SET_MAX && w <= b->post[top[m - 1]]))
            continue;
        if (m < DAG_SET_MAX)
            m++;
        for (i = m - 1; i > 0 && b->post[top[i - 1]] < w; i--)
            top[i] = top[i - 1];
        top[i] = c;
    }
    return m;
}

/*
 * Whether some testable commit has part (not all) of the credible set among itself and its
 * ancestors. A set of more than DAG_SET_MAX candidates is assumed splittable.
 */
int bisect_dag_set_splittable(struct bisect *b)
{
    size_t top[DAG_SET_MAX], m = dag_top(b, top), s = 0, c;
    double acc = 0;
    uint64_t full;

    while (s < m && acc < b->conf - 1e-12)
        acc += b->post[top[s++]];
    if (acc < b->conf - 1e-12)
        return 1;
    full = s == 64 ? ~(uint64_t)0 : (((uint64_t)1 << s) - 1);
    memset(b->mask, 0, b->n * sizeof(*b->mask));
    for (c = 0; c < s; c++)
        b->mask[top[c]] |= (uint64_t)1 << c;
    for (c = 0; c < b->n; c++) {
        uint32_t k;

        for (k = b->poff[c]; k < b->poff[c + 1]; k++)
            b->mask[c] |= b->mask[b->par[k]];
        if (!b->skipped[c] && b->mask[c] && b->mask[c] != full)
            return 1;
    }
    return 0;
}

/* Keeps the m best (score, index) pairs in v (sorted, best first); returns the new count. */
static size_t keep_top(double (*v)[2], size_t m, size_t cap, double score, size_t t)
{
    size_t i;

    if (m == cap && score <= v[m - 1][0])
        return m;
    if (m < cap)
        m++;
    for (i = m - 1; i > 0 && v[i - 1][0] < score; i--) {
        v[i][0] = v[i - 1][0];
        v[i][1] = v[i - 1][1];
    }
    v[i][0] = score;
    v[i][1] = (double)t;
    return m;
}

/*
 * Best point of a DAG ignoring built marks. Exact ancestor mass costs O(N) per point, so only a
 * shortlist is walked: the DAG_SHORTLIST best points by the gain at a lower bound of their mass
 * (own mass plus the heaviest parent's bound: a chain of ancestors) and the DAG_SHORTLIST best by
 * the gain at an upper bound (topological prefix mass, or the sum over parents, whichever is
 * smaller). Exact when the history is small; otherwise the bounds agree on a linear stretch and
 * the two lists bracket the optimum on merges.
 */
size_t bisect_dag_pick(struct bisect *b, double *gain_r)
{
    double lo_top[DAG_SHORTLIST][2], hi_top[DAG_SHORTLIST][2];
    size_t nl = 0, nh = 0, c, i, best = BISECT_NONE;
    double prefix = 0, bestg = 0;

    for (c = 0; c < b->n; c++) {
        double mx = 0, sum = 0;
        uint32_t k;

        for (k = b->poff[c]; k < b->poff[c + 1]; k++) {
            if (b->lb[b->par[k]] > mx)
                mx = b->lb[b->par[k]];
            sum += b->ub[b->par[k]];
        }
        prefix += b->post[c];
        b->lb[c] = b->post[c] + mx;
        b->ub[c] = b->post[c] + sum;
        if (b->ub[c] > prefix)
            b->ub[c] = prefix;
        if (b->skipped[c] || b->ub[c] <= 0 || b->lb[c] >= 1 - 1e-15)
            continue;
        nl = keep_top(lo_top, nl, DAG_SHORTLIST, gain_q(b->lb[c], b->pc), c);
        nh = keep_top(hi_top, nh, DAG_SHORTLIST, gain_q(b->ub[c], b->pc), c);
    }
    for (i = 0; i < nl + nh; i++) {
        size_t t = (size_t)(i < nl ? lo_top[i][1] : hi_top[i - nl][1]);
        double g = gain_q(bisect_dag_walk(b, t, 0), b->pc);

        if (g > bestg || (g == bestg && g > 0 && t < best)) {
            bestg = g;
            best = t;
        }
    }
    *gain_r = bestg;
    return best;
}
