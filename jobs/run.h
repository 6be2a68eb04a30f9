/*
 * A run: N trials of one configuration (Xen × Linux × reproducer), each stored in the SQLite
 * store the moment it ends, so a crash loses at most the trial in flight.
 *
 *   run_prepare  resolve Xen and Linux artifacts (download/cache), build the initramfs, probe
 *                the host (QEMU, accelerator) and compose the QEMU configuration. Blocks.
 *   run_execute  begin the run in the store, run the trials, finish the run. Blocks.
 */
#ifndef PVLAB_JOBS_RUN_H
#define PVLAB_JOBS_RUN_H

#include "config/config.h"
#include "jobs/store.h"
#include "kernels/kernels.h"
#include "lab/host.h"
#include "lab/trial.h"
#include "util/err.h"

struct run_request {
    const char *xen_spec;       /* "4.17", "file:/boot/xen.gz" */
    const char *linux_spec;     /* "6.1", "file:./bzImage" */
    const char *repro;          /* "fpu-leak" */
    int trials;                 /* >= 1 */
    long iterations;            /* per trial */
    int workers;                /* 0 = guest decides (2 x vCPUs + 1) */
    int lazy_fpu;               /* add eagerfpu=off to dom0 (Linux 3.7-4.1) */
    double self_test_corrupt;   /* detector self-test rate, 0 = off */
    unsigned long seed;         /* 0 = pick one */
    const char *dom0_args;      /* extra dom0 command-line words, may be NULL */
    const char *xen_args;       /* extra Xen command-line words, may be NULL */
    int boot_timeout_s;         /* 0 = config */
    int run_timeout_s;          /* 0 = config (scaled by iterations) */
};

/* Progress callbacks; every member may be NULL. */
struct run_events {
    void (*stage)(void *ctx, const char *stage, const char *detail);
    void (*trial)(void *ctx, int idx, int total, const struct trial_progress *p);
    void (*trial_done)(void *ctx, int idx, int total, const struct trial_result *r);
    void (*note)(void *ctx, const char *line); /* a fact worth a permanent line (accelerator) */
    void *ctx;
};

struct run_plan {
    const struct config *cfg;
    struct run_request req;
    struct artifact xen, linux_;
    struct host_stack host;
    char *initramfs;
    char *initramfs_sha256;
    char *xen_cmdline;
    char *dom0_cmdline;
    int boot_timeout_s, run_timeout_s;
};

int run_prepare(const struct config *cfg, const struct run_request *req,
                const struct run_events *ev, struct run_plan *plan, struct err *e);
/* The QEMU configuration of a trial whose console goes to serial_log (strings owned by plan). */
void run_qemu_cfg(const struct run_plan *plan, const char *serial_log, struct qemu_cfg *q);
/*
 * Runs the planned trials, recording everything in st. out receives the finished run record
 * (caller frees with run_rec_free). Returns 0 when the run completed (whatever the verdicts),
 * -1 on an error that stopped it (the run is then marked "error" or "interrupted").
 */
int run_execute(struct run_plan *plan, struct store *st, const struct run_events *ev,
                struct run_rec *out, struct err *e);
void run_plan_free(struct run_plan *plan);
/* Exit status for `git bisect run`: 0 pass, 1 fail, 125 infra/skip. */
int run_exit_code(const char *verdict);

#endif
