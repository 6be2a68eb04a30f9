/*
 * What a dom0 needs to start PV domUs, built from the artifacts a run already resolved and kept
 * in the cache like them (each entry published by renaming a finished temp directory):
 *
 *   <cache>/toolstack/<key>/   xl, xenstored, xenconsoled, xen-init-dom0 from Debian's
 *                              xen-utils-X of the same version as the hypervisor, with the shared
 *                              libraries they load (their DT_NEEDED closure, found in the
 *                              extracted packages, plus libgcc_s that glibc loads for
 *                              pthread_cancel) and the dynamic loader; key: the Xen package
 *   <cache>/xenmods/<key>/     the dom0 kernel's Xen device modules (privcmd, xenfs, evtchn,
 *                              gntdev, gntalloc), decompressed; key: the Linux package
 *   <cache>/pv-elf/<sha>.elf   a domU kernel as an uncompressed ELF: libxc would otherwise
 *                              unpack the bzImage's xz payload inside dom0, 10 s under TCG
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include "kernels/cache_gc.h"
#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/sv.h"
#include "util/xalloc.h"

#define TOOLSTACK_FORMAT "pvlab-toolstack-v1"
#define XENMODS_FORMAT "pvlab-xenmods-v1"
#define T_TOOL_MS (10 * 60 * 1000)

/* The toolstack programs dom0 runs (under usr/lib/xen-X/bin/). */
static const char *const ts_programs[] = { "xl", "xenstored", "xenconsoled", "xen-init-dom0" };

/* Packages of the toolstack's Depends closure that carry the libraries those programs load. */
static int ts_wanted(const char *pkg)
{
    static const char *const prefix[] = { "xen-utils-", "xenstore-utils", "libxen",   "libyajl",
                                          "libuuid1",   "libzstd1",       "liblzma5", "libbz2",
                                          "zlib1g",     "libgcc-s1",      "libnl-",   NULL };
    if (!strcmp(pkg, "libc6"))
        return 1;
    for (size_t i = 0; prefix[i]; i++)
        if (!strncmp(pkg, prefix[i], strlen(prefix[i])))
            return 1;
    return 0;
}

const char *const dom0_xen_modules_list[] = { "xen-privcmd", "xenfs",        "xen-evtchn",
                                              "xen-gntdev",  "xen-gntalloc", NULL };

/* Reads n bytes at off; 0 or -1. */
static int pread_all(int fd, void *p, size_t n, off_t off)
{
    return pread(fd, p, n, off) == (ssize_t)n ? 0 : -1;
}

int elf_needed(const char *path, struct sv *out, struct err *e)
{
    Elf64_Ehdr eh;
    Elf64_Phdr *ph = NULL;
    Elf64_Dyn d;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
    Elf64_Off dyn_off = 0;
    Elf64_Xword dyn_size = 0;
    Elf64_Addr strtab = 0;
    off_t str_off = -1;
    struct sv offs = SV_INIT;

    if (fd < 0) {
        err_sys(e, errno, "cannot open %s", path);
        return -1;
    }
    if (pread_all(fd, &eh, sizeof(eh), 0) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr)) {
        err_set(e, ERR_IO, "%s is not a 64-bit ELF file", path);
        goto out;
    }
    ph = xcalloc(eh.e_phnum ? eh.e_phnum : 1, sizeof(*ph));
    if (pread_all(fd, ph, eh.e_phnum * sizeof(*ph), (off_t)eh.e_phoff) < 0) {
        err_set(e, ERR_IO, "%s: truncated program headers", path);
        goto out;
    }
    for (unsigned i = 0; i < eh.e_phnum; i++)
        if (ph[i].p_type == PT_DYNAMIC) {
            dyn_off = ph[i].p_offset;
            dyn_size = ph[i].p_filesz;
        }
    /* DT_NEEDED values are offsets into DT_STRTAB, an address mapped through PT_LOAD */
    for (Elf64_Xword k = 0; k + sizeof(d) <= dyn_size; k += sizeof(d)) {
        if (pread_all(fd, &d, sizeof(d), (off_t)(dyn_off + k)) < 0 || d.d_tag == DT_NULL)
            break;
        if (d.d_tag == DT_STRTAB)
            strtab = d.d_un.d_ptr;
        else if (d.d_tag == DT_NEEDED)
            sv_pushf(&offs, "%llu", (unsigned long long)d.d_un.d_val);
    }
    for (unsigned i = 0; i < eh.e_phnum && offs.n; i++)
        if (ph[i].p_type == PT_LOAD && strtab >= ph[i].p_vaddr &&
            strtab < ph[i].p_vaddr + ph[i].p_filesz)
            str_off = (off_t)(ph[i].p_offset + (strtab - ph[i].p_vaddr));
    if (offs.n && str_off < 0) {
        err_set(e, ERR_IO, "%s: its string table is not in a loaded segment", path);
        goto out;
    }
    for (size_t i = 0; i < offs.n; i++) {
        char name[256];
        ssize_t r = pread(fd, name, sizeof(name) - 1, str_off + (off_t)strtoull(offs.v[i], 0, 10));
        if (r <= 0) {
            err_set(e, ERR_IO, "%s: truncated string table", path);
            goto out;
        }
        name[r] = 0;
        sv_push(out, name);
    }
    rc = 0;
out:
    sv_clear(&offs);
    free(ph);
    close(fd);
    return rc;
}

/* Publishes dir_tmp as final (rename; a concurrent equal publisher wins harmlessly). */
static int publish(const char *tmp, const char *final, struct err *e)
{
    if (rename(tmp, final) == 0)
        return 0;
    if (errno == EEXIST || errno == ENOTEMPTY) {
        fs_rmtree(tmp, NULL);
        return 0;
    }
    err_sys(e, errno, "cannot publish %s", final);
    return -1;
}

/* The first of dirs (under root) that holds name, malloc'd, or NULL. */
static char *find_lib(const char *root, const char *name)
{
    static const char *const dirs[] = { "lib/x86_64-linux-gnu",
                                        "usr/lib/x86_64-linux-gnu",
                                        "lib64",
                                        "usr/lib64",
                                        "lib",
                                        "usr/lib",
                                        NULL };
    for (size_t i = 0; dirs[i]; i++) {
        char *p = xasprintf("%s/%s/%s", root, dirs[i], name);
        if (fs_exists(p))
            return p;
        free(p);
    }
    return NULL;
}

/* Copies src (following symlinks) to dst, making dst's directory. */
static int copy_into(const char *src, const char *dst, struct err *e)
{
    char *dir = fs_dirname(dst);
    char *real = realpath(src, NULL);
    int rc = -1;

    if (!real) {
        err_sys(e, errno, "cannot resolve %s", src);
        goto out;
    }
    if (fs_mkdirs(dir, e) < 0 || image_copy(real, dst, e) < 0)
        goto out;
    rc = chmod(dst, 0755) == 0 ? 0 : (err_sys(e, errno, "chmod %s", dst), -1);
out:
    free(dir);
    free(real);
    return rc;
}

/* Copies the programs and their library closure from the extracted packages (x) into out. */
static int ts_assemble(const char *x, const char *xen_ver, const char *out, struct err *e)
{
    struct sv todo = SV_INIT, seen = SV_INIT;
    int rc = -1;

    for (size_t i = 0; i < sizeof(ts_programs) / sizeof(ts_programs[0]); i++) {
        char *src = xasprintf("%s/usr/lib/xen-%s/bin/%s", x, xen_ver, ts_programs[i]);
        char *dst = xasprintf("%s/usr/lib/xen-%s/bin/%s", out, xen_ver, ts_programs[i]);
        int r = fs_exists(src) ? copy_into(src, dst, e) : -1;
        if (r < 0 && !fs_exists(src))
            err_set(e, ERR_NOTFOUND, "xen-utils-%s has no usr/lib/xen-%s/bin/%s", xen_ver, xen_ver,
                    ts_programs[i]);
        free(src);
        if (r < 0) {
            free(dst);
            goto out;
        }
        sv_push_owned(&todo, dst);
    }
    /* glibc dlopens libgcc_s for pthread_cancel: xl aborts without it */
    sv_push(&seen, "libgcc_s.so.1");
    {
        char *src = find_lib(x, "libgcc_s.so.1");
        char *dst = xasprintf("%s/lib/x86_64-linux-gnu/libgcc_s.so.1", out);
        int r = src ? copy_into(src, dst, e) : -1;
        if (!src)
            err_set(e, ERR_NOTFOUND, "libgcc_s.so.1 is not in the toolstack's packages");
        free(src);
        free(dst);
        if (r < 0)
            goto out;
    }
    while (todo.n) {
        char *f = todo.v[--todo.n];
        struct sv need = SV_INIT;
        todo.v[todo.n] = NULL;
        if (elf_needed(f, &need, e) < 0) {
            free(f);
            sv_clear(&need);
            goto out;
        }
        for (size_t k = 0; k < need.n; k++) {
            int dup = 0;
            char *src, *dst;
            for (size_t j = 0; j < seen.n && !dup; j++)
                dup = !strcmp(seen.v[j], need.v[k]);
            if (dup)
                continue;
            sv_push(&seen, need.v[k]);
            if (!(src = find_lib(x, need.v[k]))) {
                err_set(e, ERR_NOTFOUND,
                        "%s needs %s, which no package of xen-utils-%s's dependencies holds", f,
                        need.v[k], xen_ver);
                free(f);
                sv_clear(&need);
                goto out;
            }
            dst = xasprintf("%s/%s/%s", out,
                            strncmp(need.v[k], "ld-linux", 8) ? "lib/x86_64-linux-gnu" : "lib64",
                            need.v[k]);
            if (copy_into(src, dst, e) < 0) {
                free(src);
                free(dst);
                free(f);
                sv_clear(&need);
                goto out;
            }
            free(src);
            sv_push_owned(&todo, dst);
        }
        free(f);
        sv_clear(&need);
    }
    {
        char *xl = xasprintf("%s/etc/xen", out), *conf = xasprintf("%s/etc/xen/xl.conf", out);
        int r = fs_mkdirs(xl, e) == 0 ? fs_write_atomic(conf, "", 0, e) : -1;
        free(xl);
        free(conf);
        if (r < 0)
            goto out;
    }
    rc = 0;
out:
    sv_clear(&todo);
    sv_clear(&seen);
    return rc;
}

/* "4.17" from "xen-hypervisor-4.17-amd64", malloc'd, or NULL. */
static char *xen_series(const char *package)
{
    const char *p = package ? strstr(package, "xen-hypervisor-") : NULL;
    if (!p)
        return NULL;
    p += strlen("xen-hypervisor-");
    return xstrndup(p, strcspn(p, "-"));
}

/* The suite to fetch companion packages from: "bookworm" for "bookworm-security". */
static char *base_suite(const char *suite)
{
    return xstrndup(suite, strcspn(suite, "-"));
}

int toolstack_resolve(const struct kernels_opts *o, const struct artifact *xen, char **dir_r,
                      struct err *e)
{
    char *series = xen_series(xen->package), *suite = NULL, *final = NULL, *tmp = NULL;
    char *x = NULL, *root = NULL, *pin = NULL, key[65];
    struct sv deps = SV_INIT, want = SV_INIT;
    struct buf k = BUF_INIT;
    int hold = -1, rc = -1;

    if (!series || !xen->provider || strcmp(xen->provider, "debian") || !xen->suite) {
        err_set(e, ERR_USAGE,
                "domU trials need the Xen toolstack of the same version as the hypervisor; "
                "pvlab takes it from Debian's xen-utils, so use a Debian Xen (%s) for --domus "
                "(got %s)",
                artifact_known(ARTIFACT_XEN), xen->spec ? xen->spec : "?");
        goto out;
    }
    buf_addf(&k, "%s\n%s\n%s\n", TOOLSTACK_FORMAT, xen->package, xen->version);
    sha256_hex_buf(k.data, k.len, key);
    final = xasprintf("%s/toolstack/%s", o->cache_dir, key);
    root = xasprintf("%s/root", final);
    if (fs_exists(root)) {
        utime(final, NULL);
        rc = 0;
        goto out;
    }
    if (cache_hold(o->cache_dir, &hold, e) < 0)
        goto out;
    suite = base_suite(xen->suite);
    pin = xasprintf("xen-utils-%s", series);
    if (o->progress)
        o->progress(o->progress_ctx, "fetch", pin);
    if (debian_depends(o, suite, pin, &deps, e) < 0)
        goto out;
    for (size_t i = 0; i < deps.n; i++)
        if (ts_wanted(deps.v[i])) {
            if (!strcmp(deps.v[i], pin))
                sv_pushf(&want, "%s=%s", pin, xen->version);
            else
                sv_push(&want, deps.v[i]);
        }
    tmp = xasprintf("%s/toolstack/.tmp-%s.%d", o->cache_dir, key, (int)getpid());
    x = xasprintf("%s/x", tmp);
    free(root);
    root = xasprintf("%s/root", tmp);
    if (fs_rmtree(tmp, e) < 0 || fs_mkdirs(x, e) < 0)
        goto out;
    if (debian_fetch_tree(o, suite, (const char *const *)want.v, NULL, x, e) < 0)
        goto out;
    if (o->progress)
        o->progress(o->progress_ctx, "build image", "dom0 toolstack");
    if (ts_assemble(x, series, root, e) < 0 || fs_rmtree(x, e) < 0)
        goto out;
    if (publish(tmp, final, e) < 0)
        goto out;
    free(root);
    root = xasprintf("%s/root", final);
    rc = 0;
out:
    if (rc == 0)
        *dir_r = xstrdup(root);
    else if (tmp)
        fs_rmtree(tmp, NULL);
    fs_unlock(hold);
    sv_clear(&deps);
    sv_clear(&want);
    buf_release(&k);
    free(series);
    free(suite);
    free(final);
    free(tmp);
    free(x);
    free(root);
    free(pin);
    return rc;
}

/* Finds <name>.ko[.xz|.zst] under dir (recursively, by shell find); malloc'd or NULL. */
static char *find_module(const char *dir, const char *name)
{
    static const char *const ext[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz", NULL };
    const char *argv[] = { "find", dir, "-name", NULL, NULL };
    struct proc_spec ps = { 0 };
    struct buf out = BUF_INIT;
    char *hit = NULL;

    for (size_t i = 0; ext[i] && !hit; i++) {
        char *pat = xasprintf("%s%s", name, ext[i]);
        argv[3] = pat;
        buf_reset(&out);
        ps.argv = argv;
        ps.out = &out;
        ps.timeout_ms = T_TOOL_MS;
        if (proc_run(&ps, NULL) == 0 && out.len)
            hit = xstrndup(out.data, strcspn(out.data, "\n"));
        free(pat);
    }
    buf_release(&out);
    return hit;
}

/* Writes module src (maybe compressed) to dst as a plain .ko. */
static int module_plain(const char *src, const char *dst, struct err *e)
{
    const char *tool = strstr(src, ".xz")    ? "xz"
                       : strstr(src, ".zst") ? "zstd"
                       : strstr(src, ".gz")  ? "gzip"
                                             : NULL;
    const char *argv[] = { "sh", "-c", "\"$1\" -dc \"$2\" > \"$3\"", "sh", tool, src, dst, NULL };
    struct proc_spec ps = { 0 };

    if (!tool)
        return image_copy(src, dst, e);
    ps.argv = argv;
    ps.timeout_ms = T_TOOL_MS;
    if (proc_run(&ps, e) < 0) {
        err_prefix(e, "cannot decompress %s (is %s installed?)", src, tool);
        return -1;
    }
    return 0;
}

int dom0_xen_modules(const struct kernels_opts *o, const struct artifact *k, char **dir_r,
                     struct err *e)
{
    static const char *const members[] = { "./lib/modules/*/kernel/drivers/xen/*",
                                           "./usr/lib/modules/*/kernel/drivers/xen/*", NULL };
    char *final = NULL, *tmp = NULL, *x = NULL, *suite = NULL, *pin = NULL, key[65];
    const char *pkgs[2] = { NULL, NULL };
    struct buf kb = BUF_INIT;
    int hold = -1, rc = -1;

    if (!k->provider || strcmp(k->provider, "debian") || !k->package || !k->suite) {
        err_set(e, ERR_USAGE,
                "domU trials load the dom0 kernel's Xen modules (privcmd, xenfs, evtchn, "
                "gntdev): use a Debian dom0 kernel (%s) with --domus (got %s)",
                artifact_known(ARTIFACT_LINUX), k->spec ? k->spec : "?");
        return -1;
    }
    buf_addf(&kb, "%s\n%s\n%s\n", XENMODS_FORMAT, k->package, k->version);
    sha256_hex_buf(kb.data, kb.len, key);
    buf_release(&kb);
    final = xasprintf("%s/xenmods/%s", o->cache_dir, key);
    if (fs_exists(final)) {
        rc = 0;
        goto out;
    }
    if (cache_hold(o->cache_dir, &hold, e) < 0)
        goto out;
    tmp = xasprintf("%s/xenmods/.tmp-%s.%d", o->cache_dir, key, (int)getpid());
    x = xasprintf("%s.x", tmp);
    if (fs_rmtree(tmp, e) < 0 || fs_rmtree(x, e) < 0 || fs_mkdirs(tmp, e) < 0 ||
        fs_mkdirs(x, e) < 0)
        goto out;
    suite = base_suite(k->suite);
    pin = xasprintf("%s=%s", k->package, k->version);
    pkgs[0] = pin;
    /* tar fails on the member pattern the package lacks (lib vs usr/lib): try each alone */
    for (size_t i = 0; members[i]; i++) {
        const char *one[2] = { members[i], NULL };
        struct err ign = ERR_INIT;
        if (debian_fetch_tree(o, suite, pkgs, one, x, &ign) == 0)
            break;
        if (!members[i + 1]) {
            err_set(e, ign.code, "%s", ign.msg);
            goto out;
        }
    }
    for (size_t i = 0; dom0_xen_modules_list[i]; i++) {
        char *src = find_module(x, dom0_xen_modules_list[i]);
        char *dst = xasprintf("%s/%s.ko", tmp, dom0_xen_modules_list[i]);
        int r = src ? module_plain(src, dst, e) : 0;
        free(src);
        free(dst);
        if (r < 0)
            goto out;
    }
    if (publish(tmp, final, e) < 0)
        goto out;
    rc = 0;
out:
    if (rc == 0)
        *dir_r = xstrdup(final);
    else if (tmp)
        fs_rmtree(tmp, NULL);
    if (x)
        fs_rmtree(x, NULL);
    fs_unlock(hold);
    free(final);
    free(tmp);
    free(x);
    free(suite);
    free(pin);
    return rc;
}

int kernel_pv_elf(const struct kernels_opts *o, const struct artifact *k, char **path_r,
                  struct err *e)
{
    unsigned char hdr[0x260];
    int fd = open(k->path, O_RDONLY | O_CLOEXEC), rc = -1;
    char *dir = NULL, *final = NULL, *tmp = NULL, *payload = NULL;
    const char *tool;
    unsigned setup, poff, plen;
    unsigned char *data = NULL;

    if (fd < 0) {
        err_sys(e, errno, "cannot open %s", k->path);
        return -1;
    }
    if (pread_all(fd, hdr, sizeof(hdr), 0) < 0) {
        err_set(e, ERR_USAGE, "%s is too short to be a kernel", k->path);
        goto out;
    }
    if (!memcmp(hdr, ELFMAG, SELFMAG)) { /* already an ELF vmlinux */
        *path_r = xstrdup(k->path);
        rc = 0;
        goto out;
    }
    if (memcmp(hdr + 0x202, "HdrS", 4)) {
        err_set(e, ERR_USAGE, "%s is neither a bzImage nor an ELF kernel", k->path);
        goto out;
    }
    setup = hdr[0x1f1] ? hdr[0x1f1] : 4;
    memcpy(&poff, hdr + 0x248, 4);
    memcpy(&plen, hdr + 0x24c, 4);
    if (!plen) {
        err_set(e, ERR_USAGE,
                "%s is a bzImage older than boot protocol 2.08 (no payload "
                "offset): give its vmlinux as the domU kernel",
                k->path);
        goto out;
    }
    dir = xasprintf("%s/pv-elf", o->cache_dir);
    final = xasprintf("%s/%s.elf", dir, k->sha256);
    if (fs_exists(final)) {
        *path_r = final;
        final = NULL;
        rc = 0;
        goto out;
    }
    if (fs_mkdirs(dir, e) < 0)
        goto out;
    data = xmalloc(plen);
    if (pread_all(fd, data, plen, (off_t)(setup + 1) * 512 + poff) < 0) {
        err_set(e, ERR_USAGE, "%s: truncated bzImage payload", k->path);
        goto out;
    }
    {
        const unsigned char *p = data;
        tool = p[0] == 0x1f && p[1] == 0x8b ? "gzip -dc"
               : !memcmp(p,
                         "\xfd"
                         "7zXZ",
                         5)
                   ? "xz -dc --single-stream"
               : p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f ? "zstd -dc"
               : p[0] == 'B' && p[1] == 'Z' && p[2] == 'h'    ? "bzip2 -dc"
               : p[0] == 0x02 && p[1] == 0x21 && p[2] == 0x4c ? "lz4 -dc"
               : p[0] == 0x5d && p[1] == 0                    ? "lzma -dc"
               : !memcmp(p, ELFMAG, SELFMAG)                  ? "cat"
                                                              : NULL;
    }
    if (!tool) {
        err_set(e, ERR_USAGE, "%s: unknown bzImage payload compression", k->path);
        goto out;
    }
    payload = xasprintf("%s/.tmp-%d.payload", dir, (int)getpid());
    tmp = xasprintf("%s/.tmp-%d.elf", dir, (int)getpid());
    if (fs_write_atomic(payload, data, plen, e) < 0)
        goto out;
    {
        /* gzip and lz4 warn about the trailing size word: judge by the output, not the status */
        char *cmd = xasprintf("%s < \"$1\" > \"$2\"; exit 0", tool);
        const char *argv[] = { "sh", "-c", cmd, "sh", payload, tmp, NULL };
        struct proc_spec ps = { 0 };
        unsigned char m[4] = { 0 };
        int r, tfd;
        if (o->progress)
            o->progress(o->progress_ctx, "build image", "domU kernel as ELF");
        ps.argv = argv;
        ps.timeout_ms = T_TOOL_MS;
        r = proc_run(&ps, e);
        free(cmd);
        if (r < 0)
            goto out;
        tfd = open(tmp, O_RDONLY | O_CLOEXEC);
        r = tfd >= 0 && pread_all(tfd, m, 4, 0) == 0 && !memcmp(m, ELFMAG, SELFMAG);
        if (tfd >= 0)
            close(tfd);
        if (!r) {
            kernels_blame_disk(dir, e);
            if (!e || e->code != ERR_NOSPACE)
                err_set(e, ERR_USAGE, "%s: its payload did not unpack to an ELF kernel (%s)",
                        k->path, tool);
            goto out;
        }
    }
    if (rename(tmp, final) < 0) {
        err_sys(e, errno, "cannot publish %s", final);
        goto out;
    }
    *path_r = final;
    final = NULL;
    rc = 0;
out:
    close(fd);
    if (payload)
        unlink(payload);
    if (tmp)
        unlink(tmp);
    free(data);
    free(dir);
    free(final);
    free(tmp);
    free(payload);
    return rc;
}
