/*
 * util/git on a repository made here with git init (two commits on a line, a side branch):
 * resolving revisions, ancestry, a file at a commit, worktrees; and revisions spelled like
 * options ("-h", "--all", "--output=FILE") refused as unknown revisions, never run as options.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/git.h"
#include "util/xalloc.h"

static char *tmpdir, *repo, *c1, *c2, *side;

/* Runs a shell command in the repository (test setup only; pvlab itself never uses a shell). */
static void sh(const char *fmt, const char *arg)
{
    char *inner = xasprintf(fmt, arg), *cmd = xasprintf("cd %s && %s", repo, inner);

    assert_int_equal(system(cmd), 0);
    free(inner);
    free(cmd);
}

/* The full id git itself gives for rev. */
static char *rev_of(const char *rev)
{
    char *cmd = xasprintf("git -C %s rev-parse %s", repo, rev);
    char line[128] = "";
    FILE *p = popen(cmd, "r");

    assert_non_null(p);
    assert_non_null(fgets(line, sizeof(line), p));
    pclose(p);
    free(cmd);
    line[strcspn(line, "\n")] = '\0';
    return xstrdup(line);
}

#define GIT_ID "git -c user.email=t@t -c user.name=t"

static int setup(void **state)
{
    char tmpl[] = "/tmp/pvlab-test-git-XXXXXX";

    if (!mkdtemp(tmpl))
        return -1;
    tmpdir = xstrdup(tmpl);
    repo = xasprintf("%s/repo", tmpdir);
    if (fs_mkdirs(repo, NULL) < 0)
        return -1;
    sh("git init -q -b main && echo one > Makefile && git add Makefile && %s commit -qm one",
       GIT_ID);
    sh("echo two > Makefile && %s commit -qam two", GIT_ID);
    sh("git checkout -q -b side HEAD~1 && echo side > f && git add f && %s commit -qm side && "
       "git checkout -q main",
       GIT_ID);
    c1 = rev_of("main~1");
    c2 = rev_of("main");
    side = rev_of("side");
    return 0;
}

static int teardown(void **state)
{
    fs_rmtree(tmpdir, NULL);
    free(tmpdir);
    free(repo);
    free(c1);
    free(c2);
    free(side);
    return 0;
}

static void test_resolve(void **state)
{
    struct err e = ERR_INIT;
    char *id = NULL;

    assert_int_equal(git_rev_commit(repo, NULL, &id, &e), 0); /* HEAD */
    assert_string_equal(id, c2);
    assert_true(git_is_full_id(id));
    free(id);
    assert_int_equal(git_rev_commit(repo, "main~1", &id, &e), 0);
    assert_string_equal(id, c1);
    free(id);
    assert_int_equal(git_rev_commit(repo, "side", &id, &e), 0);
    assert_string_equal(id, side);
    free(id);
    id = xstrndup(c1, 10); /* an abbreviated id */
    {
        char *full = NULL;
        assert_int_equal(git_rev_commit(repo, id, &full, &e), 0);
        assert_string_equal(full, c1);
        free(full);
    }
    free(id);
    id = NULL;
    assert_int_equal(git_rev_commit(repo, "nosuchrev", &id, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "unknown revision 'nosuchrev'"));
    assert_null(id);
}

/* Revisions spelled like options: unknown revisions, not options (no usage text, no file). */
static void test_option_like_revisions(void **state)
{
    static const char *const revs[] = { "-h", "--all", "--help", "-p", "--output=pwned", NULL };
    char *pwned = xasprintf("%s/pwned", repo);
    struct err e = ERR_INIT;
    char *id = NULL;

    for (size_t i = 0; revs[i]; i++) {
        err_clear(&e);
        assert_int_equal(git_rev_commit(repo, revs[i], &id, &e), -1);
        assert_int_equal(e.code, ERR_NOTFOUND);
        assert_non_null(strstr(e.msg, "unknown revision"));
        assert_null(id);
        assert_int_equal(git_rev_is_ancestor(repo, revs[i], c2, &e), -1);
        assert_int_equal(git_rev_is_ancestor(repo, c1, revs[i], &e), -1);
    }
    /* log would write its output to a file named by --output=: after --end-of-options it is a
       revision, and an unknown one */
    {
        const char *args[] = { "log", "-1", "--format=%H", NULL };
        const char *bad[] = { "--output=pwned", NULL }, *good[] = { "main", NULL };
        struct buf out = BUF_INIT;
        struct git_cmd c = { repo, args, bad, NULL, &out, 0 };

        assert_int_equal(git_run(&c, &e), -1);
        assert_false(fs_exists(pwned));
        buf_reset(&out);
        c.operands = good; /* negative control: the same command with a real revision */
        assert_int_equal(git_run(&c, &e), 0);
        assert_string_equal(out.data, c2);
        buf_release(&out);
    }
    {
        struct buf out = BUF_INIT;
        assert_int_equal(git_file_at(repo, "--output=pwned", "Makefile", &out, &e), -1);
        assert_false(fs_exists(pwned));
        buf_release(&out);
    }
    free(pwned);
}

static void test_ancestry_and_files(void **state)
{
    struct err e = ERR_INIT;
    struct buf out = BUF_INIT;

    assert_int_equal(git_rev_is_ancestor(repo, c1, c2, &e), 1);
    assert_int_equal(git_rev_is_ancestor(repo, c2, c2, &e), 1);
    assert_int_equal(git_rev_is_ancestor(repo, c2, c1, &e), 0);
    assert_int_equal(git_rev_is_ancestor(repo, side, c2, &e), 0); /* a sibling */
    assert_int_equal(git_rev_is_ancestor(repo, "nosuchrev", c2, &e), -1);

    assert_int_equal(git_file_at(repo, c1, "Makefile", &out, &e), 0);
    assert_string_equal(out.data, "one");
    buf_reset(&out);
    assert_int_equal(git_file_at(repo, c2, "Makefile", &out, &e), 0);
    assert_string_equal(out.data, "two");
    buf_reset(&out);
    assert_int_equal(git_file_at(repo, c2, "f", &out, &e), -1); /* only on side */
    assert_non_null(strstr(e.msg, "has no f"));
    buf_release(&out);
}

static void test_repo_check(void **state)
{
    struct err e = ERR_INIT;
    char *missing = xasprintf("%s/missing", tmpdir), *gitdir = xasprintf("%s/.git", repo);

    assert_int_equal(git_repo_check(repo, 1, &e), 0);
    assert_int_equal(git_repo_check(repo, 0, &e), 0);
    assert_int_equal(git_repo_check(tmpdir, 0, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "is not a git repository"));
    assert_int_equal(git_repo_check(missing, 0, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_int_equal(git_repo_check(gitdir, 0, &e), 0);  /* a git directory */
    assert_int_equal(git_repo_check(gitdir, 1, &e), -1); /* but not a work tree */
    assert_int_equal(e.code, ERR_USAGE);
    free(missing);
    free(gitdir);
}

/* Lines of `git worktree list` (the main checkout is one). */
static int worktrees(void)
{
    const char *args[] = { "worktree", "list", "--porcelain", NULL };
    struct buf out = BUF_INIT;
    struct git_cmd c = { repo, args, NULL, NULL, &out, 0 };
    int n = 0;

    assert_int_equal(git_run(&c, NULL), 0);
    for (const char *p = out.data; (p = strstr(p, "worktree ")); p++)
        n += p == out.data || p[-1] == '\n';
    buf_release(&out);
    return n;
}

static void test_worktrees(void **state)
{
    char *wt = xasprintf("%s/trees/-h", tmpdir), *parent = fs_dirname(wt), *id = NULL;
    char *untracked = xasprintf("%s/junk.o", wt);
    struct err e = ERR_INIT;

    assert_int_equal(fs_mkdirs(parent, NULL), 0);
    /* a directory named like an option is a path after --end-of-options */
    assert_int_equal(git_worktree_add(repo, wt, c1, NULL, &e), 0);
    assert_int_equal(worktrees(), 2);
    assert_int_equal(git_rev_commit(wt, NULL, &id, &e), 0);
    assert_string_equal(id, c1);
    free(id);

    assert_int_equal(fs_write_atomic(untracked, "x", 1, NULL), 0);
    assert_int_equal(git_worktree_move(wt, c2, 0, NULL, &e), 0);
    assert_int_equal(git_rev_commit(wt, NULL, &id, &e), 0);
    assert_string_equal(id, c2);
    free(id);
    assert_false(fs_exists(untracked)); /* cleaned */

    /* only a full id may be checked out (checkout takes --end-of-options for a path) */
    assert_int_equal(git_worktree_move(wt, "-h", 0, NULL, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_int_equal(git_worktree_move(wt, "main", 0, NULL, &e), -1);

    assert_int_equal(git_worktree_delete(wt, &e), 0);
    assert_false(fs_exists(wt));
    assert_int_equal(worktrees(), 1); /* the repository forgot it */
    free(wt);
    free(parent);
    free(untracked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_option_like_revisions),
        cmocka_unit_test(test_ancestry_and_files),
        cmocka_unit_test(test_repo_check),
        cmocka_unit_test(test_worktrees),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
