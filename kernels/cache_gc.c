/* `pvlab cache`: listing what the cache holds and removing least recently used entries. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/cache_gc.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/git.h"
#include "util/json.h"
#include "util/log.h"
#include "util/xalloc.h"

struct items {
    struct cache_item *v;
    size_t n;
};

/* Bytes under path (no symlink following) and the newest mtime of its top level. */
static long long du(const char *path)
{
    struct stat sb;
    long long n = 0;
    DIR *d;
    struct dirent *de;

    if (lstat(path, &sb) < 0)
        return 0;
    if (!S_ISDIR(sb.st_mode))
        return (long long)sb.st_blocks * 512;
    n = (long long)sb.st_blocks * 512;
    if (!(d = opendir(path)))
        return n;
    while ((de = readdir(d))) {
        char *p;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        p = xasprintf("%s/%s", path, de->d_name);
        n += du(p);
        free(p);
    }
    closedir(d);
    return n;
}

static void add(struct items *it, const char *kind, const char *path, const char *desc, int kept)
{
    struct stat sb;

    it->v = xrealloc(it->v, (it->n + 1) * sizeof(*it->v));
    it->v[it->n].kind = xstrdup(kind);
    it->v[it->n].path = xstrdup(path);
    it->v[it->n].desc = xstrdup(desc);
    it->v[it->n].bytes = du(path);
    it->v[it->n].mtime = stat(path, &sb) == 0 ? (long long)sb.st_mtime : 0;
    it->v[it->n].kept = kept;
    it->n++;
}

/* How a cache subdirectory's entries are listed. */
enum scan_how {
    SCAN_ARTIFACTS, /* subdirectories, described by their meta.json */
    SCAN_DIRS,      /* subdirectories */
    SCAN_FILES,     /* regular files whose name ends with the suffix */
    SCAN_WHOLE,     /* the directory itself, as one item */
};

/* The description of an artifact entry from its meta.json, malloc'd; NULL when unreadable. */
static char *artifact_desc(const char *entry)
{
    char *m = xasprintf("%s/meta.json", entry), *desc = NULL;
    struct buf t = BUF_INIT;
    struct json_flat j = { NULL, 0 };

    if (buf_read_file(&t, m, NULL) == 0 && json_flat_parse(t.data, &j, NULL) == 0 &&
        json_flat_str(&j, "provider"))
        desc = xasprintf("%s %s %.40s", json_flat_str(&j, "provider"),
                         json_flat_str(&j, "package") ? json_flat_str(&j, "package") : "-",
                         json_flat_str(&j, "version") ? json_flat_str(&j, "version") : "-");
    json_flat_free(&j);
    buf_release(&t);
    free(m);
    return desc;
}

/* One item per entry of dir chosen by how (hidden names, temp files and locks skipped). */
static void scan(struct items *it, const char *dir, const char *kind, enum scan_how how,
                 const char *suffix, int kept)
{
    DIR *d;
    struct dirent *de;

    if (how == SCAN_WHOLE) {
        if (fs_is_dir(dir))
            add(it, kind, dir, kind, kept);
        return;
    }
    if (!(d = opendir(dir)))
        return;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char *p, *desc = NULL;
        struct stat sb;
        int want;

        if (de->d_name[0] == '.')
            continue;
        p = xasprintf("%s/%s", dir, de->d_name);
        if (how == SCAN_FILES)
            want = lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && len > strlen(suffix) &&
                   !strcmp(de->d_name + len - strlen(suffix), suffix);
        else
            want = fs_is_dir(p);
        if (want) {
            if (how == SCAN_ARTIFACTS)
                desc = artifact_desc(p);
            add(it, kind, p, desc ? desc : de->d_name, kept);
        }
        free(desc);
        free(p);
    }
    closedir(d);
}

/* Whether cache_dir is missing (e set): gc must not make it, listing cannot read it. */
static int cache_missing(const char *cache_dir, struct err *e)
{
    if (fs_is_dir(cache_dir))
        return 0;
    err_set(e, ERR_NOTFOUND, "cache directory %s does not exist", cache_dir);
    return 1;
}

int cache_list(const char *cache_dir, struct cache_item **items_r, size_t *n_r, struct err *e)
{
    static const struct {
        const char *sub, *kind;
        enum scan_how how;
        const char *suffix;
        int kept;
    } where[] = {
        { "artifacts/linux", "linux", SCAN_ARTIFACTS, NULL, 0 },
        { "artifacts/xen", "xen", SCAN_ARTIFACTS, NULL, 0 },
        { "build/obj", "build-obj", SCAN_DIRS, NULL, 0 },
        { "build/src", "build-src", SCAN_DIRS, NULL, 0 },
        { "build/debsrc", "build-src", SCAN_DIRS, NULL, 0 },
        { "build/trees", "build-tree", SCAN_DIRS, NULL, 0 },
        { "debs", "deb", SCAN_FILES, ".deb", 0 },
        { "apt", "apt-lists", SCAN_DIRS, NULL, 0 },
        /* the archive of a run in progress: its trials boot with it */
        { "initramfs", "initramfs", SCAN_FILES, ".cpio.gz", 1 },
        { "initramfs", "initramfs", SCAN_FILES, ".cpio", 1 }, /* a domU trial's dom0 image */
        /* domU trials: the toolstack and dom0's modules are small and read while an image is
         * built; a domU kernel's ELF is only an input of the image, remade on demand */
        { "toolstack", "toolstack", SCAN_DIRS, NULL, 1 },
        { "xenmods", "xen-modules", SCAN_DIRS, NULL, 1 },
        { "pv-elf", "domu-elf", SCAN_FILES, ".elf", 0 },
        { "build/logs", "build-log", SCAN_WHOLE, NULL, 1 },
        /* a saved machine (snapshot trials): made again by the next trial that needs it */
        { "snapshots", "snapshot", SCAN_FILES, ".mig", 0 },
        /* ccache bounds its own size; toolchains are slow to make and few */
        { "ccache", "ccache", SCAN_DIRS, NULL, 1 },
        { "toolchains", "toolchain", SCAN_DIRS, NULL, 1 },
    };
    struct items it = { NULL, 0 };

    if (cache_missing(cache_dir, e))
        return -1;
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        char *d = xasprintf("%s/%s", cache_dir, where[i].sub);
        scan(&it, d, where[i].kind, where[i].how, where[i].suffix, where[i].kept);
        free(d);
    }
    /* an initramfs archive's or a snapshot's sha256 record counts with it, and a snapshot's
     * boot console (lab/trial.h) */
    for (size_t i = 0; i < it.n; i++)
        if (!strcmp(it.v[i].kind, "initramfs") || !strcmp(it.v[i].kind, "snapshot")) {
            char *side = xasprintf("%s.sha256", it.v[i].path);
            char *boot = xasprintf("%s.boot.log", it.v[i].path);
            it.v[i].bytes += du(side) + (strcmp(it.v[i].kind, "snapshot") ? 0 : du(boot));
            free(side);
            free(boot);
        }
    *items_r = it.v;
    *n_r = it.n;
    return 0;
}

void cache_items_free(struct cache_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i].kind);
        free(items[i].path);
        free(items[i].desc);
    }
    free(items);
}

static int by_mtime(const void *a, const void *b)
{
    const struct cache_item *x = a, *y = b;
    return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/* The lock builds hold shared (cache_hold) and cache_gc exclusively; made with its directory. */
static char *gc_lock_path(const char *cache_dir, struct err *e)
{
    char *dir = xasprintf("%s/build/locks", cache_dir), *p = NULL;

    if (fs_mkdirs(dir, e) == 0)
        p = xasprintf("%s/gc.lock", dir);
    free(dir);
    return p;
}

int cache_hold(const char *cache_dir, int *fd_r, struct err *e)
{
    char *p = gc_lock_path(cache_dir, e);
    int rc = p ? fs_lock_shared(p, fd_r, e) : -1;

    free(p);
    return rc;
}

/*
 * An apt state is removed under its suite's lock (apt/<suite>.lock, which the debian provider
 * holds while it uses the state), so a pvlab that does not hold the gc lock is not robbed of
 * its lists either. Returns 0 removed, 1 in use (skipped), -1 error.
 */
static int remove_apt_state(const char *path, struct err *e)
{
    char *lock = xasprintf("%s.lock", path);
    int fd = -1, r;

    r = fs_trylock(lock, &fd, e);
    if (r == 0)
        r = fs_rmtree(path, e);
    else if (r == 1)
        log_warn("cache", "%s is in use by another pvlab; kept", path);
    fs_unlock(fd);
    free(lock);
    return r;
}

/* Removes one item the way its kind needs; 0 removed, 1 skipped (in use), -1 error. */
static int remove_item(const struct cache_item *it, struct err *e)
{
    if (!strcmp(it->kind, "build-tree"))
        return git_worktree_delete(it->path, e);
    if (!strcmp(it->kind, "apt-lists"))
        return remove_apt_state(it->path, e);
    if (!strcmp(it->kind, "snapshot")) { /* the records first: never one without its file */
        const char *suffix[] = { ".sha256", ".boot.log" };
        for (size_t i = 0; i < 2; i++) {
            char *side = xasprintf("%s%s", it->path, suffix[i]);
            int r = unlink(side) < 0 && errno != ENOENT ? -1 : 0;
            if (r < 0)
                err_sys(e, errno, "cannot remove %s", side);
            free(side);
            if (r < 0)
                return -1;
        }
    }
    return fs_rmtree(it->path, e);
}

int cache_gc(const char *cache_dir, long long keep_bytes, long long *freed_r, size_t *removed_r,
             struct err *e)
{
    struct cache_item *v = NULL;
    size_t n = 0, removed = 0;
    long long total = 0, freed = 0;
    char *lock = NULL;
    int fd = -1, rc = -1, busy, r;

    if (cache_missing(cache_dir, e))
        goto out;
    if (!(lock = gc_lock_path(cache_dir, e)) || (busy = fs_trylock(lock, &fd, e)) < 0)
        goto out;
    if (busy) {
        log_info("cache", "waiting for running builds and downloads to finish");
        if (fs_lock(lock, &fd, e) < 0)
            goto out;
    }
    if (cache_list(cache_dir, &v, &n, e) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        total += v[i].bytes;
    qsort(v, n, sizeof(*v), by_mtime);
    for (size_t i = 0; i < n && total > keep_bytes; i++) {
        if (v[i].kept)
            continue;
        if ((r = remove_item(&v[i], e)) < 0)
            goto out;
        if (r > 0)
            continue;
        total -= v[i].bytes;
        freed += v[i].bytes;
        removed++;
    }
    if (total > keep_bytes)
        log_warn("cache",
                 "%s still holds %lld bytes, more than the %lld asked for: toolchains, "
                 "ccache, initramfs images, domU toolstacks and modules, build logs and entries "
                 "in use are kept",
                 cache_dir, total, keep_bytes);
    rc = 0;
out:
    if (freed_r)
        *freed_r = freed;
    if (removed_r)
        *removed_r = removed;
    fs_unlock(fd);
    free(lock);
    cache_items_free(v, n);
    return rc;
}
