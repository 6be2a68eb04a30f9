/*
 * bisect-sim: seeded simulated bisections against an oracle (no VMs). A uniformly random culprit
 * in a linear history of N commits; a trial at t fails with probability p iff t >= culprit.
 * Prints, per p and for p given / p estimated: trials (mean, 90th percentile), distinct builds
 * (distinct commits tested), accuracy; next to plain bisection repeating each step n times (the
 * smallest n reaching 95% accuracy) and the information-theoretic floor. Then k workers per round
 * at p = 0.1, and the cost of one step on a 100,000-commit merge-heavy DAG.
 *
 *   bisect_sim [--sims N] [--quick] [--n COMMITS] [--ksims N]
 *
 * Progress goes to stderr, the table to stdout.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/bisect.h"
#include "util/xalloc.h"

#define DELTA 0.05

static double opt_level; /* 0 = engine default */
static int opt_calib;

struct rng {
    uint64_t s;
};

/* splitmix64: a fresh, well-mixed stream per simulation seed. */
static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct result {
    long trials, rounds, builds;
    int correct;
    double pest;
};

/* One engine bisection; builds are marked as they happen, so the built rule applies. */
static void sim_engine(size_t n, double p, int known, size_t k, uint64_t seed, unsigned char *seen,
                       struct result *res)
{
    struct bisect_opts o = {known ? p : 0, 1 - DELTA, 1000000, opt_calib, opt_level};
    struct rng r = {seed * 0x2545f4914f6cdd1dULL + 1};
    size_t culprit = rng_next(&r) % n, pts[64], m, i;
    struct bisect *b = bisect_new(NULL, n, &o, NULL);

    memset(res, 0, sizeof(*res));
    memset(seen, 0, n);
    while ((m = bisect_next(b, pts, k)) > 0) {
        res->rounds++;
        for (i = 0; i < m; i++) {
            int fail = pts[i] >= culprit && rng_unit(&r) < p;

            bisect_observe(b, pts[i], fail ? BISECT_FAIL : BISECT_PASS);
            if (!seen[pts[i]]) {
                seen[pts[i]] = 1;
                res->builds++;
                bisect_mark_built(b, pts[i]);
            }
        }
    }
    res->trials = bisect_trials(b);
    res->correct = bisect_best(b, NULL) == culprit;
    res->pest = bisect_p_estimate(b);
    bisect_free(b);
}

static int cmp_long(const void *x, const void *y)
{
    long a = *(const long *)x, c = *(const long *)y;

    return (a > c) - (a < c);
}

static long p90(long *v, size_t m)
{
    qsort(v, m, sizeof(*v), cmp_long);
    return v[(size_t)ceil(0.9 * (double)m) - 1];
}

/* Plain bisection (git's midpoint), each step repeated up to rep times, stopping at a fail. */
static void sim_repeat(size_t n, double p, long rep, uint64_t seed, long *trials_r, int *ok_r)
{
    struct rng r = {seed * 0x2545f4914f6cdd1dULL + 7};
    size_t culprit = rng_next(&r) % n, lo = 0, hi = n - 1;
    long trials = 0;

    while (hi > lo) {
        size_t m = hi - lo + 1, w = m <= 2 ? 1 : (m / 2 < 2 ? 2 : m / 2), t = lo + w - 1;

        if (t >= culprit) {
            /* trial index of the first fail, by inversion of the geometric law */
            double first = p >= 1 ? 1 : floor(log(1 - rng_unit(&r)) / log1p(-p)) + 1;

            if (first <= (double)rep) {
                trials += (long)first;
                hi = t;
                continue;
            }
        }
        trials += rep;
        lo = t + 1;
    }
    *trials_r = trials;
    *ok_r = lo == culprit;
}

/* Accuracy and mean trials of repeat-n bisection over sims runs. */
static double repeat_acc(size_t n, double p, long rep, long sims, double *mean_r)
{
    long s, t, ok = 0;
    double sum = 0;
    int c;

    for (s = 0; s < sims; s++) {
        sim_repeat(n, p, rep, (uint64_t)s, &t, &c);
        ok += c;
        sum += (double)t;
    }
    *mean_r = sum / (double)sims;
    return (double)ok / (double)sims;
}

/* Smallest repeat count reaching 95% accuracy (binary search; accuracy grows with n). */
static long repeat_needed(size_t n, double p, long sims, double *mean_r, double *acc_r)
{
    long lo = 1, hi = 1;
    double mean;

    while (repeat_acc(n, p, hi, sims, &mean) < 1 - DELTA)
        hi *= 2;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;

        if (repeat_acc(n, p, mid, sims, &mean) >= 1 - DELTA)
            hi = mid;
        else
            lo = mid + 1;
    }
    *acc_r = repeat_acc(n, p, lo, sims, mean_r);
    return lo;
}

/* ((1-d) log2 N - H(d)) / C, C the capacity of the Z-channel with crossover 1-p. */
static double floor_trials(size_t n, double p)
{
    double hd = -DELTA * log2(DELTA) - (1 - DELTA) * log2(1 - DELTA);
    double c = log2(1 + p * pow(1 - p, (1 - p) / p));

    return ((1 - DELTA) * log2((double)n) - hd) / c;
}

struct agg {
    double trials, builds, rounds, acc, pest_below;
    long t90, b90, r90;
};

/* Runs sims engine bisections and aggregates them. */
static void run_engine(size_t n, double p, int known, size_t k, long sims, struct agg *a)
{
    long *t = xmalloc((size_t)sims * sizeof(*t)), *bu = xmalloc((size_t)sims * sizeof(*bu));
    long *ro = xmalloc((size_t)sims * sizeof(*ro)), s;
    unsigned char *seen = xmalloc(n);
    struct result res;
    double t0 = now();

    memset(a, 0, sizeof(*a));
    for (s = 0; s < sims; s++) {
        sim_engine(n, p, known, k, (uint64_t)s, seen, &res);
        t[s] = res.trials;
        bu[s] = res.builds;
        ro[s] = res.rounds;
        a->trials += (double)res.trials;
        a->builds += (double)res.builds;
        a->rounds += (double)res.rounds;
        a->acc += res.correct;
        a->pest_below += res.pest <= p;
    }
    a->trials /= (double)sims;
    a->builds /= (double)sims;
    a->rounds /= (double)sims;
    a->acc /= (double)sims;
    a->pest_below /= (double)sims;
    a->t90 = p90(t, (size_t)sims);
    a->b90 = p90(bu, (size_t)sims);
    a->r90 = p90(ro, (size_t)sims);
    fprintf(stderr, "bisect-sim: p=%g %s k=%zu: %ld sims in %.1f s\n", p,
            known ? "given" : "estimated", k, sims, now() - t0);
    free(t);
    free(bu);
    free(ro);
    free(seen);
}

/*
 * A merge-heavy random DAG: 8 branches grow at random; 30% of commits merge another branch into
 * theirs, which then restarts from a commit up to 500 back (a fork). The last commit merges the
 * branch heads, so every commit is an ancestor of it.
 */
static void make_dag(size_t n, struct rng *r, uint32_t **off_r, uint32_t **par_r)
{
    uint32_t *off = xmalloc((n + 1) * sizeof(*off)), *par = xmalloc(3 * n * sizeof(*par));
    uint32_t heads[8];
    size_t i, e = 0, h, h2;

    off[0] = 0;
    off[1] = 0;
    for (h = 0; h < 8; h++)
        heads[h] = 0;
    for (i = 1; i + 1 < n; i++) {
        h = rng_next(r) % 8;
        par[e++] = heads[h];
        h2 = rng_next(r) % 8;
        if (rng_unit(r) < 0.3 && heads[h2] != heads[h]) {
            par[e++] = heads[h2];
            heads[h2] = (uint32_t)(i - 1 - rng_next(r) % (i < 500 ? i : 500));
        }
        heads[h] = (uint32_t)i;
        off[i + 1] = (uint32_t)e;
    }
    for (h = 0; h < 8; h++) {
        for (h2 = 0; h2 < h && heads[h2] != heads[h]; h2++)
            ;
        if (h2 == h)
            par[e++] = heads[h];
    }
    off[n] = (uint32_t)e;
    *off_r = off;
    *par_r = par;
}

/* Whether c is t or an ancestor of t (oracle; a plain walk). */
static int is_anc(const uint32_t *off, const uint32_t *par, size_t n, size_t c, size_t t,
                  unsigned char *vis, uint32_t *stack)
{
    size_t sp = 0;
    int found = 0;

    memset(vis, 0, n);
    stack[sp++] = (uint32_t)t;
    vis[t] = 1;
    while (sp && !found) {
        uint32_t x = stack[--sp], k;

        found = x == c;
        for (k = off[x]; k < off[x + 1]; k++)
            if (!vis[par[k]]) {
                vis[par[k]] = 1;
                stack[sp++] = par[k];
            }
    }
    return found;
}

/* Bisections on a 100,000-commit merge-heavy DAG: accuracy, trials and time per step. */
static void run_dag(size_t n, double p, int runs)
{
    struct rng r = {12345};
    uint32_t *off, *par, *stack = xmalloc(n * sizeof(*stack));
    unsigned char *vis = xmalloc(n), *badc = xmalloc(n), *known = xmalloc(n);
    struct bisect_opts o = {p, 1 - DELTA, 20000, 0, 0};
    double tsteps = 0, tmax = 0;
    long steps = 0, trials = 0, ok = 0;
    int run;

    make_dag(n, &r, &off, &par);
    printf("\nDAG: %zu commits, %u parent links, p = %g given, %d runs\n", n, off[n], p, runs);
    fflush(stdout);
    for (run = 0; run < runs; run++) {
        struct bisect_dag dag = {n, off, par};
        struct bisect *b = bisect_new(&dag, n, &o, NULL);
        size_t culprit = n / 4 + rng_next(&r) % (n / 2), t;

        memset(known, 0, n);
        for (;;) {
            double t0 = now(), dt;
            size_t m = bisect_next(b, &t, 1);
            int fail;

            if (m == 0)
                break;
            if (!known[t]) {
                known[t] = 1;
                badc[t] = (unsigned char)is_anc(off, par, n, culprit, t, vis, stack);
                bisect_mark_built(b, t);
            }
            fail = badc[t] && rng_unit(&r) < p;
            bisect_observe(b, t, fail ? BISECT_FAIL : BISECT_PASS);
            dt = now() - t0;
            tsteps += dt;
            tmax = dt > tmax ? dt : tmax;
            steps++;
            if (steps % 100 == 0) {
                double pb;
                size_t bb = bisect_best(b, &pb);

                fprintf(stderr,
                        "bisect-sim: DAG run %d: %ld trials, %.1f ms/step, best %zu (%.3f)\n", run,
                        bisect_trials(b), 1e3 * tsteps / (double)steps, bb, pb);
            }
        }
        trials += bisect_trials(b);
        ok += bisect_best(b, NULL) == culprit;
        fprintf(stderr, "bisect-sim: DAG run %d: %ld trials\n", run, bisect_trials(b));
        bisect_free(b);
    }
    printf("DAG: accuracy %ld/%d, mean trials %.1f, time per step (next + observe) mean %.2f ms, "
           "max %.2f ms\n",
           ok, runs, (double)trials / runs, 1e3 * tsteps / (double)steps, 1e3 * tmax);
    free(off);
    free(par);
    free(stack);
    free(vis);
    free(badc);
    free(known);
}

int main(int argc, char **argv)
{
    static const double ps[] = {0.5, 0.1, 0.01};
    static const size_t ks[] = {1, 3, 7, 15};
    long sims = 10000, ksims = -1;
    size_t n = 15000, i, dagn = 100000;
    int quick = 0, dagruns = 5;
    double only_p = 0;
    double t0 = now();

    for (i = 1; i < (size_t)argc; i++) {
        if (!strcmp(argv[i], "--dag") && i + 1 < (size_t)argc)
            dagn = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--sims") && i + 1 < (size_t)argc)
            sims = atol(argv[++i]);
        else if (!strcmp(argv[i], "--ksims") && i + 1 < (size_t)argc)
            ksims = atol(argv[++i]);
        else if (!strcmp(argv[i], "--n") && i + 1 < (size_t)argc)
            n = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--level") && i + 1 < (size_t)argc)
            opt_level = atof(argv[++i]);
        else if (!strcmp(argv[i], "--calib") && i + 1 < (size_t)argc)
            opt_calib = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only-p") && i + 1 < (size_t)argc)
            only_p = atof(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else {
            fprintf(stderr, "usage: %s [--sims N] [--ksims N] [--n COMMITS] [--quick]\n", argv[0]);
            return 2;
        }
    }
    if (quick) {
        sims = sims == 10000 ? 300 : sims;
        dagn = 20000;
        dagruns = 2;
    }
    if (sims < 1)
        sims = 1;
    if (ksims < 1)
        ksims = sims < 2000 ? sims : 2000;

    printf("bisect-sim: N = %zu commits, delta = %g, %ld simulated bisections per row\n", n, DELTA,
           sims);
    printf("%-6s %-10s %9s %6s %8s %6s %8s %9s\n", "p", "engine", "trials", "p90", "builds", "p90",
           "accuracy", "p_est<=p");
    for (i = 0; i < 3; i++) {
        struct agg g, e;
        double rmean, racc;
        long rep;

        if (only_p > 0 && ps[i] != only_p)
            continue;
        run_engine(n, ps[i], 1, 1, sims, &g);
        printf("%-6g %-10s %9.1f %6ld %8.1f %6ld %8.4f %9s\n", ps[i], "p given", g.trials, g.t90,
               g.builds, g.b90, g.acc, "-");
        fflush(stdout);
        run_engine(n, ps[i], 0, 1, sims, &e);
        printf("%-6g %-10s %9.1f %6ld %8.1f %6ld %8.4f %9.4f\n", ps[i], "p estim.", e.trials, e.t90,
               e.builds, e.b90, e.acc, e.pest_below);
        rep = repeat_needed(n, ps[i], sims, &rmean, &racc);
        printf("%-6g %-10s %9.1f %6s %8s %6s %8.4f   (n = %ld repeats per step)\n", ps[i],
               "repeat-n", rmean, "", "", "", racc, rep);
        printf("%-6g %-10s %9.1f\n", ps[i], "floor", floor_trials(n, ps[i]));
        fflush(stdout);
    }

    printf("\nk workers per round, p = 0.1 given, %ld bisections per row\n", ksims);
    printf("%-4s %8s %6s %9s %6s %8s %8s\n", "k", "rounds", "p90", "trials", "p90", "builds",
           "accuracy");
    for (i = 0; i < 4; i++) {
        struct agg g;

        run_engine(n, 0.1, 1, ks[i], ksims, &g);
        printf("%-4zu %8.1f %6ld %9.1f %6ld %8.1f %8.4f\n", ks[i], g.rounds, g.r90, g.trials, g.t90,
               g.builds, g.acc);
        fflush(stdout);
    }
    run_dag(dagn, 0.1, dagruns);
    fprintf(stderr, "bisect-sim: total %.1f s\n", now() - t0);
    return 0;
}
