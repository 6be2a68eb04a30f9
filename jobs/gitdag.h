/*
 * The candidate commits of a bisection, from the real git DAG through the git CLI (rev-parse,
 * merge-base, rev-list): ancestors of bad that are not ancestors of any good, in topological
 * order (parents first, bad last), with their parent edges inside the set. Also worktrees, so a
 * commit is checked out without disturbing the user's checkout. Every call blocks on git.
 */
#ifndef PVLAB_JOBS_GITDAG_H
#define PVLAB_JOBS_GITDAG_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/sv.h"

struct gitdag {
    size_t n;
    char **sha;           /* n full hashes, topological order, sha[n-1] = bad */
    uint32_t *parent_off; /* CSR parents inside the set: parents of i are */
    uint32_t *parents;    /* parents[parent_off[i] .. parent_off[i+1]) */
    int linear;           /* every commit's only in-set parent is the previous one */
};

/* Checks that repo is a git work tree; ERR_USAGE "… is not a git repository" otherwise. */
int git_check_repo(const char *repo, struct err *e);
/* Fails with ERR_USAGE when the work tree has uncommitted changes to tracked files. */
int git_check_clean(const char *repo, struct err *e);
/* Resolves rev to a full commit hash (malloc'd); ERR_NOTFOUND "unknown revision" otherwise. */
int git_resolve(const char *repo, const char *rev, char **sha_r, struct err *e);
/* 1 if a is an ancestor of (or equal to) b, 0 if not, -1 on error. */
int git_is_ancestor(const char *repo, const char *a, const char *b, struct err *e);
/*
 * Builds the candidate DAG for bad and the good commits (full hashes). first_parent follows
 * only first parents (a linear history of merges and direct commits).
 */
int gitdag_load(const char *repo, const char *bad, const struct sv *goods, int first_parent,
                struct gitdag *d, struct err *e);
void gitdag_free(struct gitdag *d);
/* Index of sha in d (full or unique prefix of at least 7), or -1. */
long gitdag_find(const struct gitdag *d, const char *sha);
/* "subject" and "Author Name <mail>" of a commit (malloc'd). */
int git_describe_commit(const char *repo, const char *sha, char **subject_r, char **author_r,
                        struct err *e);
/* Appends the full hashes of sha's parents to out (none for a root commit). */
int git_parents(const char *repo, const char *sha, struct sv *out, struct err *e);
/* Checks out sha (detached) in the worktree dir, creating it on first use. */
int git_worktree_checkout(const char *repo, const char *dir, const char *sha, struct err *e);
/* Removes a worktree made by git_worktree_checkout (errors are ignored). */
void git_worktree_remove(const char *repo, const char *dir);

#endif
