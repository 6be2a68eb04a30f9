/*
 * Internals of a bisection as a job, shared by its three files:
 *   bisect_run.c     the phases (check-bad, check-good, bisect, verify), start, resume, stop
 *   bisect_trials.c  running trials through the pool and recording each with its snapshot
 *   bisect_report.c  the final report and the git-bisect-style log
 */
#ifndef PVLAB_JOBS_BISECT_RUN_INT_H
#define PVLAB_JOBS_BISECT_RUN_INT_H

#include "jobs/bisect.h"
#include "jobs/bisect_run.h"
#include "jobs/gitdag.h"
#include "lab/verdict.h"

#define BISECT_MAX_WORKERS 16
#define BISECT_INFRA_RETRIES 3

/* A worktree a trial runs in (test commands and build commands); one per concurrent trial. */
struct lane {
    char *dir;    /* <state>/bisect/<id>/worktree-<i> */
    char sha[64]; /* what it has checked out ("" = nothing yet) */
    int busy;
};

/* One bisection in memory: request, DAG, engine, and the map between both index spaces. */
struct bctx {
    const struct config *cfg;
    const char *config_path; /* --config, passed on to trial children */
    struct store *st;
    const struct bisect_events *ev;
    struct bisect_request rq; /* strings point into owned (resume) or the caller's request */
    struct sv owned;
    long long id;
    char *bad_sha;
    struct sv good_sha;
    struct gitdag dag;
    /* engine index j <-> commit eng_sha[j]; fix mode runs on the reversed first-parent line */
    size_t n;
    const char **eng_sha;
    const char *fix_after_last; /* fix mode: the commit after eng_sha[0] in time (good end) */
    struct bisect *eng;
    int *infra;                  /* infra count per engine index */
    int *booted;                 /* boot trials started per engine index (snapshots) */
    int seq;                     /* trials recorded */
    int attempt;                 /* trials started (names their logs) */
    char *dir;                   /* <state>/bisect/<id> */
    struct sv art_sha, art_hash; /* artifacts built so far: commit -> sha256 */
    struct lane lanes[BISECT_MAX_WORKERS];
    long trials;       /* informative trials (pass or fail) */
    int guest_started; /* a boot trial of this bisection started a guest */
};

/* "linux" / "xen" boot trials, or a test command. */
static inline int bctx_boots(const struct bctx *c)
{
    return !c->rq.test_cmd;
}

/* Engine index of sha, or -1 (a good end is not a candidate). */
long bctx_index(const struct bctx *c, const char *sha);
/* The answer commit for engine index j: the culprit, or in fix mode the commit after it. */
const char *bctx_answer(const struct bctx *c, size_t j);
/* Gives one outcome to the engine (live and on replay alike). idx < 0: not a candidate. */
void bctx_feed(struct bctx *c, long idx, enum verdict_kind outcome);
/* Reports a status line through the events. */
void bctx_status(struct bctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Runs a trial of each of the m commits shas (up to rq.workers at once), records each with its
 * posterior snapshot as it ends, and puts its verdict in outcomes_r[i] (may be NULL). Returns -1
 * with e set when a trial asks to stop (exit >= 128, a setup error, a host that cannot start
 * QEMU) or the user interrupts; that trial is not recorded.
 */
int bisect_run_batch(struct bctx *c, const char *phase, const char **shas, size_t m,
                     enum verdict_kind *outcomes_r, struct err *e);
/* Removes the bisection's worktrees (and git's records of them). */
void bisect_lanes_free(struct bctx *c);

/*
 * Writes the final report (outcome "found", "credible-set", "budget", "bad-end-passes",
 * "good-end-fails", "contradiction") with why, and marks the bisection done.
 */
int bisect_finish(struct bctx *c, const char *outcome, const char *why, struct err *e);

#endif
