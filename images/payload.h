/*
 * What a dom0 runs in a trial: the reproducer table, the pvlab.* kernel parameters that select
 * and tune a reproducer, and the initramfs that carries the guest programs.
 *
 * The guest side (images/guest/pvlab-init.c) reads the parameters written by repro_cmdline();
 * the two must agree on names and ranges.
 */
#ifndef PVLAB_IMAGES_PAYLOAD_H
#define PVLAB_IMAGES_PAYLOAD_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct repro_info {
    const char *name;    /* "fpu-leak" */
    const char *summary; /* one line for listings */
    const char *probe;   /* guest binary exec'd per iteration ("fpu-probe"); NULL if none */
    int self_test_only;  /* 1: exercises pvlab itself, not a bug (keep out of matrices) */
    const char *model;   /* "iterations" (a fresh exec each) or "once" */
    const char *params;  /* its options with defaults, for listings */
};

/* The reproducer with this name, or NULL. Returned pointers are static. */
const struct repro_info *repro_find(const char *name);
/* The whole table (static); *n_r gets its length. */
const struct repro_info *repro_table(size_t *n_r);
/* Appends "fpu-leak, seed-memcmp, self-test-hang" (for "known: ..." error messages). */
void repro_names(struct buf *out);
/* repro_find with an error naming the known reproducers (ERR_NOTFOUND). */
const struct repro_info *repro_lookup(const char *name, struct err *e);

/*
 * Amplifiers: run-wide settings that make bug #40's class of bug more likely to show.
 *   lazy-fpu      eagerfpu=off on the guest command line (Linux 3.7-4.13 default to eager FPU)
 *   mem-pressure  dom0 gets AMP_DOM0_MEM and a memory churner runs beside the workers
 *                 (pvlab.churn=1), so allocations go through reclaim and may sleep
 *   overcommit    AMP_OVERCOMMIT x vCPUs workers instead of 2 x vCPUs + 1 (pvlab.overcommit)
 */
enum { AMP_LAZY_FPU = 1, AMP_MEM_PRESSURE = 2, AMP_OVERCOMMIT = 4 };
#define AMP_DOM0_MEM "dom0_mem=192M,max:192M"
#define AMP_OVERCOMMIT_FACTOR 8
/* "lazy-fpu,overcommit" (commas or blanks) into a mask; ERR_USAGE naming the known ones. */
int amplifier_parse(const char *list, unsigned *mask, struct err *e);
/* Appends the mask's names, comma-separated, in the table's order ("" for none). */
void amplifier_names(unsigned mask, struct buf *out);

#define REPRO_MAX_ITERATIONS 10000000L
#define REPRO_MAX_WORKERS 256

struct repro_params {
    const char *repro;        /* table name, or "plugin" (its files are in the initramfs) */
    long iterations;          /* 1..REPRO_MAX_ITERATIONS probes */
    int workers;              /* 0 = auto in the guest (2 * online CPUs + 1) */
    double self_test_corrupt; /* 0..1: fraction of probes that corrupt themselves on purpose */
    unsigned long seed;       /* 0 = the guest picks one and reports it in PVLAB-BEGIN */
    unsigned amplifiers;      /* AMP_* (lazy-fpu is the caller's: eagerfpu=off) */
};

/*
 * Validates p and appends " pvlab.repro=NAME pvlab.iterations=N pvlab.workers=W
 * pvlab.self_test_corrupt=R pvlab.seed=S" (leading space) to out, for the dom0 command line,
 * then " pvlab.churn=1" and " pvlab.overcommit=K" for those amplifiers.
 * Returns 0, or -1 with e set (ERR_USAGE / ERR_NOTFOUND); out is unchanged on error.
 */
int repro_cmdline(const struct repro_params *p, struct buf *out, struct err *e);

/* A plug-in reproducer's files in the initramfs (images/plugin.h; strings borrowed). */
struct payload_plugin {
    const char *name;     /* its program lands at /pvlab/repro/<name> */
    const char *program;  /* host path: the script, or the static binary */
    const char *manifest; /* text of /pvlab/repro/manifest (plugin_guest_manifest) */
};

/*
 * Builds (or reuses) the dom0 initramfs: gzip'd newc with /init (pvlab-init), /bin/fpu-probe,
 * /bin/memcmp-probe, a static /bin/busybox with applet links, /dev/console (char 5,1) and the
 * /dev /proc /sys /tmp mount points; with pl, the plug-in under /pvlab/repro (NULL: none). Stored
 * content-addressed as <cache_dir>/initramfs/<sha256 of inputs and format version>.cpio.gz, so
 * unchanged inputs reuse the file, with the archive's own sha256 in <that name>.sha256: an archive
 * whose bytes no longer match it (truncated by a crash or a full disk) or without that record is
 * rebuilt, with a warning. Concurrent callers are serialised by <cache_dir>/initramfs/.lock. Guest
 * binaries come from $PVLAB_GUEST_DIR, else the build's guest directory; busybox from
 * $PVLAB_BUSYBOX, else /bin/busybox or /usr/bin/busybox. On success *path_r and *sha256_r (hex
 * sha256 of the archive) are malloc'd, caller frees. Blocks on file I/O (a build takes well under a
 * second).
 */
int payload_initramfs(const char *cache_dir, const struct payload_plugin *pl, char **path_r,
                      char **sha256_r, struct err *e);

/* The parts of a domU trial's dom0 initramfs (strings borrowed). */
struct domus_payload {
    const char *toolstack_dir;           /* kernels: toolstack_resolve */
    const char *modules_dir;             /* kernels: dom0_xen_modules */
    size_t n;                            /* domUs */
    const char *const *names;            /* "d1", "d2", ... */
    const char *const *kernels;          /* each domU's kernel as an ELF (kernels: kernel_pv_elf) */
    const struct payload_plugin *plugin; /* a plug-in reproducer, or NULL */
};

/*
 * Builds (or reuses) the dom0 initramfs of a domU trial (images/domus.c): the reproducer
 * initramfs's programs, /pvlab/domus.sh (dom0's init: boot it with rdinit=/pvlab/domus.sh),
 * /pvlab/domus naming each domU's kernel, the domU kernels under /boot, the reproducer
 * initramfs as every domU's ramdisk, the toolstack tree at / and the modules under
 * /lib/modules/xen. Uncompressed newc, cached as <cache_dir>/initramfs/domus-<key>.cpio with
 * its sha256 beside it (a damaged archive is rebuilt). *path_r and *sha256_r are malloc'd.
 */
int payload_domus_initramfs(const char *cache_dir, const struct domus_payload *d, char **path_r,
                            char **sha256_r, struct err *e);

/*
 * Path of a program pvlab builds for its guests ("pvlab-init", "accel-probe"): in
 * $PVLAB_GUEST_DIR, else the build's guest directory. malloc'd; the file may not exist.
 */
char *payload_guest_file(const char *name);

#endif
