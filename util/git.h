/*
 * git, run through util/proc as an argv (never a shell string): one runner and the queries the
 * builders and the bisection need. Every call blocks on git.
 *
 * Revisions and paths that come from users are passed after `--end-of-options`, so a revision
 * spelled like an option ("-h", "--all", "--output=FILE") is an unknown revision, never an
 * option. git 2.39 takes --end-of-options in rev-parse, rev-list, log, show, cat-file,
 * merge-base and worktree add/remove; `checkout` does not (it takes it for a path), so
 * git_worktree_move passes only a full commit id, checked to be hex.
 *
 * Errors: ERR_TOOL git missing; ERR_USAGE not a repository; ERR_NOTFOUND a missing directory or
 * an unknown revision; ERR_PROC git failed otherwise (with its last stderr lines, or the log
 * path when one is given).
 */
#ifndef PVLAB_UTIL_GIT_H
#define PVLAB_UTIL_GIT_H

#include "util/buf.h"
#include "util/err.h"

#define GIT_TIMEOUT_MS_DEFAULT (30 * 60 * 1000)

/* git -C repo ARGS... --end-of-options OPERANDS... */
struct git_cmd {
    const char *repo;            /* required: git -C repo */
    const char *const *args;     /* subcommand and options, NULL-terminated: pvlab's own words */
    const char *const *operands; /* revisions and paths, NULL-terminated, after
                                    --end-of-options; NULL = none (and no --end-of-options) */
    const char *log_path;        /* stderr (and stdout unless captured) appended; NULL = none */
    struct buf *out;             /* stdout captured here, trailing whitespace trimmed; NULL =
                                    not captured */
    int timeout_ms;              /* 0 = GIT_TIMEOUT_MS_DEFAULT */
};

/* Runs the command; 0 when git exited 0, else -1 with e set. */
int git_run(const struct git_cmd *c, struct err *e);
/* Runs the command; 0 when git ran to an exit (its code in *code_r), -1 when it could not start,
 * timed out or was killed. For commands whose exit code is an answer (merge-base --is-ancestor). */
int git_run_code(const struct git_cmd *c, int *code_r, struct err *e);

/* 1 when s is a full object id (40 or 64 lowercase hex digits), else 0. */
int git_is_full_id(const char *s);
/*
 * Checks that repo is a git repository (work_tree: a work tree, not only a git directory).
 * ERR_NOTFOUND "<repo> does not exist", ERR_USAGE "<repo> is not a git repository", ERR_TOOL.
 */
int git_repo_check(const char *repo, int work_tree, struct err *e);
/*
 * Resolves rev (NULL = HEAD) to the full id of the commit it names (*id_r malloc'd);
 * ERR_NOTFOUND "unknown revision 'REV' in REPO ..." otherwise.
 */
int git_rev_commit(const char *repo, const char *rev, char **id_r, struct err *e);
/* 1 if commit a is an ancestor of (or equal to) b, 0 if not, -1 on error (unknown revision). */
int git_rev_is_ancestor(const char *repo, const char *a, const char *b, struct err *e);
/* Appends the contents of path at commit to out, without a checkout (cat-file blob). */
int git_file_at(const char *repo, const char *commit, const char *path, struct buf *out,
                struct err *e);
/*
 * Adds a worktree of repo at dir, detached at commit (forced: dir may be a stale registration
 * whose directory is gone, which `worktree prune` forgets first). Output appended to log.
 */
int git_worktree_add(const char *repo, const char *dir, const char *commit, const char *log,
                     struct err *e);
/*
 * Moves the existing worktree wt to commit (a full id, ERR_USAGE otherwise), detached and
 * forced, then removes untracked files (and ignored ones when with_ignored), keeping nothing
 * of the previous commit's sources. Output appended to log.
 */
int git_worktree_move(const char *wt, const char *commit, int with_ignored, const char *log,
                      struct err *e);
/*
 * Removes the worktree at wt so that its repository forgets it too (`git worktree remove`, run
 * from inside it); when git cannot (its repository is gone), the directory is removed and the
 * stale record goes at the repository's next `git worktree prune`.
 */
int git_worktree_delete(const char *wt, struct err *e);

#endif
