/*
 * The store: runs, trials and bisections in one SQLite database (WAL mode), the lab's memory.
 *
 * - Every call blocks: on disk I/O (each write is fsync'd: synchronous=FULL) and, when another
 *   pvlab process holds the write lock, for up to 5 s (busy_timeout) before failing with a
 *   "locked by another pvlab" error. Readers (list, get, a dashboard) never wait for writers.
 * - Nothing is lost on a crash: each trial is committed by store_trial_add before it returns, and
 *   the run's counts are kept current with it. A run whose pvlab died stays "running" in the
 *   database until store_mark_stale (which any later pvlab may call) turns it "interrupted".
 * - The schema is versioned with PRAGMA user_version and migrated forward by store_open; a
 *   database written by a newer pvlab is refused without being modified.
 * - One struct store per thread (a SQLite connection is not shared between threads here), and
 *   never used in a forked child: a child opens its own.
 * - Errors carry ERR_DB (ERR_NOTFOUND for unknown ids, ERR_IO / ERR_NOSPACE for file system
 *   trouble, ERR_BUSY for a bisection another process owns) and a message that names the
 *   database path and says what to do.
 *
 * Ownership: records going in (`*_info`) are borrowed: the store copies what it keeps and never
 * frees or keeps a pointer. Records coming out (`*_rec`) are owned by the caller: every string is
 * malloc'd and freed with the matching `*_rec_free`. NULL strings are SQL NULL both ways.
 *
 * Source files: store_db.c (connection, migrations, SQL helpers), store_owner.c (which process
 * owns a row, stale rows), store_run.c (runs and trials), store_bisect.c (bisections).
 */
#ifndef PVLAB_JOBS_STORE_H
#define PVLAB_JOBS_STORE_H

#include <stddef.h>

#include "lab/verdict.h"
#include "util/err.h"

struct store; /* opaque */

/* Latest schema version this pvlab writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 8

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

/* What a run is, as its creator knows it: the request, what booted, the host stack. */
struct run_info {
    const char *xen_spec, *linux_spec, *repro;
    const char *params_json; /* iterations, workers, lazy_fpu, self_test_corrupt... as JSON */
    int trials_planned;
    const char *xen_version, *xen_package, *xen_sha256;
    const char *linux_version, *linux_package, *linux_sha256;
    const char *initramfs_sha256;
    /* host stack: in nested virtualisation the outer layer can cause or hide a bug */
    const char *qemu_version, *accel, *cpu_model, *l0_kernel, *hostname;
    const char *qemu_cmd;   /* the QEMU command line of the first trial, shell-quoted */
    const char *accel_note; /* why this accelerator: "kvm: /dev/kvm not present; using tcg" */
};

/* A run read back: the info fields plus what the store keeps (all strings owned). */
struct run_rec {
    long long id;
    char *created;  /* ISO-8601 UTC ("2025-01-31T12:00:00Z"), set by store_run_begin */
    char *finished; /* set by store_run_finish; NULL while running or if marked stale */
    char *status;   /* "running" | "done" | "interrupted" | "error" */
    char *xen_spec, *linux_spec, *repro;
    char *params_json;
    int trials_planned;
    char *verdict; /* pass | fail | infra | skip (NULL while running) */
    long trials_pass, trials_fail, trials_infra, trials_skip;
    long long iterations, corruptions; /* summed over pass and fail trials: infra and skip
                                          trials say nothing about the bug */
    double rate_upper95; /* 95% upper bound on the per-iteration corruption rate, or NaN */
    char *xen_version, *xen_package, *xen_sha256;
    char *linux_version, *linux_package, *linux_sha256;
    char *initramfs_sha256;
    char *qemu_version, *accel, *cpu_model, *l0_kernel, *hostname;
    char *qemu_cmd;
    char *accel_note;
};

/* One trial (one boot + one reproducer run) going in. */
struct trial_info {
    long long run_id;
    int idx; /* 1-based, unique within the run */
    enum verdict_kind verdict;
    const char *reason; /* "no PVLAB-RESULT line", "3 corruption events" */
    long long iterations, corruptions, mismatches, deaths, klog_faults;
    const char *evidence_json;      /* JSON array of evidence lines (NULL = none) */
    const char *started, *finished; /* ISO-8601 */
    long long wall_ms, boot_ms;     /* boot_ms: until PVLAB-BEGIN */
    const char *log_path;
    const char *host;        /* the host the trial ran on (a matrix fans out); NULL = here */
    const char *places_json; /* domU trials: {"stages":[...],"places":[...]}; NULL otherwise */
    const char *snapshot;    /* "fresh", "made KEY", "restored KEY"; NULL: no snapshots */
};

/* A trial read back (strings owned). */
struct trial_rec {
    long long run_id;
    int idx;
    char *verdict; /* pass|fail|infra|skip */
    char *reason;
    long long iterations, corruptions, mismatches, deaths, klog_faults;
    char *evidence_json;
    char *started, *finished;
    long long wall_ms, boot_ms;
    char *log_path;
    char *host;
    char *places_json;
    char *snapshot;
};

/*
 * Inserts a new run with status "running", owned by this process (its pid is recorded for
 * store_mark_stale). *id_r gets its id.
 */
int store_run_begin(struct store *s, const struct run_info *in, long long *id_r, struct err *e);
/*
 * Records fields of run id as they become known: each non-NULL string of in replaces the stored
 * value (NULL leaves it alone); trials_planned replaces it when > 0. Unknown id: ERR_NOTFOUND.
 */
int store_run_update(struct store *s, long long id, const struct run_info *in, struct err *e);
/*
 * Adds one trial and refreshes its run's counts, in one transaction: durable when it returns.
 * Unknown run -> ERR_NOTFOUND; an idx already recorded for the run -> ERR_DB.
 */
int store_trial_add(struct store *s, const struct trial_info *t, struct err *e);
/*
 * Closes run id: recomputes counts from the trials table, sets verdict (store_run_verdict; none
 * for an "interrupted" run without trials), rate_upper95, finished = now and status ("done",
 * "error" or "interrupted"). Read it back with store_run_get.
 */
int store_run_finish(struct store *s, long long id, const char *status, struct err *e);
/*
 * Reads run id into *r_out (free with run_rec_free) and, when trials_r is not NULL, its trials
 * ordered by idx into a malloc'd array (free with trial_recs_free). Unknown id -> ERR_NOTFOUND.
 */
int store_run_get(struct store *s, long long id, struct run_rec *r_out, struct trial_rec **trials_r,
                  size_t *ntrials_r, struct err *e);
/* The newest runs first (at most limit; limit <= 0 means all), freed with run_recs_free. */
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
void trial_rec_free(struct trial_rec *t);
/* Free arrays from store_run_list / store_run_get, elements and array. NULL is accepted. */
void run_recs_free(struct run_rec *v, size_t n);
void trial_recs_free(struct trial_rec *v, size_t n);

/*
 * Bisections. A bisection's state is its request (params_json: everything needed to resume)
 * plus the ordered list of its trials; the engine's posterior is a pure function of that list,
 * so resume replays it. Each trial row also carries a snapshot of the posterior after it (best
 * commit, its probability, the credible set's size, candidates left, the p estimate), written in
 * the same transaction: `kill -9` at any moment loses at most the trial in flight.
 */
struct bisect_info {
    const char *repo, *axis, *find;
    const char *good;        /* full hashes, comma-separated */
    const char *bad;         /* full hash */
    const char *params_json; /* the request */
};

struct bisect_rec {
    long long id;
    char *created, *finished;
    char *status; /* running | done | interrupted | error | stopped */
    char *repo, *axis, *find, *good, *bad, *params_json;
    char *result_json; /* the final report (NULL until done) */
    char *owner_host;  /* the process that runs (or ran) it */
    long long owner_pid;
};

struct bisect_trial_info {
    long long bisection_id;
    int seq;           /* 1-based order of observation */
    const char *phase; /* check-good | check-bad | bisect | verify */
    const char *commit_sha;
    enum verdict_kind outcome;
    long long run_id;   /* the pvlab run that produced it, 0 = none (test command) */
    const char *detail; /* reason, exit status */
    long long wall_ms;
    const char *log_path; /* the trial's output (test commands), NULL = in its run */
    /* posterior snapshot after this trial */
    const char *best_sha; /* NULL while the posterior is flat */
    double best_prob, p_est;
    long long cset;       /* size of the credible set at the requested confidence */
    long long candidates; /* commits that can still be the answer */
};

struct bisect_trial_rec {
    long long bisection_id;
    int seq;
    char *phase, *commit_sha;
    enum verdict_kind outcome;
    long long run_id;
    char *detail;
    long long wall_ms;
    char *log_path;
    char *created; /* set by the store */
    char *best_sha;
    double best_prob, p_est;
    long long cset, candidates; /* cset < 0: not recorded (rows older than schema 4) */
};

/* Inserts a running bisection owned by this process; *id_r gets its id. */
int store_bisect_begin(struct store *s, const struct bisect_info *in, long long *id_r,
                       struct err *e);
/* Appends one trial with its snapshot (one transaction, durable when it returns). */
int store_bisect_trial_add(struct store *s, const struct bisect_trial_info *t, struct err *e);
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
/*
 * Whether the bisection's owner is a live process other than this one: 1 alive here, 0 gone
 * (or never running), 2 running on another host (its pid means nothing here). -1 on error.
 */
int store_bisect_owner_state(struct store *s, long long id, struct err *e);
/*
 * Claims a bisection for this process (resume), atomically: in one write transaction it checks
 * that no live process owns it and that it is not done, then records this process as its owner
 * with status running. A live owner (here or on another host) -> ERR_BUSY; done -> ERR_USAGE.
 * Of two resumes at once, exactly one succeeds.
 */
int store_bisect_claim(struct store *s, long long id, struct err *e);
/*
 * The process groups of the trials a bisection has running (slot 0..k-1), so that a resume can
 * kill what a dead owner left behind: set when a trial starts, cleared when it ends.
 */
int store_bisect_slot_set(struct store *s, long long id, int slot, long pgid, struct err *e);
int store_bisect_slot_clear(struct store *s, long long id, int slot, struct err *e);
/*
 * Kills (SIGKILL to the group) every trial process group recorded for bisection id by a process
 * of this host and boot whose leader is still the recorded process, and forgets them all.
 * Returns how many groups were killed, or -1.
 */
int store_bisect_slots_reap(struct store *s, long long id, struct err *e);
/*
 * Regression matrices (schema 5). A matrix run has cells (one Xen x Linux x reproducer each,
 * recorded as a run of its own whose trials are the cell's results) and a queue: one job per
 * planned trial, queued -> leased -> done. A job's result is written in the same transaction
 * that completes it, so a crash never loses or duplicates a trial; a job leased by a process
 * that died goes back to the queue when the matrix is claimed again.
 */
struct matrix_info {
    const char *name, *file, *file_sha256, *params_json;
};

struct matrix_cell_info {
    int cell;                         /* 0-based, unique in the matrix */
    const char *xen, *linux_, *repro; /* labels */
    const char *xen_spec, *linux_spec, *repro_name;
    const char *options_json; /* the reproducer's options */
    int trials;
    long iterations;
    long long run_id; /* the cell's run */
};

struct matrix_rec {
    long long id;
    char *name, *file, *file_sha256, *params_json, *created, *finished, *status;
    long queued, leased, done; /* jobs by state */
};

struct matrix_cell_rec {
    int cell;
    char *xen, *linux_, *repro, *xen_spec, *linux_spec, *repro_name, *options_json;
    int trials;
    long iterations;
    long long run_id;
    long infra_retries; /* infra results retried over the cell's jobs */
};

struct matrix_job {
    int cell, idx;
    int infra_retries;
};

/* Inserts a running matrix owned by this process with its cells and one queued job per planned
 * trial, in one transaction; *id_r gets its id. */
int store_matrix_begin(struct store *s, const struct matrix_info *in,
                       const struct matrix_cell_info *cells, size_t n, long long *id_r,
                       struct err *e);
/* Leases the next queued job for lease_s seconds: 1 with *job_r, 0 when none is queued. */
int store_matrix_lease(struct store *s, long long id, int lease_s, struct matrix_job *job_r,
                       struct err *e);
/*
 * Completes a leased job with its trial (t->run_id must be the cell's run, t->idx the job's
 * idx): the trial, the run's counts and the job's state in one transaction. A job that is not
 * leased (done already) -> ERR_DB, nothing written.
 */
int store_matrix_complete(struct store *s, long long id, const struct matrix_job *job,
                          const struct trial_info *t, struct err *e);
/* An infra result of a leased job: back to the queue with one more retry, its reason kept. */
int store_matrix_retry(struct store *s, long long id, const struct matrix_job *job,
                       const char *reason, struct err *e);
/* A leased job that did not run (the coordinator stops): back to the queue as it was. */
int store_matrix_release(struct store *s, long long id, const struct matrix_job *job,
                         struct err *e);
/*
 * Claims a matrix for this process (resume): in one write transaction, refuses a live owner
 * (ERR_BUSY) and a done matrix (ERR_USAGE), sends the jobs a dead owner had leased back to the
 * queue, and records this process as the owner, status running.
 */
int store_matrix_claim(struct store *s, long long id, struct err *e);
/* Sets the status (done, interrupted, error) and finishes every cell's run. */
int store_matrix_finish(struct store *s, long long id, const char *status, struct err *e);
/* Reads a matrix with its job counts and (cells_r not NULL) its cells. ERR_NOTFOUND. */
int store_matrix_get(struct store *s, long long id, struct matrix_rec *m_r,
                     struct matrix_cell_rec **cells_r, size_t *n_r, struct err *e);
/* Newest first (name NULL: every matrix; limit <= 0: all). */
int store_matrix_list(struct store *s, const char *name, int limit, struct matrix_rec **v_r,
                      size_t *n_r, struct err *e);
/* The newest done matrix with the same name as id and an older id: *prev_r, 0 when none. */
int store_matrix_previous(struct store *s, long long id, long long *prev_r, struct err *e);
/* Marks running matrices whose process is gone as interrupted; returns how many or -1. */
int store_matrix_mark_stale(struct store *s, struct err *e);
void matrix_rec_free(struct matrix_rec *m);
void matrix_recs_free(struct matrix_rec *v, size_t n);
void matrix_cell_recs_free(struct matrix_cell_rec *v, size_t n);

/*
 * What the reporter has spooled (schema 6). store_unreported lists the ids of finished results
 * of a kind ("run", "matrix", "bisect"; not running, not in a matrix's cells or a bisection's
 * trials for runs) never marked, oldest first.
 */
int store_reported_mark(struct store *s, const char *kind, long long id, struct err *e);
int store_unreported(struct store *s, const char *kind, long long **ids_r, size_t *n_r,
                     struct err *e);

void bisect_rec_free(struct bisect_rec *b);
void bisect_trial_rec_free(struct bisect_trial_rec *t);
void bisect_trial_recs_free(struct bisect_trial_rec *v, size_t n);

#endif
