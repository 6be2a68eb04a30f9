#include "jobs/gitdag.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/git.h"
#include "util/xalloc.h"

/* git -C repo ARGS... [--end-of-options OPERANDS...], stdout into out (may be NULL). */
static int git(const char *repo, struct buf *out, struct err *e, const char *const *args,
               const char *const *operands)
{
    struct git_cmd c = { repo, args, operands, NULL, out, 10 * 60 * 1000 };
    return git_run(&c, e);
}

int git_check_repo(const char *repo, struct err *e)
{
    struct err ge = ERR_INIT;

    if (!fs_is_dir(repo)) {
        err_set(e, ERR_USAGE, "%s is not a directory (--repo wants a git work tree)", repo);
        return -1;
    }
    if (git_repo_check(repo, 1, &ge) < 0) {
        if (ge.code == ERR_TOOL)
            err_set(e, ERR_TOOL, "git is not installed (apt-get install git)");
        else
            err_set(e, ERR_USAGE,
                    "%s is not a git repository (run pvlab bisect inside a clone, "
                    "or pass --repo)",
                    repo);
        return -1;
    }
    return 0;
}

int git_check_clean(const char *repo, struct err *e)
{
    const char *args[] = { "status", "--porcelain", "--untracked-files=no", NULL };
    struct buf out = BUF_INIT;
    int rc = -1;

    if (git(repo, &out, e, args, NULL) < 0)
        goto out;
    if (out.len) {
        buf_rtrim(&out);
        err_set(e, ERR_USAGE,
                "the work tree %s has uncommitted changes; commit or stash them first (pvlab "
                "tests commits, not your edits):\n%.400s",
                repo, out.data);
        goto out;
    }
    rc = 0;
out:
    buf_release(&out);
    return rc;
}

int git_resolve(const char *repo, const char *rev, char **sha_r, struct err *e)
{
    return git_rev_commit(repo, rev, sha_r, e);
}

int git_is_ancestor(const char *repo, const char *a, const char *b, struct err *e)
{
    return git_rev_is_ancestor(repo, a, b, e);
}

/* Open-addressing map from a full hash to its index, for parent lookups. */
struct shamap {
    size_t cap;
    const char **key;
    uint32_t *val;
};

static size_t sha_hash(const char *s)
{
    size_t h = 0;
    for (int i = 0; i < 16 && s[i]; i++)
        h = h * 16 + (size_t)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
    return h;
}

static void shamap_put(struct shamap *m, const char *k, uint32_t v)
{
    size_t i = sha_hash(k) % m->cap;
    while (m->key[i])
        i = (i + 1) % m->cap;
    m->key[i] = k;
    m->val[i] = v;
}

static long shamap_get(const struct shamap *m, const char *k)
{
    size_t i = sha_hash(k) % m->cap;
    while (m->key[i]) {
        if (!strcmp(m->key[i], k))
            return m->val[i];
        i = (i + 1) % m->cap;
    }
    return -1;
}

int gitdag_load(const char *repo, const char *bad, const struct sv *goods, int first_parent,
                struct gitdag *d, struct err *e)
{
    struct sv args = SV_INIT, revs = SV_INIT, lines = SV_INIT, parents = SV_INIT;
    struct buf out = BUF_INIT;
    struct shamap m = { 0, NULL, NULL };
    size_t i, np = 0;
    int rc = -1;

    memset(d, 0, sizeof(*d));
    sv_pushv(&args,
             (const char *const[]){ "rev-list", "--topo-order", "--reverse", "--parents", NULL });
    if (first_parent)
        sv_push(&args, "--first-parent");
    sv_push(&revs, bad);
    for (i = 0; i < goods->n; i++)
        sv_pushf(&revs, "^%s", goods->v[i]);
    if (git(repo, &out, e, (const char *const *)sv_argv(&args),
            (const char *const *)sv_argv(&revs)) < 0)
        goto out;
    sv_split(&lines, out.data, "\n");
    if (lines.n == 0) {
        err_set(e, ERR_USAGE, "no commits between good and bad: bad is an ancestor of good");
        goto out;
    }
    d->n = lines.n;
    d->sha = xcalloc(d->n, sizeof(char *));
    d->parent_off = xcalloc(d->n + 1, sizeof(uint32_t));
    m.cap = d->n * 2 + 1;
    m.key = xcalloc(m.cap, sizeof(char *));
    m.val = xcalloc(m.cap, sizeof(uint32_t));
    for (i = 0; i < d->n; i++) {
        size_t len = strcspn(lines.v[i], " ");
        d->sha[i] = xstrndup(lines.v[i], len);
        shamap_put(&m, d->sha[i], (uint32_t)i);
    }
    d->parents = xcalloc(1, sizeof(uint32_t));
    d->linear = 1;
    for (i = 0; i < d->n; i++) {
        sv_clear(&parents);
        sv_split(&parents, lines.v[i], " ");
        d->parent_off[i] = (uint32_t)np;
        for (size_t k = 1; k < (first_parent ? 2 : parents.n) && k < parents.n; k++) {
            long pi = shamap_get(&m, parents.v[k]);
            if (pi < 0)
                continue; /* a good commit or beyond: not a candidate */
            d->parents = xrealloc(d->parents, (np + 1) * sizeof(uint32_t));
            d->parents[np++] = (uint32_t)pi;
        }
        if (np - d->parent_off[i] != (i ? 1u : 0u) || (i && d->parents[np - 1] != i - 1))
            d->linear = 0;
    }
    d->parent_off[d->n] = (uint32_t)np;
    if (strcmp(d->sha[d->n - 1], bad) != 0) {
        err_set(e, ERR_INTERNAL, "git rev-list did not list %s last", bad);
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        gitdag_free(d);
    free(m.key);
    free(m.val);
    sv_clear(&args);
    sv_clear(&revs);
    sv_clear(&lines);
    sv_clear(&parents);
    buf_release(&out);
    return rc;
}

void gitdag_free(struct gitdag *d)
{
    for (size_t i = 0; d->sha && i < d->n; i++)
        free(d->sha[i]);
    free(d->sha);
    free(d->parent_off);
    free(d->parents);
    memset(d, 0, sizeof(*d));
}

long gitdag_find(const struct gitdag *d, const char *sha)
{
    size_t len = strlen(sha);
    long found = -1;

    if (len < 7)
        return -1;
    for (size_t i = 0; i < d->n; i++)
        if (!strncmp(d->sha[i], sha, len)) {
            if (found >= 0)
                return -1; /* ambiguous */
            found = (long)i;
        }
    return found;
}

int git_describe_commit(const char *repo, const char *sha, char **subject_r, char **author_r,
                        struct err *e)
{
    const char *args[] = { "log", "-1", "--format=%s%n%an <%ae>", NULL };
    const char *operands[] = { sha, NULL };
    struct buf out = BUF_INIT;
    size_t n;

    *subject_r = *author_r = NULL;
    if (git(repo, &out, e, args, operands) < 0) {
        buf_release(&out);
        return -1;
    }
    buf_rtrim(&out);
    n = strcspn(out.data, "\n");
    *subject_r = xstrndup(out.data, n);
    *author_r = xstrdup(out.data[n] ? out.data + n + 1 : "");
    buf_release(&out);
    return 0;
}

int git_worktree_checkout(const char *repo, const char *dir, const char *sha, struct err *e)
{
    if (!fs_exists(dir))
        return git_worktree_add(repo, dir, sha, NULL, e);
    return git_worktree_move(dir, sha, 1, NULL, e);
}

void git_worktree_remove(const char *repo, const char *dir)
{
    (void)repo; /* git finds the repository from inside the worktree */
    git_worktree_delete(dir, NULL);
}

int git_parents(const char *repo, const char *sha, struct sv *out, struct err *e)
{
    /* "sha parent1 parent2...": rev-list --parents of the one commit */
    const char *args[] = { "rev-list", "--parents", "-n", "1", NULL };
    const char *operands[] = { sha, NULL };
    struct buf b = BUF_INIT;
    struct sv words = SV_INIT;
    int rc = -1;

    if (git(repo, &b, e, args, operands) < 0)
        goto out;
    sv_split(&words, b.data, " \n");
    for (size_t i = 1; i < words.n; i++)
        sv_push(out, words.v[i]);
    rc = 0;
out:
    sv_clear(&words);
    buf_release(&b);
    return rc;
}
