/*
 * The builders: source identity -> toolchain -> config inputs -> key; a published key is
 * returned at once, otherwise the tree is prepared, fixed, configured, built with make and
 * published through cache_publish (kernels/cache.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "kernels/build_priv.h"
#include "kernels/build_src.h"
#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/xalloc.h"

#ifndef PVLAB_TOP
#define PVLAB_TOP "."
#endif
#define BUILD_KEY_FORMAT "pvlab-build-1"
#define T_MAKE_MS_DEFAULT (3 * 60 * 60 * 1000)
#define BUILD_MIN_FREE (64LL << 20) /* below this, a failed build blames the disk */

/* Everything one build call works with; strings owned. */
struct bctx {
    const struct build_req *r;
    struct build_result *res;
    const char *kind;        /* "linux" / "xen" */
    int xen;
    char *data_dir;
    char *source;            /* "git <commit>" / "tarball <sha>" / "srcdir <id>" */
    char *commit;            /* commit or sha256 */
    char *tree;              /* source tree to build (worktree / unpacked / srcdir) */
    char *tree_id;           /* names the persistent build dir */
    char *obj;               /* Linux O= dir */
    char *log;
    struct kver ver;
    struct toolchain tc;
    struct frag frag;
    struct sv fixes;         /* in-range ids (key) */
    struct sv applied;
    struct fix_table fixtab;
    char *config_in;         /* key input: base + fragment */
    char *config_sha;
    char key[65];
};

void build_key(const struct build_key_in *in, char out[65])
{
    const char *parts[] = { BUILD_KEY_FORMAT, in->kind, in->source, in->config, in->toolchain,
                            in->fixes };
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

char *build_log_errors(const char *log, size_t max_lines)
{
    struct buf t = BUF_INIT, out = BUF_INIT;
    struct sv lines = SV_INIT, hits = SV_INIT;
    size_t from;

    buf_init(&t, 0);
    if (buf_read_file(&t, log, NULL) < 0)
        return xstrdup("(no build log)");
    /* only the tail matters, and a huge log must not cost much */
    sv_split(&lines, t.len > (1 << 20) ? t.data + t.len - (1 << 20) : t.data, "\n");
    for (size_t i = 0; i < lines.n; i++)
        if (strstr(lines.v[i], "error:") || strstr(lines.v[i], "Error ") ||
            strstr(lines.v[i], "*** ") || strstr(lines.v[i], "undefined reference") ||
            strstr(lines.v[i], "No such file") || strstr(lines.v[i], "fatal"))
            sv_push(&hits, lines.v[i]);
    if (!hits.n) /* nothing recognisable: the plain tail */
        for (size_t i = lines.n > max_lines ? lines.n - max_lines : 0; i < lines.n; i++)
            sv_push(&hits, lines.v[i]);
    from = hits.n > max_lines ? hits.n - max_lines : 0;
    for (size_t i = from; i < hits.n; i++)
        buf_addf(&out, "%s%s", i > from ? "\n" : "", hits.v[i]);
    sv_clear(&lines);
    sv_clear(&hits);
    buf_release(&t);
    return buf_detach(&out, NULL);
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

static void progress(const struct bctx *b, const char *stage, const char *detail)
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

/* Source identity and version, without touching any tree that might be checked out. */
static int source_identify(struct bctx *b, struct err *e)
{
    const struct build_req *r = b->r;
    int n = !!r->repo + !!r->tarball + !!r->srcdir;

    if (n != 1) {
        err_set(e, ERR_USAGE, "give exactly one source: a git tree (--repo), a tarball "
                "(--tarball) or a source directory (--srcdir)");
        return -1;
    }
    if (r->repo) {
        char *abs = fs_abspath(r->repo, NULL), *mk = NULL;
        int rc = -1;
        if (!abs) {
            err_set(e, ERR_NOTFOUND, "git tree %s does not exist", r->repo);
            return -1;
        }
        if (src_git_resolve(abs, r->rev, b->xen ? "xen/Makefile" : NULL, &b->commit, &mk,
                            e) == 0) {
            if (kver_of_text(mk, b->xen, &b->ver) < 0)
                err_set(e, ERR_USAGE, "%s at %s: its Makefile names no version (is it a %s "
                        "tree?)", r->repo, b->commit, b->xen ? "Xen" : "Linux");
            else
                rc = 0;
        }
        if (rc == 0) {
            b->source = xasprintf("git %s", b->commit);
            b->tree_id = short_id(abs);
            b->tree = xasprintf("%s/build/trees/%s-%s", r->ko->cache_dir, b->kind, b->tree_id);
        }
        free(abs);
        free(mk);
        return rc;
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

/* Fragment (by version) and base config -> the config key input. */
static int config_inputs(struct bctx *b, struct err *e)
{
    const struct build_req *r = b->r;
    struct buf t = BUF_INIT, in = BUF_INIT;
    char *fname = b->xen ? xasprintf("%s/xen-%s.frag", b->data_dir, r->debug ? "debug" : "release")
                         : xasprintf("%s/linux-%s.frag", b->data_dir,
                                     r->role == BUILD_DOMU ? "domU" : "dom0");
    const char *base = b->xen ? "defconfig" : r->config_base ? r->config_base : "tinyconfig";
    int rc = -1;

    if (buf_read_file(&t, fname, e) < 0) {
        err_prefix(e, "config fragment (set PVLAB_DATA_DIR to pvlab's kernels/data)");
        goto out;
    }
    if (frag_parse(t.data, fname, &b->ver, &b->frag, e) < 0)
        goto out;
    if (!strcmp(base, "tinyconfig") || !strcmp(base, "defconfig")) {
        buf_addf(&in, "base %s\n", base);
    } else {
        char sum[65];
        if (sha256_file_hex(base, sum, e) < 0) {
            err_prefix(e, "--config-base %s (tinyconfig, defconfig or a .config file)", base);
            goto out;
        }
        buf_addf(&in, "base file %s\n", sum);
    }
    frag_canon(&b->frag, &in);
    b->config_in = buf_detach(&in, NULL);
    rc = 0;
out:
    buf_release(&t);
    buf_release(&in);
    free(fname);
    return rc;
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

/*
 * Whether a failed make ran out of disk. The compiler's "No space left on device" usually cannot
 * reach the log (the log is on the full disk too), so a build that failed while the tree, the
 * object dir or the log has less than BUILD_MIN_FREE left is blamed on the disk, not the commit:
 * a skip would make a bisection step over good commits.
 */
static int build_disk_full(const struct bctx *b)
{
    const char *paths[] = { b->tree, b->obj, b->log };

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        long long left = paths[i] ? fs_free_bytes(paths[i]) : -1;

        if (left >= 0 && left < BUILD_MIN_FREE)
            return 1;
    }
    return 0;
}

/* Runs make in the toolchain with the common variables; counts it. */
static int run_make(struct bctx *b, const char *const *targets, struct err *e)
{
    struct sv av = SV_INIT;
    int rc, timeout = b->r->timeout_s > 0 ? b->r->timeout_s * 1000 : T_MAKE_MS_DEFAULT;

    sv_push(&av, "make");
    if (b->xen) {
        sv_push(&av, "-C");
        sv_push(&av, b->tc.root ? "/pvlab/src/xen" : "xen");
        sv_push(&av, "XEN_TARGET_ARCH=x86_64");
    } else {
        sv_push(&av, "-C");
        sv_push(&av, "@SRC@");
        sv_push(&av, "O=@OBJ@");
        sv_push(&av, "ARCH=x86_64");
    }
    sv_pushf(&av, "-j%d", b->r->jobs > 0 ? b->r->jobs : 2);
    if (b->tc.ccache)
        sv_pushf(&av, "CC=ccache %s", b->tc.cc);
    else
        sv_pushf(&av, "CC=%s", b->tc.cc);
    sv_pushf(&av, "HOSTCC=%s", b->tc.cc); /* a chroot may have only gcc-N, no gcc */
    for (size_t i = 0; targets[i]; i++)
        if (!b->xen || strcmp(targets[i], "xen")) /* "xen": xen/Makefile's default goal */
            sv_push(&av, targets[i]);
    {
        FILE *f = fopen(b->log, "a");
        if (f) {
            char *line = sv_join(&av, " ");
            fprintf(f, "\n==== pvlab: %s\n", line);
            free(line);
            fclose(f);
        }
    }
    b->res->make_runs++;
    rc = toolchain_run(&b->tc, (const char *const *)sv_argv(&av), b->tree, b->obj, b->log,
                       timeout, e);
    sv_clear(&av);
    if (rc < 0 && e &&
        (e->code == ERR_PROC || e->code == ERR_TIMEOUT || e->code == ERR_INTERRUPTED)) {
        char *tail = build_log_errors(b->log, 15);
        if (strstr(tail, "No space left on device") || build_disk_full(b)) {
            err_set(e, ERR_NOSPACE, "disk full while building %s (log %s): free space in the "
                    "cache ('pvlab cache gc --keep SIZE')", b->kind, b->log);
        } else if (e->code != ERR_PROC || proc_interrupted()) {
            err_prefix(e, "make %s", targets[0]); /* infra, not the commit's fault */
        } else {
            err_set(e, ERR_BUILD, "%s %s does not build (make %s failed; log %s):\n%s", b->kind,
                    b->commit, targets[0], b->log, tail);
        }
        free(tail);
    }
    return rc;
}

/* Whether a Kconfig file of the tree defines option (for the survived-options message). */
static int kconfig_defines(const char *tree, const char *option)
{
    char *re = xasprintf("^[[:space:]]*(menu)?config[[:space:]]+%s[[:space:]]*$", option + 7);
    const char *argv[] = { "grep", "-rqE", "--include=Kconfig*", re, tree, NULL };
    struct proc_spec ps = { 0 };
    int r;

    ps.argv = argv;
    ps.timeout_ms = 120000;
    r = proc_run(&ps, NULL) == 0;
    free(re);
    return r;
}

/* Merges the fragment into cfg_path, runs olddefconfig, checks the required options. */
static int configure(struct bctx *b, const char *cfg_path, struct err *e)
{
    static const char *const olddef[] = { "olddefconfig", NULL };
    struct buf cfg = BUF_INIT, merged = BUF_INIT;
    struct sv bad = SV_INIT;
    char sum[65];
    int rc = -1;

    if (buf_read_file(&cfg, cfg_path, e) < 0)
        goto out;
    frag_apply(cfg.data, &b->frag, &merged);
    if (fs_write_atomic(cfg_path, merged.data, merged.len, e) < 0 || run_make(b, olddef, e) < 0)
        goto out;
    buf_reset(&cfg);
    if (buf_read_file(&cfg, cfg_path, e) < 0)
        goto out;
    if (frag_check(cfg.data, &b->frag, &bad) > 0) {
        struct buf msg = BUF_INIT;
        for (size_t i = 0; i < bad.n; i++) {
            char *name = xstrndup(bad.v[i], strcspn(bad.v[i], "="));
            buf_addf(&msg, "\n  %s: %s", bad.v[i], kconfig_defines(b->tree, name)
                     ? "its dependencies are off in this config"
                     : "unknown to this kernel (wrong era in the fragment?)");
            free(name);
        }
        err_set(e, ERR_BUILD, "%s %s (%s): options of the %s fragment did not survive `make "
                "olddefconfig`:%s\nadd what they depend on to the fragment (or mark them '?')",
                b->kind, b->commit, cfg_path, b->xen ? "Xen" : "PV", msg.data);
        buf_release(&msg);
        goto out;
    }
    sha256_hex_buf(cfg.data, cfg.len, sum);
    b->config_sha = xstrdup(sum);
    rc = 0;
out:
    buf_release(&cfg);
    buf_release(&merged);
    sv_clear(&bad);
    return rc;
}

/* Linux: base config, fragment, olddefconfig, check, bzImage. */
static int make_linux(struct bctx *b, struct err *e)
{
    const char *base = b->r->config_base ? b->r->config_base : "tinyconfig";
    char *cfg = xasprintf("%s/.config", b->obj);
    int rc = -1;

    if (fs_mkdirs(b->obj, e) < 0)
        goto out;
    progress(b, "configure", base);
    if (!strcmp(base, "tinyconfig") || !strcmp(base, "defconfig")) {
        const char *t[] = { base, NULL };
        if (run_make(b, t, e) < 0)
            goto out;
    } else if (image_copy(base, cfg, e) < 0) {
        goto out;
    }
    if (configure(b, cfg, e) < 0)
        goto out;
    progress(b, "build", "make bzImage (minutes)");
    {
        const char *t[] = { "bzImage", NULL };
        if (run_make(b, t, e) < 0)
            goto out;
    }
    rc = 0;
out:
    free(cfg);
    return rc;
}

/* Xen: defconfig, fragment, olddefconfig, check, the hypervisor (no tools). */
static int make_xen(struct bctx *b, struct err *e)
{
    const char *t1[] = { "defconfig", NULL }, *t2[] = { "xen", NULL };
    char *cfg = xasprintf("%s/xen/.config", b->tree);
    int rc = -1;

    progress(b, "configure", b->r->debug ? "defconfig + debug" : "defconfig + release");
    if (run_make(b, t1, e) < 0 || configure(b, cfg, e) < 0)
        goto out;
    progress(b, "build", "make -C xen (minutes)");
    if (run_make(b, t2, e) < 0)
        goto out;
    rc = 0;
out:
    free(cfg);
    return rc;
}

struct fill_ctx {
    struct bctx *b;
    const char *built;  /* the make output to publish */
    const char *config; /* the resolved .config */
};

/* cache_publish fill: the bootable file plus the build record and the config beside it. */
static int build_fill(void *vctx, const char *file, struct err *e)
{
    struct fill_ctx *x = vctx;
    struct bctx *b = x->b;
    char *dir = fs_dirname(file), *p = NULL, *fixes = sv_join(&b->applied, ",");
    struct buf rec = BUF_INIT, cfg = BUF_INIT;
    struct jw w;
    int rc = -1;

    if (image_copy(x->built, file, e) < 0)
        goto out;
    p = xasprintf("%s/config", dir);
    if (buf_read_file(&cfg, x->config, e) < 0 || fs_write_atomic(p, cfg.data, cfg.len, e) < 0)
        goto out;
    jw_init(&w, &rec);
    jw_obj(&w);
    jw_kv_s(&w, "key", b->key);
    jw_kv_s(&w, "kind", b->kind);
    jw_kv_s(&w, "source", b->source);
    jw_kv_s(&w, "tree", b->r->repo ? b->r->repo : b->r->tarball ? b->r->tarball : b->r->srcdir);
    jw_kv_s(&w, "toolchain", b->tc.cc_version);
    jw_kv_s(&w, "fixes", fixes);
    jw_kv_s(&w, "config_inputs", b->config_in);
    jw_kv_s(&w, "config_sha256", b->config_sha);
    jw_kv_int(&w, "built_at", (long long)time(NULL));
    jw_end(&w);
    buf_addch(&rec, '\n');
    free(p);
    p = xasprintf("%s/build.json", dir);
    if (fs_write_atomic(p, rec.data, rec.len, e) < 0)
        goto out;
    rc = 0;
out:
    buf_release(&rec);
    buf_release(&cfg);
    free(dir);
    free(p);
    free(fixes);
    return rc;
}

/* On a hit: the recorded config hash and fixes, and a fresh mtime for `cache gc` (LRU). */
static void hit_record(struct bctx *b, const char *path)
{
    char *dir = fs_dirname(path), *p = xasprintf("%s/build.json", dir);
    struct buf t = BUF_INIT;
    struct json_flat j = { NULL, 0 };

    utime(dir, NULL);
    if (buf_read_file(&t, p, NULL) == 0 && json_flat_parse(t.data, &j, NULL) == 0) {
        b->config_sha = xstrdup(json_flat_str(&j, "config_sha256"));
        sv_split(&b->applied, json_flat_str(&j, "fixes") ? json_flat_str(&j, "fixes") : "", ",");
    }
    json_flat_free(&j);
    buf_release(&t);
    free(dir);
    free(p);
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
    res->toolchain = xstrdup(b->tc.cc_version);
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
    if (config_inputs(b, e) < 0 || load_fixes(b, e) < 0)
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
            log_info("build", "removing %s from the build's copy of the tree (O= needs a "
                     "clean source tree)", p);
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
        b->obj = xasprintf("%s/build/obj/linux-%s-%s", b->r->ko->cache_dir, b->tree_id,
                           b->tc.profile);
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
    char *logdir = NULL, *klock = NULL, *tlock = NULL, *built = NULL, *cfg = NULL;
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
        built = fs_dirname(klock);
        if (fs_mkdirs(logdir, e) < 0 || fs_mkdirs(built, e) < 0)
            goto out;
        free(built);
        built = NULL;
        /* one build per key; a concurrent builder of the same key publishes, we then hit */
        if (fs_lock(klock, &kfd, e) < 0)
            goto out;
        if ((hit = cache_lookup(r->ko->cache_dir, kind, b.key, a, e)) < 0)
            goto out;
    }
    if (hit) {
        b.res->cache_hit = 1;
        hit_record(&b, a->path);
        progress(&b, "cached", a->path);
    } else {
        if (fs_lock(tlock, &tfd, e) < 0 || prepare_tree(&b, e) < 0)
            goto out;
        if ((b.xen ? make_xen(&b, e) : make_linux(&b, e)) < 0)
            goto out;
        built = b.xen ? xasprintf("%s/xen/xen", b.tree)
                      : xasprintf("%s/arch/x86/boot/bzImage", b.obj);
        cfg = b.xen ? xasprintf("%s/xen/.config", b.tree) : xasprintf("%s/.config", b.obj);
        a->provider = xstrdup(r->repo ? "git" : r->tarball ? "tarball" : "srcdir");
        a->package = xstrdup(r->repo ? r->repo : r->tarball ? r->tarball : r->srcdir);
        a->version = xstrdup(b.commit);
        a->suite = xstrdup(b.tc.profile);
        a->source_sha256 = xstrdup(b.key);
        {
            struct fill_ctx x = { &b, built, cfg };
            if (cache_publish(r->ko->cache_dir, kind, b.key, build_fill, &x, a, e) < 0)
                goto out;
        }
        progress(&b, "built", a->path);
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
    free(built);
    free(cfg);
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

int build_resolve_spec(const struct kernels_opts *o, enum artifact_kind kind, const char *spec,
                       struct artifact *a, int *rc_r, struct err *e)
{
    struct build_req r;
    char *path = NULL, *rev = NULL, *dir = NULL, *id = NULL;
    const char *at;

    memset(&r, 0, sizeof(r));
    r.ko = o;
    r.kind = kind;
    if (!strncmp(spec, "git:", 4)) {
        const char *p = spec + 4;
        at = strrchr(p, '@');
        path = at ? xstrndup(p, (size_t)(at - p)) : xstrdup(p);
        rev = at ? xstrdup(at + 1) : NULL;
        if (path[0] == '~' && path[1] == '/' && getenv("HOME")) {
            char *h = xasprintf("%s%s", getenv("HOME"), path + 1);
            free(path);
            path = h;
        }
        r.repo = path;
        r.rev = rev;
    } else if (!strncmp(spec, "tarball:", 8)) {
        r.tarball = spec + 8;
    } else if (!strncmp(spec, "debsrc:", 7) && kind == ARTIFACT_XEN) {
        if (build_debian_source(o, "xen", spec[7] ? spec + 7 : NULL, &dir, &id, e) < 0) {
            *rc_r = -1;
            goto out;
        }
        r.srcdir = dir;
        r.srcid = id;
    } else {
        return 0;
    }
    if (!r.repo && !r.tarball && !r.srcdir) {
        err_set(e, ERR_USAGE, "'%s' names no source", spec);
        *rc_r = -1;
        goto out;
    }
    *rc_r = build_kind(&r, kind, a, e);
out:
    free(path);
    free(rev);
    free(dir);
    free(id);
    return 1;
}
