/* Content-addressed artifact cache: lookup of published entries and atomic publication. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/xalloc.h"

void cache_key(const char *provider, const char *package, const char *version, char out[65])
{
    struct sha256_ctx c;

    sha256_init(&c);
    sha256_update(&c, provider, strlen(provider));
    sha256_update(&c, "\n", 1);
    sha256_update(&c, package ? package : "", package ? strlen(package) : 0);
    sha256_update(&c, "\n", 1);
    sha256_update(&c, version, strlen(version));
    sha256_update(&c, "\n", 1);
    sha256_final_hex(&c, out);
}

char *cache_entry_dir(const char *cache_dir, enum artifact_kind kind, const char *key)
{
    return xasprintf("%s/artifacts/%s/%s", cache_dir, artifact_kind_name(kind), key);
}

const char *cache_file_name(enum artifact_kind kind)
{
    return kind == ARTIFACT_XEN ? "xen.bin" : "vmlinuz";
}

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = xstrdup(src);
}

int cache_lookup(const char *cache_dir, enum artifact_kind kind, const char *key,
                 struct artifact *a, struct err *e)
{
    struct json_flat meta = { NULL, 0 };
    struct buf text = BUF_INIT;
    struct err e2 = ERR_INIT;
    char *dir = cache_entry_dir(cache_dir, kind, key);
    char *meta_path = xasprintf("%s/meta.json", dir);
    char *file = xasprintf("%s/%s", dir, cache_file_name(kind));
    const char *want;
    char got[65];
    int rc = 0;

    if (!fs_is_dir(dir))
        goto out;
    if (buf_read_file(&text, meta_path, &e2) < 0 || json_flat_parse(text.data, &meta, &e2) < 0 ||
        !(want = json_flat_str(&meta, "sha256")) || sha256_file_hex(file, got, &e2) < 0 ||
        strcmp(want, got)) {
        /* entries are only ever published whole, so this is outside damage: rebuild it */
        log_warn("kernels", "cache entry %s is damaged (%s); rebuilding it", dir,
                 e2.msg[0] ? e2.msg : "checksum mismatch");
        if (fs_rmtree(dir, e) < 0)
            rc = -1;
        goto out;
    }
    set_str(&a->path, file);
    set_str(&a->sha256, got);
    set_str(&a->provider, json_flat_str(&meta, "provider"));
    set_str(&a->version, json_flat_str(&meta, "version"));
    set_str(&a->package, json_flat_str(&meta, "package"));
    set_str(&a->suite, json_flat_str(&meta, "suite"));
    set_str(&a->source_sha256, json_flat_str(&meta, "source_sha256"));
    rc = 1;
out:
    json_flat_free(&meta);
    buf_release(&text);
    free(dir);
    free(meta_path);
    free(file);
    return rc;
}

/* Removes temp directories left by killed runs (".tmp-<key>.<pid>" whose pid is gone). */
static void sweep_stale(const char *parent)
{
    DIR *d = opendir(parent);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d))) {
        const char *dot = strrchr(de->d_name, '.');
        long pid;
        if (strncmp(de->d_name, ".tmp-", 5) || !dot)
            continue;
        pid = strtol(dot + 1, NULL, 10);
        if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue;
        char *p = xasprintf("%s/%s", parent, de->d_name);
        fs_rmtree(p, NULL);
        free(p);
    }
    closedir(d);
}

static int write_meta(const char *path, enum artifact_kind kind, const struct artifact *a,
                      struct err *e)
{
    struct buf b = BUF_INIT;
    struct jw w;
    int rc;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_s(&w, "kind", artifact_kind_name(kind));
    jw_kv_s(&w, "provider", a->provider);
    jw_kv_s(&w, "package", a->package);
    jw_kv_s(&w, "version", a->version);
    jw_kv_s(&w, "suite", a->suite);
    jw_kv_s(&w, "file", cache_file_name(kind));
    jw_kv_s(&w, "sha256", a->sha256);
    jw_kv_s(&w, "source_sha256", a->source_sha256);
    jw_end(&w);
    buf_addch(&b, '\n');
    rc = fs_write_atomic(path, b.data, b.len, e);
    buf_release(&b);
    return rc;
}

int cache_publish(const char *cache_dir, enum artifact_kind kind, const char *key,
                  int (*fill)(void *ctx, const char *file, struct err *e), void *ctx,
                  struct artifact *a, struct err *e)
{
    char *final = cache_entry_dir(cache_dir, kind, key);
    char *parent = fs_dirname(final);
    char *tmp = xasprintf("%s/.tmp-%s.%d", parent, key, (int)getpid());
    char *file = xasprintf("%s/%s", tmp, cache_file_name(kind));
    char *meta = xasprintf("%s/meta.json", tmp);
    char sum[65];
    int r, rc = -1;

    if (fs_mkdirs(parent, e) < 0)
        goto out;
    sweep_stale(parent);
    if (fs_rmtree(tmp, e) < 0 || fs_mkdirs(tmp, e) < 0)
        goto out;
    if (fill(ctx, file, e) < 0)
        goto out;
    r = kind == ARTIFACT_XEN ? image_check_xen(file, e) : image_check_linux(file, e);
    if (r < 0 || sha256_file_hex(file, sum, e) < 0)
        goto out;
    set_str(&a->sha256, sum);
    if (write_meta(meta, kind, a, e) < 0)
        goto out;
    if (rename(tmp, final) < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) {
            err_sys(e, errno, "cannot publish %s", final);
            goto out;
        }
        /* a concurrent run published the same key first: its entry has the same content */
        log_debug("kernels", "%s was published concurrently; using it", final);
        fs_rmtree(tmp, NULL);
    } else {
        int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
    }
    set_str(&a->path, NULL);
    a->path = xasprintf("%s/%s", final, cache_file_name(kind));
    rc = 0;
out:
    if (rc < 0)
        fs_rmtree(tmp, NULL);
    free(final);
    free(parent);
    free(tmp);
    free(file);
    free(meta);
    return rc;
}

int kernels_blame_disk(const char *path, struct err *e)
{
    char old[sizeof(e->msg)];
    long long left;

    if (e && e->code == ERR_TOOL)
        return 0;
    if (!fs_nearly_full(path, KERNELS_MIN_FREE, &left))
        return 0;
    if (!e)
        return 1;
    memcpy(old, e->msg, sizeof(old));
    err_set(e, ERR_NOSPACE,
            "the disk holding %s is full (%lld MiB free): free space with "
            "`pvlab cache gc --keep SIZE` or elsewhere on it, or point cache_dir to another "
            "disk (%s)",
            path, left >> 20, old);
    return 1;
}
