/*
 * The L0 host stack a trial runs on: QEMU version, accelerator, CPU model, L0 kernel. In nested
 * virtualisation the outer layer can cause or hide a bug, so every run records it.
 */
#ifndef PVLAB_LAB_HOST_H
#define PVLAB_LAB_HOST_H

#include "config/config.h"
#include "util/err.h"

struct host_stack {
    char *qemu_binary;  /* resolved path */
    char *qemu_version; /* "QEMU emulator version 7.2.x (Debian ...)" */
    char *accel;        /* "kvm" | "tcg" */
    char *accel_note;   /* why: "/dev/kvm not present", "nested=Y" */
    char *cpu_model;
    char *l0_kernel;    /* uname -r */
    char *hostname;
};

/*
 * Probes the host per the config's accelerator policy. Fails with ERR_TOOL when QEMU is not
 * installed (with the package to install), and with ERR_USAGE when accel = kvm but /dev/kvm
 * is not usable. Blocks for the `qemu --version` call.
 */
int host_probe(const struct config *c, struct host_stack *h, struct err *e);
void host_stack_free(struct host_stack *h);

#endif
