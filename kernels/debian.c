/*
 * The debian provider: resolves a table entry to an exact package version with a private apt
 * state per suite (<cache_dir>/apt/<suite>/, selected with APT_CONFIG so neither the system's
 * sources, lists, keyrings, preferences, hooks nor locks are used), downloads the .deb into
 * <cache_dir>/debs/ and publishes the one bootable file from it into the artifact cache.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "kernels/cache_gc.h"
#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/sv.h"
#include "util/xalloc.h"

#define KEYRING "/usr/share/keyrings/debian-archive-keyring.gpg"
#define T_QUERY_MS (2 * 60 * 1000)
#define T_UPDATE_MS (15 * 60 * 1000)
#define T_FETCH_MS (30 * 60 * 1000)

/* One suite's private apt state. */
struct apt_state {
    const char *suite;
    char *dir;     /* <cache_dir>/apt/<suite> */
    char *conf;    /* its apt.conf, passed as APT_CONFIG */
    char *stamp;   /* touched after each successful update */
    struct sv env; /* APT_CONFIG=... plus the caller's proxy variables */
};

static void progress(const struct kernels_opts *o, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void progress(const struct kernels_opts *o, const char *stage, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    log_info("kernels", "%s: %s", stage, b.data);
    if (o->progress)
        o->progress(o->progress_ctx, stage, b.data);
    buf_release(&b);
}

static void apt_state_release(struct apt_state *st)
{
    free(st->dir);
    free(st->conf);
    free(st->stamp);
    sv_clear(&st->env);
}

static int check_tools(struct err *e)
{
    static const struct {
        const char *tool, *pkg;
    } need[] = {
        { "apt-get", "apt" },   { "apt-cache", "apt" }, { "apt-config", "apt" },
        { "dpkg-deb", "dpkg" }, { "tar", "tar" },       { "sh", "dash" },
    };
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        char *p = fs_which(need[i].tool);
        if (!p) {
            err_set(e, ERR_TOOL,
                    "%s not found in PATH: the debian provider needs it (install "
                    "the Debian package '%s', or use file:PATH)",
                    need[i].tool, need[i].pkg);
            return -1;
        }
        free(p);
    }
    if (!fs_exists(KEYRING)) {
        err_set(e, ERR_TOOL, "%s is missing: install the Debian package debian-archive-keyring",
                KEYRING);
        return -1;
    }
    return 0;
}

/*
 * Runs an apt tool against the private state; stdout captured into out when non-NULL, and on
 * failure its stderr into err_out when non-NULL, so callers can read the tool's own words
 * (proc_run would only leave them inside our error message). A failure while the filesystem
 * it writes to (cwd, else the apt state) is nearly full is ERR_NOSPACE.
 */
static int apt_run(const struct apt_state *st, const char *const *argv, const char *cwd,
                   struct buf *out, struct buf *err_out, int timeout_ms, struct err *e)
{
    struct buf sink = BUF_INIT;
    struct proc_spec ps = { 0 };
    struct proc p = PROC_INIT;
    char *what = NULL, *tail = NULL;
    int rc = -1;

    buf_init(&sink, 64 * 1024); /* progress chatter: only kept to stay off our terminal */
    ps.argv = argv;
    ps.env = (const char *const *)st->env.v;
    ps.cwd = cwd;
    ps.out = out ? out : &sink;
    ps.timeout_ms = timeout_ms;
    if (proc_start(&ps, &p, e) < 0)
        goto out;
    proc_wait(&p, NULL);
    if (p.end == PROC_EXITED && p.code == 0) {
        rc = 0;
        goto out;
    }
    if (err_out) {
        char *all = proc_err_tail(&p, 0, 0);
        buf_adds(err_out, all);
        free(all);
    }
    what = proc_describe(&p);
    tail = proc_err_tail(&p, 6, 1500);
    err_set(e, p.end == PROC_INTERRUPTED ? ERR_INTERRUPTED : ERR_PROC, "%s%s%s", what,
            *tail ? "; its last output:\n" : "", tail);
    kernels_blame_disk(cwd ? cwd : st->dir, e);
out:
    proc_release(&p);
    buf_release(&sink);
    free(what);
    free(tail);
    return rc;
}

/* The network settings of the system's apt (proxies, date checks, retries) and nothing else. */
static void system_acquire_conf(struct buf *conf)
{
    static const char *const keep[] = { "Acquire::http",
                                        "Acquire::ftp",
                                        "Acquire::socks",
                                        "Acquire::Check-",
                                        "Acquire::Retries",
                                        "Acquire::ForceIPv",
                                        NULL };
    const char *argv[] = { "apt-config", "dump", NULL };
    struct proc_spec ps = { 0 };
    struct buf out = BUF_INIT;
    struct sv lines = SV_INIT;

    buf_init(&out, 1 << 20);
    ps.argv = argv;
    ps.out = &out;
    ps.timeout_ms = T_QUERY_MS;
    if (proc_run(&ps, NULL) == 0) {
        sv_split(&lines, out.data, "\n");
        for (size_t i = 0; i < lines.n; i++)
            for (size_t k = 0; keep[k]; k++)
                if (!strncmp(lines.v[i], keep[k], strlen(keep[k])) && strchr(lines.v[i], '"')) {
                    buf_addf(conf, "%s\n", lines.v[i]);
                    break;
                }
    }
    sv_clear(&lines);
    buf_release(&out);
}

/* Writes path only when its content differs; *changed_r set to 1 when it did. */
static int write_if_changed(const char *path, const struct buf *want, int *changed_r, struct err *e)
{
    struct buf have = BUF_INIT;
    int same = buf_read_file(&have, path, NULL) == 0 && have.len == want->len &&
               !memcmp(have.data, want->data, want->len);

    buf_release(&have);
    if (same)
        return 0;
    if (changed_r)
        *changed_r = 1;
    return fs_write_atomic(path, want->data, want->len, e);
}

/*
 * Creates <cache>/apt/<suite>/ with its own etc/ (sources.list, empty conf/trust/preference
 * dirs), state and cache. *sources_changed_r is 1 when the sources differ from the last run.
 * mirror may be NULL: the existing sources.list is then kept (warm cache, no mirror known).
 */
static int apt_setup(const struct kernels_opts *o, struct apt_state *st, const char *mirror,
                     const char *security, int *sources_changed_r, struct err *e)
{
    struct buf src = BUF_INIT, conf = BUF_INIT;
    char *p = NULL;
    int rc = -1;

    st->dir = xasprintf("%s/apt/%s", o->cache_dir, st->suite);
    st->conf = xasprintf("%s/apt.conf", st->dir);
    st->stamp = xasprintf("%s/state/pvlab-updated", st->dir);
    sv_pushf(&st->env, "APT_CONFIG=%s", st->conf);
    {
        static const char *const pass[] = { "http_proxy", "https_proxy", "ftp_proxy", "no_proxy",
                                            "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",  NULL };
        for (size_t i = 0; pass[i]; i++)
            if (getenv(pass[i]))
                sv_pushf(&st->env, "%s=%s", pass[i], getenv(pass[i]));
    }
    if (apt_state_dirs(st->dir, e) < 0)
        goto out;

    if (mirror) {
        buf_addf(&src, "deb [signed-by=%s] %s %s main\n", KEYRING, mirror, st->suite);
        if (security)
            buf_addf(&src, "deb [signed-by=%s] %s %s-security main\n", KEYRING, security,
                     st->suite);
        free(p);
        p = xasprintf("%s/etc/sources.list", st->dir);
        if (write_if_changed(p, &src, sources_changed_r, e) < 0)
            goto out;
    }
    /* Dir::Etc points away from /etc/apt, so system hooks, pins and keys do not apply */
    buf_addf(&conf, "Dir::Etc \"%s/etc/\";\n", st->dir);
    buf_addf(&conf, "Dir::State \"%s/state/\";\n", st->dir);
    buf_addf(&conf, "Dir::State::status \"%s/state/status\";\n", st->dir);
    buf_addf(&conf, "Dir::Cache \"%s/cache/\";\n", st->dir);
    buf_addf(&conf, "Dir::Log \"%s/log/\";\n", st->dir);
    buf_adds(&conf, "Debug::NoLocking \"true\";\n"
                    "APT::Sandbox::User \"root\";\n" /* no-op for non-root; root: no _apt */
                    "APT::Architecture \"amd64\";\n"
                    "APT::Architectures { \"amd64\"; };\n"
                    "Acquire::Languages \"none\";\n");
    system_acquire_conf(&conf);
    if (write_if_changed(st->conf, &conf, NULL, e) < 0)
        goto out;
    rc = 0;
out:
    buf_release(&src);
    buf_release(&conf);
    free(p);
    return rc;
}

/*
 * Whether apt-get's own output (stdout: "Err:" lines; stderr: "W: GPG error", "E: ... is not
 * signed") says a suite's signature could not be verified with the keyring we give it.
 */
int debian_apt_unsigned(const char *apt_output)
{
    return strstr(apt_output, "NO_PUBKEY") || strstr(apt_output, "is not signed") ||
           strstr(apt_output, "EXPKEYSIG");
}

/* Runs apt-get update unless the lists are fresh; stale lists are used when it fails. */
static int apt_update(const struct kernels_opts *o, struct apt_state *st, int force, struct err *e)
{
    /* without Error-Mode=any a failed fetch still exits 0 ("old ones used instead") */
    const char *argv[] = { "apt-get", "-q", "-o", "APT::Update::Error-Mode=any", "update", NULL };
    int hours = o->refresh_hours ? o->refresh_hours : 24;
    struct err ue = ERR_INIT;
    struct buf out = BUF_INIT, errs = BUF_INIT;
    struct stat sb;
    int have_lists = stat(st->stamp, &sb) == 0, rc = -1;

    if (have_lists && !force && hours > 0 && time(NULL) - sb.st_mtime < (time_t)hours * 3600)
        return 0;
    progress(o, "update", "refreshing package lists of %s in %s", st->suite, st->dir);
    buf_init(&out, 1 << 20);
    buf_init(&errs, 64 * 1024);
    if (apt_run(st, argv, NULL, &out, &errs, T_UPDATE_MS, &ue) == 0) {
        rc = fs_write_atomic(st->stamp, "", 0, e);
        goto out;
    }
    if (debian_apt_unsigned(out.data) || debian_apt_unsigned(errs.data)) {
        err_set(e, ERR_CONFIG,
                "the Debian archive keyring (%s) cannot verify suite %s; install "
                "a newer debian-archive-keyring: %s",
                KEYRING, st->suite, ue.msg);
        goto out;
    }
    if (have_lists && !force && ue.code != ERR_NOSPACE) {
        log_warn("kernels", "cannot refresh the package lists of %s, using the old ones: %s",
                 st->suite, ue.msg);
        rc = 0;
        goto out;
    }
    if (ue.code == ERR_NOSPACE) {
        err_set(e, ERR_NOSPACE, "cannot download the package lists of %s: %s", st->suite, ue.msg);
        goto out;
    }
    err_set(e, ERR_NET,
            "cannot download the package lists of %s (is the package archive "
            "reachable? set `mirror` in the pvlab configuration to use another): %s",
            st->suite, ue.msg);
out:
    buf_release(&out);
    buf_release(&errs);
    return rc;
}

char *debian_field(const char *record, const char *field)
{
    size_t flen = strlen(field);
    const char *p = record;

    while (p && *p && *p != '\n') { /* a blank line ends the first record */
        if (!strncmp(p, field, flen) && p[flen] == ':') {
            const char *v = p + flen + 1;
            while (*v == ' ')
                v++;
            return xstrndup(v, strcspn(v, "\n"));
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

int debian_first_depend(const char *depends, char **pkg_r, char **ver_r)
{
    const char *p = depends + strspn(depends, " ");
    size_t n = strcspn(p, " ,|(");
    const char *eq;

    *pkg_r = NULL;
    if (ver_r)
        *ver_r = NULL;
    if (!n)
        return -1;
    *pkg_r = xstrndup(p, n);
    p += n;
    p += strspn(p, " ");
    if (ver_r && *p == '(' && (eq = strstr(p, "(= ")) == p) {
        eq += 3;
        *ver_r = xstrndup(eq, strcspn(eq, ")"));
    }
    return 0;
}

/* `apt-cache show` of the candidate of pkg (or of pkg=ver) -> the record, malloc'd. */
static int apt_show(struct apt_state *st, const char *pkg, const char *ver, char **record_r,
                    struct err *e)
{
    char *what = ver ? xasprintf("%s=%s", pkg, ver) : xstrdup(pkg);
    const char *argv[] = { "apt-cache", "show", "--no-all-versions", what, NULL };
    struct buf out = BUF_INIT;
    int rc = -1;

    buf_init(&out, 1 << 20);
    if (apt_run(st, argv, NULL, &out, NULL, T_QUERY_MS, e) < 0 || !out.len) {
        err_set(e, ERR_NOTFOUND,
                "package %s not found in suite %s (or %s-security); the package "
                "lists are in %s",
                what, st->suite, st->suite, st->dir);
        goto out;
    }
    *record_r = buf_detach(&out, NULL);
    rc = 0;
out:
    buf_release(&out);
    free(what);
    return rc;
}

/* pkg (at ver, or the candidate) from the lists: its exact Version, SHA256 and Architecture. */
static int apt_record(struct apt_state *st, const char *pkg, const char *ver, char **ver_r,
                      char **sha_r, char **arch_r, struct err *e)
{
    char *rec = NULL;

    *ver_r = *sha_r = *arch_r = NULL;
    if (apt_show(st, pkg, ver, &rec, e) < 0)
        return -1;
    *ver_r = debian_field(rec, "Version");
    *sha_r = debian_field(rec, "SHA256");
    *arch_r = debian_field(rec, "Architecture");
    free(rec);
    if (!*ver_r) {
        err_set(e, ERR_INTERNAL, "apt-cache show %s printed no Version", pkg);
        return -1;
    }
    return 0;
}

/* The suite that serves pkg=ver ("bookworm-security" wins over "bookworm"), from madison. */
static char *apt_suite_of(struct apt_state *st, const char *pkg, const char *ver)
{
    const char *argv[] = { "apt-cache", "madison", pkg, NULL };
    struct buf out = BUF_INIT;
    struct sv lines = SV_INIT, f = SV_INIT;
    char *suite = NULL;

    buf_init(&out, 1 << 20);
    if (apt_run(st, argv, NULL, &out, NULL, T_QUERY_MS, NULL) == 0)
        sv_split(&lines, out.data, "\n");
    /* " pkg | ver | URI suite/main amd64 Packages" */
    for (size_t i = 0; i < lines.n; i++) {
        sv_clear(&f);
        sv_split(&f, lines.v[i], "|");
        if (f.n < 3 || strncmp(f.v[1] + strspn(f.v[1], " "), ver, strlen(ver)) ||
            f.v[1][strspn(f.v[1], " ") + strlen(ver)] != ' ')
            continue;
        {
            struct sv w = SV_INIT;
            sv_split(&w, f.v[2], " ");
            if (w.n >= 2 && (!suite || strstr(w.v[1], "-security"))) {
                free(suite);
                suite = xstrndup(w.v[1], strcspn(w.v[1], "/"));
            }
            sv_clear(&w);
        }
    }
    sv_clear(&f);
    sv_clear(&lines);
    buf_release(&out);
    return suite ? suite : xstrdup(st->suite);
}

/* Makes <cache>/debs/<name> hold the package with the index's sha256; downloads when needed. */
static int fetch_deb(const struct kernels_opts *o, struct apt_state *st, const char *suite,
                     const char *pkg, const char *ver, const char *arch, const char *want_sha,
                     char **deb_r, char sum[65], struct err *e)
{
    struct buf name = BUF_INIT;
    char *debs = xasprintf("%s/debs", o->cache_dir);
    char *tmp = xasprintf("%s/.tmp-download.%d", debs, (int)getpid());
    char *what = xasprintf("%s=%s", pkg, ver);
    const char *argv[] = { "apt-get", "-q", "download", what, NULL };
    char *deb = NULL, *got = NULL;
    DIR *d = NULL;
    struct dirent *de;
    int rc = -1;

    buf_addf(&name, "%s_", pkg);
    for (const char *c = ver; *c; c++) /* apt's file name encodes the epoch colon */
        *c == ':' ? buf_adds(&name, "%3a") : buf_addch(&name, *c);
    buf_addf(&name, "_%s.deb", arch ? arch : "amd64");
    deb = xasprintf("%s/%s", debs, name.data);
    if (fs_exists(deb) && sha256_file_hex(deb, sum, NULL) == 0 &&
        (!want_sha || !strcmp(sum, want_sha))) {
        log_debug("kernels", "using cached %s", deb);
        utime(deb, NULL); /* last use, for cache gc's LRU */
        rc = 0;
        goto out;
    }
    if (fs_mkdirs(debs, e) < 0 || fs_rmtree(tmp, e) < 0 || fs_mkdirs(tmp, e) < 0)
        goto out;
    progress(o, "fetch", "%s %s (%s)", pkg, ver, suite);
    if (apt_run(st, argv, tmp, NULL, NULL, T_FETCH_MS, e) < 0) {
        err_prefix(e, "cannot download %s %s", pkg, ver);
        if (e && (e->code == ERR_PROC || e->code == ERR_TIMEOUT))
            e->code = ERR_NET;
        goto out;
    }
    if (!(d = opendir(tmp))) {
        err_sys(e, errno, "cannot open %s", tmp);
        goto out;
    }
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".deb")) {
            got = xasprintf("%s/%s", tmp, de->d_name);
            break;
        }
    if (!got) {
        err_set(e, ERR_PROC, "apt-get download %s left no .deb in %s", what, tmp);
        goto out;
    }
    if (sha256_file_hex(got, sum, e) < 0)
        goto out;
    if (want_sha && strcmp(sum, want_sha)) {
        err_set(e, ERR_NET, "downloaded %s has sha256 %s, the index says %s", got, sum, want_sha);
        goto out;
    }
    if (fs_commit_tmp(got, deb, e) < 0)
        goto out;
    rc = 0;
out:
    if (d)
        closedir(d);
    fs_rmtree(tmp, NULL);
    if (rc == 0)
        *deb_r = deb;
    else
        free(deb);
    buf_release(&name);
    free(debs);
    free(tmp);
    free(what);
    free(got);
    return rc;
}

struct extract_ctx {
    const struct kernels_opts *o;
    const char *deb;
    const char *member; /* "./boot/xen-4.17-amd64.gz" */
    int gunzip;
};

/* cache_publish fill: pulls one member out of the .deb and writes the bootable file. */
static int extract_fill(void *vctx, const char *file, struct err *e)
{
    const struct extract_ctx *x = vctx;
    char *scratch = xasprintf("%s.x", file);
    char *got = xasprintf("%s/%s", scratch, x->member);
    /* dash has no pipefail: a dpkg-deb failure shows as tar missing the member */
    const char *argv[] = { "sh",
                           "-c",
                           "dpkg-deb --fsys-tarfile \"$1\" | tar -xf - -C \"$2\" "
                           "\"$3\"",
                           "sh",
                           x->deb,
                           scratch,
                           x->member,
                           NULL };
    struct proc_spec ps = { 0 };
    int rc = -1;

    ps.argv = argv;
    ps.timeout_ms = T_FETCH_MS;
    progress(x->o, "extract", "%s from %s", x->member, x->deb);
    if (fs_mkdirs(scratch, e) < 0)
        goto out;
    if (proc_run(&ps, e) < 0 || !fs_exists(got)) {
        kernels_blame_disk(scratch, e);
        err_prefix(e, "cannot extract %s from %s", x->member, x->deb);
        goto out;
    }
    if ((x->gunzip ? image_gunzip(got, file, e) : image_copy(got, file, e)) < 0)
        goto out;
    rc = 0;
out:
    fs_rmtree(scratch, NULL);
    free(scratch);
    free(got);
    return rc;
}

/* Mirrors from the options, else from the system's apt sources. */
static int pick_mirrors(const struct kernels_opts *o, char **mirror_r, char **security_r,
                        struct err *e)
{
    char *m = NULL, *s = NULL;

    *mirror_r = *security_r = NULL;
    if (o->mirror && o->security_mirror) {
        *mirror_r = xstrdup(o->mirror);
        *security_r = xstrdup(o->security_mirror);
        return 0;
    }
    if (aptsrc_from_system(NULL, &m, &s, e) < 0) {
        if (!o->mirror)
            return -1;
        err_clear(e); /* an explicit mirror without a security mirror is fine */
    }
    *mirror_r = xstrdup(o->mirror ? o->mirror : m);
    *security_r = xstrdup(o->security_mirror ? o->security_mirror : s);
    if (!*security_r)
        log_warn("kernels", "no Debian security mirror found in the apt sources; security "
                            "updates are not searched (set `security_mirror`)");
    free(m);
    free(s);
    return 0;
}

/*
 * Holds the cache against gc (*hold_fd), takes the suite's lock (*lock_fd) and readies the
 * suite's private apt state with fresh lists. Both descriptors are -1 or held on return (release
 * them with fs_unlock even on failure).
 */
static int apt_open(const struct kernels_opts *o, struct apt_state *st, int *hold_fd, int *lock_fd,
                    struct err *e)
{
    char *mirror = NULL, *security = NULL, *lock_path = NULL;
    int changed = 0, rc = -1;

    *hold_fd = *lock_fd = -1;
    if (check_tools(e) < 0)
        goto out;
    /* cache gc removes neither the apt state nor the .deb while we use them */
    if (cache_hold(o->cache_dir, hold_fd, e) < 0)
        goto out;
    /* apt runs without its own locking: one pvlab at a time per suite (parallel workers) */
    lock_path = xasprintf("%s/apt", o->cache_dir);
    if (fs_mkdirs(lock_path, e) < 0)
        goto out;
    free(lock_path);
    lock_path = xasprintf("%s/apt/%s.lock", o->cache_dir, st->suite);
    if (fs_lock(lock_path, lock_fd, e) < 0)
        goto out;
    if (pick_mirrors(o, &mirror, &security, e) < 0) {
        char *old = xasprintf("%s/apt/%s/etc/sources.list", o->cache_dir, st->suite);
        int reuse = fs_exists(old);
        free(old);
        if (!reuse)
            goto out;
        log_warn("kernels", "%s; reusing the sources of the last run", e ? e->msg : "");
    }
    if (apt_setup(o, st, mirror, security, &changed, e) < 0 || apt_update(o, st, changed, e) < 0)
        goto out;
    utime(st->dir, NULL); /* last use, for cache gc's LRU */
    rc = 0;
out:
    free(mirror);
    free(security);
    free(lock_path);
    return rc;
}

/* Undoes apt_open: the suite's lock, the hold on the cache, the state's strings. */
static void apt_close(struct apt_state *st, int hold_fd, int lock_fd)
{
    fs_unlock(lock_fd);
    fs_unlock(hold_fd);
    apt_state_release(st);
}

int debian_resolve(const struct kernels_opts *o, const struct debian_entry *ent, struct artifact *a,
                   struct err *e)
{
    struct apt_state st = { ent->suite, NULL, NULL, NULL, SV_INIT };
    char *meta = NULL;
    char *pkg = NULL, *ver = NULL, *want = NULL, *arch = NULL, *deb = NULL, *member = NULL;
    char key[65], sum[65];
    int lock_fd = -1, hold_fd = -1;
    int r, rc = -1;

    if (apt_open(o, &st, &hold_fd, &lock_fd, e) < 0)
        goto out;

    if (ent->kind == ARTIFACT_LINUX) { /* follow the metapackage to the ABI package */
        char *dep = NULL;
        if (apt_show(&st, ent->package, NULL, &meta, e) < 0)
            goto out;
        dep = debian_field(meta, "Depends");
        r = dep ? debian_first_depend(dep, &pkg, &ver) : -1;
        free(dep);
        if (r < 0) {
            err_set(e, ERR_INTERNAL, "%s in %s has no Depends", ent->package, ent->suite);
            goto out;
        }
    } else {
        pkg = xstrdup(ent->package);
    }
    {
        char *pin = ver;
        r = apt_record(&st, pkg, pin, &ver, &want, &arch, e);
        free(pin);
        if (r < 0)
            goto out;
    }
    cache_key("debian", pkg, ver, key);
    if ((r = cache_lookup(o->cache_dir, ent->kind, key, a, e)) != 0) {
        rc = r > 0 ? 0 : -1;
        goto out;
    }

    free(a->suite);
    a->suite = apt_suite_of(&st, pkg, ver);
    if (fetch_deb(o, &st, a->suite, pkg, ver, arch, want, &deb, sum, e) < 0)
        goto out;
    a->provider = xstrdup("debian");
    a->package = xstrdup(pkg);
    a->version = xstrdup(ver);
    a->source_sha256 = xstrdup(sum);
    member = ent->member ? xstrdup(ent->member)
                         : xasprintf("./boot/vmlinuz-%s", pkg + strlen("linux-image-"));
    {
        struct extract_ctx x = { o, deb, member, ent->kind == ARTIFACT_XEN };
        if (cache_publish(o->cache_dir, ent->kind, key, extract_fill, &x, a, e) < 0)
            goto out;
    }
    rc = 0;
out:
    apt_close(&st, hold_fd, lock_fd);
    free(meta);
    free(pkg);
    free(ver);
    free(want);
    free(arch);
    free(deb);
    free(member);
    return rc;
}

/* One package: the candidate (or pinned) version, fetched into the cache and extracted. */
static int fetch_extract(const struct kernels_opts *o, struct apt_state *st, const char *spec,
                         const char *dir, const char *const *members, struct err *e)
{
    const char *eq = strchr(spec, '=');
    char *pkg = eq ? xstrndup(spec, (size_t)(eq - spec)) : xstrdup(spec);
    char *ver = NULL, *want = NULL, *arch = NULL, *deb = NULL, *suite = NULL;
    struct sv argv = SV_INIT;
    struct proc_spec ps = { 0 };
    char sum[65];
    int rc = -1;

    if (apt_record(st, pkg, eq ? eq + 1 : NULL, &ver, &want, &arch, e) < 0)
        goto out;
    suite = apt_suite_of(st, pkg, ver);
    if (fetch_deb(o, st, suite, pkg, ver, arch, want, &deb, sum, e) < 0)
        goto out;
    /* dash has no pipefail: the members must exist afterwards (callers check) */
    sv_push(&argv, "sh");
    sv_push(&argv, "-c");
    sv_push(&argv, members ? "d=$1; x=$2; shift 2; dpkg-deb --fsys-tarfile \"$d\" | "
                             "tar -xf - -C \"$x\" --wildcards \"$@\""
                           : "dpkg-deb -x \"$1\" \"$2\"");
    sv_push(&argv, "sh");
    sv_push(&argv, deb);
    sv_push(&argv, dir);
    for (size_t i = 0; members && members[i]; i++)
        sv_push(&argv, members[i]);
    ps.argv = (const char *const *)argv.v;
    ps.timeout_ms = T_FETCH_MS;
    progress(o, "extract", "%s %s", pkg, ver);
    if (proc_run(&ps, e) < 0) {
        kernels_blame_disk(dir, e);
        err_prefix(e, "cannot extract %s", deb);
        goto out;
    }
    rc = 0;
out:
    sv_clear(&argv);
    free(pkg);
    free(ver);
    free(want);
    free(arch);
    free(deb);
    free(suite);
    return rc;
}

int debian_fetch_tree(const struct kernels_opts *o, const char *suite, const char *const *pkgs,
                      const char *const *members, const char *dir, struct err *e)
{
    struct apt_state st = { suite, NULL, NULL, NULL, SV_INIT };
    int lock_fd = -1, hold_fd = -1, rc = -1;

    if (apt_open(o, &st, &hold_fd, &lock_fd, e) < 0)
        goto out;
    for (size_t i = 0; pkgs[i]; i++)
        if (fetch_extract(o, &st, pkgs[i], dir, members, e) < 0)
            goto out;
    rc = 0;
out:
    apt_close(&st, hold_fd, lock_fd);
    return rc;
}

int debian_depends(const struct kernels_opts *o, const char *suite, const char *pkg, struct sv *out,
                   struct err *e)
{
    struct apt_state st = { suite, NULL, NULL, NULL, SV_INIT };
    const char *argv[] = { "apt-cache",
                           "depends",
                           "--recurse",
                           "--no-recommends",
                           "--no-suggests",
                           "--no-conflicts",
                           "--no-breaks",
                           "--no-replaces",
                           "--no-enhances",
                           pkg,
                           NULL };
    struct buf b = BUF_INIT;
    struct sv lines = SV_INIT;
    int lock_fd = -1, hold_fd = -1, rc = -1;

    if (apt_open(o, &st, &hold_fd, &lock_fd, e) < 0)
        goto out;
    buf_init(&b, 1 << 20);
    if (apt_run(&st, argv, NULL, &b, NULL, T_QUERY_MS, e) < 0)
        goto out;
    sv_split(&lines, b.data, "\n");
    /* package names start a line; dependencies are indented; virtual ones are <name> */
    for (size_t i = 0; i < lines.n; i++) {
        const char *l = lines.v[i];
        int dup = 0;
        if (!*l || *l == ' ' || *l == '<')
            continue;
        for (size_t k = 0; k < out->n && !dup; k++)
            dup = !strcmp(out->v[k], l);
        if (!dup)
            sv_push(out, l);
    }
    rc = 0;
out:
    sv_clear(&lines);
    buf_release(&b);
    apt_close(&st, hold_fd, lock_fd);
    return rc;
}
