/* git through util/proc: one argv builder that puts user input after --end-of-options. */
#include "util/git.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "util/fsutil.h"
#include "util/proc.h"
#include "util/sv.h"
#include "util/xalloc.h"

/* "git -C repo ARGS... [--end-of-options OPERANDS...]" into argv, and the proc_spec for it. */
static void git_spec(const struct git_cmd *c, struct sv *argv, struct proc_spec *ps)
{
    sv_push(argv, "git");
    sv_push(argv, "-C");
    sv_push(argv, c->repo);
    sv_pushv(argv, c->args);
    if (c->operands) {
        sv_push(argv, "--end-of-options");
        sv_pushv(argv, c->operands);
    }
    memset(ps, 0, sizeof(*ps));
    ps->argv = (const char *const *)sv_argv(argv);
    ps->out = c->out;
    ps->log_path = c->log_path;
    ps->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : GIT_TIMEOUT_MS_DEFAULT;
}

int git_run(const struct git_cmd *c, struct err *e)
{
    struct sv argv = SV_INIT;
    struct proc_spec ps;
    int rc;

    git_spec(c, &argv, &ps);
    rc = proc_run(&ps, e);
    if (rc == 0 && c->out)
        buf_rtrim(c->out);
    sv_clear(&argv);
    return rc;
}

int git_run_code(const struct git_cmd *c, int *code_r, struct err *e)
{
    struct sv argv = SV_INIT;
    struct proc_spec ps;
    struct proc p = PROC_INIT;
    char *what = NULL;
    int rc = -1;

    *code_r = -1;
    git_spec(c, &argv, &ps);
    if (proc_start(&ps, &p, e) < 0)
        goto out;
    if (proc_wait(&p, e) < 0)
        goto out;
    if (p.end != PROC_EXITED) {
        what = proc_describe(&p);
        err_set(e,
                p.end == PROC_TIMED_OUT     ? ERR_TIMEOUT
                : p.end == PROC_INTERRUPTED ? ERR_INTERRUPTED
                                            : ERR_PROC,
                "%s", what);
        goto out;
    }
    *code_r = proc_exit_code(&p);
    if (c->out)
        buf_rtrim(c->out);
    rc = 0;
out:
    proc_release(&p);
    sv_clear(&argv);
    free(what);
    return rc;
}

int git_is_full_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");

    return !s[n] && (n == 40 || n == 64);
}

int git_repo_check(const char *repo, int work_tree, struct err *e)
{
    const char *args[] = { "rev-parse", work_tree ? "--is-inside-work-tree" : "--git-dir", NULL };
    struct buf out = BUF_INIT;
    struct git_cmd c = { repo, args, NULL, NULL, &out, 0 };
    struct err ge = ERR_INIT;
    int rc = -1;

    if (!fs_is_dir(repo)) {
        err_set(e, ERR_NOTFOUND, "%s does not exist (or is not a directory)", repo);
        goto out;
    }
    /* outside a work tree, --is-inside-work-tree prints false and exits 0 */
    if (git_run(&c, &ge) < 0 || (work_tree && strcmp(out.data, "true"))) {
        if (ge.code == ERR_TOOL)
            err_set(e, ERR_TOOL, "git is not installed (apt-get install git)");
        else
            err_set(e, ERR_USAGE, "%s is not a git repository%s", repo,
                    work_tree ? " work tree" : "");
        goto out;
    }
    rc = 0;
out:
    buf_release(&out);
    return rc;
}

int git_rev_commit(const char *repo, const char *rev, char **id_r, struct err *e)
{
    char *spec = xasprintf("%s^{commit}", rev ? rev : "HEAD");
    const char *args[] = { "rev-parse", "--verify", "--quiet", NULL };
    const char *ops[] = { spec, NULL };
    struct buf out = BUF_INIT;
    struct git_cmd c = { repo, args, ops, NULL, &out, 0 };
    struct err ge = ERR_INIT;
    int rc = -1;

    *id_r = NULL;
    if (git_run(&c, &ge) < 0 || !git_is_full_id(out.data)) {
        if (ge.code == ERR_TOOL)
            err_set(e, ERR_TOOL, "git is not installed (apt-get install git)");
        else
            err_set(e, ERR_NOTFOUND,
                    "unknown revision '%s' in %s (a commit id, tag or branch "
                    "that `git -C %s log` shows)",
                    rev ? rev : "HEAD", repo, repo);
        goto out;
    }
    *id_r = buf_detach(&out, NULL);
    rc = 0;
out:
    buf_release(&out);
    free(spec);
    return rc;
}

int git_rev_is_ancestor(const char *repo, const char *a, const char *b, struct err *e)
{
    const char *args[] = { "merge-base", "--is-ancestor", NULL };
    const char *ops[] = { a, b, NULL };
    struct git_cmd c = { repo, args, ops, NULL, NULL, 0 };
    int code;

    if (git_run_code(&c, &code, e) < 0)
        return -1;
    if (code == 0 || code == 1)
        return code == 0;
    err_set(e, ERR_NOTFOUND,
            "git merge-base --is-ancestor %s %s failed in %s (exit %d): is "
            "each a commit of that repository?",
            a, b, repo, code);
    return -1;
}

int git_file_at(const char *repo, const char *commit, const char *path, struct buf *out,
                struct err *e)
{
    char *obj = xasprintf("%s:%s", commit, path);
    const char *args[] = { "cat-file", "blob", NULL };
    const char *ops[] = { obj, NULL };
    struct git_cmd c = { repo, args, ops, NULL, out, 0 };
    int rc = git_run(&c, e);

    if (rc < 0)
        err_prefix(e, "%s at %s has no %s", repo, commit, path);
    free(obj);
    return rc;
}

int git_worktree_add(const char *repo, const char *dir, const char *commit, const char *log,
                     struct err *e)
{
    const char *prune[] = { "worktree", "prune", NULL };
    const char *add[] = { "worktree", "add", "-q", "--detach", "-f", NULL };
    const char *ops[] = { dir, commit, NULL };
    struct git_cmd cp = { repo, prune, NULL, log, NULL, 0 };
    struct git_cmd ca = { repo, add, ops, log, NULL, 0 };

    if (git_run(&cp, e) < 0 || git_run(&ca, e) < 0) {
        err_prefix(e, "cannot make a worktree of %s at %s", repo, dir);
        return -1;
    }
    return 0;
}

int git_worktree_move(const char *wt, const char *commit, int with_ignored, const char *log,
                      struct err *e)
{
    /* checkout takes --end-of-options for a path: only a full id may come here */
    const char *co[] = { "checkout", "-q", "-f", "--detach", commit, NULL };
    const char *cl[] = { "clean", "-q", "-f", "-d", with_ignored ? "-x" : NULL, NULL };
    struct git_cmd cc = { wt, co, NULL, log, NULL, 0 };
    struct git_cmd cn = { wt, cl, NULL, log, NULL, 0 };

    if (!git_is_full_id(commit)) {
        err_set(e, ERR_USAGE, "'%s' is not a full commit id (resolve it with git_rev_commit)",
                commit);
        return -1;
    }
    return git_run(&cc, e) < 0 || git_run(&cn, e) < 0 ? -1 : 0;
}

int git_worktree_delete(const char *wt, struct err *e)
{
    const char *args[] = { "worktree", "remove", "--force", "--force", NULL };
    const char *ops[] = { wt, NULL };
    struct git_cmd c = { wt, args, ops, NULL, NULL, 10 * 60 * 1000 };

    if (git_run(&c, NULL) == 0 && !fs_exists(wt))
        return 0;
    return fs_rmtree(wt, e);
}
