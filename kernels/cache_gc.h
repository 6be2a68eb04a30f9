/*
 * `pvlab cache`: what the cache directory holds, and removing least recently used entries.
 *
 *   kind        what                                              cache_gc
 *   linux, xen  artifacts/<kind>/<key>/ (Debian's, files, builds)  removes (LRU)
 *   build-obj   build/obj/<tree>/: persistent O= directories       removes
 *   build-src   build/src/, build/debsrc/: unpacked sources        removes
 *   build-tree  build/trees/: git worktrees                        removes (git worktree remove)
 *   deb         debs/<name>.deb: downloaded Debian packages        removes
 *   apt-lists   apt/<suite>/, apt/src-<suite>/: private apt state  removes (re-downloaded on
 *                                                                  next use), unless its suite
 *                                                                  lock is held
 *   initramfs   initramfs/<key>.cpio.gz (+ .sha256)                keeps: a run in progress
 *                                                                  boots every trial with it
 *   build-log   build/logs/ (one item)                             keeps
 *   snapshot    snapshots/<key>.mig (+ .sha256): saved machines    removes (LRU; a restore
 *               of snapshot trials; lab/trial.c also keeps at     refreshes its mtime)
 *               most [run] snapshots_keep of them
 *   ccache      ccache/<toolchain>/                                keeps (ccache caps itself)
 *   toolchain   toolchains/<profile>/: debootstrap'ed chroots      keeps (slow to make)
 *
 * A removable entry's mtime is its last use: a cache hit refreshes an artifact's, the debian
 * provider refreshes its apt state's and a reused .deb's.
 */
#ifndef PVLAB_KERNELS_CACHE_GC_H
#define PVLAB_KERNELS_CACHE_GC_H

#include <stddef.h>

#include "util/err.h"

/* One line of `pvlab cache ls`; strings owned, freed by cache_items_free. */
struct cache_item {
    char *kind; /* see the table above */
    char *path;
    char *desc;      /* provider/version, suite, package file or directory name */
    long long bytes; /* disk usage (allocated blocks), recursive */
    long long mtime; /* last use */
    int kept;        /* 1: cache_gc never removes this kind */
};

/*
 * Lists what the cache holds (ERR_NOTFOUND when cache_dir does not exist); *items_r malloc'd
 * (free with cache_items_free), in the order of the table above. Blocks on directory walks.
 */
int cache_list(const char *cache_dir, struct cache_item **items_r, size_t *n_r, struct err *e);
void cache_items_free(struct cache_item *items, size_t n);
/*
 * A shared hold on the cache (<cache_dir>/build/locks/gc.lock) for a build or a download, so
 * that cache_gc never removes a tree, an object dir, an unpacked source, an apt state or a
 * .deb under it; blocks while a gc runs. Release with fs_unlock(*fd_r).
 */
int cache_hold(const char *cache_dir, int *fd_r, struct err *e);
/*
 * Removes least recently used removable entries (see the table) until the total is at most
 * keep_bytes. It waits for holders (cache_hold) and holds new ones off while it removes; an apt
 * state whose suite lock another pvlab holds is skipped. When the kept kinds alone exceed
 * keep_bytes it says so (log_warn) and still succeeds. *freed_r = bytes removed, *removed_r =
 * entries removed (both may be NULL).
 */
int cache_gc(const char *cache_dir, long long keep_bytes, long long *freed_r, size_t *removed_r,
             struct err *e);

#endif
