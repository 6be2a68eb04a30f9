#include "reporter/dash_request.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "images/payload.h"
#include "util/buf.h"
#include "util/git.h"

static const char *const fields[] = { "alias", "good",    "bad",        "axis", "xen", "linux",
                                      "repro", "options", "confidence", "find", NULL };

enum opt_kind { OPT_INT, OPT_NUM, OPT_BOOL };

static const struct req_opt {
    const char *key;
    enum opt_kind kind;
    double lo, hi;
} opts[] = {
    { "iterations", OPT_INT, 1, 10000000 },
    { "trials", OPT_INT, 1, 10000 },
    { "workers", OPT_INT, 0, 64 },
    { "lazy_fpu", OPT_BOOL, 0, 0 },
    { "self_test_corrupt", OPT_NUM, 0, 1 },
    { "p", OPT_NUM, 0.000001, 1 },
    { "check_good", OPT_INT, 0, 100000 },
    { "check_bad_max", OPT_INT, 1, 100000 },
    { "max_trials", OPT_INT, 0, 100000 },
    { "verify", OPT_BOOL, 0, 0 },
    { "trial_timeout_s", OPT_INT, 0, 7 * 86400 },
};

/* A plain name for the fixed side of a boot: a Debian version or a reproducer, never a spec
 * with a provider (file:, git:) or a path. */
static int plain_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64 ||
        !((s[0] >= '0' && s[0] <= '9') || (s[0] >= 'a' && s[0] <= 'z') ||
          (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+~-") == n;
}

/* A revision as typed by a person: printable, no leading '-', at most 256 bytes. */
static int rev_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 256 || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int check_fields(const json_t *body, struct err *e)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)body, key, v)
    {
        size_t i;
        for (i = 0; fields[i] && strcmp(fields[i], key); i++)
            ;
        if (!fields[i]) {
            err_set(e, ERR_USAGE,
                    "unknown field '%.64s'; a request has alias, good, bad, axis, "
                    "xen, linux, repro, options, confidence, find",
                    key);
            return -1;
        }
        if (strcmp(key, "options") && strcmp(key, "confidence") && !json_is_string(v)) {
            err_set(e, ERR_USAGE, "%s must be a string", key);
            return -1;
        }
    }
    return 0;
}

static int check_options(const json_t *o, struct err *e)
{
    const char *key;
    json_t *v;

    if (!o)
        return 0;
    if (!json_is_object(o)) {
        err_set(e, ERR_USAGE, "options must be an object");
        return -1;
    }
    json_object_foreach((json_t *)o, key, v)
    {
        const struct req_opt *p = NULL;
        for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
            if (!strcmp(opts[i].key, key))
                p = &opts[i];
        if (!p) {
            struct buf known = BUF_INIT;
            for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
                buf_addf(&known, "%s%s", i ? ", " : "", opts[i].key);
            err_set(e, ERR_USAGE, "unknown option '%.64s'; options are %s", key, known.data);
            buf_release(&known);
            return -1;
        }
        if (p->kind == OPT_BOOL  ? !json_is_boolean(v)
            : p->kind == OPT_INT ? !json_is_integer(v) || json_integer_value(v) < p->lo ||
                                       json_integer_value(v) > p->hi
                                 : !json_is_number(v) || json_number_value(v) < p->lo ||
                                       json_number_value(v) > p->hi) {
            if (p->kind == OPT_BOOL)
                err_set(e, ERR_USAGE, "options.%s must be true or false", key);
            else
                err_set(e, ERR_USAGE, "options.%s must be a%s from %g to %g", key,
                        p->kind == OPT_INT ? "n integer" : " number", p->lo, p->hi);
            return -1;
        }
    }
    return 0;
}

/* The plain scalar fields: axis, find, confidence, xen/linux/repro names. */
static int check_scalars(const json_t *body, const struct repos *repos, const char *alias,
                         struct err *e)
{
    const char *axis = json_string_value(json_object_get(body, "axis"));
    const char *find = json_string_value(json_object_get(body, "find"));
    const json_t *conf = json_object_get(body, "confidence");
    static const char *const names[] = { "xen", "linux", "repro" };

    if (!axis || (strcmp(axis, "xen") && strcmp(axis, "linux") && strcmp(axis, "test-cmd"))) {
        err_set(e, ERR_USAGE, "axis must be \"xen\", \"linux\" or \"test-cmd\"");
        return -1;
    }
    if (!strcmp(axis, "test-cmd") && !repos_test_cmd(repos, alias)) {
        err_set(e, ERR_USAGE,
                "repository '%s' has no test command on this dashboard ([repo_test] "
                "%s = ...): ask for axis xen or linux",
                alias, alias);
        return -1;
    }
    if (find && strcmp(find, "regression") && strcmp(find, "fix")) {
        err_set(e, ERR_USAGE, "find must be \"regression\" or \"fix\"");
        return -1;
    }
    if (conf &&
        !(json_is_number(conf) && json_number_value(conf) > 0 && json_number_value(conf) < 1)) {
        err_set(e, ERR_USAGE, "confidence must be a number between 0 and 1 (exclusive)");
        return -1;
    }
    for (size_t i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(body, names[i]));
        if (v && !plain_name(v)) {
            err_set(e, ERR_USAGE,
                    "%s must be a plain name such as 4.17, 6.1 or fpu-leak (no "
                    "provider spec or path)",
                    names[i]);
            return -1;
        }
    }
    {
        const char *repro = json_string_value(json_object_get(body, "repro"));
        struct err re = ERR_INIT;
        if (repro && !repro_lookup(repro, &re)) {
            err_set(e, ERR_USAGE, "%s", re.msg);
            return -1;
        }
    }
    return 0;
}

/* Resolves good and bad in the alias's repository and checks their order. */
static int check_revs(const char *repo, const char *alias, const char *good, const char *bad,
                      int fix, char **good_sha, char **bad_sha, struct err *e)
{
    const char *revs[2] = { good, bad };
    char **shas[2] = { good_sha, bad_sha };
    struct err ge = ERR_INIT;
    int r;

    if (git_repo_check(repo, 0, &ge) < 0) {
        err_set(e, ERR_CONFIG,
                "repository alias '%s' does not name a readable git repository "
                "on this dashboard (%s); fix [repos] %s",
                alias, ge.msg, alias);
        return -1;
    }
    for (int i = 0; i < 2; i++)
        if (git_rev_commit(repo, revs[i], shas[i], &ge) < 0) {
            err_set(e, ERR_USAGE, "%s '%s' is not a commit of repository '%s'", i ? "bad" : "good",
                    revs[i], alias);
            return -1;
        }
    /* regression: good is older (an ancestor of bad); fix: bad is older */
    r = fix ? git_rev_is_ancestor(repo, *bad_sha, *good_sha, &ge)
            : git_rev_is_ancestor(repo, *good_sha, *bad_sha, &ge);
    if (r < 0) {
        err_set(e, ERR_CONFIG, "cannot compare the revisions in '%s': %s", alias, ge.msg);
        return -1;
    }
    if (!r) {
        err_set(e, ERR_USAGE,
                fix ? "bad '%s' is not an ancestor of good '%s': a fix is looked "
                      "for from an old bad commit to a new good one (or ask for "
                      "find \"regression\")"
                    : "good '%s' is not an ancestor of bad '%s': a regression is "
                      "looked for from an old good commit to a new bad one (or "
                      "ask for find \"fix\")",
                fix ? bad : good, fix ? good : bad);
        return -1;
    }
    return 0;
}

int dash_request_check(const json_t *body, const struct repos *repos, json_t **spec_r,
                       struct err *e)
{
    const char *alias = json_string_value(json_object_get(body, "alias"));
    const char *good = json_string_value(json_object_get(body, "good"));
    const char *bad = json_string_value(json_object_get(body, "bad"));
    const char *find = json_string_value(json_object_get(body, "find"));
    char *good_sha = NULL, *bad_sha = NULL;
    json_t *spec = NULL;
    int rc = -1;

    if (check_fields(body, e) < 0)
        goto out;
    if (!alias || !repos_alias_valid(alias) || !repos_path(repos, alias)) {
        struct buf names = BUF_INIT;
        repos_names(repos, &names);
        err_set(e, ERR_USAGE, "unknown repository alias '%.64s'; this dashboard knows: %s",
                alias ? alias : "", names.data);
        buf_release(&names);
        goto out;
    }
    if (!good || !bad || !rev_ok(good) || !rev_ok(bad)) {
        err_set(e, ERR_USAGE,
                "good and bad must be revisions (a commit id, tag or branch of "
                "'%s')",
                alias);
        goto out;
    }
    if (check_scalars(body, repos, alias, e) < 0 ||
        check_options(json_object_get(body, "options"), e) < 0)
        goto out;
    if (check_revs(repos_path(repos, alias), alias, good, bad, find && !strcmp(find, "fix"),
                   &good_sha, &bad_sha, e) < 0)
        goto out;
    spec = json_deep_copy(body);
    if (!find)
        json_object_set_new(spec, "find", json_string("regression"));
    json_object_set_new(spec, "good_sha", json_string(good_sha));
    json_object_set_new(spec, "bad_sha", json_string(bad_sha));
    *spec_r = spec;
    rc = 0;
out:
    free(good_sha);
    free(bad_sha);
    return rc;
}
