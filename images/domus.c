/*
 * The dom0 initramfs of a domU trial: the reproducer initramfs's programs, dom0's supervisor
 * script (images/guest/domus.sh, booted with rdinit=), the toolstack tree, the dom0 kernel's
 * Xen modules, each domU kernel as an ELF and the reproducer initramfs itself (each domU's
 * ramdisk). Uncompressed: QEMU loads it as a multiboot module and the kernel copies it out,
 * where a gzip'd archive of this size costs seconds of TCG time to unpack.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/cpio.h"
#include "images/payload_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/xalloc.h"

#define DOMUS_FORMAT "pvlab-domus-v1"

/* The tree walk's state (nftw has no context pointer). */
static struct {
    struct cpio *c;
    const char *root;
    const char *prefix; /* archive directory the tree lands in ("" = top) */
    struct err *e;
} walk;

static int walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    const char *rel = path + strlen(walk.root);
    char *name;
    int rc = 0;

    (void)ftw;
    while (*rel == '/')
        rel++;
    if (!*rel)
        return 0;
    name = xasprintf("%s%s%s", walk.prefix, *walk.prefix ? "/" : "", rel);
    if (type == FTW_D)
        rc = cpio_add_dir(walk.c, name, 0755, walk.e);
    else if (type == FTW_SL) {
        char target[4096];
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n < 0) {
            err_sys(walk.e, errno, "cannot read link %s", path);
            rc = -1;
        } else {
            target[n] = 0;
            rc = cpio_add_symlink(walk.c, name, target, walk.e);
        }
    } else if (type == FTW_F)
        rc = cpio_add_file(walk.c, name, sb->st_mode & 0777, path, walk.e);
    else {
        err_set(walk.e, ERR_IO, "cannot read %s", path);
        rc = -1;
    }
    free(name);
    return rc < 0 ? 1 : 0;
}

/* Adds the tree under root to the archive under prefix (directories first, sorted by nftw). */
static int add_tree(struct cpio *c, const char *root, const char *prefix, struct err *e)
{
    walk.c = c;
    walk.root = root;
    walk.prefix = prefix;
    walk.e = e;
    if (nftw(root, walk_one, 16, FTW_PHYS) != 0) {
        if (e && !e->code)
            err_sys(e, errno, "cannot walk %s", root);
        return -1;
    }
    return 0;
}

/* Adds the parent directories of "a/b/c" that the archive does not have yet (all of them). */
static int add_parents(struct cpio *c, const char *name, struct err *e)
{
    char *p = xstrdup(name);
    int rc = 0;

    for (char *s = strchr(p, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
        *s = 0;
        rc = cpio_add_dir(c, p, 0755, e);
        *s = '/';
    }
    free(p);
    return rc;
}

static int write_domus(const struct domus_payload *d, const char *base, const char *script,
                       const char *path, struct err *e)
{
    struct cpio *c = NULL;
    struct buf list = BUF_INIT;
    char *dir = NULL;
    int rc = -1;

    if (cpio_open(path, CPIO_PLAIN, &c, e) < 0)
        goto out;
    if (payload_add_base(c, d->plugin, e) < 0 ||
        (!d->plugin && cpio_add_dir(c, "pvlab", 0755, e) < 0) ||
        cpio_add_dir(c, "boot", 0755, e) < 0 ||
        cpio_add_file(c, "pvlab/domus.sh", 0755, script, e) < 0 ||
        cpio_add_file(c, "pvlab/domu-initrd.gz", 0644, base, e) < 0)
        goto out;
    for (size_t i = 0; i < d->n; i++) {
        char *name = xasprintf("boot/%s.elf", d->names[i]);
        int r = cpio_add_file(c, name, 0644, d->kernels[i], e);
        free(name);
        if (r < 0)
            goto out;
        buf_addf(&list, "%s /boot/%s.elf\n", d->names[i], d->names[i]);
    }
    if (cpio_add_data(c, "pvlab/domus", 0644, list.data, list.len, e) < 0)
        goto out;
    if (add_tree(c, d->toolstack_dir, "", e) < 0)
        goto out;
    if (add_parents(c, "lib/modules/xen/", e) < 0 ||
        add_tree(c, d->modules_dir, "lib/modules/xen", e) < 0)
        goto out;
    rc = cpio_commit(c, e);
    c = NULL;
out:
    cpio_abort(c);
    buf_release(&list);
    free(dir);
    return rc;
}

int payload_domus_initramfs(const char *cache_dir, const struct domus_payload *d, char **path_r,
                            char **sha256_r, struct err *e)
{
    char *base = NULL, *base_sha = NULL, *script = payload_guest_file("domus.sh");
    char *dir = NULL, *path = NULL, *side = NULL, *lock = NULL;
    char key[SHA256_HEX_LEN + 1], sha[SHA256_HEX_LEN + 1], ssha[SHA256_HEX_LEN + 1];
    struct buf m = BUF_INIT;
    int lock_fd = -1, rc = -1;

    if (payload_initramfs(cache_dir, d->plugin, &base, &base_sha, e) < 0)
        goto out;
    if (!fs_exists(script)) {
        err_set(e, ERR_NOTFOUND, "guest script %s not found; run `make` (or set PVLAB_GUEST_DIR)",
                script);
        goto out;
    }
    if (sha256_file_hex(script, ssha, e) < 0)
        goto out;
    /* the toolstack and module directories and the ELF names are content keys themselves */
    buf_addf(&m, "%s\n%s\n%s\n%s\n%s\n", DOMUS_FORMAT, base_sha, ssha, d->toolstack_dir,
             d->modules_dir);
    for (size_t i = 0; i < d->n; i++)
        buf_addf(&m, "%s %s\n", d->names[i], d->kernels[i]);
    sha256_hex_buf(m.data, m.len, key);
    dir = xasprintf("%s/initramfs", cache_dir);
    path = xasprintf("%s/domus-%s.cpio", dir, key);
    side = xasprintf("%s" PAYLOAD_SHA_SUFFIX, path);
    lock = xasprintf("%s/.lock", dir);
    if (fs_mkdirs(dir, e) < 0 || fs_lock(lock, &lock_fd, e) < 0)
        goto out;
    {
        const char *why = payload_cached_problem(path, side, sha);
        if (why) {
            if (fs_exists(path))
                log_warn("initramfs", "cached %s cannot be reused: %s; rebuilding it", path, why);
            char line[SHA256_HEX_LEN + 2];
            if (write_domus(d, base, script, path, e) < 0 || sha256_file_hex(path, sha, e) < 0)
                goto out;
            snprintf(line, sizeof(line), "%s\n", sha);
            if (fs_write_atomic(side, line, strlen(line), e) < 0)
                goto out;
        }
    }
    *path_r = path;
    path = NULL;
    *sha256_r = xstrdup(sha);
    rc = 0;
out:
    if (rc < 0)
        err_prefix(e, "building the dom0 initramfs of a domU trial");
    fs_unlock(lock_fd);
    buf_release(&m);
    free(base);
    free(base_sha);
    free(script);
    free(dir);
    free(path);
    free(side);
    free(lock);
    return rc;
}
