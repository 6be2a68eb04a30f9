/*
 * The L0 host stack a trial runs on: QEMU version, accelerator, CPU model, L0 kernel. In nested
 * virtualisation the outer layer can cause or hide a bug, so every run records it.
 */
#ifndef PVLAB_LAB_HOST_H
#define PVLAB_LAB_HOST_H

#include <stddef.h>

#include "config/config.h"
#include "lab/accel.h"
#include "util/err.h"

struct host_stack {
    char *qemu_binary;  /* resolved path */
    char *qemu_version; /* "QEMU emulator version 7.2.x (Debian ...)" */
    char *accel;        /* "kvm" | "tcg" */
    char *accel_note;   /* why, one line: "kvm: /dev/kvm not present; using tcg" */
    char *cpu_model;
    char *l0_kernel; /* uname -r */
    char *hostname;
};

/*
 * Probes the host per the config's accelerator policy (lab/accel.h: a probe guest decides, the
 * answer is cached per host). Fails with ERR_TOOL when QEMU is not installed (with the package
 * to install), and with ERR_USAGE when accel = kvm but KVM cannot run a guest. Blocks for the
 * `qemu --version` call and, when nothing is cached, the probe guests (seconds).
 */
int host_probe(const struct config *c, struct host_stack *h, struct err *e);
void host_stack_free(struct host_stack *h);
/* A deep copy of src into dst (free with host_stack_free). */
void host_stack_copy(struct host_stack *dst, const struct host_stack *src);

/* What `pvlab host` prints: the host stack with the probes behind it, resources and tools. */
struct host_cpu_probe {
    char *model, *accel;
    struct accel_probe probe;
};

struct host_tool {
    const char *name, *package, *use; /* static */
    char *path;                       /* NULL when not found in PATH */
};

struct host_report {
    struct host_stack stack;
    struct accel_choice accel;   /* the decision with its KVM and TCG probes */
    struct host_cpu_probe *cpus; /* extra CPU models probed under the chosen accelerator */
    size_t ncpus;
    int cores;
    long long mem_total_kb, mem_avail_kb; /* -1 when unknown */
    long long cache_free, state_free;     /* bytes, -1 when unknown */
    struct host_tool *tools;
    size_t ntools;
    char *problem; /* NULL, or why this host cannot run the lab's guests */
};

/*
 * Fills r: host_probe's answer (reprobe = 1 ignores the cached accelerator decision), the TCG
 * probe of the configured model, a probe of each model in cpus (NULL-terminated, may be NULL)
 * under the chosen accelerator, memory, disk and tools. A missing QEMU or a host that cannot
 * run the probe guest is reported in r->problem, not as an error. Returns -1 only when a probe
 * cannot be attempted (probe image missing, interrupted). Blocks for the probes (seconds).
 */
int host_report(const struct config *c, int reprobe, const char *const *cpus, struct host_report *r,
                struct err *e);
void host_report_free(struct host_report *r);

#endif
