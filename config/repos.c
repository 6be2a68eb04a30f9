#include "config/repos.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/git.h"
#include "util/xalloc.h"

struct repo_entry {
    char *alias;
    char *path; /* NULL: only [repo_web] / [repo_test] name it so far */
    char *web;  /* URL with one %s */
    char *test_cmd;
};

struct repos {
    struct repo_entry *v;
    size_t n, alloc;
};

int repos_section(const char *section)
{
    return !strcmp(section, "repos") || !strcmp(section, "repo_web") ||
           !strcmp(section, "repo_test");
}

int repos_alias_valid(const char *alias)
{
    size_t n = alias ? strlen(alias) : 0;

    if (n == 0 || n > 64 || alias[0] == '.' || alias[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = alias[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static struct repo_entry *find(const struct repos *r, const char *alias)
{
    if (!r || !alias)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].alias, alias))
            return &r->v[i];
    return NULL;
}

static struct repo_entry *find_or_add(struct repos **rp, const char *alias)
{
    struct repos *r;
    struct repo_entry *x = find(*rp, alias);

    if (x)
        return x;
    if (!*rp)
        *rp = xcalloc(1, sizeof(**rp));
    r = *rp;
    if (r->n == r->alloc) {
        r->alloc = r->alloc ? 2 * r->alloc : 8;
        r->v = xrealloc(r->v, r->alloc * sizeof(r->v[0]));
    }
    x = &r->v[r->n++];
    memset(x, 0, sizeof(*x));
    x->alias = xstrdup(alias);
    return x;
}

/* A commit URL template must hold exactly one %s and no other conversion (it is never given to
 * printf, but a stray % would still make a wrong URL). */
static int web_template_ok(const char *v)
{
    int ns = 0;

    if (strncmp(v, "https://", 8) && strncmp(v, "http://", 7))
        return 0;
    for (const char *p = v; *p; p++) {
        if (*p != '%')
            continue;
        if (p[1] == 's')
            ns++, p++;
        else if (p[1] == '%')
            p++;
        else
            return 0;
    }
    return ns == 1;
}

static char *expand_home(const char *v)
{
    const char *home = getenv("HOME");

    if (v[0] == '~' && (v[1] == '/' || v[1] == '\0') && home && *home)
        return xasprintf("%s%s", home, v + 1);
    return xstrdup(v);
}

int repos_set(struct repos **r, const char *section, const char *alias, const char *value,
              struct err *e)
{
    struct repo_entry *x;

    if (!repos_section(section)) {
        err_set(e, ERR_CONFIG,
                "unknown section [%s]; repository sections are repos, repo_web, "
                "repo_test",
                section);
        return -1;
    }
    if (!repos_alias_valid(alias)) {
        err_set(e, ERR_CONFIG,
                "'%s' is not a repository alias (1 to 64 of A-Z a-z 0-9 . _ -, "
                "not starting with . or -)",
                alias);
        return -1;
    }
    if (!*value) {
        err_set(e, ERR_CONFIG, "must not be empty");
        return -1;
    }
    if (!strcmp(section, "repo_web") && !web_template_ok(value)) {
        err_set(e, ERR_CONFIG,
                "'%s' is not a commit URL: an http(s) URL with exactly one %%s "
                "for the commit id (a literal %% is written %%%%)",
                value);
        return -1;
    }
    x = find_or_add(r, alias);
    if (!strcmp(section, "repos")) {
        free(x->path);
        x->path = expand_home(value);
    } else if (!strcmp(section, "repo_web")) {
        free(x->web);
        x->web = xstrdup(value);
    } else {
        free(x->test_cmd);
        x->test_cmd = xstrdup(value);
    }
    return 0;
}

struct load_ctx {
    struct repos **r;
    struct err err;
    char key[160];
    int failed;
};

static int on_value(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *lc = user;

    if (lc->failed || !name || !repos_section(section))
        return 1;
    if (repos_set(lc->r, section, name, value, &lc->err) < 0) {
        snprintf(lc->key, sizeof(lc->key), "[%s] %s", section, name);
        lc->failed = 1;
        return 0;
    }
    return 1;
}

int repos_load(const char *path, struct repos **r, struct err *e)
{
    struct load_ctx lc;
    FILE *f;
    int line;

    memset(&lc, 0, sizeof(lc));
    lc.r = r;
    f = fopen(path, "r");
    if (!f) {
        err_sys(e, errno, "cannot read config file %s", path);
        if (e)
            e->code = ERR_CONFIG;
        return -1;
    }
    line = ini_parse_file(f, on_value, &lc);
    fclose(f);
    if (lc.failed) {
        err_set(e, ERR_CONFIG, "%s:%d: %s: %s", path, line, lc.key, lc.err.msg);
        return -1;
    }
    if (line != 0) {
        err_set(e, ERR_CONFIG, "%s:%d: syntax error (expected [section] or key = value)", path,
                line);
        return -1;
    }
    return 0;
}

void repos_free(struct repos *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].alias);
        free(r->v[i].path);
        free(r->v[i].web);
        free(r->v[i].test_cmd);
    }
    free(r->v);
    free(r);
}

const char *repos_path(const struct repos *r, const char *alias)
{
    const struct repo_entry *x = find(r, alias);
    return x ? x->path : NULL;
}

const char *repos_test_cmd(const struct repos *r, const char *alias)
{
    const struct repo_entry *x = find(r, alias);
    return x ? x->test_cmd : NULL;
}

int repos_commit_url(const struct repos *r, const char *alias, const char *commit, struct buf *out)
{
    const struct repo_entry *x = find(r, alias);

    if (!x || !x->web || !commit || !git_is_full_id(commit))
        return 0;
    for (const char *p = x->web; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            buf_adds(out, commit);
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            buf_addch(out, '%');
            p++;
        } else {
            buf_addch(out, *p);
        }
    }
    return 1;
}

void repos_names(const struct repos *r, struct buf *out)
{
    size_t n0 = out->len;

    for (size_t i = 0; r && i < r->n; i++)
        if (r->v[i].path)
            buf_addf(out, "%s%s", out->len > n0 ? ", " : "", r->v[i].alias);
    if (out->len == n0)
        buf_adds(out, "none");
}

size_t repos_count(const struct repos *r)
{
    size_t n = 0;

    for (size_t i = 0; r && i < r->n; i++)
        n += r->v[i].path != NULL;
    return n;
}
