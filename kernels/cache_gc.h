/*
 * `pvlab cache`: what the cache directory holds (artifacts, build directories, unpacked
 * sources, git worktrees, toolchain chroots), and removing least recently used entries.
 */
#ifndef PVLAB_KERNELS_CACHE_GC_H
#define PVLAB_KERNELS_CACHE_GC_H

#include <stddef.h>

#include "util/err.h"

/* One line of `pvlab cache ls`; strings owned, freed by cache_items_free. */
struct cache_item {
    char *kind;  /* "linux", "xen", "build-obj", "build-src", "build-tree", "toolchain" */
    char *path;
    char *desc;  /* provider/version or tree */
    long long bytes; /* disk usage (allocated blocks), recursive */
    long long mtime; /* last use */
};

/*
 * Lists what the cache holds (ERR_NOTFOUND when cache_dir does not exist); *items_r malloc'd
 * (free with cache_items_free). Blocks on directory walks.
 */
int cache_list(const char *cache_dir, struct cache_item **items_r, size_t *n_r, struct err *e);
void cache_items_free(struct cache_item *items, size_t n);
/* A build's shared hold on the cache, so that cache_gc never removes a tree, an object dir or
 * an unpacked source under it; release with fs_unlock(*fd_r). */
int cache_hold(const char *cache_dir, int *fd_r, struct err *e);
/*
 * Removes least recently used artifacts, build directories, unpacked sources and git worktrees
 * (`git worktree remove`, so the user's repository forgets them) until the total is at most
 * keep_bytes; toolchain chroots and Debian downloads are kept. It waits for running builds (see
 * cache_hold) and holds new ones off while it removes. *freed_r = bytes removed.
 */
int cache_gc(const char *cache_dir, long long keep_bytes, long long *freed_r, size_t *removed_r,
             struct err *e);

#endif
