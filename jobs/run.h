/*
 * A run: N trials of one configuration (Xen × Linux × reproducer), each stored in the SQLite
 * store the moment it ends, so a crash loses at most the trial in flight.
 *
 *   run_prepare  resolve Xen and Linux artifacts (download/cache), build the initramfs, probe
 *                the host (QEMU, accelerator) and compose the QEMU configuration. Blocks.
 *   run_execute  begin the run in the store, run the trials through the trial pool
 *                (jobs/pool.h: each a prepared `pvlab trial` child, `jobs` at once), record
 *                each as it ends, finish the run. Blocks.
 */
#ifndef PVLAB_JOBS_RUN_H
#define PVLAB_JOBS_RUN_H

#include "config/config.h"
#include "jobs/store.h"
#include "kernels/kernels.h"
#include "lab/host.h"
#include "jobs/store.h"
#include "jobs/trial_job.h"
#include "lab/trial.h"
#include "util/err.h"

struct run_request {
    const char *xen_spec;     /* "4.17", "file:/boot/xen.gz" */
    const char *linux_spec;   /* "6.1", "file:./bzImage" */
    const char *repro;        /* "fpu-leak", or a plug-in "script:PATH" / "c:PATH" */
    const char *repro_args;   /* a plug-in's extra argument words, may be NULL */
    int trials;               /* >= 1 */
    long iterations;          /* per trial */
    int workers;              /* 0 = guest decides (2 x vCPUs + 1) */
    int lazy_fpu;             /* add eagerfpu=off to dom0 (Linux 3.7-4.1) */
    const char *amplifiers;   /* "lazy-fpu,mem-pressure,overcommit" (images/payload.h), or NULL */
    double self_test_corrupt; /* detector self-test rate, 0 = off */
    unsigned long seed;       /* 0 = pick one */
    const char *dom0_args;    /* extra dom0 command-line words, may be NULL */
    const char *xen_args;     /* extra Xen command-line words, may be NULL */
    int boot_timeout_s;       /* 0 = config */
    int run_timeout_s;        /* 0 = config (scaled by iterations) */
    int jobs;                 /* trials at once (>= 1) */
    /* domU trials: dom0 starts `domus` PV domUs with the toolstack and the reproducer runs in
     * each (and in dom0 too with in_dom0); 0 = the reproducer runs in dom0 alone */
    int domus;                 /* 0, or 1..RUN_MAX_DOMUS */
    const char *domu_linux[8]; /* domU i boots spec i (the last repeats; none: --linux) */
    int n_domu_linux;
    int domu_mem_mb;         /* 0 = RUN_DOMU_MEM_MB */
    int domu_vcpus;          /* 0 = 2 */
    int in_dom0;             /* the reproducer runs in dom0 as well */
    const char *corrupt_in;  /* places the self-test corrupts: "d2", "dom0,d1"; NULL all */
    const char *cpu_model;   /* QEMU -cpu of this run; NULL = [qemu] cpu_tcg / cpu_kvm */
    int smp;                 /* guest vCPUs; 0 = [qemu] smp (a matrix sizes its guests) */
    int fresh_every;         /* snapshots: 1 = none, 0 = all restored, K = every K-th boots;
                                -1 = [run] fresh_boot_every */
    const char *backend;     /* "qemu" or "libvirt"; NULL = [lab] backend */
    const char *libvirt_uri; /* NULL = [lab] libvirt_uri */
};

#define RUN_MAX_DOMUS 8
#define RUN_DOMU_MEM_MB 256

/* A request with the configuration's [run] defaults (strings borrowed from cfg). */
void run_request_defaults(const struct config *cfg, struct run_request *rq);
/* *rq = the defaults, then every field over sets (non-NULL strings, non-zero numbers). */
void run_request_merge(const struct config *cfg, const struct run_request *over,
                       struct run_request *rq);

/* Progress callbacks; every member may be NULL. */
struct run_events {
    void (*stage)(void *ctx, const char *stage, const char *detail);
    void (*trial)(void *ctx, int idx, int total, const struct trial_progress *p);
    void (*trial_done)(void *ctx, int idx, int total, const struct trial_outcome *o);
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
    struct artifact domu[RUN_MAX_DOMUS]; /* each domU's kernel (domUs only) */
    char *domu_elf[RUN_MAX_DOMUS];
    char *toolstack_dir, *modules_dir;
    char *domu_specs[RUN_MAX_DOMUS]; /* owned copies behind req.domu_linux ... */
    char *corrupt_in;                /* ... and req.corrupt_in */
    char *params_json;               /* the request's parameters, as the store keeps them */
    char *qemu_cmd;                  /* a trial's QEMU command line, shell-quoted */
    unsigned amplifiers;             /* AMP_* of req.amplifiers and req.lazy_fpu */
    struct plugin *plugin;           /* the request's plug-in (run_plan_plugin), else NULL */
    char *snap_path; /* snapshot trials: the saved machine's file (run_plan_finish), else NULL */
    int snapshots;   /* this plan boots with pvlab.snapshot=1 (run_plan_init) */
    int snap_making; /* run_plan_snap_job: the trial saving the machine now (0: none) */
    char *plugin_manifest; /* its guest manifest */
};

/*
 * The pure part of run_prepare, no I/O: validates the request and composes the command lines and
 * limits into a fresh plan. run_plan_finish records its parameters and QEMU command line once
 * the host and the artifacts are filled in. Tests build plans from a fake host this way.
 */
int run_plan_init(const struct config *cfg, const struct run_request *req, struct run_plan *plan,
                  struct err *e);
void run_plan_finish(struct run_plan *plan);
/*
 * The domU part of preparing a plan whose Xen and dom0 artifacts and host are filled in: each
 * domU kernel (as an ELF), the toolstack, the dom0 kernel's Xen modules, the dom0 initramfs that
 * carries them (replacing plan->initramfs), eager FPU switching in Xen under TCG; then
 * run_plan_finish. The matrix calls it for its domU cells. Blocks (downloads on a cold cache).
 */
int run_plan_domus(struct run_plan *plan, const struct kernels_opts *ko,
                   const struct run_events *ev, struct err *e);
/*
 * A plug-in request's part of preparing (nothing for a built-in): loads and checks the plug-in,
 * compiles a C one (cached), checks where it may run against the domUs asked for, and, without
 * domUs, builds the initramfs that carries it (replacing plan->initramfs; run_plan_domus puts
 * it in a domU trial's). Blocks while gcc runs.
 */
int run_plan_plugin(struct run_plan *plan, const struct run_events *ev, struct err *e);
int run_prepare(const struct config *cfg, const struct run_request *req,
                const struct run_events *ev, struct run_plan *plan, struct err *e);
/* The QEMU configuration of a trial whose console goes to serial_log (strings owned by plan). */
void run_qemu_cfg(const struct run_plan *plan, const char *serial_log, struct qemu_cfg *q);
/* What the store keeps of a prepared run (strings borrowed from plan). */
void run_plan_info(const struct run_plan *plan, struct run_info *ri);
/* The prepared trial_job of trial log_path (strings borrowed from plan). */
void run_plan_job(const struct run_plan *plan, const char *log_path, struct trial_job *j);
/* The START words of trial idx (1-based): the run's reproducer words with the trial's seed. */
char *run_plan_start_words(const struct run_plan *plan, int idx);
/* What the store keeps of trial idx of run run_id that ended with o (strings borrowed from o). */
void run_trial_info(const struct trial_outcome *o, long long run_id, int idx, struct trial_info *t);
/* Whether trial idx (1-based) of a configuration boots fresh under fresh_boot_every K. */
int run_fresh_boot_due(int fresh_every, int idx);
/*
 * How trial idx (1-based) uses the plan's snapshot: "boot" (no snapshot, or a fresh boot: every
 * K-th trial with fresh_every K), "restore" (the machine is saved), "make" (none yet: this trial
 * boots and saves it), or NULL while another trial is saving it.
 */
const char *run_plan_snap_mode(const struct run_plan *plan, int idx);
/*
 * Fills j's snapshot fields for trial idx (nothing without snapshots); *words_r gets its START
 * words (free them after the job has started). While another trial saves the machine: wait != 0
 * returns 1 (start it later), wait == 0 boots this one fresh. A "make" trial is noted in plan
 * until run_plan_snap_ended. Returns 0 otherwise.
 */
int run_plan_snap_job(struct run_plan *plan, int idx, int wait, struct trial_job *j,
                      char **words_r);
/* Trial idx of plan ended with o: a saving trial is done; a failed restore is logged. */
void run_plan_snap_ended(struct run_plan *plan, int idx, const struct trial_outcome *o);
/*
 * Runs the planned trials through the trial pool (config_path is passed on to each child),
 * recording everything in st; *id_r gets the run's id as soon as it exists (0 before). Returns 0
 * when the run completed (whatever the verdicts), -1 on an error that stopped it: the run is
 * then "error" (ERR_HOST: QEMU failed before any guest of the run started; a trial's setup
 * error) or "interrupted" (ERR_INTERRUPTED), with the trials that finished kept.
 */
int run_execute(struct run_plan *plan, struct store *st, const char *config_path,
                const struct run_events *ev, long long *id_r, struct err *e);
void run_plan_free(struct run_plan *plan);
/*
 * What a run's trials say about the bug, with boots as the unit they are: how many boots (pass
 * and fail trials; infra and skip say nothing) saw corruption, with a 95% interval on that
 * share, and the per-iteration rate with a 95% interval that widens when the boots disagree
 * (util/stats.h: stats_rate_boots); a clean run's rate_hi is the one-sided 95% upper bound.
 */
struct run_rates {
    long boots, boots_corrupt;
    double share_lo, share_hi;
    long long iterations, corruptions;
    double rate, rate_lo, rate_hi, dispersion; /* NaN without iterations */
};
void run_rates(const struct trial_rec *t, size_t n, struct run_rates *r);

/*
 * A run with its trials as one JSON object (what `pvlab show --json` prints), appended to out;
 * with console_max > 0, each trial also carries the end of its console log (at most that many
 * bytes) as "console", as the reporter posts it.
 */
void run_json(const struct run_rec *r, const struct trial_rec *t, size_t nt, size_t console_max,
              struct buf *out);

/* Exit status for `git bisect run`: 0 pass, 1 fail, 125 infra/skip. */
int run_exit_code(const char *verdict);

#endif
