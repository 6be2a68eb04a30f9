/*
 * A bisection as a job: the pure engine (jobs/bisect.h) driven by real trials on a real git
 * DAG (jobs/gitdag.h), every trial and posterior snapshot durable in the store, so `kill -9`
 * then `pvlab bisect resume ID` continues without repeating or losing a finished trial.
 *
 * Every trial runs through the trial pool (jobs/pool.h) as a child in its own process group,
 * recorded (with its process group, so a resume can kill what a dead owner left) while it runs.
 * Two kinds:
 *   --test-cmd CMD   CMD (the user's command line, by sh, with the caller's environment) runs
 *                    in a worktree checked out at the commit, with the commit as "$1" and in
 *                    PVLAB_BISECT_COMMIT; its exit status is the outcome, like `git bisect run`:
 *                    0 pass, 125 untestable, 1-127 fail, 128 and above stop the bisection;
 *   boot mode        a `pvlab trial` child turns the commit into an artifact (--build-cmd in a
 *                    worktree prints its path as the last line, or pvlab's own builder through
 *                    a `git:REPO@SHA` spec) and boots it (--axis linux|xen, the other axis
 *                    fixed); its typed outcome is the trial's (infra is retried, then counted as
 *                    skip), and it is stored as a run of its own (pvlab show RUN).
 * Up to `workers` trials run at once, each in its own worktree. A trial's output goes to
 * <state>/bisect/<id>/trial-<n>.log (test commands) or its run's console log (boots).
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
#include "util/buf.h"
#include "util/sv.h"

struct bisect_request {
    const char *repo;
    const char *alias;    /* the repository's [repos] alias, if it has one (commit links) */
    long long request_id; /* the dashboard request it answers, 0 = none */
    struct sv good;       /* revisions as given */
    const char *bad;
    int find_fix;           /* 0: regression (good older), 1: fix (bad older) */
    const char *test_cmd;   /* test-command mode */
    const char *axis;       /* boot mode: "linux" | "xen" */
    const char *build_cmd;  /* boot mode: prints the artifact path; NULL = pvlab's builder */
    const char *build_opts; /* pvlab's builder: "toolchain=T,base=B" (a git: spec's '?' part) */
    const char *xen_spec, *linux_spec; /* the fixed axis (and defaults) */
    const char *repro;
    const char *repro_args; /* a plug-in's extra words */
    const char *amplifiers; /* run's --amplifier */
    long iterations;
    int lazy_fpu;
    const char *dom0_args;
    double self_test_corrupt;
    double p; /* 0 = estimate */
    double confidence;
    int workers;
    long max_trials;     /* 0 = none */
    int check_good;      /* trials at the good end ([bisect] check_good) */
    int check_bad_max;   /* trials at most at the bad end waiting for a fail */
    int verify;          /* re-test the answer and its parent (default on) */
    int trial_timeout_s; /* test-command timeout, 0 = none */
    int fresh_every;     /* boot trials: snapshots per commit as run's --fresh-boot-every
                            ([run] fresh_boot_every) */
};

struct bisect_events {
    void (*status)(void *ctx, const char *line); /* live line: step, candidates, best, trials */
    void (*trial)(void *ctx, const char *phase, const char *sha, enum verdict_kind outcome,
                  const char *detail);
    /* about every tick_ms while trials run (a heartbeat; NULL or 0 = never) */
    void (*tick)(void *ctx);
    int tick_ms;
    void *ctx;
};

/* A request with the configuration's defaults ([run] for the boot axis, [bisect]). */
void bisect_request_defaults(const struct config *cfg, struct bisect_request *rq);
/*
 * Validates the request (repository, revisions, that the test command exists), records a new
 * bisection and runs it to the end. *id_r gets its id. config_path (may be NULL) is passed on
 * to trial children.
 */
int bisect_start(const struct config *cfg, const char *config_path, struct store *st,
                 const struct bisect_request *rq, const struct bisect_events *ev, long long *id_r,
                 struct err *e);
/*
 * Continues a stored bisection (interrupted, or stopped) from its recorded trials: claims it
 * atomically (a second resume at once gets ERR_BUSY), kills the trial processes a dead owner
 * left, replays the trials into the engine and goes on where they stop.
 */
int bisect_resume(const struct config *cfg, const char *config_path, struct store *st, long long id,
                  const struct bisect_events *ev, struct err *e);
/*
 * Stops a running bisection: signals its owner when it runs on this host (a pid recorded by
 * another host is never signalled: ERR_BUSY names the host) and marks it stopped.
 */
int bisect_stop(struct store *st, long long id, struct err *e);
/*
 * The bisection as a `git bisect log` that `git bisect replay` accepts: every trial as a
 * comment; as commands only what is proven or concluded (commits that failed are bad; the
 * answer and its parents once found), never a flaky pass as good. Appends to out.
 */
int bisect_log(struct store *st, long long id, struct buf *out, struct err *e);
/* The bisection with its trials as one JSON object (what `bisect status ID --json` prints). */
int bisect_json(struct store *st, long long id, struct buf *out, struct err *e);

#endif
