/* Source preparation for the builders (kernels/ internal); every call blocks on git/tar/apt. */
#ifndef PVLAB_KERNELS_BUILD_SRC_H
#define PVLAB_KERNELS_BUILD_SRC_H

#include "util/err.h"

/*
 * Checks repo is a git repository and resolves rev (NULL = HEAD) to a commit id (*commit_r,
 * malloc'd). With text_r, *text_r receives the text of the file makefile (NULL = "Makefile")
 * at that commit (malloc'd), without any checkout.
 */
int src_git_resolve(const char *repo, const char *rev, const char *makefile, char **commit_r,
                    char **text_r, struct err *e);
/* Makes or moves the worktree wt of repo to commit (detached, clean). */
int src_git_checkout(const char *repo, const char *commit, const char *wt, const char *log,
                     struct err *e);
/* The tarball exists and is a readable file (ERR_NOTFOUND / ERR_USAGE); reads nothing. */
int src_tarball_check(const char *tarball, struct err *e);
/* Hashes the tarball and unpacks it once under <cache>/build/src/; *tree_r malloc'd. */
int src_tarball(const char *cache_dir, const char *tarball, char sum[65], char **tree_r,
                struct err *e);

#endif
