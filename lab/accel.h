/*
 * Choosing the accelerator by running a guest, never by opening a device: on some hosts
 * /dev/kvm opens (and a bare vCPU runs real-mode code) yet QEMU cannot run a guest on it
 * (`-cpu host` aborts on an MSR, other models hang in the firmware). pvlab boots a tiny probe
 * guest (images/probe/accel-probe.S: firmware hand-over, timer interrupts, long mode, a timed
 * loop) under KVM with a deadline, and under TCG to compare, and uses KVM only when it ran and
 * was not slower.
 *
 *   policy tcg                      -> tcg, no probe
 *   kvm device does not open        -> auto: tcg, with the reason; kvm: ERR_USAGE
 *   kvm probe fails (exit, hang)    -> auto: tcg, with QEMU's message; kvm: ERR_USAGE
 *   kvm probe slower than tcg probe -> auto: tcg, with both times; (kvm: no comparison made)
 *   otherwise                       -> kvm
 *
 * A decision is cached per host in <cache_dir>/host/accel-<key>.json, keyed by the boot id,
 * the QEMU binary (path, size, mtime), the CPU models, the machine type, the device path and
 * the probe image, so a reboot, another QEMU or another CPU model probes again.
 */
#ifndef PVLAB_LAB_ACCEL_H
#define PVLAB_LAB_ACCEL_H

#include "config/config.h"
#include "util/err.h"

/* One boot of the probe guest. */
struct accel_probe {
    int ok;       /* PVLAB-PROBE-OK seen and QEMU ended through the exit port */
    long long ms; /* QEMU start to exit (or to the deadline) */
    char *reason; /* when !ok: what happened, with QEMU's own message; malloc'd */
    char *stage;  /* last marker seen: "none", "start", "irq", "long", "ok" */
};

struct accel_choice {
    char *accel;                 /* "kvm" | "tcg" */
    char *cpu_model;             /* the configured model for that accelerator */
    char *note;                  /* one line: why ("kvm: /dev/kvm not present; using tcg") */
    struct accel_probe kvm, tcg; /* ms < 0 and stage NULL when not probed */
    int cached;                  /* the decision came from the cache */
};

/*
 * Boots the probe image under accel/cpu and waits up to deadline_ms. Fills *p (free with
 * accel_probe_free). Returns 0 whenever the probe was attempted (p->ok says how it went), -1
 * when QEMU or the probe image is missing (ERR_TOOL). Blocks up to the deadline.
 */
int accel_probe_run(const char *qemu, const char *machine, const char *accel, const char *cpu,
                    int deadline_ms, struct accel_probe *p, struct err *e);
void accel_probe_free(struct accel_probe *p);

/*
 * Decides the accelerator for c (resolved QEMU binary qemu) as the table above says, probing
 * unless a cached decision for this host exists (reprobe = 1 ignores it). Fills *out (free
 * with accel_choice_free). Fails with ERR_USAGE when accel = kvm cannot be honoured, naming
 * the reason and the hint to set accel = tcg. Blocks for the probes (a few seconds at most).
 */
int accel_choose(const struct config *c, const char *qemu, int reprobe, struct accel_choice *out,
                 struct err *e);
void accel_choice_free(struct accel_choice *a);

#endif
