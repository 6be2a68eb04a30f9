/*
 * A trial as typed data: what to boot, the reproducer and its options, the limits; and what it
 * gave: a typed outcome. `pvlab run`, `pvlab bisect` and the matrix hand a trial_job to the trial
 * pool (jobs/pool.h), which runs it as a child `pvlab trial` process from an argv (never a shell
 * string) and reads the trial_outcome back as one JSON record on a pipe (never scraped from
 * printed output). The same argv runs a trial on another host over ssh.
 *
 * Two levels:
 *   spec level      xen_spec / linux_spec in any form `pvlab run` takes (Debian versions, file:,
 *                   git:REPO@REV, tarball:); the child resolves (and builds) them, probes the
 *                   host, and reports what booted with the verdict. An optional build step runs
 *                   the user's build command first (bisect --build-cmd): its last line of
 *                   output is the artifact, booted as file:PATH on the build axis; a build that
 *                   fails makes the trial a skip.
 *   prepared level  the caller has resolved everything (xen_image, kernel_image, initramfs,
 *                   command lines, QEMU settings): the child only boots. `pvlab run` and the
 *                   matrix prepare once and run many prepared trials.
 */
#ifndef PVLAB_JOBS_TRIAL_JOB_H
#define PVLAB_JOBS_TRIAL_JOB_H

#include "config/config.h"
#include "lab/trial.h"
#include "lab/verdict.h"
#include "util/err.h"
#include "util/sv.h"

struct trial_job { /* all strings borrowed */
    /* spec level */
    const char *xen_spec, *linux_spec;
    const char *repro;
    const char *repro_args; /* a plug-in's extra words */
    const char *amplifiers; /* "mem-pressure,overcommit" (images/payload.h) */
    long iterations;
    int workers; /* 0 = the guest decides */
    int lazy_fpu;
    double self_test_corrupt;
    unsigned long seed; /* 0 = pick one */
    const char *dom0_args, *xen_args;
    /* the user's build step (spec level): command, the axis it builds, where it runs, the commit */
    const char *build_cmd, *build_axis, *build_dir, *commit;
    /* prepared level: when xen_image is set, everything below is used as is */
    const char *xen_image, *kernel_image, *initramfs;
    const char *xen_cmdline, *dom0_cmdline;
    const char *accel, *cpu_model;
    const char *backend, *libvirt_uri; /* NULL: the configuration's [lab] */
    /* snapshot trials (lab/trial.h). Prepared: "boot", "make" or "restore", the file, the START
     * line's words. Spec level (mode only): "none" boots without one, "boot" boots fresh, "auto"
     * restores the configuration's machine or makes it; NULL = as [run] fresh_boot_every */
    const char *snapshot_mode, *snapshot, *start_words;
    int memory_mb, smp;
    /* prepared, on another host: the images' sha256, checked before booting (NULL: unchecked) */
    const char *xen_sha256, *kernel_sha256, *initramfs_sha256;
    /* both */
    int boot_timeout_s, run_timeout_s; /* 0 = from the configuration */
    const char *log_path;              /* the console log of this trial (required) */
};

/* What one trial gave, as the child reports it. All strings owned (trial_outcome_free). */
struct trial_outcome {
    enum verdict_kind verdict;
    int stop;         /* a setup error: nothing was tested and the caller must stop
                         (bad input, missing tool, a host that cannot run guests) */
    int host_failure; /* QEMU failed before the guest printed a byte */
    char *reason;
    long long iterations, corruptions, mismatches, deaths, klog_faults;
    char *evidence_json;        /* JSON array of evidence lines */
    char *places_json;          /* domU trials: per-place verdicts and dom0's stages, else NULL */
    char *started, *finished;   /* ISO-8601 */
    long long wall_ms, boot_ms; /* boot_ms < 0: the reproducer never started */
    char *log_path;
    char *params_json;
    /* what booted and where (spec level; NULL at the prepared level) */
    char *xen_version, *xen_package, *xen_sha256;
    char *linux_version, *linux_package, *linux_sha256, *initramfs_sha256;
    char *qemu_version, *accel, *cpu_model, *l0_kernel, *hostname, *qemu_cmd, *accel_note;
    char *artifact_sha256; /* what the build step produced (NULL without one) */
    char *snapshot;        /* "fresh", "made <key>" or "restored <key>" (NULL: no snapshots),
                              after a failed restore "made <key>; " TRIAL_SNAP_BEFORE "why" */
};

#define TRIAL_SNAP_BEFORE "instead of a restore: "

/* Appends the options that describe j to argv, for `pvlab trial` (argv[0] not included). */
void trial_job_argv(const struct trial_job *j, struct sv *argv);
/*
 * Parses `pvlab trial`'s options (argv[0] is the subcommand) into *j, whose strings point into
 * argv. result_fd_r gets --result-fd (default 1). Returns 0, or -1 with ERR_USAGE.
 */
int trial_job_parse(int argc, char **argv, struct trial_job *j, int *result_fd_r, struct err *e);

/*
 * Runs the job in this process: the build step, preparation (spec level), one boot with its
 * watchdog; progress (may be NULL) sees the trial's stages. Fills *o and returns 0 whenever an
 * outcome exists (a skip and a setup error, o->stop, included); -1 only when nothing could be
 * attempted for a reason that is not about the trial. Blocks for the trial.
 */
int trial_job_exec(const struct config *cfg, const struct trial_job *j,
                   void (*progress)(void *ctx, const struct trial_progress *p), void *ctx,
                   struct trial_outcome *o, struct err *e);

/* The job's options as one shell-safe word (base64 of the NUL-separated argv), for
 * `pvlab trial --job WORD` on another host; malloc'd. */
char *trial_job_word(const struct trial_job *j);
/* Decodes a --job word into argv strings appended to out (the caller parses them). */
int trial_job_unword(const char *word, struct sv *out, struct err *e);

/* The outcome as one line of JSON (malloc'd), and back (jansson: it may come from another host). */
char *trial_outcome_json(const struct trial_outcome *o);
int trial_outcome_parse(const char *json, struct trial_outcome *o, struct err *e);
/* A trial's progress as one line of JSON, and back. */
char *trial_progress_json(const struct trial_progress *p);
int trial_progress_parse(const char *json, struct trial_progress *p);
void trial_outcome_free(struct trial_outcome *o);
/* Exit status of `pvlab trial` for an outcome, as `git bisect run` reads it. */
int trial_outcome_exit_code(const struct trial_outcome *o);

#endif
