/*
 * The builder's configuration step: the config inputs of the cache key (the base and the
 * fragment lines selected by version), the base config, the fragment merged over it,
 * `make olddefconfig`, and the check that every required fragment option survived.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/build_int.h"
#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/xalloc.h"

/* The named bases `make` knows; tinyconfig only from 3.17 (allnoconfig is the base before). */
static int named_base(const char *base)
{
    return !strcmp(base, "tinyconfig") || !strcmp(base, "allnoconfig") ||
           !strcmp(base, "defconfig");
}

const char *build_linux_base(const struct bctx *b)
{
    static const struct kver tiny = { { 3, 17, 0 } };

    if (b->r->config_base)
        return b->r->config_base;
    return kver_cmp(&b->ver, &tiny) < 0 ? "allnoconfig" : "tinyconfig";
}

/* Fragment (by version) and base config -> the config key input. */
int build_config_inputs(struct bctx *b, struct err *e)
{
    const struct build_req *r = b->r;
    struct buf t = BUF_INIT, in = BUF_INIT;
    char *fname = b->xen ? xasprintf("%s/xen-%s.frag", b->data_dir, r->debug ? "debug" : "release")
                         : xasprintf("%s/linux-%s.frag", b->data_dir,
                                     r->role == BUILD_DOMU ? "domU" : "dom0");
    const char *base = b->xen ? "defconfig" : build_linux_base(b);
    static const struct kver tiny = { { 3, 17, 0 } };
    int rc = -1;

    if (!b->xen && !strcmp(base, "tinyconfig") && kver_cmp(&b->ver, &tiny) < 0) {
        char vs[32];
        kver_format(&b->ver, vs, sizeof(vs));
        err_set(e, ERR_USAGE,
                "config base tinyconfig: Linux %s has none (`make tinyconfig` exists from "
                "3.17); use allnoconfig (the default before 3.17), defconfig or a .config file",
                vs);
        goto out;
    }

    if (buf_read_file(&t, fname, e) < 0) {
        err_prefix(e, "config fragment (set PVLAB_DATA_DIR to pvlab's kernels/data)");
        goto out;
    }
    if (frag_parse(t.data, fname, &b->ver, &b->frag, e) < 0)
        goto out;
    if (named_base(base)) {
        buf_addf(&in, "base %s\n", base);
    } else {
        char sum[65];
        if (sha256_file_hex(base, sum, e) < 0) {
            err_prefix(e, "--config-base %s (tinyconfig, allnoconfig, defconfig or a .config file)",
                       base);
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

/*
 * Resolves the merged config without asking: `make olddefconfig` from 3.7, where it first
 * exists. Before, every config target but the all*config ones asks about new options on the
 * terminal (and aborts when input is redirected), so the merged file is given to `make
 * allnoconfig` as KCONFIG_ALLCONFIG: its values are kept, every option it does not set is off.
 */
static int resolve_config(struct bctx *b, const char *cfg_path, const struct buf *merged,
                          struct err *e)
{
    static const struct kver olddef_from = { { 3, 7, 0 } };
    static const char *const olddef[] = { "olddefconfig", NULL };
    static const char *const allno[] = { "KCONFIG_ALLCONFIG=.pvlab-allconfig", "allnoconfig",
                                         NULL };
    char *all;
    int r;

    if (b->xen || kver_cmp(&b->ver, &olddef_from) >= 0)
        return build_run_make(b, olddef, e);
    all = xasprintf("%s/.pvlab-allconfig", b->obj);
    r = fs_write_atomic(all, merged->data, merged->len, e);
    if (r == 0)
        r = build_run_make(b, allno, e);
    free(all);
    (void)cfg_path;
    return r;
}

/* Merges the fragment into cfg_path, resolves it, checks the required options. */
static int merge_and_check(struct bctx *b, const char *cfg_path, struct err *e)
{
    struct buf cfg = BUF_INIT, merged = BUF_INIT;
    struct sv bad = SV_INIT;
    char sum[65];
    int rc = -1;

    if (buf_read_file(&cfg, cfg_path, e) < 0)
        goto out;
    frag_apply(cfg.data, &b->frag, &merged);
    if (fs_write_atomic(cfg_path, merged.data, merged.len, e) < 0 ||
        resolve_config(b, cfg_path, &merged, e) < 0)
        goto out;
    buf_reset(&cfg);
    if (buf_read_file(&cfg, cfg_path, e) < 0)
        goto out;
    if (frag_check(cfg.data, &b->frag, &bad) > 0) {
        struct buf msg = BUF_INIT;
        for (size_t i = 0; i < bad.n; i++) {
            char *name = xstrndup(bad.v[i], strcspn(bad.v[i], "="));
            buf_addf(&msg, "\n  %s: %s", bad.v[i],
                     kconfig_defines(b->tree, name)
                         ? "its dependencies are off in this config"
                         : "unknown to this kernel (wrong era in the fragment?)");
            free(name);
        }
        err_set(e, ERR_BUILD,
                "%s %s (%s): options of the %s fragment did not survive resolving the "
                "config:%s\nadd what they depend on to the fragment (or mark them '?')",
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

int build_configure(struct bctx *b, struct err *e)
{
    const char *base = b->xen ? "defconfig" : build_linux_base(b);
    char *cfg = NULL;
    int rc = -1;

    if (b->xen) { /* Xen: defconfig in the tree */
        const char *t[] = { "defconfig", NULL };
        cfg = xasprintf("%s/xen/.config", b->tree);
        build_progress(b, "configure", b->r->debug ? "defconfig + debug" : "defconfig + release");
        if (build_run_make(b, t, e) < 0)
            goto out;
    } else { /* Linux: the base in the O= directory */
        cfg = xasprintf("%s/.config", b->obj);
        if (fs_mkdirs(b->obj, e) < 0)
            goto out;
        build_progress(b, "configure", base);
        if (named_base(base)) {
            const char *t[] = { base, NULL };
            if (build_run_make(b, t, e) < 0)
                goto out;
        } else if (image_copy(base, cfg, e) < 0) {
            goto out;
        }
    }
    if (merge_and_check(b, cfg, e) < 0)
        goto out;
    rc = 0;
out:
    free(cfg);
    return rc;
}
