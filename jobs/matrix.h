/*
 * A regression matrix as a job: every cell (Xen x Linux x reproducer) of a matrix file, each a
 * run of its own, its trials queued in the store and run through the trial pool, `jobs` at
 * once, on this host or (with a hosts file) on other hosts through GNU parallel over ssh.
 *
 *   matrix_start   load the file, check every spec (nothing fetched for a bad one), fetch and
 *                  build each artifact once (shared by every cell that names it), probe the host
 *                  once, record the matrix with its cells and queue, then run it. Blocks.
 *   matrix_resume  claim a matrix whose coordinator died (its leased trials go back to the
 *                  queue), prepare its cells again from the cache, run what is left. Blocks.
 *
 * A trial's result and its job's completion are one transaction: a crash never loses or
 * duplicates a trial. An infra result is retried (up to 3 times, counted apart) before it is
 * recorded as infra. A QEMU that cannot start any guest stops the matrix (ERR_HOST).
 */
#ifndef PVLAB_JOBS_MATRIX_H
#define PVLAB_JOBS_MATRIX_H

#include "config/config.h"
#include "jobs/store.h"
#include "util/err.h"
#include "util/sv.h"

#define MATRIX_INFRA_RETRIES 3

struct matrix_request {
    const char *file;            /* the matrix file */
    int jobs;                    /* trials at once; 0 = the host's cores */
    int smp;                     /* guest vCPUs per trial; 0 = cores / jobs, at least 1 */
    const char *hosts_file;      /* GNU parallel --sshloginfile: run the trials there */
    const char *remote_pvlab;    /* pvlab's path on those hosts (NULL: "pvlab") */
    double self_test_corrupt;    /* detector self-test rate injected into ... */
    const char *self_test_cells; /* ... the cells matching "xen=G linux=G repro=G" (NULL: all) */
    const char *only_cells;      /* run only the cells matching (same form; NULL: all) */
    int trial_timeout_s;         /* per trial; 0 = from the boot and run timeouts */
    int fresh_every; /* snapshot trials as run's --fresh-boot-every; -1 = [run] fresh_boot_every
                        (resume: as recorded). Trials on other hosts boot every time. */
};

struct matrix_progress {
    long long id;
    long done, running, queued, infra_retries;
    double eta_s;     /* NaN until a trial has finished */
    const char *last; /* the trial that just ended: "4.17 x 6.1 fpu-leak #2: pass" */
};

struct matrix_events { /* every member may be NULL */
    void (*stage)(void *ctx, const char *stage, const char *detail);
    void (*progress)(void *ctx, const struct matrix_progress *p);
    void *ctx;
};

int matrix_start(const struct config *cfg, const char *config_path, struct store *st,
                 const struct matrix_request *rq, const struct matrix_events *ev, long long *id_r,
                 struct err *e);
int matrix_resume(const struct config *cfg, const char *config_path, struct store *st, long long id,
                  const struct matrix_request *rq, const struct matrix_events *ev, struct err *e);
/* What matrix_check_file found (jobs/matrix_check.c). */
struct matrix_check {
    size_t cells, xen, linux_, repro, sources;
    size_t verified;   /* git: specs whose clone gave the recorded tree */
    struct sv missing; /* "git clone URL PATH" for each source not cloned here */
    struct sv unused;  /* [sources] lines no spec names */
};
#define MATRIX_CHECK_INIT                                                                          \
    {                                                                                              \
        0, 0, 0, 0, 0, 0, SV_INIT, SV_INIT                                                         \
    }

struct matrix_def;
/*
 * Checks every spec and reproducer of def without fetching or building, and each git: spec
 * against [sources] (when the file has any): its commit recorded under its clone's directory
 * name, and in a clone that exists, the recorded tree (ERR_CONFIG otherwise). out == NULL
 * (a run): a source not cloned here fails like any missing repository, with the clone command;
 * otherwise it is listed in out->missing. slice != NULL: only the entries its nslice cells use
 * (a run's --only: the other rows' sources need not be here).
 */
struct matrix_cell;
int matrix_check_specs(const struct matrix_def *def, const struct matrix_cell *slice, size_t nslice,
                       struct matrix_check *out, struct err *e);
/*
 * A [repro] line's reproducer as runs take it (malloc'd): a built-in's name as is; a plug-in
 * (script:PATH, c:PATH) with PATH relative to the matrix file's directory made absolute.
 * NULL with e set when the plug-in's path does not exist.
 */
char *matrix_repro_spec(const struct matrix_def *def, const char *name, struct err *e);
/* Loads file, expands its cells, and matrix_check_specs into *out. */
int matrix_check_file(const char *file, struct matrix_check *out, struct err *e);
void matrix_check_free(struct matrix_check *c);

/* The default number of trials at once and guest vCPUs for this host (cores / smp). */
void matrix_default_jobs(int *jobs, int *smp);

#endif
