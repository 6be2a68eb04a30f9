/*
 * The QEMU command line of an L1 Xen host, built as data (libvirt's qemu_command.c): a struct
 * describing the machine becomes an argv, which unit tests compare with golden files and
 * `pvlab run --print-qemu-cmd` prints shell-quoted.
 */
#ifndef PVLAB_LAB_QEMU_H
#define PVLAB_LAB_QEMU_H

#include "util/buf.h"
#include "util/err.h"
#include "util/sv.h"

struct qemu_cfg {
    const char *binary;  /* qemu-system-x86_64 */
    const char *machine; /* q35 */
    const char *accel;   /* "kvm" or "tcg" */
    const char *cpu;     /* max,-smap under TCG */
    int memory_mb;
    int smp;
    const char *xen_path; /* gunzipped multiboot Xen image */
    const char *xen_cmdline;
    const char *dom0_path; /* dom0 kernel (multiboot module 1) */
    const char *dom0_cmdline;
    const char *initrd_path; /* dom0 initramfs (multiboot module 2) */
    const char *serial_log;  /* the L1 serial port (Xen + dom0 console) goes to this file */
    /* snapshot trials (lab/trial.c): the serial port is also a unix socket the host writes
     * the START line to (the console still goes to serial_log); QMP on a unix socket; and the
     * saved machine to restore from (NULL: boot) */
    const char *console_sock;
    const char *qmp_sock;
    const char *incoming;
};

/* The paths' checks of qemu_build_argv (both backends render the same cfg). 0 or -1 with e. */
int qemu_check_cfg(const struct qemu_cfg *cfg, struct err *e);
/* Appends the multiboot module list "dom0-kernel its-cmdline,initrd" (commas doubled). */
void qemu_modules(const struct qemu_cfg *cfg, struct buf *out);
/*
 * Appends the argv for cfg to argv. Fails (ERR_USAGE) for paths QEMU's multiboot module list
 * cannot carry (spaces), naming the path.
 */
int qemu_build_argv(const struct qemu_cfg *cfg, struct sv *argv, struct err *e);
/*
 * Appends the argv that boots the accelerator probe guest (images/probe/accel-probe.S):
 * binary, machine, accel and cpu as a trial would use them, 64 MiB, one vCPU, the serial port
 * on stdout and an isa-debug-exit port at 0xf4 through which the guest ends QEMU (status 1).
 * Fails (ERR_USAGE) for an image path with whitespace or a comma.
 */
int qemu_build_probe_argv(const char *binary, const char *machine, const char *accel,
                          const char *cpu, const char *image, struct sv *argv, struct err *e);
/* Appends argv as one shell command line, quoting where needed. */
void qemu_shell_quote(struct buf *out, char *const *argv);

#endif
