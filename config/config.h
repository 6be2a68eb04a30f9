/*
 * Lab configuration: an INI file (libinih) over built-in defaults that equal the shipped
 * config/pvlab.conf. Load order, later wins: built-ins, the shipped file, the user file
 * (~/.config/pvlab/pvlab.conf or $PVLAB_CONFIG), the file given with --config. Then
 * $PVLAB_HOME (cache and state under one directory), $PVLAB_CACHE_DIR, $PVLAB_STATE_DIR.
 * Every error names the file, the line and the key.
 */
#ifndef PVLAB_CONFIG_CONFIG_H
#define PVLAB_CONFIG_CONFIG_H

#include "config/repos.h"
#include "util/err.h"

enum accel_policy { ACCEL_AUTO, ACCEL_KVM, ACCEL_TCG };

struct config {
    char *cache_dir;
    char *state_dir;
    char *qemu_binary;
    enum accel_policy accel;
    char *machine;
    char *cpu_tcg;
    char *cpu_kvm;
    char *kvm_device;    /* the KVM device the probe opens (/dev/kvm; tests point it elsewhere) */
    int probe_timeout_s; /* deadline of the KVM probe guest */
    int memory_mb;
    int smp;
    char *lab_backend; /* "qemu" (QEMU run directly) or "libvirt" (lab/libvirt.h) */
    char *libvirt_uri; /* the libvirt backend's connection */
    char *xen_cmdline;
    char *dom0_cmdline;
    int boot_s;
    int run_base_s;
    int run_per_kiter_s;
    int shutdown_s;
    int console_log_mb;
    char *mirror;          /* NULL = derive from apt sources */
    char *security_mirror; /* NULL = derive */
    int refresh_hours;
    /* defaults of pvlab run and pvlab bisect (the CLI only overrides them) */
    char *run_xen, *run_linux, *run_repro;
    int run_trials, run_iterations, run_jobs;
    int run_fresh_every;    /* snapshot trials: 1 = every trial boots (no snapshots) */
    int run_snapshots_keep; /* snapshots kept in the cache, most recently used first */
    double bisect_confidence;
    int bisect_check_good, bisect_check_bad_max, bisect_workers;
    /* where results are posted (NULL url: nowhere, unless `pvlab report --to URL`) */
    char *reporter_url, *reporter_token, *reporter_lab;
    int reporter_timeout_s, reporter_retries;
    struct repos *repos; /* [repos], [repo_web], [repo_test] (config/repos.h); NULL: none */
    char *loaded_files;  /* "a, b" for --verbose and `pvlab config` */
};

/* Fills c with the built-in defaults. */
void config_defaults(struct config *c);
/* Applies one INI file over c. A missing file is an error only if required. */
int config_load_file(struct config *c, const char *path, int required, struct err *e);
/* Defaults + shipped file + user file + explicit file (may be NULL) + environment. */
int config_load(struct config *c, const char *explicit_path, struct err *e);
/* Sets one key ("section.key") as a file would; used by tests and --set. */
int config_set(struct config *c, const char *section, const char *key, const char *value,
               struct err *e);
void config_free(struct config *c);
const char *accel_policy_name(enum accel_policy a);

#endif
