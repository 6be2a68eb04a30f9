/*
 * State of the bisection engine, shared by jobs/bisect.c (linear histories, the joint (culprit, p)
 * posterior, choosing rounds) and jobs/bisect_dag.c (the posterior and the choice of one point on a
 * merge history). Nothing outside these two files includes it.
 */
#ifndef PVLAB_JOBS_BISECT_INT_H
#define PVLAB_JOBS_BISECT_INT_H

#include <math.h>
#include <stdint.h>

#include "jobs/bisect.h"

#define BUILT_SHARE 0.8  /* a built commit wins when its gain is >= this share of the best */
#define Q_GRID 32        /* bad-mass levels tried per extra point of a k-point round */
#define MAX_JOINT 64     /* points per round optimised jointly (linear history) */
#define P_LEVEL 0.10     /* default quantile of p's posterior plugged in when p is estimated */
#define MEMO_P 512       /* direct-mapped cache of lower bounds of p */
#define P_GRID 64        /* p values of the joint (culprit, p) posterior (linear, p estimated) */
#define P_GRID_MIN 1e-4  /* grid range, log-spaced (prior uniform in log p, so equal */
#define P_GRID_MAX 0.999 /* weights per point) */
#define P_PRUNE 40.0     /* grid points whose best log weight is this far below are dropped */
#define JOINT_CALIB 2    /* default calibration fails with the joint posterior */

/* One tested commit on a linear history: its passes (fails only move `hi`). */
struct tpoint {
    size_t idx;
    long npass;
};

/* Run of consecutive candidates [lo, hi] sharing one pass count, hence one weight. */
struct seg {
    size_t lo, hi;
    long nb;     /* B: passes at commits >= lo */
    double unit; /* posterior probability of each candidate in the run */
    double cum;  /* posterior mass of candidates <= hi */
    /* joint (culprit, p) posterior only: */
    double pbar;     /* E[p | culprit in this run] */
    double hp;       /* E[h2(p) | culprit in this run] */
    double cf0, ch0; /* sums of mass * pbar and of mass * hp over the candidates below lo */
};

struct bisect {
    size_t n;
    int linear;
    uint32_t *poff, *par; /* DAG copy (CSR) */
    double p;             /* given p, or 0 = estimate it */
    int joint;            /* p estimated on a linear history: joint posterior over (culprit, p) */
    double gp[P_GRID], glogp[P_GRID], glog1m[P_GRID], gh[P_GRID]; /* p, log p, log(1-p), h2(p) */
    double gpost[P_GRID];                                         /* P(p = gp[g] | data) */
    double conf;
    long max_trials;
    long calib;

    long trials, fails;
    unsigned char *skipped, *built;
    size_t *built_list, nbuilt;
    double level; /* quantile of p's posterior plugged in when estimating */
    double phat;  /* p plugged in when estimating (0 before the first fail) */
    long memo_key[MEMO_P][2];
    double memo_val[MEMO_P];

    /* linear history */
    struct tpoint *pts; /* sorted by idx, npass >= 1 */
    size_t npts;
    size_t hi;     /* lowest failing commit, or n-1 */
    size_t *skips; /* sorted */
    size_t nskips;
    struct seg *segs;
    size_t nsegs;

    /* DAG */
    uint32_t *cnt; /* B(c) */
    unsigned char *alive;
    double *post;
    double *lb, *ub;
    uint32_t *stamp, cur_stamp;
    uint32_t *stack;
    uint64_t *mask;

    /* refreshed after every observation */
    double maxprob, bbar; /* bbar: posterior mean of B(culprit) */
    double pmean;         /* joint posterior: E[p] */
    size_t best;
    double pc; /* p used to choose (given, or estimated); NaN while calibrating */
    int contradiction, done;
};

/* Binary entropy in bits. */
static inline double h2(double x)
{
    if (x <= 0 || x >= 1)
        return 0;
    return -x * log2(x) - (1 - x) * log2(1 - x);
}

/* Mutual information between culprit and one test outcome when P(test bad) = q. */
static inline double gain_q(double q, double p)
{
    double g;

    if (q <= 0 || q >= 1)
        return 0;
    g = h2(q * p) - q * h2(p);
    return g > 0 ? g : 0;
}

/* Log weight of a surviving candidate with nb passes against it (see the file comment). */
static inline double log_weight(const struct bisect *b, long nb)
{
    double p = b->p > 0 ? b->p : b->phat;

    if (p >= 1)
        return nb > 0 ? -INFINITY : 0;
    return p > 0 ? (double)nb * log1p(-p) : 0; /* no fail seen yet: no information */
}

/* jobs/bisect_dag.c */

/* Adds add_pass to B of t and all its ancestors; returns their posterior mass. */
/* jobs/bisect.c: the posterior (the linear segment model, p, calibration) */
double bisect_q_star(double p);
int bisect_calibrating(const struct bisect *b);
size_t bisect_seg_of(const struct bisect *b, size_t t);
double bisect_lin_mass(const struct bisect *b, size_t t);
size_t bisect_lin_lo(const struct bisect *b);
void bisect_refresh(struct bisect *b);
/* jobs/bisect_next.c: P(t bad) and the expected information gain of testing t */
double bisect_bad_mass(struct bisect *b, size_t t);
double bisect_gain_at(struct bisect *b, size_t t);

double bisect_dag_walk(struct bisect *b, size_t t, long add_pass);
/* Posterior probabilities from counts: O(N). */
void bisect_dag_refresh(struct bisect *b);
/* Whether some testable commit splits the credible set. */
int bisect_dag_set_splittable(struct bisect *b);
/* Best point ignoring built marks, and its gain in *gain_r; BISECT_NONE when none gains. */
size_t bisect_dag_pick(struct bisect *b, double *gain_r);

#endif
