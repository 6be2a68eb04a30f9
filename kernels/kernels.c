/* Artifact specs, the file provider, and the entry point that dispatches to the providers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/build.h"
#include "kernels/kernels_priv.h"
#include "util/fsutil.h"
#include "util/sha256.h"
#include "util/xalloc.h"

const char *artifact_kind_name(enum artifact_kind kind)
{
    return kind == ARTIFACT_XEN ? "xen" : "linux";
}

const char *artifact_known(enum artifact_kind kind)
{
    static char known[2][128];
    char *s = known[kind == ARTIFACT_LINUX];

    if (!*s)
        for (size_t i = 0; i < debian_table_len; i++)
            if (debian_table[i].kind == kind) {
                size_t n = strlen(s);
                snprintf(s + n, sizeof(known[0]) - n, "%s%s", n ? ", " : "",
                         debian_table[i].version);
            }
    return s;
}

int kernels_parse_spec(enum artifact_kind kind, const char *spec, struct parsed_spec *ps,
                       struct err *e)
{
    const char *what = kind == ARTIFACT_XEN ? "Xen" : "Linux";

    memset(ps, 0, sizeof(*ps));
    if (!spec || !*spec) {
        err_set(e, ERR_USAGE, "no %s version given; known: %s (or file:PATH)", what,
                artifact_known(kind));
        return -1;
    }
    if (!strncmp(spec, "file:", 5)) {
        ps->provider = SPEC_FILE;
        ps->arg = spec + 5;
        if (!*ps->arg) {
            err_set(e, ERR_USAGE, "'%s' names no file; write file:PATH", spec);
            return -1;
        }
        return 0;
    }
    ps->provider = SPEC_DEBIAN;
    ps->arg = !strncmp(spec, "debian:", 7) ? spec + 7 : spec;
    ps->entry = debian_table_find(kind, ps->arg);
    if (!ps->entry) {
        err_set(e, ERR_NOTFOUND, "unknown %s version '%s'; known: %s (or file:PATH)", what, ps->arg,
                artifact_known(kind));
        return -1;
    }
    return 0;
}

/* cache_publish fill for file:: gunzip a gzip'd Xen, copy anything else as-is. */
static int file_fill(void *ctx, const char *file, struct err *e)
{
    const char *src = ((const char *const *)ctx)[0];
    int gz = ((const char *const *)ctx)[1] != NULL;

    return gz ? image_gunzip(src, file, e) : image_copy(src, file, e);
}

/* A file: spec's file exists, is a regular readable file and, for Linux, a kernel image. */
static int file_check(enum artifact_kind kind, const char *path, struct err *e)
{
    const char *what = kind == ARTIFACT_XEN ? "Xen image" : "Linux kernel";
    struct stat sb;

    if (stat(path, &sb) < 0) {
        err_sys(e, errno, "%s file:%s", what, path);
        if (errno == ENOENT && e) {
            err_set(e, ERR_NOTFOUND, "%s file:%s not found: %s does not exist", what, path, path);
        }
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        err_set(e, ERR_USAGE, "%s file:%s is not a regular file", what, path);
        return -1;
    }
    if (access(path, R_OK) < 0) {
        err_sys(e, errno, "%s file:%s is not readable", what, path);
        if (e)
            e->code = ERR_USAGE;
        return -1;
    }
    return kind == ARTIFACT_LINUX ? image_check_linux(path, e) : 0;
}

/* The file provider: checks the file, keys it by its content, and caches the bootable form. */
static int file_resolve(const struct kernels_opts *o, enum artifact_kind kind, const char *path,
                        struct artifact *a, struct err *e)
{
    char sum[65];
    int gz, r;

    /* the Linux image check comes first too: fail before any copy */
    if (file_check(kind, path, e) < 0)
        return -1;
    if ((gz = image_is_gzip(path, e)) < 0 || sha256_file_hex(path, sum, e) < 0)
        return -1;
    if ((r = cache_lookup(o->cache_dir, kind, sum, a, e)) != 0)
        return r > 0 ? 0 : -1;
    a->provider = xstrdup("file");
    a->version = xstrdup("file");
    a->source_sha256 = xstrdup(sum);
    {
        const char *ctx[2] = { path, kind == ARTIFACT_XEN && gz ? "gz" : NULL };
        return cache_publish(o->cache_dir, kind, sum, file_fill, (void *)ctx, a, e);
    }
}

int artifact_check_spec(enum artifact_kind kind, const char *spec, struct err *e)
{
    struct parsed_spec ps;
    int rc;

    if (spec && build_check_spec(kind, spec, &rc, e)) /* git:, tarball:, debsrc: */
        return rc;
    if (kernels_parse_spec(kind, spec, &ps, e) < 0)
        return -1;
    return ps.provider == SPEC_FILE ? file_check(kind, ps.arg, e) : 0;
}

int artifact_resolve(const struct kernels_opts *o, enum artifact_kind kind, const char *spec,
                     struct artifact *a, struct err *e)
{
    struct parsed_spec ps;
    int rc = -1;

    *a = (struct artifact)ARTIFACT_INIT;
    a->kind = kind;
    if (!o || !o->cache_dir || !*o->cache_dir) {
        err_set(e, ERR_CONFIG, "no cache directory configured (set cache_dir)");
        goto out;
    }
    if (spec && build_resolve_spec(o, kind, spec, a, &rc, e)) /* git:, tarball:, debsrc: */
        goto built;
    if (kernels_parse_spec(kind, spec, &ps, e) < 0)
        goto out;
    if (ps.provider == SPEC_FILE)
        rc = file_resolve(o, kind, ps.arg, a, e);
    else
        rc = debian_resolve(o, ps.entry, a, e);
built:
    if (rc < 0)
        goto out;
    a->spec = xstrdup(spec);
out:
    if (rc < 0) {
        artifact_free(a);
        a->kind = kind;
    }
    return rc;
}

void artifact_free(struct artifact *a)
{
    if (!a)
        return;
    free(a->spec);
    free(a->provider);
    free(a->path);
    free(a->version);
    free(a->package);
    free(a->suite);
    free(a->sha256);
    free(a->source_sha256);
    *a = (struct artifact)ARTIFACT_INIT;
}

static char *dup0(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void artifact_copy(struct artifact *dst, const struct artifact *src)
{
    dst->kind = src->kind;
    dst->spec = dup0(src->spec);
    dst->provider = dup0(src->provider);
    dst->path = dup0(src->path);
    dst->version = dup0(src->version);
    dst->package = dup0(src->package);
    dst->suite = dup0(src->suite);
    dst->sha256 = dup0(src->sha256);
    dst->source_sha256 = dup0(src->source_sha256);
}
