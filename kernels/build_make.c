/*
 * The builder's make step: make run in the toolchain with its output in the build log, a
 * failure told apart (disk full, timeout, the source does not build), and the built image
 * published into the artifact cache with its config and build record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utime.h>

#include "kernels/build_int.h"
#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/proc.h"
#include "util/xalloc.h"

#define T_MAKE_MS_DEFAULT (3 * 60 * 60 * 1000)

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

/*
 * Whether a failed make ran out of disk. The compiler's "No space left on device" usually cannot
 * reach the log (the log is on the full disk too), so a build that failed while the tree, the
 * object dir or the log has less than KERNELS_MIN_FREE left is blamed on the disk, not the
 * commit: a skip would make a bisection step over good commits.
 */
static int build_disk_full(const struct bctx *b)
{
    const char *paths[] = { b->tree, b->obj, b->log };

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (paths[i] && fs_nearly_full(paths[i], KERNELS_MIN_FREE, NULL))
            return 1;
    return 0;
}

int build_run_make(struct bctx *b, const char *const *targets, struct err *e)
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
    rc = toolchain_run(&b->tc, (const char *const *)sv_argv(&av), b->tree, b->obj, b->log, timeout,
                       e);
    sv_clear(&av);
    if (rc < 0 && e &&
        (e->code == ERR_PROC || e->code == ERR_TIMEOUT || e->code == ERR_INTERRUPTED)) {
        char *tail = build_log_errors(b->log, 15);
        if (strstr(tail, "No space left on device") || build_disk_full(b)) {
            err_set(e, ERR_NOSPACE,
                    "disk full while building %s (log %s): free space in the "
                    "cache ('pvlab cache gc --keep SIZE')",
                    b->kind, b->log);
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

int build_make_image(struct bctx *b, struct err *e)
{
    const char *linux_t[] = { "bzImage", NULL }, *xen_t[] = { "xen", NULL };

    build_progress(b, "build", b->xen ? "make -C xen (minutes)" : "make bzImage (minutes)");
    return build_run_make(b, b->xen ? xen_t : linux_t, e);
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
    if (b->tc.fallback)
        jw_kv_s(&w, "toolchain_stands_in_for", b->tc.fallback);
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

int build_publish(struct bctx *b, enum artifact_kind kind, struct artifact *a, struct err *e)
{
    const struct build_req *r = b->r;
    char *built =
        b->xen ? xasprintf("%s/xen/xen", b->tree) : xasprintf("%s/arch/x86/boot/bzImage", b->obj);
    char *cfg = b->xen ? xasprintf("%s/xen/.config", b->tree) : xasprintf("%s/.config", b->obj);
    struct fill_ctx x = { b, built, cfg };
    int rc = -1;

    a->provider = xstrdup(r->repo ? "git" : r->tarball ? "tarball" : "srcdir");
    a->package = xstrdup(r->repo ? r->repo : r->tarball ? r->tarball : r->srcdir);
    a->version = xstrdup(b->commit);
    a->suite = xstrdup(b->tc.profile);
    a->source_sha256 = xstrdup(b->key);
    if (cache_publish(r->ko->cache_dir, kind, b->key, build_fill, &x, a, e) < 0)
        goto out;
    build_progress(b, "built", a->path);
    rc = 0;
out:
    free(built);
    free(cfg);
    return rc;
}

void build_hit_record(struct bctx *b, const char *path)
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
