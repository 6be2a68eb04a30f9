/*
 * Sources for the builders: git worktrees (the user's checkout is never touched), tarballs
 * unpacked once, and Debian source packages fetched with a private apt state holding deb-src
 * lines (the system's apt setup is never touched).
 */
#include <dirent.h>
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
#include "kernels/cache_gc.h"
#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/git.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/sv.h"
#include "util/xalloc.h"

#define T_UNPACK_MS (30 * 60 * 1000)
#define T_APT_MS (30 * 60 * 1000)
#define KEYRING "/usr/share/keyrings/debian-archive-keyring.gpg"

int src_git_resolve(const char *repo, const char *rev, const char *makefile, char **commit_r,
                    char **text_r, struct err *e)
{
    struct buf mk = BUF_INIT;
    int rc = -1;

    *commit_r = NULL;
    if (text_r)
        *text_r = NULL;
    if (git_repo_check(repo, 0, e) < 0) {
        if (e && e->code == ERR_NOTFOUND)
            err_set(e, ERR_NOTFOUND, "git tree %s does not exist", repo);
        else if (e && e->code == ERR_USAGE)
            err_set(e, ERR_USAGE,
                    "%s is not a git repository (for a plain source tree use "
                    "--tarball or --srcdir)",
                    repo);
        goto out;
    }
    if (git_rev_commit(repo, rev, commit_r, e) < 0)
        goto out;
    if (text_r) {
        buf_init(&mk, 1 << 20);
        if (git_file_at(repo, *commit_r, makefile ? makefile : "Makefile", &mk, e) < 0)
            goto out;
        *text_r = buf_detach(&mk, NULL);
    }
    rc = 0;
out:
    if (rc < 0) {
        free(*commit_r);
        *commit_r = NULL;
    }
    buf_release(&mk);
    return rc;
}

int src_git_checkout(const char *repo, const char *commit, const char *wt, const char *log,
                     struct err *e)
{
    char *parent = NULL;
    int rc = -1;

    /* untracked files go, ignored ones (a Xen tree's objects) stay for an incremental build */
    if (fs_is_dir(wt)) {
        if (git_worktree_move(wt, commit, 0, log, NULL) == 0) {
            rc = 0;
            goto out;
        }
        log_warn("build", "worktree %s is unusable; making it again", wt);
        if (fs_rmtree(wt, e) < 0)
            goto out;
    }
    parent = fs_dirname(wt);
    if (fs_mkdirs(parent, e) < 0 || git_worktree_add(repo, wt, commit, log, e) < 0)
        goto out;
    rc = 0;
out:
    free(parent);
    return rc;
}

/* The single directory a tarball unpacked into (or dir itself when there are several). */
static char *only_subdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *one = NULL;
    int n = 0;

    if (!d)
        return xstrdup(dir);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            n++;
            free(one);
            one = xasprintf("%s/%s", dir, de->d_name);
        }
    closedir(d);
    if (n == 1 && fs_is_dir(one))
        return one;
    free(one);
    return xstrdup(dir);
}

int src_tarball_check(const char *tarball, struct err *e)
{
    if (!fs_exists(tarball)) {
        err_set(e, ERR_NOTFOUND,
                "source tarball %s not found (Debian's linux-source-6.1 "
                "package installs /usr/src/linux-source-6.1.tar.xz)",
                tarball);
        return -1;
    }
    if (fs_is_dir(tarball) || access(tarball, R_OK) < 0) {
        err_set(e, ERR_USAGE, "source tarball %s is not a readable file", tarball);
        return -1;
    }
    return 0;
}

int src_tarball(const char *cache_dir, const char *tarball, char sum[65], char **tree_r,
                struct err *e)
{
    char *base = NULL, *dir = NULL, *tmp = NULL, *lock = NULL;
    const char *argv[] = { "tar", "-xf", tarball, "-C", NULL, NULL };
    struct proc_spec ps = { 0 };
    int lock_fd = -1, rc = -1;

    *tree_r = NULL;
    if (src_tarball_check(tarball, e) < 0 || sha256_file_hex(tarball, sum, e) < 0)
        goto out;
    base = xasprintf("%s/build/src", cache_dir);
    dir = xasprintf("%s/%.16s", base, sum);
    lock = xasprintf("%s/%.16s.lock", base, sum);
    tmp = xasprintf("%s/.tmp-%.16s.%d", base, sum, (int)getpid());
    if (fs_mkdirs(base, e) < 0 || fs_lock(lock, &lock_fd, e) < 0)
        goto out;
    if (!fs_is_dir(dir)) {
        log_info("build", "unpacking %s into %s", tarball, dir);
        if (fs_rmtree(tmp, e) < 0 || fs_mkdirs(tmp, e) < 0)
            goto out;
        argv[4] = tmp;
        ps.argv = argv;
        ps.timeout_ms = T_UNPACK_MS;
        if (proc_run(&ps, e) < 0) {
            kernels_blame_disk(tmp, e);
            err_prefix(e, "cannot unpack %s", tarball);
            goto out;
        }
        if (rename(tmp, dir) < 0) {
            err_sys(e, errno, "cannot publish %s", dir);
            goto out;
        }
    }
    *tree_r = only_subdir(dir);
    rc = 0;
out:
    if (tmp)
        fs_rmtree(tmp, NULL);
    fs_unlock(lock_fd);
    free(base);
    free(dir);
    free(tmp);
    free(lock);
    return rc;
}

/* Writes the private apt state for deb-src of suite; returns the APT_CONFIG path. */
static char *debsrc_apt_state(const char *cache_dir, const char *suite, const char *mirror,
                              const char *security, struct err *e)
{
    char *dir = xasprintf("%s/apt/src-%s", cache_dir, suite), *conf = NULL, *p = NULL;
    struct buf src = BUF_INIT, c = BUF_INIT;
    int ok = 0;

    if (apt_state_dirs(dir, e) < 0)
        goto out;
    buf_addf(&src, "deb-src [signed-by=%s] %s %s main\n", KEYRING, mirror, suite);
    if (security)
        buf_addf(&src, "deb-src [signed-by=%s] %s %s-security main\n", KEYRING, security, suite);
    free(p);
    p = xasprintf("%s/etc/sources.list", dir);
    if (fs_write_atomic(p, src.data, src.len, e) < 0)
        goto out;
    buf_addf(&c, "Dir::Etc \"%s/etc/\";\nDir::State \"%s/state/\";\n", dir, dir);
    buf_addf(&c, "Dir::State::status \"%s/state/status\";\nDir::Cache \"%s/cache/\";\n", dir, dir);
    buf_addf(&c, "Dir::Log \"%s/log/\";\n", dir);
    buf_adds(&c, "Debug::NoLocking \"true\";\nAPT::Sandbox::User \"root\";\n"
                 "Acquire::Languages \"none\";\n");
    conf = xasprintf("%s/apt.conf", dir);
    if (fs_write_atomic(conf, c.data, c.len, e) < 0)
        goto out;
    ok = 1;
out:
    if (!ok) {
        free(conf);
        conf = NULL;
    }
    buf_release(&src);
    buf_release(&c);
    free(dir);
    free(p);
    return conf;
}

/* Runs an apt tool with APT_CONFIG=conf in cwd; stdout into out when non-NULL. */
static int apt_src_run(const char *conf, const char *const *argv, const char *cwd, struct buf *out,
                       const char *log, struct err *e)
{
    char *env0 = xasprintf("APT_CONFIG=%s", conf);
    const char *env[] = { env0, NULL };
    struct proc_spec ps = { 0 };
    int rc;

    ps.argv = argv;
    ps.env = env;
    ps.cwd = cwd;
    ps.out = out;
    ps.log_path = log;
    ps.timeout_ms = T_APT_MS;
    rc = proc_run(&ps, e);
    free(env0);
    return rc;
}

/* dpkg --compare-versions a gt b. */
static int deb_newer(const char *a, const char *b)
{
    const char *argv[] = { "dpkg", "--compare-versions", a, "gt", b, NULL };
    struct proc_spec ps = { 0 };

    ps.argv = argv;
    ps.timeout_ms = 10000;
    return proc_run(&ps, NULL) == 0;
}

/* Every "Version:" of `apt-cache showsrc` output, newest first. */
static void versions_newest_first(const char *showsrc, struct sv *out)
{
    for (const char *p = showsrc; (p = strstr(p, "Version: ")); p += 9) {
        char *v;
        size_t i;
        if (p != showsrc && p[-1] != '\n')
            continue;
        v = xstrndup(p + 9, strcspn(p + 9, "\n"));
        for (i = 0; i < out->n && strcmp(out->v[i], v); i++)
            ;
        if (i < out->n) {
            free(v);
            continue;
        }
        sv_push_owned(out, v);
        for (i = out->n - 1; i > 0 && deb_newer(out->v[i], out->v[i - 1]); i--) {
            char *t = out->v[i];
            out->v[i] = out->v[i - 1];
            out->v[i - 1] = t;
        }
    }
}

/* apt-get source pkg=ver into a temp dir, then the unpacked tree renamed to dir. */
static int fetch_one(const char *conf, const char *base, const char *package, const char *ver,
                     const char *dir, const char *log, struct err *e)
{
    char *what = xasprintf("%s=%s", package, ver);
    char *tmp = xasprintf("%s/.tmp-%s.%d", base, package, (int)getpid());
    const char *argv[] = { "apt-get", "-q", "source", what, NULL };
    char *tree = NULL;
    DIR *d = NULL;
    struct dirent *de;
    int rc = -1;

    log_warn("build", "fetching and unpacking the source package %s %s (log %s)", package, ver,
             log);
    if (fs_rmtree(tmp, e) < 0 || fs_mkdirs(tmp, e) < 0)
        goto out;
    if (apt_src_run(conf, argv, tmp, NULL, log, e) < 0) {
        kernels_blame_disk(tmp, e);
        err_prefix(e, "apt-get source %s failed (dpkg-dev installed? log %s)", what, log);
        goto out;
    }
    d = opendir(tmp);
    while (d && (de = readdir(d)) && !tree)
        if (de->d_name[0] != '.') {
            char *p = xasprintf("%s/%s", tmp, de->d_name);
            if (fs_is_dir(p))
                tree = p;
            else
                free(p);
        }
    if (!tree || rename(tree, dir) < 0) {
        err_set(e, ERR_PROC, "apt-get source %s left no source tree in %s", what, tmp);
        goto out;
    }
    rc = 0;
out:
    if (d)
        closedir(d);
    fs_rmtree(tmp, NULL);
    free(what);
    free(tmp);
    free(tree);
    return rc;
}

int build_debian_source(const struct kernels_opts *o, const char *package, const char *suite,
                        char **dir_r, char **id_r, struct err *e)
{
    char *mirror = NULL, *security = NULL, *conf = NULL, *base = NULL, *lock = NULL;
    char *dir = NULL, *log = NULL, *stamp = NULL;
    struct buf out = BUF_INIT;
    struct sv vers = SV_INIT;
    struct stat sb, sb2;
    int lock_fd = -1, hold_fd = -1, rc = -1;

    *dir_r = *id_r = NULL;
    suite = suite ? suite : "bookworm";
    if (o->mirror) {
        mirror = xstrdup(o->mirror);
        security = xstrdup(o->security_mirror);
    } else if (aptsrc_from_system(NULL, &mirror, &security, e) < 0) {
        goto out;
    }
    base = xasprintf("%s/build/debsrc", o->cache_dir);
    lock = xasprintf("%s/%s-%s.lock", base, package, suite);
    log = xasprintf("%s/%s-%s.log", base, package, suite);
    /* cache gc removes neither the apt state nor the unpacked trees while we use them */
    if (cache_hold(o->cache_dir, &hold_fd, e) < 0 || fs_mkdirs(base, e) < 0 ||
        fs_lock(lock, &lock_fd, e) < 0)
        goto out;
    if (!(conf = debsrc_apt_state(o->cache_dir, suite, mirror, security, e)))
        goto out;
    {
        char *state = xasprintf("%s/apt/src-%s", o->cache_dir, suite);
        utime(state, NULL); /* last use, for cache gc's LRU */
        free(state);
    }
    stamp = xasprintf("%s/apt/src-%s/state/pvlab-updated", o->cache_dir, suite);
    if (stat(stamp, &sb) < 0 ||
        time(NULL) - sb.st_mtime > 3600L * (o->refresh_hours > 0 ? o->refresh_hours : 24)) {
        const char *argv[] = {
            "apt-get", "-q", "-o", "APT::Update::Error-Mode=any", "update", NULL
        };
        if (apt_src_run(conf, argv, NULL, NULL, log, e) < 0 ||
            fs_write_atomic(stamp, "", 0, e) < 0) {
            if (e && (e->code == ERR_PROC || e->code == ERR_TIMEOUT))
                e->code = ERR_NET;
            err_prefix(e, "cannot download the source lists of %s (log %s)", suite, log);
            goto out;
        }
    }
    {
        const char *argv[] = { "apt-cache", "showsrc", "--only-source", package, NULL };
        buf_init(&out, 4 << 20);
        if (apt_src_run(conf, argv, NULL, &out, NULL, e) < 0)
            goto out;
        versions_newest_first(out.data, &vers);
        if (!vers.n) {
            err_set(e, ERR_NOTFOUND, "source package %s not found in %s", package, suite);
            goto out;
        }
    }
    /* newest first; a version the lists name but the mirror lacks falls back to the next */
    for (size_t i = 0; i < vers.n; i++) {
        char *miss = xasprintf("%s/%s_%s.unavailable", base, package, vers.v[i]);
        int skip = 0;
        free(dir);
        dir = xasprintf("%s/%s_%s", base, package, vers.v[i]);
        /* a version the mirror lacked is not asked for again until the lists are refreshed */
        if (!fs_is_dir(dir) && stat(miss, &sb) == 0 && stat(stamp, &sb2) == 0 &&
            sb.st_mtime >= sb2.st_mtime)
            skip = 1;
        if (!skip &&
            (fs_is_dir(dir) || fetch_one(conf, base, package, vers.v[i], dir, log, e) == 0)) {
            free(miss);
            err_clear(e);
            *dir_r = xstrdup(dir);
            *id_r = xasprintf("%s=%s", package, vers.v[i]);
            rc = 0;
            goto out;
        }
        if (!skip) {
            log_warn("build", "%s", e ? e->msg : "apt-get source failed");
            if (!e || e->code != ERR_NOSPACE)
                fs_write_atomic(miss, "", 0, NULL);
        }
        free(miss);
    }
    err_set(e, e && e->code == ERR_NOSPACE ? ERR_NOSPACE : ERR_NET,
            "no version of the source "
            "package %s could be downloaded from %s (tried newest first; log %s)",
            package, mirror, log);
out:
    fs_unlock(lock_fd);
    fs_unlock(hold_fd);
    buf_release(&out);
    sv_clear(&vers);
    free(mirror);
    free(security);
    free(conf);
    free(base);
    free(lock);
    free(dir);
    free(log);
    free(stamp);
    return rc;
}
