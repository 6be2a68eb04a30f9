#include "config/config.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

enum opt_type { OPT_STR, OPT_PATH, OPT_INT, OPT_ACCEL, OPT_OPTSTR, OPT_RATE, OPT_BACKEND };

struct opt {
    const char *section;
    const char *key;
    enum opt_type type;
    size_t offset;
    const char *def;
    int min, max;
};

#define O(sec, k, t, field, d, lo, hi)                                                             \
    {                                                                                              \
        sec, k, t, offsetof(struct config, field), d, lo, hi                                       \
    }

/* The table of keys: defaults here must match config/pvlab.conf (a unit test checks). */
static const struct opt opts[] = {
    O("paths", "cache_dir", OPT_PATH, cache_dir, "~/.cache/pvlab", 0, 0),
    O("paths", "state_dir", OPT_PATH, state_dir, "~/.local/share/pvlab", 0, 0),
    O("qemu", "binary", OPT_STR, qemu_binary, "qemu-system-x86_64", 0, 0),
    O("qemu", "accel", OPT_ACCEL, accel, "auto", 0, 0),
    O("qemu", "machine", OPT_STR, machine, "q35", 0, 0),
    O("qemu", "cpu_tcg", OPT_STR, cpu_tcg, "max,-smap", 0, 0),
    O("qemu", "cpu_kvm", OPT_STR, cpu_kvm, "host", 0, 0),
    O("qemu", "kvm_device", OPT_PATH, kvm_device, "/dev/kvm", 0, 0),
    O("qemu", "probe_timeout_s", OPT_INT, probe_timeout_s, "5", 1, 600),
    O("qemu", "memory_mb", OPT_INT, memory_mb, "2048", 256, 1 << 20),
    O("qemu", "smp", OPT_INT, smp, "2", 1, 256),
    O("lab", "backend", OPT_BACKEND, lab_backend, "qemu", 0, 0),
    O("lab", "libvirt_uri", OPT_STR, libvirt_uri, "qemu:///system", 0, 0),
    O("xen", "cmdline", OPT_STR, xen_cmdline,
      "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M", 0, 0),
    O("dom0", "cmdline", OPT_STR, dom0_cmdline, "console=hvc0 earlyprintk=xen", 0, 0),
    O("timeouts", "boot_s", OPT_INT, boot_s, "300", 1, 86400),
    O("timeouts", "run_base_s", OPT_INT, run_base_s, "300", 1, 86400 * 7),
    O("timeouts", "run_per_kiter_s", OPT_INT, run_per_kiter_s, "60", 0, 86400),
    O("timeouts", "shutdown_s", OPT_INT, shutdown_s, "30", 1, 3600),
    O("limits", "console_log_mb", OPT_INT, console_log_mb, "64", 1, 65536),
    O("debian", "mirror", OPT_OPTSTR, mirror, "", 0, 0),
    O("debian", "security_mirror", OPT_OPTSTR, security_mirror, "", 0, 0),
    O("debian", "refresh_hours", OPT_INT, refresh_hours, "24", 0, 24 * 365),
    O("run", "xen", OPT_STR, run_xen, "4.17", 0, 0),
    O("run", "linux", OPT_STR, run_linux, "6.1", 0, 0),
    O("run", "repro", OPT_STR, run_repro, "fpu-leak", 0, 0),
    O("run", "trials", OPT_INT, run_trials, "1", 1, 100000),
    O("run", "iterations", OPT_INT, run_iterations, "2000", 1, 10000000),
    O("run", "jobs", OPT_INT, run_jobs, "1", 1, 64),
    O("run", "fresh_boot_every", OPT_INT, run_fresh_every, "4", 0, 1000000),
    O("run", "snapshots_keep", OPT_INT, run_snapshots_keep, "8", 1, 100000),
    O("bisect", "confidence", OPT_RATE, bisect_confidence, "0.95", 0, 0),
    O("bisect", "check_good", OPT_INT, bisect_check_good, "2", 0, 100000),
    O("bisect", "check_bad_max", OPT_INT, bisect_check_bad_max, "50", 1, 100000),
    O("bisect", "workers", OPT_INT, bisect_workers, "1", 1, 16),
    O("reporter", "url", OPT_OPTSTR, reporter_url, "", 0, 0),
    O("reporter", "token", OPT_OPTSTR, reporter_token, "", 0, 0),
    O("reporter", "lab", OPT_OPTSTR, reporter_lab, "", 0, 0),
    O("reporter", "timeout_s", OPT_INT, reporter_timeout_s, "10", 1, 3600),
    O("reporter", "retries", OPT_INT, reporter_retries, "3", 0, 100),
};

const char *accel_policy_name(enum accel_policy a)
{
    return a == ACCEL_KVM ? "kvm" : a == ACCEL_TCG ? "tcg" : "auto";
}

/* Expands a leading "~/" with $HOME. */
static char *expand_home(const char *v)
{
    const char *home = getenv("HOME");

    if (v[0] == '~' && (v[1] == '/' || v[1] == '\0') && home && *home)
        return xasprintf("%s%s", home, v + 1);
    return xstrdup(v);
}

/* Applies one value; returns 0 or -1 with e holding the reason (without file/line). */
static int apply(struct config *c, const struct opt *o, const char *value, struct err *e)
{
    void *field = (char *)c + o->offset;
    char *end;
    long n;

    switch (o->type) {
    case OPT_STR:
        if (!*value) {
            err_set(e, ERR_CONFIG, "must not be empty");
            return -1;
        }
        free(*(char **)field);
        *(char **)field = xstrdup(value);
        return 0;
    case OPT_OPTSTR:
        free(*(char **)field);
        *(char **)field = *value ? xstrdup(value) : NULL;
        return 0;
    case OPT_PATH:
        if (!*value) {
            err_set(e, ERR_CONFIG, "must not be empty");
            return -1;
        }
        free(*(char **)field);
        *(char **)field = expand_home(value);
        return 0;
    case OPT_INT:
        n = strtol(value, &end, 10);
        if (!*value || *end || n < o->min || n > o->max) {
            err_set(e, ERR_CONFIG, "'%s' is not an integer between %d and %d", value, o->min,
                    o->max);
            return -1;
        }
        *(int *)field = (int)n;
        return 0;
    case OPT_RATE: {
        double d = strtod(value, &end);
        if (!*value || *end || !(d > 0 && d < 1)) {
            err_set(e, ERR_CONFIG, "'%s' is not a number between 0 and 1 (exclusive)", value);
            return -1;
        }
        *(double *)field = d;
        return 0;
    }
    case OPT_BACKEND:
        if (strcmp(value, "qemu") && strcmp(value, "libvirt")) {
            err_set(e, ERR_CONFIG, "'%s' is not one of qemu, libvirt", value);
            return -1;
        }
        free(*(char **)field);
        *(char **)field = xstrdup(value);
        return 0;
    case OPT_ACCEL:
        if (!strcmp(value, "auto"))
            *(enum accel_policy *)field = ACCEL_AUTO;
        else if (!strcmp(value, "kvm"))
            *(enum accel_policy *)field = ACCEL_KVM;
        else if (!strcmp(value, "tcg"))
            *(enum accel_policy *)field = ACCEL_TCG;
        else {
            err_set(e, ERR_CONFIG, "'%s' is not one of auto, kvm, tcg", value);
            return -1;
        }
        return 0;
    }
    return -1;
}

int config_set(struct config *c, const char *section, const char *key, const char *value,
               struct err *e)
{
    struct buf known = BUF_INIT;
    size_t i;
    int rc = -1;

    if (repos_section(section))
        return repos_set(&c->repos, section, key, value, e);
    for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (!strcmp(opts[i].section, section) && !strcmp(opts[i].key, key)) {
            rc = apply(c, &opts[i], value, e);
            goto out;
        }
    for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (!strcmp(opts[i].section, section))
            buf_addf(&known, "%s%s", known.len ? ", " : "", opts[i].key);
    if (known.len)
        err_set(e, ERR_CONFIG, "unknown key; keys of [%s] are: %s", section, known.data);
    else
        err_set(e, ERR_CONFIG,
                "unknown section [%s]; sections are paths, qemu, xen, dom0, "
                "timeouts, limits, debian, run, bisect, reporter, repos, repo_web, "
                "repo_test",
                section);
out:
    buf_release(&known);
    return rc;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        apply(c, &opts[i], opts[i].def, NULL);
}

struct load_ctx {
    struct config *c;
    struct err err;
    char section[64];
    char key[64];
    int failed;
};

static int on_ini_value(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *lc = user;

    if (lc->failed)
        return 1; /* keep only the first error */
    if (!name)
        return 1; /* section header alone */
    if (config_set(lc->c, section, name, value, &lc->err) < 0) {
        snprintf(lc->section, sizeof(lc->section), "%s", section);
        snprintf(lc->key, sizeof(lc->key), "%s", name);
        lc->failed = 1;
        return 0;
    }
    return 1;
}

int config_load_file(struct config *c, const char *path, int required, struct err *e)
{
    struct load_ctx lc;
    FILE *f;
    int line;

    memset(&lc, 0, sizeof(lc));
    lc.c = c;
    f = fopen(path, "r");
    if (!f) {
        if (!required)
            return 0;
        err_sys(e, errno, "cannot read config file %s", path);
        if (e)
            e->code = ERR_CONFIG;
        return -1;
    }
    line = ini_parse_file(f, on_ini_value, &lc);
    fclose(f);
    if (lc.failed) {
        err_set(e, ERR_CONFIG, "%s:%d: [%s] %s: %s", path, line, lc.section, lc.key, lc.err.msg);
        return -1;
    }
    if (line != 0) {
        err_set(e, ERR_CONFIG, "%s:%d: syntax error (expected [section] or key = value)", path,
                line);
        return -1;
    }
    {
        char *old = c->loaded_files;
        c->loaded_files = old ? xasprintf("%s, %s", old, path) : xstrdup(path);
        free(old);
    }
    return 0;
}

/* Makes *path absolute against the current directory. */
static int absolutize(char **path, struct err *e)
{
    char cwd[4096];
    char *abs;

    if (!*path || **path == '/')
        return 0;
    if (!getcwd(cwd, sizeof(cwd))) {
        err_sys(e, errno, "cannot anchor the relative directory '%s'", *path);
        return -1;
    }
    abs = xasprintf("%s/%s", cwd, *path);
    free(*path);
    *path = abs;
    return 0;
}

int config_load(struct config *c, const char *explicit_path, struct err *e)
{
    const char *home = getenv("HOME");
    const char *env;
    char *user = NULL;
    int rc = -1;

    config_defaults(c);
    if (config_load_file(c, PVLAB_TOP "/config/pvlab.conf", 0, e) < 0)
        goto out;
    env = getenv("PVLAB_CONFIG");
    if (env && *env) {
        if (config_load_file(c, env, 1, e) < 0)
            goto out;
    } else if (home && *home) {
        user = xasprintf("%s/.config/pvlab/pvlab.conf", home);
        if (config_load_file(c, user, 0, e) < 0)
            goto out;
    }
    if (explicit_path && config_load_file(c, explicit_path, 1, e) < 0)
        goto out;
    env = getenv("PVLAB_HOME");
    if (env && *env) {
        free(c->cache_dir);
        free(c->state_dir);
        c->cache_dir = xasprintf("%s/cache", env);
        c->state_dir = xasprintf("%s/state", env);
    }
    env = getenv("PVLAB_CACHE_DIR");
    if (env && *env) {
        free(c->cache_dir);
        c->cache_dir = xstrdup(env);
    }
    env = getenv("PVLAB_STATE_DIR");
    if (env && *env) {
        free(c->state_dir);
        c->state_dir = xstrdup(env);
    }
    /* relative directories (PVLAB_HOME=tmp) would mean another place in every child that runs
     * elsewhere (a bisection's worktree): anchor them here, once */
    if (absolutize(&c->cache_dir, e) < 0 || absolutize(&c->state_dir, e) < 0)
        goto out;
    rc = 0;
out:
    free(user);
    return rc;
}

void config_free(struct config *c)
{
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (opts[i].type == OPT_STR || opts[i].type == OPT_PATH || opts[i].type == OPT_OPTSTR ||
            opts[i].type == OPT_BACKEND) {
            char **field = (char **)((char *)c + opts[i].offset);
            free(*field);
            *field = NULL;
        }
    free(c->loaded_files);
    c->loaded_files = NULL;
    repos_free(c->repos);
    c->repos = NULL;
}
