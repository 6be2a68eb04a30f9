/* Internals of jobs/bisect.c that only the unit tests and the benchmark need. */
#ifndef PVLAB_JOBS_BISECT_PRIV_H
#define PVLAB_JOBS_BISECT_PRIV_H

#include "jobs/bisect.h"

/* P(idx is bad) = posterior mass of idx and its ancestors (exact; O(N) on a DAG). */
double bisect_priv_bad_mass(struct bisect *b, size_t idx);
/* Single-test information gain (bits) at idx under the p the engine uses for choosing. */
double bisect_priv_gain(struct bisect *b, size_t idx);
/* The p the engine uses for choosing (given, or the estimate); NaN while calibrating. */
double bisect_priv_p_choice(const struct bisect *b);
/* The p grid of the joint (culprit, p) posterior (linear history, p estimated; prior uniform over
 * the grid points, which are log-spaced): sets *p_r and returns the count, 0 when not in use. */
size_t bisect_priv_p_grid(const struct bisect *b, const double **p_r);
/* Joint mutual information (bits) of one round of tests at bad-masses q[0..k-1] (any order). */
double bisect_priv_joint_gain(const double *q, size_t k, double p);

#endif
