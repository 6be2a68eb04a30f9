#include "images/payload_priv.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/cpio.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/sv.h"
#include "util/xalloc.h"

#ifndef PVLAB_GUEST_DIR
#define PVLAB_GUEST_DIR "build/guest"
#endif

static const struct repro_info repros[] = {
    { "fpu-leak", "fresh execs check XMM/YMM/x87 registers survive a context switch (Xen #40)",
      "fpu-probe", 0, "iterations",
      "--iterations=2000 --workers=auto (2 x vCPUs + 1) --self-test-corrupt=0 --lazy-fpu=off" },
    { "seed-memcmp", "the original Xen #40 test case: malloc, memset, memcmp of 256 KiB",
      "memcmp-probe", 0, "iterations", "--iterations=2000 --workers=auto (2 x vCPUs + 1)" },
    { "self-test-hang", "prints PVLAB-BEGIN and hangs (exercises the host's timeout)", NULL, 1,
      "once", "" },
};

#define NREPROS (sizeof(repros) / sizeof(repros[0]))

const struct repro_info *repro_find(const char *name)
{
    for (size_t i = 0; name && i < NREPROS; i++)
        if (!strcmp(repros[i].name, name))
            return &repros[i];
    return NULL;
}

const struct repro_info *repro_table(size_t *n_r)
{
    *n_r = NREPROS;
    return repros;
}

void repro_names(struct buf *out)
{
    for (size_t i = 0; i < NREPROS; i++)
        buf_addf(out, "%s%s", i ? ", " : "", repros[i].name);
}

const struct repro_info *repro_lookup(const char *name, struct err *e)
{
    const struct repro_info *r = repro_find(name);
    struct buf names = BUF_INIT;

    if (r)
        return r;
    repro_names(&names);
    err_set(e, ERR_NOTFOUND, "unknown reproducer '%s'; known: %s", name ? name : "", names.data);
    buf_release(&names);
    return NULL;
}

int repro_cmdline(const struct repro_params *p, struct buf *out, struct err *e)
{
    if ((!p->repro || strcmp(p->repro, "plugin")) && !repro_lookup(p->repro, e))
        return -1;
    if (p->iterations < 1 || p->iterations > REPRO_MAX_ITERATIONS) {
        err_set(e, ERR_USAGE, "iterations must be 1..%ld (got %ld)", REPRO_MAX_ITERATIONS,
                p->iterations);
        return -1;
    }
    if (p->workers < 0 || p->workers > REPRO_MAX_WORKERS) {
        err_set(e, ERR_USAGE, "workers must be 0 (auto) .. %d (got %d)", REPRO_MAX_WORKERS,
                p->workers);
        return -1;
    }
    if (!isfinite(p->self_test_corrupt) || p->self_test_corrupt < 0 || p->self_test_corrupt > 1) {
        err_set(e, ERR_USAGE, "self-test corruption rate must be between 0 and 1 (got %g)",
                p->self_test_corrupt);
        return -1;
    }
    buf_addf(out, " pvlab.repro=%s pvlab.iterations=%ld pvlab.workers=%d", p->repro, p->iterations,
             p->workers);
    buf_addf(out, " pvlab.self_test_corrupt=%.9g pvlab.seed=%lu", p->self_test_corrupt, p->seed);
    if (p->amplifiers & AMP_MEM_PRESSURE)
        buf_adds(out, " pvlab.churn=1");
    if (p->amplifiers & AMP_OVERCOMMIT)
        buf_addf(out, " pvlab.overcommit=%d", AMP_OVERCOMMIT_FACTOR);
    return 0;
}

static const char *const amp_names[] = { "lazy-fpu", "mem-pressure", "overcommit" };
#define NAMPS (sizeof(amp_names) / sizeof(amp_names[0]))

int amplifier_parse(const char *list, unsigned *mask, struct err *e)
{
    struct sv w = SV_INIT;
    int rc = 0;

    *mask = 0;
    if (list)
        sv_split(&w, list, ", \t");
    for (size_t i = 0; i < w.n && rc == 0; i++) {
        size_t k = 0;
        while (k < NAMPS && strcmp(w.v[i], amp_names[k]))
            k++;
        if (k == NAMPS) {
            err_set(e, ERR_USAGE,
                    "unknown amplifier '%s'; known: lazy-fpu, mem-pressure, "
                    "overcommit (docs/reproducers.md)",
                    w.v[i]);
            rc = -1;
        } else {
            *mask |= 1u << k;
        }
    }
    sv_clear(&w);
    return rc;
}

void amplifier_names(unsigned mask, struct buf *out)
{
    int first = 1;
    for (size_t k = 0; k < NAMPS; k++)
        if (mask & (1u << k)) {
            buf_addf(out, "%s%s", first ? "" : ",", amp_names[k]);
            first = 0;
        }
    if (first)
        buf_adds(out, "");
}

int payload_elf_is_static(const char *path, struct err *e)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    int fd = -1, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_sys(e, errno, "cannot open %s", path);
        if (errno == ENOENT && e)
            e->code = ERR_NOTFOUND;
        goto out;
    }
    if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(ph)) {
        err_set(e, ERR_IO, "%s is not a 64-bit ELF executable", path);
        goto out;
    }
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        off_t off = (off_t)(eh.e_phoff + (Elf64_Off)i * sizeof(ph));
        if (pread(fd, &ph, sizeof(ph), off) != (ssize_t)sizeof(ph)) {
            err_set(e, ERR_IO, "%s: truncated ELF program headers", path);
            goto out;
        }
        if (ph.p_type == PT_INTERP) {
            rc = 0;
            goto out;
        }
    }
    rc = 1;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* One file shipped in the initramfs. */
struct input {
    const char *name; /* archive path */
    char *src;        /* host path */
    char sha[SHA256_HEX_LEN + 1];
};

enum { IN_INIT, IN_FPU, IN_MEMCMP, IN_BUSYBOX, NINPUTS };

/* busybox's applets as commands: the few pvlab's guests use, and what plug-in scripts need */
static const char *const applets[] = {
    "sh",   "ls",      "cat",    "dmesg",     "poweroff", "grep",    "sed",     "awk",   "head",
    "tail", "wc",      "cut",    "tr",        "sort",     "uniq",    "test",    "[",     "expr",
    "seq",  "sleep",   "echo",   "printf",    "true",     "false",   "env",     "uname", "mkdir",
    "rm",   "cp",      "mv",     "ln",        "chmod",    "od",      "hexdump", "dd",    "date",
    "ps",   "kill",    "find",   "xargs",     "nproc",    "taskset", "free",    "mount", "umount",
    "stat", "timeout", "md5sum", "sha256sum",
};

static void inputs_init(struct input in[NINPUTS], const char *guest_dir, const char *busybox)
{
    static const char *const names[NINPUTS] = { "init", "bin/fpu-probe", "bin/memcmp-probe",
                                                "bin/busybox" };
    memset(in, 0, sizeof(struct input) * NINPUTS);
    for (int i = 0; i < NINPUTS; i++)
        in[i].name = names[i];
    in[IN_INIT].src = xasprintf("%s/pvlab-init", guest_dir);
    in[IN_FPU].src = xasprintf("%s/fpu-probe", guest_dir);
    in[IN_MEMCMP].src = xasprintf("%s/memcmp-probe", guest_dir);
    in[IN_BUSYBOX].src = xstrdup(busybox);
}

/* Checks the inputs exist and are static, and hashes them (and pl's files) into the cache key. */
static int inputs_check(struct input *in, const struct payload_plugin *pl,
                        char key[SHA256_HEX_LEN + 1], struct err *e)
{
    struct buf manifest = BUF_INIT;
    char psha[SHA256_HEX_LEN + 1];
    int rc = -1;

    buf_addf(&manifest, "%s\n", PAYLOAD_FORMAT);
    if (pl) {
        if (sha256_file_hex(pl->program, psha, e) < 0)
            goto out;
        buf_addf(&manifest, "plugin %s %s\n%s\n", pl->name, psha, pl->manifest);
    }
    for (int i = 0; i < NINPUTS; i++) {
        int st = payload_elf_is_static(in[i].src, e);
        if (st < 0 && i != IN_BUSYBOX && e && e->code == ERR_NOTFOUND) {
            err_set(e, ERR_NOTFOUND,
                    "guest program %s not found; run `make` to build the guest programs (or "
                    "set PVLAB_GUEST_DIR to their directory)",
                    in[i].src);
            goto out;
        }
        if (st < 0 && i == IN_BUSYBOX && e && e->code == ERR_NOTFOUND) {
            err_set(e, ERR_TOOL,
                    "busybox not found at %s; the initramfs needs a static one: "
                    "apt-get install busybox-static (or set PVLAB_BUSYBOX)",
                    in[i].src);
            goto out;
        }
        if (st < 0)
            goto out;
        if (st == 0) {
            err_set(e, ERR_TOOL, "%s is dynamically linked but the initramfs has no libc; %s",
                    in[i].src,
                    i == IN_BUSYBOX
                        ? "apt-get install busybox-static"
                        : "rebuild the guest programs with `make` (they are linked -static)");
            goto out;
        }
        if (sha256_file_hex(in[i].src, in[i].sha, e) < 0)
            goto out;
        buf_addf(&manifest, "%s %s\n", in[i].name, in[i].sha);
    }
    sha256_hex_buf(manifest.data, manifest.len, key);
    rc = 0;
out:
    buf_release(&manifest);
    return rc;
}

/* The entries of the reproducer initramfs, in a fixed order (the bytes are a function of in). */
static int add_entries(struct cpio *c, const struct input *in, const struct payload_plugin *pl,
                       struct err *e)
{
    static const char *const dirs[] = { "bin", "dev", "proc", "sys", "tmp" };

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (cpio_add_dir(c, dirs[i], !strcmp(dirs[i], "tmp") ? 01777 : 0755, e) < 0)
            return -1;
    if (cpio_add_chardev(c, "dev/console", 0600, 5, 1, e) < 0)
        return -1;
    for (int i = 0; i < NINPUTS; i++)
        if (cpio_add_file(c, in[i].name, 0755, in[i].src, e) < 0)
            return -1;
    for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "bin/%s", applets[i]);
        if (cpio_add_symlink(c, name, "busybox", e) < 0)
            return -1;
    }
    if (pl) {
        char *prog = xasprintf("pvlab/repro/%s", pl->name);
        int r = cpio_add_dir(c, "pvlab", 0755, e) < 0 ||
                        cpio_add_dir(c, "pvlab/repro", 0755, e) < 0 ||
                        cpio_add_file(c, prog, 0755, pl->program, e) < 0 ||
                        cpio_add_data(c, "pvlab/repro/manifest", 0644, pl->manifest,
                                      strlen(pl->manifest), e) < 0
                    ? -1
                    : 0;
        free(prog);
        return r;
    }
    return 0;
}

/* Writes the archive. */
static int write_archive(const struct input *in, const struct payload_plugin *pl, const char *path,
                         struct err *e)
{
    struct cpio *c = NULL;
    int rc = -1;

    if (cpio_open(path, CPIO_GZIP, &c, e) < 0 || add_entries(c, in, pl, e) < 0)
        goto out;
    rc = cpio_commit(c, e);
    c = NULL;
out:
    cpio_abort(c);
    return rc;
}

/*
 * Why the cached archive at path cannot be reused, or NULL when its bytes still match the
 * sha256 recorded in its sidecar (a crash, a full disk or a `truncate` can damage the archive
 * while its name, a hash of the inputs, still looks valid). On reuse sha receives the digest.
 */
const char *payload_cached_problem(const char *path, const char *side, char sha[SHA256_HEX_LEN + 1])
{
    struct buf rec = BUF_INIT;
    const char *why = NULL;

    if (!fs_exists(path))
        return "missing";
    if (buf_read_file(&rec, side, NULL) < 0) {
        why = "its sha256 record is missing";
        goto out;
    }
    buf_rtrim(&rec);
    if (sha256_file_hex(path, sha, NULL) < 0) {
        why = "it cannot be read";
        goto out;
    }
    if (strcmp(rec.data, sha))
        why = "its contents do not match its recorded sha256 (truncated or damaged)";
out:
    buf_release(&rec);
    return why;
}

/* Writes the archive (temp file + rename), then its sha256 record next to it, also atomically. */
static int publish_archive(const struct input *in, const struct payload_plugin *pl,
                           const char *path, const char *side, char sha[SHA256_HEX_LEN + 1],
                           struct err *e)
{
    char rec[SHA256_HEX_LEN + 2];

    if (write_archive(in, pl, path, e) < 0 || sha256_file_hex(path, sha, e) < 0)
        return -1;
    snprintf(rec, sizeof(rec), "%s\n", sha);
    return fs_write_atomic(side, rec, strlen(rec), e);
}

int payload_build(const char *cache_dir, const char *guest_dir, const char *busybox,
                  const struct payload_plugin *pl, char **path_r, char **sha256_r, struct err *e)
{
    struct input in[NINPUTS];
    char key[SHA256_HEX_LEN + 1], sha[SHA256_HEX_LEN + 1];
    char *dir = NULL, *path = NULL, *side = NULL, *lock = NULL;
    const char *why;
    int lock_fd = -1, rc = -1;

    inputs_init(in, guest_dir, busybox);
    if (inputs_check(in, pl, key, e) < 0)
        goto out;
    dir = xasprintf("%s/initramfs", cache_dir);
    path = xasprintf("%s/%s.cpio.gz", dir, key);
    side = xasprintf("%s" PAYLOAD_SHA_SUFFIX, path);
    lock = xasprintf("%s/.lock", dir);
    /* parallel trials share the archive: one builds it, the others wait and reuse it */
    if (fs_mkdirs(dir, e) < 0 || fs_lock(lock, &lock_fd, e) < 0) {
        err_prefix(e, "building the initramfs");
        goto out;
    }
    why = payload_cached_problem(path, side, sha);
    if (why) {
        if (fs_exists(path))
            log_warn("initramfs", "cached %s cannot be reused: %s; rebuilding it", path, why);
        if (publish_archive(in, pl, path, side, sha, e) < 0) {
            err_prefix(e, "building the initramfs");
            goto out;
        }
    }
    *path_r = path;
    path = NULL;
    *sha256_r = xstrdup(sha);
    rc = 0;
out:
    fs_unlock(lock_fd);
    for (int i = 0; i < NINPUTS; i++)
        free(in[i].src);
    free(dir);
    free(path);
    free(side);
    free(lock);
    return rc;
}

static const char *default_guest_dir(void)
{
    const char *d = getenv("PVLAB_GUEST_DIR");
    return d && *d ? d : PVLAB_GUEST_DIR;
}

char *payload_guest_file(const char *name)
{
    return xasprintf("%s/%s", default_guest_dir(), name);
}

const char *payload_busybox(void)
{
    const char *busybox = getenv("PVLAB_BUSYBOX");

    if (busybox && *busybox)
        return busybox;
    return fs_exists("/bin/busybox") || !fs_exists("/usr/bin/busybox") ? "/bin/busybox"
                                                                       : "/usr/bin/busybox";
}

int payload_initramfs(const char *cache_dir, const struct payload_plugin *pl, char **path_r,
                      char **sha256_r, struct err *e)
{
    return payload_build(cache_dir, default_guest_dir(), payload_busybox(), pl, path_r, sha256_r,
                         e);
}

int payload_add_base(struct cpio *c, const struct payload_plugin *pl, struct err *e)
{
    struct input in[NINPUTS];
    char key[SHA256_HEX_LEN + 1];
    int rc;

    inputs_init(in, default_guest_dir(), payload_busybox());
    rc = inputs_check(in, pl, key, e) < 0 ? -1 : add_entries(c, in, pl, e);
    for (int i = 0; i < NINPUTS; i++)
        free(in[i].src);
    return rc;
}
