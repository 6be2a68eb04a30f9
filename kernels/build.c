/*
 * The builders' orchestration: source identity -> toolchain -> config inputs -> key; a
 * published key is returned at once, otherwise the tree is prepared and fixed, then configured
 * (build_config.c), built with make and published through cache_publish (build_make.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/build_int.h"
#include "kernels/build_src.h"
#include "kernels/cache_gc.h"
#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/xalloc.h"

#ifndef PVLAB_TOP
#define PVLAB_TOP "."
#endif
#define BUILD_KEY_FORMAT "pvlab-build-1"

void build_key(const struct build_key_in *in, char out[65])
{
    const char *parts[] = { BUILD_KEY_FORMAT, in->kind,      in->source,
                            in->config,       in->toolchain, in->fixes };
    struct sha256_ctx c;

    sha256_init(&c);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        const char *s = parts[i] ? parts[i] : "";
        char len[32];
        snprintf(len, sizeof(len), "%zu:", strlen(s)); /* length-prefixed: no ambiguity */
        sha256_update(&c, len, strlen(len));
        sha256_update(&c, s, strlen(s));
    }
    sha256_final_hex(&c, out);
}

void build_result_free(struct build_result *res)
{
    if (!res)
        return;
    free(res->key);
    free(res->commit);
    free(res->src_version);
    free(res->toolchain);
    free(res->fixes);
    free(res->config_sha256);
    free(res->log_path);
    *res = (struct build_result)BUILD_RESULT_INIT;
}

static void bctx_free(struct bctx *b)
{
    free(b->data_dir);
    free(b->source);
    free(b->commit);
    free(b->tree);
    free(b->tree_id);
    free(b->obj);
    free(b->log);
    toolchain_free(&b->tc);
    frag_free(&b->frag);
    sv_clear(&b->fixes);
    sv_clear(&b->applied);
    fix_table_free(&b->fixtab);
    free(b->config_in);
    free(b->config_sha);
}

void build_progress(const struct bctx *b, const char *stage, const char *detail)
{
    log_info("build", "%s: %s", stage, detail);
    if (b->r->ko->progress)
        b->r->ko->progress(b->r->ko->progress_ctx, stage, detail);
}

static char *data_dir_of(const struct build_req *r)
{
    if (r->data_dir)
        return xstrdup(r->data_dir);
    if (getenv("PVLAB_DATA_DIR"))
        return xstrdup(getenv("PVLAB_DATA_DIR"));
    return xstrdup(PVLAB_TOP "/kernels/data");
}

/* Short stable id of a string (repo path, tarball sum) for directory names. */
static char *short_id(const char *s)
{
    char h[65];

    sha256_hex_buf(s, strlen(s), h);
    return xstrndup(h, 16);
}

/*
 * A git source: repo exists and is a repository, rev names a commit there, and the (xen/)
 * Makefile at that commit names a version; read with git, no checkout. *abs_r (the repository's
 * absolute path) and *commit_r are malloc'd on success.
 */
static int git_source_check(const char *repo, const char *rev, int xen, char **abs_r,
                            char **commit_r, struct kver *ver, struct err *e)
{
    char *abs = fs_abspath(repo, NULL), *mk = NULL, *commit = NULL;
    int rc = -1;

    if (!abs) {
        err_set(e, ERR_NOTFOUND, "git tree %s does not exist", repo);
        goto out;
    }
    if (src_git_resolve(abs, rev, xen ? "xen/Makefile" : NULL, &commit, &mk, e) < 0)
        goto out;
    if (kver_of_text(mk, xen, ver) < 0) {
        err_set(e, ERR_USAGE, "%s at %s: its Makefile names no version (is it a %s tree?)", repo,
                commit, xen ? "Xen" : "Linux");
        goto out;
    }
    *abs_r = abs;
    abs = NULL;
    *commit_r = commit;
    commit = NULL;
    rc = 0;
out:
    free(abs);
    free(mk);
    free(commit);
    return rc;
}

/* Source identity and version, without touching any tree that might be checked out. */
static int source_identify(struct bctx *b, struct err *e)
{
    const struct build_req *r = b->r;
    int n = !!r->repo + !!r->tarball + !!r->srcdir;

    if (n != 1) {
        err_set(e, ERR_USAGE,
                "give exactly one source: a git tree (--repo), a tarball "
                "(--tarball) or a source directory (--srcdir)");
        return -1;
    }
    if (r->repo) {
        char *abs = NULL;
        if (git_source_check(r->repo, r->rev, b->xen, &abs, &b->commit, &b->ver, e) < 0)
            return -1;
        b->source = xasprintf("git %s", b->commit);
        b->tree_id = short_id(abs);
        b->tree = xasprintf("%s/build/trees/%s-%s", r->ko->cache_dir, b->kind, b->tree_id);
        free(abs);
        return 0;
    }
    if (r->tarball) {
        char sum[65];
        if (src_tarball(r->ko->cache_dir, r->tarball, sum, &b->tree, e) < 0)
            return -1;
        b->commit = xstrdup(sum);
        b->source = xasprintf("tarball %s", sum);
        b->tree_id = xstrndup(sum, 16);
    } else {
        b->tree = fs_abspath(r->srcdir, e);
        if (!b->tree)
            return -1;
        b->commit = xstrdup(r->srcid ? r->srcid : b->tree);
        b->source = xasprintf("srcdir %s", b->commit);
        b->tree_id = short_id(b->tree);
    }
    return kver_of_tree(b->tree, b->xen, &b->ver, e);
}

static int load_fixes(struct bctx *b, struct err *e)
{
    struct buf t = BUF_INIT;
    char *path = xasprintf("%s/fixes.tab", b->data_dir);
    int rc = -1;

    if (buf_read_file(&t, path, e) < 0 || fix_table_parse(t.data, &b->fixtab, e) < 0)
        goto out;
    for (size_t i = 0; i < b->fixtab.n; i++)
        if (fix_in_range(&b->fixtab.v[i], b->kind, &b->ver, b->tc.cc_major))
            sv_push(&b->fixes, b->fixtab.v[i].id);
    rc = 0;
out:
    buf_release(&t);
    free(path);
    return rc;
}

static void fill_result(struct bctx *b, long long t0)
{
    struct build_result *res = b->res;
    char v[32];

    kver_format(&b->ver, v, sizeof(v));
    res->ms = proc_now_ms() - t0;
    res->key = xstrdup(b->key);
    res->commit = xstrdup(b->commit);
    res->src_version = xstrdup(v);
    res->toolchain = b->tc.fallback
                         ? xasprintf("%s, standing in for %s", b->tc.cc_version, b->tc.fallback)
                         : xstrdup(b->tc.cc_version);
    res->fixes = sv_join(&b->applied, ",");
    res->config_sha256 = xstrdup(b->config_sha);
    res->log_path = xstrdup(b->log);
}

/* Steps 1-4 (identity, toolchain, config inputs, fixes) -> b->key. */
static int compute_key(struct bctx *b, struct err *e)
{
    struct build_key_in in;
    char *fixes = NULL;
    char vs[32];

    if (source_identify(b, e) < 0)
        return -1;
    kver_format(&b->ver, vs, sizeof(vs));
    if (toolchain_get(b->r, b->data_dir, b->kind, &b->ver, &b->tc, e) < 0) {
        err_prefix(e, "%s %s", b->kind, vs);
        return -1;
    }
    if (build_config_inputs(b, e) < 0 || load_fixes(b, e) < 0)
        return -1;
    fixes = sv_join(&b->fixes, ",");
    in = (struct build_key_in){ b->kind, b->source, b->config_in, b->tc.cc_version, fixes };
    build_key(&in, b->key);
    free(fixes);
    b->log = xasprintf("%s/build/logs/%s-%.16s.log", b->r->ko->cache_dir, b->kind, b->key);
    return 0;
}

/* Removes what makes kbuild call a source tree unclean for O= builds. */
static int clean_for_o(const char *tree, struct err *e)
{
    static const char *const junk[] = { ".config", "include/config", "include/generated",
                                        "arch/x86/include/generated", NULL };
    int rc = 0;

    for (size_t i = 0; junk[i] && rc == 0; i++) {
        char *p = xasprintf("%s/%s", tree, junk[i]);
        if (fs_exists(p)) {
            log_info("build",
                     "removing %s from the build's copy of the tree (O= needs a "
                     "clean source tree)",
                     p);
            rc = fs_rmtree(p, e);
        }
        free(p);
    }
    return rc;
}

/* Prepares the tree at the commit and applies the fixes (under the tree lock). */
static int prepare_tree(struct bctx *b, struct err *e)
{
    if (b->r->repo) {
        char *abs = fs_abspath(b->r->repo, e);
        int r = abs ? src_git_checkout(abs, b->commit, b->tree, b->log, e) : -1;
        free(abs);
        if (r < 0)
            return -1;
    }
    if (!b->xen) {
        b->obj =
            xasprintf("%s/build/obj/linux-%s-%s", b->r->ko->cache_dir, b->tree_id, b->tc.profile);
        /* kbuild refuses O= builds from a tree with a .config ("not clean, run make
           mrproper"); some trees commit one. Ours is a worktree or an unpacked copy. */
        if (!b->r->srcdir && clean_for_o(b->tree, e) < 0)
            return -1;
    }
    return fixes_apply(&b->fixtab, b->kind, &b->ver, b->tc.cc_major, b->tree, &b->applied, e);
}

static int build_kind(const struct build_req *r, enum artifact_kind kind, struct artifact *a,
                      struct err *e)
{
    struct build_result local = BUILD_RESULT_INIT;
    struct bctx b;
    char *logdir = NULL, *klock = NULL, *tlock = NULL, *lockdir = NULL;
    int gfd = -1, kfd = -1, tfd = -1, hit, rc = -1;
    long long t0 = proc_now_ms();

    memset(&b, 0, sizeof(b));
    *a = (struct artifact)ARTIFACT_INIT;
    a->kind = kind;
    b.r = r;
    b.res = r->result ? r->result : &local;
    *b.res = (struct build_result)BUILD_RESULT_INIT;
    b.kind = artifact_kind_name(kind);
    b.xen = kind == ARTIFACT_XEN;
    b.data_dir = data_dir_of(r);
    if (!r->ko || !r->ko->cache_dir) {
        err_set(e, ERR_CONFIG, "no cache directory configured (set cache_dir)");
        goto out;
    }
    /* cache gc removes nothing this build uses (trees, sources, the object dir) meanwhile */
    if (cache_hold(r->ko->cache_dir, &gfd, e) < 0 || compute_key(&b, e) < 0)
        goto out;
    if ((hit = cache_lookup(r->ko->cache_dir, kind, b.key, a, e)) < 0)
        goto out;
    if (!hit) {
        logdir = xasprintf("%s/build/logs", r->ko->cache_dir);
        klock = xasprintf("%s/build/locks/%s.lock", r->ko->cache_dir, b.key);
        tlock = xasprintf("%s/build/locks/tree-%s-%s.lock", r->ko->cache_dir, b.kind, b.tree_id);
        lockdir = fs_dirname(klock);
        if (fs_mkdirs(logdir, e) < 0 || fs_mkdirs(lockdir, e) < 0)
            goto out;
        /* one build per key; a concurrent builder of the same key publishes, we then hit */
        if (fs_lock(klock, &kfd, e) < 0)
            goto out;
        if ((hit = cache_lookup(r->ko->cache_dir, kind, b.key, a, e)) < 0)
            goto out;
    }
    if (hit) {
        b.res->cache_hit = 1;
        build_hit_record(&b, a->path);
        build_progress(&b, "cached", a->path);
    } else {
        if (fs_lock(tlock, &tfd, e) < 0 || prepare_tree(&b, e) < 0)
            goto out;
        if (build_configure(&b, e) < 0 || build_make_image(&b, e) < 0)
            goto out;
        if (build_publish(&b, kind, a, e) < 0)
            goto out;
    }
    fill_result(&b, t0);
    rc = 0;
out:
    if (rc < 0) {
        artifact_free(a);
        a->kind = kind;
    }
    fs_unlock(tfd);
    fs_unlock(kfd);
    fs_unlock(gfd);
    bctx_free(&b);
    build_result_free(&local);
    free(logdir);
    free(klock);
    free(tlock);
    free(lockdir);
    return rc;
}

int build_linux(const struct build_req *r, struct artifact *a, struct err *e)
{
    return build_kind(r, ARTIFACT_LINUX, a, e);
}

int build_xen(const struct build_req *r, struct artifact *a, struct err *e)
{
    return build_kind(r, ARTIFACT_XEN, a, e);
}

int build_artifact(const struct build_req *r, struct artifact *a, struct err *e)
{
    return build_kind(r, r->kind, a, e);
}

/* A build spec taken apart; strings owned. */
struct build_spec {
    enum { BSPEC_GIT, BSPEC_TARBALL, BSPEC_DEBSRC } form;
    char *path;  /* git: the repository ("~/" expanded); tarball: the file */
    char *rev;   /* git: after the last '@'; NULL = HEAD */
    char *suite; /* debsrc: NULL = bookworm */
    /* "?toolchain=T,base=B" after the source: the builder's choices, overridden */
    char *toolchain, *base;
    char *bad; /* an option that is not one of those ("name=value"), for the error */
};

/* Takes "?k=v,k=v" off the end of body (modified in place) into bs. */
static void build_spec_opts(char *body, struct build_spec *bs)
{
    char *q = strrchr(body, '?'), *save = NULL;

    if (!q)
        return;
    *q++ = 0;
    for (char *kv = strtok_r(q, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        char **slot = NULL;
        if (eq && eq - kv == 9 && !strncmp(kv, "toolchain", 9))
            slot = &bs->toolchain;
        else if (eq && eq - kv == 4 && !strncmp(kv, "base", 4))
            slot = &bs->base;
        if (slot && eq[1]) {
            free(*slot);
            *slot = xstrdup(eq + 1);
        } else if (!bs->bad) {
            bs->bad = xstrdup(kv);
        }
    }
}

/*
 * Parses "git:PATH[@REV]", "tarball:PATH", "debsrc:[SUITE]" (Xen only), each optionally
 * followed by "?toolchain=T,base=B"; 0 when spec is none.
 */
static int build_spec_parse(enum artifact_kind kind, const char *spec, struct build_spec *bs)
{
    char *body;

    memset(bs, 0, sizeof(*bs));
    if (strncmp(spec, "git:", 4) && strncmp(spec, "tarball:", 8) &&
        (strncmp(spec, "debsrc:", 7) || kind != ARTIFACT_XEN))
        return 0;
    body = xstrdup(spec);
    build_spec_opts(body, bs);
    spec = body;
    if (!strncmp(spec, "git:", 4)) {
        const char *p = spec + 4, *at = strrchr(p, '@');
        bs->form = BSPEC_GIT;
        bs->path = at ? xstrndup(p, (size_t)(at - p)) : xstrdup(p);
        bs->rev = at ? xstrdup(at + 1) : NULL;
        if (bs->path[0] == '~' && bs->path[1] == '/' && getenv("HOME")) {
            char *h = xasprintf("%s%s", getenv("HOME"), bs->path + 1);
            free(bs->path);
            bs->path = h;
        }
    } else if (!strncmp(spec, "tarball:", 8)) {
        bs->form = BSPEC_TARBALL;
        bs->path = xstrdup(spec + 8);
    } else if (!strncmp(spec, "debsrc:", 7) && kind == ARTIFACT_XEN) {
        bs->form = BSPEC_DEBSRC;
        bs->suite = spec[7] ? xstrdup(spec + 7) : NULL;
    }
    free(body);
    return 1;
}

static void build_spec_free(struct build_spec *bs)
{
    free(bs->path);
    free(bs->rev);
    free(bs->suite);
    free(bs->toolchain);
    free(bs->base);
    free(bs->bad);
}

/* debsrc: takes the suites of the shipped Debian table (they have the -security suite that
 * build_debian_source adds); anything else would only fail later, after an apt update. */
static int debsrc_suite_check(const char *spec, const char *suite, struct err *e)
{
    struct buf known = BUF_INIT;
    int rc = -1;

    for (size_t i = 0; i < debian_table_len && rc < 0; i++) {
        if (!strcmp(debian_table[i].suite, suite))
            rc = 0;
        else if (!strstr(known.data, debian_table[i].suite))
            buf_addf(&known, "%s%s", known.len ? ", " : "", debian_table[i].suite);
    }
    if (rc < 0)
        err_set(e, ERR_NOTFOUND, "unknown Debian suite '%s' in '%s'; known: %s", suite, spec,
                known.data);
    buf_release(&known);
    return rc;
}

/* The checks of a build spec that need no cache, no network and no build. */
static int build_spec_check(const struct build_spec *bs, enum artifact_kind kind, const char *spec,
                            struct err *e)
{
    if (bs->bad) {
        err_set(e, ERR_USAGE,
                "'%s': unknown build option '%s' (after '?': toolchain=host|PROFILE|"
                "chroot:PATH, base=tinyconfig|allnoconfig|defconfig|FILE, comma-separated)",
                spec, bs->bad);
        return -1;
    }
    if (bs->base && kind == ARTIFACT_XEN) {
        err_set(e, ERR_USAGE, "'%s': base= is for Linux (Xen builds from its defconfig)", spec);
        return -1;
    }
    if (bs->form == BSPEC_DEBSRC)
        return debsrc_suite_check(spec, bs->suite ? bs->suite : "bookworm", e);
    if (!*bs->path) {
        err_set(e, ERR_USAGE, "'%s' names no source", spec);
        return -1;
    }
    if (bs->form == BSPEC_TARBALL)
        return src_tarball_check(bs->path, e);
    {
        struct kver ver;
        char *abs = NULL, *commit = NULL;
        int rc = git_source_check(bs->path, bs->rev, kind == ARTIFACT_XEN, &abs, &commit, &ver, e);
        free(abs);
        free(commit);
        return rc;
    }
}

int build_check_spec(enum artifact_kind kind, const char *spec, int *rc_r, struct err *e)
{
    struct build_spec bs;

    if (!build_spec_parse(kind, spec, &bs))
        return 0;
    *rc_r = build_spec_check(&bs, kind, spec, e);
    build_spec_free(&bs);
    return 1;
}

int build_resolve_spec(const struct kernels_opts *o, enum artifact_kind kind, const char *spec,
                       struct artifact *a, int *rc_r, struct err *e)
{
    struct build_req r;
    struct build_spec bs;
    char *dir = NULL, *id = NULL;
    int hold_fd = -1;

    if (!build_spec_parse(kind, spec, &bs))
        return 0;
    memset(&r, 0, sizeof(r));
    r.ko = o;
    r.kind = kind;
    r.role = kind == ARTIFACT_LINUX && o->linux_domu ? BUILD_DOMU : BUILD_DOM0;
    r.toolchain = bs.toolchain;
    r.config_base = bs.base;
    *rc_r = -1;
    if ((bs.bad || (bs.base && kind == ARTIFACT_XEN)) && build_spec_check(&bs, kind, spec, e) < 0)
        goto out;
    if (bs.form == BSPEC_GIT) {
        r.repo = bs.path;
        r.rev = bs.rev;
    } else if (bs.form == BSPEC_TARBALL) {
        r.tarball = bs.path;
    } else {
        /* cache gc keeps the source tree and its apt state until the build has used them */
        if (debsrc_suite_check(spec, bs.suite ? bs.suite : "bookworm", e) < 0 ||
            cache_hold(o->cache_dir, &hold_fd, e) < 0 ||
            build_debian_source(o, "xen", bs.suite, &dir, &id, e) < 0)
            goto out;
        r.srcdir = dir;
        r.srcid = id;
    }
    if ((r.repo && !*r.repo) || (r.tarball && !*r.tarball)) {
        err_set(e, ERR_USAGE, "'%s' names no source", spec);
        goto out;
    }
    *rc_r = build_kind(&r, kind, a, e);
out:
    fs_unlock(hold_fd);
    build_spec_free(&bs);
    free(dir);
    free(id);
    return 1;
}
