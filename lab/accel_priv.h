/* lab/accel.c internals that unit tests reach: the probe's reading and the decision table. */
#ifndef PVLAB_LAB_ACCEL_PRIV_H
#define PVLAB_LAB_ACCEL_PRIV_H

#include "lab/accel.h"

/*
 * Reads a finished probe: out is what the guest printed, timed_out whether the deadline
 * stopped it, qemu_status how QEMU ended ("was killed by signal 6 (Aborted)"), qemu_stderr
 * QEMU's own messages. Sets p->ok, p->stage and p->reason (malloc'd). Returns p->ok.
 */
int accel_probe_reason(const char *out, int timed_out, int deadline_ms, const char *qemu_status,
                       const char *qemu_stderr, struct accel_probe *p);
/*
 * The decision table of lab/accel.h as a pure function. device_problem is NULL when the device
 * opens; tcg may be NULL or unprobed (ms < 0). Sets *accel_r and *note_r (malloc'd) or fails
 * with ERR_USAGE when policy = kvm cannot be honoured.
 */
int accel_decide(enum accel_policy policy, const char *device, const char *device_problem,
                 const struct accel_probe *kvm, const struct accel_probe *tcg, char **accel_r,
                 char **note_r, struct err *e);

#endif
