/* Filesystem helpers shared by every layer: directories, atomic writes, existence checks. */
#ifndef PVLAB_UTIL_FSUTIL_H
#define PVLAB_UTIL_FSUTIL_H

#include <stddef.h>

#include "util/err.h"

/* mkdir -p with mode 0755. */
int fs_mkdirs(const char *path, struct err *e);
/* Removes a directory tree (like rm -rf); missing path is not an error. */
int fs_rmtree(const char *path, struct err *e);
int fs_exists(const char *path);
int fs_is_dir(const char *path);
/* Checks that dir exists (creating it) and that we can create files in it. */
int fs_check_writable_dir(const char *dir, struct err *e);
/*
 * Writes data to path atomically: a temp name in the same directory, fsync, rename. A crash or
 * a full disk never leaves a half-written file under path.
 */
int fs_write_atomic(const char *path, const void *data, size_t len, struct err *e);
/* fsyncs an already-written temp file then renames it over path (and fsyncs the directory). */
int fs_commit_tmp(const char *tmp, const char *path, struct err *e);
/* Returns a malloc'd absolute path (realpath) or NULL with e set. */
char *fs_abspath(const char *path, struct err *e);
/* Returns the directory part of path, malloc'd. */
char *fs_dirname(const char *path);
/*
 * Takes an exclusive flock on path (created if needed), blocking until other pvlab processes
 * release it. *fd_r receives the descriptor to pass to fs_unlock. Returns 0 or -1 with e set.
 */
int fs_lock(const char *path, int *fd_r, struct err *e);
/* The same with a shared flock: many holders at once, none while an exclusive one is held. */
int fs_lock_shared(const char *path, int *fd_r, struct err *e);
/* Exclusive without waiting: 0 locked, 1 held by someone else (*fd_r = -1), -1 error. */
int fs_trylock(const char *path, int *fd_r, struct err *e);
/* Releases a lock from fs_lock / fs_lock_shared / fs_trylock; fd < 0 is accepted. */
void fs_unlock(int fd);
/* Bytes an unprivileged writer can still use on the filesystem holding path; -1 if unknown. */
long long fs_free_bytes(const char *path);
/*
 * 1 when the filesystem holding path has less than min_bytes free, 0 when it has more or when
 * that cannot be told. path need not exist (a temp directory already removed): its nearest
 * existing ancestor is asked. For deciding, after a child process failed, whether the disk is
 * to blame: its "No space left on device" may never reach a log on that same disk. Free bytes
 * in *free_r when non-NULL (-1 if unknown).
 */
int fs_nearly_full(const char *path, long long min_bytes, long long *free_r);
/* Returns the path of an executable found in PATH (malloc'd) or NULL. */
char *fs_which(const char *name);

#endif
