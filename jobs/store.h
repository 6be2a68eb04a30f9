/*
 * The store: runs and their trials in one SQLite database (WAL mode), the lab's memory.
 *
 * - Every call blocks: on disk I/O (each write is fsync'd: synchronous=FULL) and, when another
 *   pvlab process holds the write lock, for up to 5 s (busy_timeout) before failing with a
 *   "locked by another pvlab" error. Readers (list, get, a dashboard) never wait for writers.
 * - Nothing is lost on a crash: each trial is committed by store_trial_add before it returns, and
 *   the run's counts are kept current with it. A run whose pvlab died stays "running" in the
 *   database until store_mark_stale (which any later pvlab may call) turns it "interrupted".
 * - The schema is versioned with PRAGMA user_version and migrated forward by store_open; a
 *   database written by a newer pvlab is refused without being modified.
 * - One struct store per thread (a SQLite connection is not shared between threads here).
 * - Errors carry ERR_DB (ERR_NOTFOUND for unknown runs, ERR_IO / ERR_NOSPACE for file system
 *   trouble) and a message that names the database path and says what to do.
 */
#ifndef PVLAB_JOBS_STORE_H
#define PVLAB_JOBS_STORE_H

#include <stddef.h>

#include "util/err.h"

struct store; /* opaque */

/* Latest schema version this pvlab writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 3

/*
 * Opens (creating the parent directories and the file if needed) the database at path, turns on
 * WAL, foreign keys and the busy timeout, and applies pending migrations in one transaction.
 * On success *s_r is a new handle the caller frees with store_close.
 */
int store_open(const char *path, struct store **s_r, struct err *e);
/* Closes the database. NULL is accepted. */
void store_close(struct store *s);
/* Path the store was opened with (owned by the store). */
const char *store_path(const struct store *s);

/*
 * A run: N trials of one configuration. When the store returns a run_rec (store_run_get,
 * store_run_list) every string in it is malloc'd and owned by the record: free with run_rec_free.
 * When the caller passes one in, the caller owns its strings, except the three fields the store
 * writes (created, finished, verdict): those must be NULL or malloc'd, the store frees the old
 * value when it replaces one, and run_rec_free_stamps frees them.
 * NULL strings are stored as SQL NULL.
 */
struct run_rec {
    long long id;
    char *created;  /* ISO-8601 UTC ("2025-01-31T12:00:00Z"), set by store_run_begin */
    char *finished; /* set by store_run_finish; NULL while running or if marked stale */
    char *status;   /* "running" | "done" | "interrupted" | "error" */
    char *xen_spec, *linux_spec, *repro;
    char *params_json; /* iterations, workers, lazy_fpu, self_test_corrupt, dom0 args... as JSON */
    int trials_planned;
    char *verdict; /* pass | fail | infra | skip (NULL while running) */
    long trials_pass, trials_fail, trials_infra, trials_skip;
    long long iterations, corruptions; /* summed over pass and fail trials: infra and skip
                                          trials say nothing about the bug */
    double rate_upper95; /* 95% upper bound on the per-iteration corruption rate, or NaN */
    /* what booted */
    char *xen_version, *xen_package, *xen_sha256;
    char *linux_version, *linux_package, *linux_sha256;
    char *initramfs_sha256;
    /* host stack: in nested virtualisation the outer layer can cause or hide a bug */
    char *qemu_version, *accel, *cpu_model, *l0_kernel, *hostname;
    char *qemu_cmd; /* the QEMU command line of the first trial, shell-quoted */
    char *accel_note; /* why this accelerator: "kvm: /dev/kvm not present; using tcg" */
};

/* One trial (one boot + one reproducer run). Ownership as for run_rec; all fields are input. */
struct trial_rec {
    long long run_id;
    int idx;       /* 1-based, unique within the run */
    char *verdict; /* pass|fail|infra|skip */
    char *reason;  /* short: "no PVLAB-RESULT line", "timeout after 300 s", "3 corruption events" */
    long long iterations, corruptions, mismatches, deaths, klog_faults;
    char *evidence_json;        /* JSON array of evidence lines (NULL = none) */
    char *started, *finished;   /* ISO-8601 */
    long long wall_ms, boot_ms; /* boot_ms: until PVLAB-BEGIN */
    char *log_path;
};

/*
 * Inserts r as a new run with status "running", owned by this process (its pid is recorded for
 * store_mark_stale). Reads the spec, params, trials_planned, artifact and host fields of r; sets
 * r->id and r->created. r->status, r->verdict and the counts are ignored.
 */
int store_run_begin(struct store *s, struct run_rec *r, struct err *e);
/*
 * Records fields of run r->id as they become known: each non-NULL string among the specs,
 * params_json, artifact and host fields replaces the stored value (NULL leaves it alone);
 * trials_planned replaces it when > 0. Status, verdict and counts are not touched.
 * Unknown id -> ERR_NOTFOUND.
 */
int store_run_update(struct store *s, const struct run_rec *r, struct err *e);
/*
 * Adds one trial and refreshes its run's counts, in one transaction: durable when it returns.
 * Unknown run -> ERR_NOTFOUND; an idx already recorded for the run -> ERR_DB.
 */
int store_trial_add(struct store *s, const struct trial_rec *t, struct err *e);
/*
 * Closes run r->id: recomputes counts from the trials table, sets verdict (store_run_verdict;
 * none for an "interrupted" run without trials), rate_upper95, finished = now and status =
 * r->status ("done" when NULL; "error" or "interrupted" are accepted too). Writes the results
 * back into r: counts, iterations, corruptions, rate_upper95, and new malloc'd finished and
 * verdict (possibly NULL) strings.
 */
int store_run_finish(struct store *s, struct run_rec *r, struct err *e);
/*
 * Reads run id into *r_out (all strings malloc'd; free with run_rec_free) and, when trials_r is
 * not NULL, its trials ordered by idx into a malloc'd array (free with trial_recs_free).
 * Unknown id -> ERR_NOTFOUND ("no run 42 (pvlab list shows the runs)").
 */
int store_run_get(struct store *s, long long id, struct run_rec *r_out, struct trial_rec **trials_r,
                  size_t *ntrials_r, struct err *e);
/* The newest runs first (at most limit; limit <= 0 means all), in a malloc'd array freed with
 * run_recs_free. */
int store_run_list(struct store *s, int limit, struct run_rec **runs_r, size_t *n_r, struct err *e);
/*
 * Marks runs still "running" whose process is gone as "interrupted", with counts and (when any
 * trial was recorded) verdict recomputed from their trials. A run's owner is gone when the
 * machine has rebooted since (boot id), its pid is dead, or the pid now belongs to another process
 * (start time). Runs started on another host are left alone: their pid cannot be checked here.
 * Returns the number of runs marked, or -1.
 */
int store_mark_stale(struct store *s, struct err *e);

/*
 * Verdict of a run from its trial counts: any fail -> "fail"; else any pass -> "pass"; else any
 * infra -> "infra"; else "skip" (also for no trials). Returns a static string.
 */
const char *store_run_verdict(long pass, long fail, long infra, long skip);

/* Frees every string of r and zeroes it (not r itself). NULL is accepted. */
void run_rec_free(struct run_rec *r);
/* Frees only created, finished and verdict (the strings the store writes into a caller's record)
 * and sets them to NULL. */
void run_rec_free_stamps(struct run_rec *r);
/* Frees every string of t and zeroes it (not t itself). NULL is accepted. */
void trial_rec_free(struct trial_rec *t);
/* Free arrays from store_run_list / store_run_get, elements and array. NULL is accepted. */
void run_recs_free(struct run_rec *v, size_t n);
void trial_recs_free(struct trial_rec *v, size_t n);

/*
 * Bisections (schema 2). A bisection's state is its request (params_json: everything needed to
 * resume) plus the ordered list of its trials; the engine's posterior is a pure function of that
 * list, so resume replays it. Each trial row also carries a snapshot of the posterior after it
 * (best commit, its probability, candidates left, the p estimate), written in the same
 * transaction: `kill -9` at any moment loses at most the trial in flight.
 * Ownership as for run_rec: strings returned by the store are malloc'd (bisect_rec_free,
 * bisect_trial_rec_free); strings passed in stay the caller's.
 */
struct bisect_rec {
    long long id;
    char *created, *finished;
    char *status;      /* running | done | interrupted | error | stopped */
    char *repo, *axis, *find;
    char *good;        /* full hashes, comma-separated */
    char *bad;         /* full hash */
    char *params_json; /* the request */
    char *result_json; /* the final report (NULL until done) */
};

struct bisect_trial_rec {
    long long bisection_id;
    int seq;           /* 1-based order of observation */
    char *phase;       /* check-good | check-bad | bisect | verify */
    char *commit_sha;
    char *outcome;     /* pass | fail | infra | skip */
    long long run_id;  /* the pvlab run that produced it, 0 = none (test command) */
    char *detail;      /* reason, exit status */
    long long wall_ms;
    char *created;     /* set by the store */
    /* posterior snapshot after this trial */
    char *best_sha;
    double best_prob, p_est;
    long long candidates;
};

/* Inserts a running bisection owned by this process; sets b->id and b->created. */
int store_bisect_begin(struct store *s, struct bisect_rec *b, struct err *e);
/* Appends one trial with its snapshot (one transaction, durable when it returns). */
int store_bisect_trial_add(struct store *s, const struct bisect_trial_rec *t, struct err *e);
/* Sets status (and result_json when not NULL, finished when status is not running). */
int store_bisect_set_status(struct store *s, long long id, const char *status,
                            const char *result_json, struct err *e);
/* Reads a bisection and (trials_r not NULL) its trials in seq order. Unknown id: ERR_NOTFOUND. */
int store_bisect_get(struct store *s, long long id, struct bisect_rec *b_out,
                     struct bisect_trial_rec **trials_r, size_t *n_r, struct err *e);
/* Newest first; limit <= 0 = all. */
int store_bisect_list(struct store *s, int limit, struct bisect_rec **recs_r, size_t *n_r,
                      struct err *e);
/* Marks running bisections whose process is gone as interrupted; returns how many or -1. */
int store_bisect_mark_stale(struct store *s, struct err *e);
/* 1 when the bisection's owner process is alive (so it must not be resumed twice). */
int store_bisect_owner_alive(struct store *s, long long id, struct err *e);
/* The pid recorded as the bisection's owner (0 if none). */
int store_bisect_owner_pid(struct store *s, long long id, long long *pid_r, struct err *e);
/* Claims a bisection for this process (resume): status running, owner = us. */
int store_bisect_claim(struct store *s, long long id, struct err *e);
void bisect_rec_free(struct bisect_rec *b);
void bisect_trial_rec_free(struct bisect_trial_rec *t);

#endif
