/*
 * A bisection as a job: the pure engine (jobs/bisect.h) driven by real trials on a real git
 * DAG (jobs/gitdag.h), every trial and posterior snapshot durable in the store, so `kill -9`
 * then `pvlab bisect resume ID` continues without repeating or losing a finished trial.
 *
 * A trial is a child process whose exit status is the verdict, like `git bisect run`: 0 pass,
 * 125 untestable, 1-127 fail, 128 and above abort the bisection. Two kinds:
 *   --test-cmd CMD   CMD runs in a worktree checked out at the commit (any repository);
 *   boot mode        the commit becomes an artifact (--build-cmd prints its path as the last
 *                    line of stdout, or pvlab's own builder through `git:REPO@SHA` specs), then
 *                    `pvlab run` boots it (--axis linux|xen, the other axis fixed) and its
 *                    verdict is the trial's (infra is retried, then counted as skip).
 * Up to `workers` trials run at once, each in its own worktree.
 *
 * Phases (osstest's checks): check-bad (the bad end must fail; calibrates p), check-good (the
 * good end must pass), bisect, verify (re-test the answer and its parent; flag byte-identical
 * artifacts). --find fix looks for where the bug disappeared: on a linear history the engine
 * runs on the reversed order; merge histories are bisected along first parents.
 */
#ifndef PVLAB_JOBS_BISECT_RUN_H
#define PVLAB_JOBS_BISECT_RUN_H

#include "config/config.h"
#include "jobs/store.h"
#include "util/err.h"
#include "util/sv.h"

struct bisect_request {
    const char *repo;
    struct sv good;           /* revisions as given */
    const char *bad;
    int find_fix;             /* 0: regression (good older), 1: fix (bad older) */
    const char *test_cmd;     /* test-command mode */
    const char *axis;         /* boot mode: "linux" | "xen" */
    const char *build_cmd;    /* boot mode: prints the artifact path; NULL = pvlab's builder */
    const char *xen_spec, *linux_spec; /* the fixed axis (and defaults) */
    const char *repro;
    long iterations;
    int lazy_fpu;
    const char *dom0_args;
    double self_test_corrupt;
    double p;                 /* 0 = estimate */
    double confidence;
    int workers;
    long max_trials;          /* 0 = none */
    int check_good;           /* trials at the good end (default 2) */
    int check_bad_max;        /* trials at most at the bad end waiting for a fail (default 50) */
    int verify;               /* re-test the answer and its parent (default on) */
    int trial_timeout_s;      /* test-command timeout, 0 = none */
};

struct bisect_events {
    void (*status)(void *ctx, const char *line); /* live line: step, candidates, best, trials */
    void (*trial)(void *ctx, const char *phase, const char *sha, const char *outcome,
                  const char *detail);
    void *ctx;
};

/* Validates the request, records a new bisection and runs it to the end. *id_r gets its id. */
int bisect_start(const struct config *cfg, struct store *st, const struct bisect_request *rq,
                 const struct bisect_events *ev, long long *id_r, struct err *e);
/* Continues a stored bisection (interrupted, or stopped) from its recorded trials. */
int bisect_resume(const struct config *cfg, struct store *st, long long id,
                  const struct bisect_events *ev, struct err *e);
/* Stops a running bisection (signals its process) and marks it stopped. */
int bisect_stop(struct store *st, long long id, struct err *e);

#endif
