/*
 * Flaky-aware bisection engine: a pure module (no I/O, no git, no processes, no clock).
 *
 * A bad commit shows the bug in a trial only with probability p; a good commit never does
 * (one-sided noise). The engine keeps a Bayesian posterior over the culprit (the first bad
 * commit) and picks the commits to test next by expected information gain. The algorithm and
 * measured figures are in docs/bisect.md.
 *
 * Candidates are indices 0 .. n-1 in a topological order (parents before children). Index n-1 is
 * the known-bad commit: a descendant of every candidate, and itself a possible culprit. The
 * known-good commits are not candidates. Commit t is bad iff the culprit is t or an ancestor of t.
 *
 * Reproducibility: the engine state is a function of the multiset of observations plus the set of
 * built marks (it keeps integer counts only, never a running floating-point product), so a caller
 * that persists observations (e.g. in SQLite) rebuilds an identical engine after a crash with
 * bisect_new + bisect_mark_built for its cached builds + bisect_observe for every stored
 * observation, in any order; the next choices and the posterior are then bit-identical.
 *
 * Threads: a struct bisect is not shared; distinct engines are independent. Nothing blocks.
 * Cost: on a linear history every call is O(number of distinct tested commits) (times the live
 * points of a 64-point p grid when p is estimated; plus O(k^2) per candidate point when choosing
 * k > 1 points); on a DAG observe/next are O(N + E) plus a bounded shortlist of O(N) ancestor
 * walks (about 25-35 ms per step at N = 100,000, see docs/bisect.md).
 */
#ifndef PVLAB_JOBS_BISECT_H
#define PVLAB_JOBS_BISECT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Returned by bisect_best when the observations contradict the model (e.g. p = 1 was declared
 * but a commit passed after one of its ancestors failed). */
#define BISECT_NONE ((size_t)-1)

enum bisect_outcome {
    BISECT_PASS, /* ran, no corruption */
    BISECT_FAIL, /* corruption seen: proves the commit bad */
    BISECT_SKIP, /* untestable (build failure, not bootable): no information, never chosen again */
};

/*
 * History as a DAG in CSR form: the parents of i are parents[parent_off[i] .. parent_off[i+1]),
 * listing only parents that are themselves candidates; every parent index must be < i. The engine
 * copies both arrays, so the caller may free them after bisect_new.
 */
struct bisect_dag {
    size_t n;
    const uint32_t *parent_off; /* n + 1 entries */
    const uint32_t *parents;
};

struct bisect_opts {
    double p;          /* per-trial failure probability of a bad commit; 0 = estimate it */
    double confidence; /* stop when P(best) >= confidence, e.g. 0.95; 0 = 0.95 */
    long max_trials;   /* budget of pass+fail trials; 0 = none */
    int calib_fails;   /* p estimated: fails to see (anywhere) before bisecting; 0 = default
                          (2 on a linear history, 5 on a DAG) */
    double p_level;    /* p estimated: quantile of p's posterior reported by bisect_p_estimate
                          (on a DAG also the one plugged in); 0 = default 0.1 */
};

struct bisect;

/*
 * New engine over n >= 1 candidates. dag == NULL means a linear history (the parent of i is
 * i-1); otherwise dag->n must equal n. o == NULL means defaults (p estimated, 0.95). Returns
 * NULL and fills e on invalid input (a parent index not below its child, p outside [0, 1]).
 * The caller owns the result and frees it with bisect_free (which accepts NULL).
 */
struct bisect *bisect_new(const struct bisect_dag *dag, size_t n, const struct bisect_opts *o,
                          struct err *e);
void bisect_free(struct bisect *b);

/* Marks idx as already built: it is preferred when its gain is >= 80% of the best point's. */
void bisect_mark_built(struct bisect *b, size_t idx);

/*
 * Records one trial result at idx. Returns 0, or -1 (nothing recorded) when idx >= n or o is
 * not a valid outcome. A fail removes every candidate that is not idx or an ancestor of idx; a
 * pass down-weights idx and its ancestors by (1 - p); a skip only makes idx unselectable.
 */
int bisect_observe(struct bisect *b, size_t idx, enum bisect_outcome o);

/*
 * Chooses up to k commits to test in the next round (k workers) into out[0 .. k-1]; a commit may
 * appear several times (repeat trials of one build are often the best use of workers when p is
 * small). Returns how many were written: 0 when bisect_done() or when nothing testable can still
 * separate the credible set. Never returns a skipped commit. Deterministic: the same observations
 * and built marks give the same choice. Does not record anything; call bisect_observe per result.
 */
size_t bisect_next(struct bisect *b, size_t *out, size_t k);

/*
 * 1 when the answer is final: P(best) >= confidence, or the budget is spent, or no testable
 * commit can split the credible set any more (skipped commits around the culprit: the answer is
 * then the credible set, like git bisect's "only skipped commits left to test"), or the
 * observations contradict the model. A pure function of the observations (so it survives a
 * replay). On a DAG whose credible set is larger than 64 commits, the rare case "nothing testable
 * is informative" is only detected by bisect_next returning 0: treat that as done too.
 */
int bisect_done(const struct bisect *b);

/* Posterior probability that idx is the culprit (0 for idx >= n). */
double bisect_prob(const struct bisect *b, size_t idx);

/* The most probable culprit (lowest index on ties) and, if prob_r != NULL, its probability.
 * BISECT_NONE when the observations contradict the model. */
size_t bisect_best(const struct bisect *b, double *prob_r);

/*
 * The smallest set of candidates whose posterior mass is >= mass (most probable first; ties by
 * lower index). Writes at most max indices into out (out may be NULL when max is 0) and returns
 * the set's full size.
 */
size_t bisect_credible_set(const struct bisect *b, double mass, size_t *out, size_t max);

/*
 * p: the given value when known; when estimated, a conservative figure: the p_level (default 10%)
 * quantile of p's posterior, so it lies below the true p about 90% of the time. On a linear
 * history the posterior integrates over p (a joint posterior over culprit and p) and this is only
 * reported; on a DAG it is the value plugged into the posterior. 0 before any fail is seen.
 */
double bisect_p_estimate(const struct bisect *b);

/* Trials recorded so far (pass + fail; skips are not trials). */
long bisect_trials(const struct bisect *b);

#endif
