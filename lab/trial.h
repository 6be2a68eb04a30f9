/*
 * One trial: start the L1 host under QEMU, watch its serial console, enforce the boot and run
 * timeouts, stop QEMU, and parse the verdict. Blocks for the length of the trial.
 *
 * Stages (a small state machine, driven by console lines and the clock):
 *
 *   BOOT --PVLAB-BEGIN--> RUN --PVLAB-END--> SHUTDOWN --QEMU exits--> DONE
 *    |  boot_timeout       |  run_timeout      |  shutdown_s: stop QEMU, keep the verdict
 *    +--> DONE (infra)     +--> DONE           +--> DONE
 *   QEMU exiting in any stage ends the trial; the console log decides the verdict.
 */
#ifndef PVLAB_LAB_TRIAL_H
#define PVLAB_LAB_TRIAL_H

#include <stddef.h>

#include "lab/qemu.h"
#include "lab/verdict.h"
#include "util/err.h"

enum trial_stage { TRIAL_BOOT, TRIAL_RUN, TRIAL_SHUTDOWN, TRIAL_DONE };

struct trial_progress {
    enum trial_stage stage;
    long long elapsed_ms;
    long long done, total; /* iterations, from PVLAB-PROGRESS */
    long long events;      /* corruption evidence lines so far */
};

/*
 * Snapshot trials (docs/snapshots.md): the guest boots with pvlab.snapshot=1, says PVLAB-READY
 * and waits for a PVLAB-START line with the reproducer's words on its console.
 *   SNAP_BOOT     boot, then send START (a fresh boot with the snapshot command line)
 *   SNAP_MAKE     boot, save the machine to snap_path at READY (QMP stop, migrate to a file,
 *                 its sha256 beside it), resume, send START
 *   SNAP_RESTORE  check snap_path against its sha256, start QEMU from it (-incoming), resume,
 *                 send START; a damaged or refused snapshot sets snap_failed (no verdict
 *                 worth keeping: the caller boots fresh instead)
 */
enum trial_snap { SNAP_NONE, SNAP_BOOT, SNAP_MAKE, SNAP_RESTORE };

struct trial_spec {
    struct qemu_cfg qemu; /* qemu.serial_log is the console log */
    enum trial_snap snap;
    const char *snap_path;   /* SNAP_MAKE / SNAP_RESTORE */
    const char *start_words; /* the START line's words (every SNAP_ mode) */
    const char *backend;     /* "qemu" (NULL: the same) runs QEMU itself; "libvirt" a domain */
    const char *libvirt_uri; /* libvirt backend: the connection (NULL: libvirt's default) */
    int boot_timeout_s;
    int run_timeout_s;
    int shutdown_s;
    size_t log_cap; /* bytes of console kept; more stops the trial */
    void (*progress)(void *ctx, const struct trial_progress *p); /* may be NULL */
    void *progress_ctx;
};

struct trial_result {
    struct verdict v;
    long long wall_ms;
    long long boot_ms;   /* QEMU start until PVLAB-BEGIN, -1 if never */
    int qemu_exit;       /* exit code, 128+signal, -1 */
    int qemu_early_exit; /* QEMU failed by itself before the guest printed a byte: the host
                            cannot start guests (a setup error on a run's first trial) */
    char *qemu_log;      /* QEMU's own stdout/stderr, next to the console log (libvirt: the
                            domain's XML; QEMU's output is in libvirt's own log) */
    int snap_saved;      /* SNAP_MAKE: the snapshot was written */
    int snap_failed;     /* SNAP_RESTORE: it could not be used (snap_note says why) */
    char *snap_note;     /* what happened to the snapshot, for a warning */
    long long snap_ms;   /* the save (SNAP_MAKE), or the restore until it runs (SNAP_RESTORE) */
};

/* 1 when a snapshot and its sha256 record are there (restore it; the bytes are checked then). */
int trial_snapshot_saved(const char *snap_path);
/* Beside a snapshot: the console of the boot that saved it (a restored trial's log starts so). */
#define TRIAL_SNAP_BOOT_LOG ".boot.log"
/*
 * Keeps the keep most recently used snapshots (NAME.mig and its .sha256) in dir: made or
 * restored last by mtime (a restore touches its file); removes what a trial killed while saving
 * left (NAME.mig.tmp.PID of a dead PID). Returns how many files were removed.
 */
int trial_snapshots_prune(const char *dir, int keep);

/*
 * Runs the trial. Returns 0 whenever a verdict was reached (including infra), -1 only when the
 * trial could not be attempted (QEMU missing, log not writable) with e set.
 */
int trial_run(const struct trial_spec *t, struct trial_result *r, struct err *e);
void trial_result_free(struct trial_result *r);
const char *trial_stage_name(enum trial_stage s);

#endif
