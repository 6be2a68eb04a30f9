/*
 * Toolchain profiles: the host, or a Debian suite chroot made once with debootstrap under
 * <cache>/toolchains/<profile>/root, chosen by source version from toolchains.tab. Builds in a
 * chroot run as `unshare --mount` + bind mounts + chroot, so the mounts vanish with the process
 * even when it is killed.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/build_priv.h"
#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/xalloc.h"

#define T_DEBOOTSTRAP_MS (60 * 60 * 1000)
#define T_QUERY_MS (60 * 1000)
/* build packages of a chroot profile, besides the compiler */
#define PROFILE_PKGS                                                                               \
    "make,bc,bison,flex,libelf-dev,libssl-dev,python3,perl,xz-utils,cpio,kmod,"                    \
    "libc6-dev,ccache"

void tc_table_free(struct tc_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].kind);
        free(t->v[i].range);
        free(t->v[i].profile);
        free(t->v[i].suite);
        free(t->v[i].cc);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

int tc_table_parse(const char *text, struct tc_table *t, struct err *e)
{
    struct sv lines = SV_INIT;
    int rc = -1;

    t->v = NULL;
    t->n = 0;
    sv_split(&lines, text, "\n");
    for (size_t i = 0; i < lines.n; i++) {
        struct sv w = SV_INIT;
        struct kver probe = { { 1, 0, 0 } };
        const char *l = lines.v[i] + strspn(lines.v[i], " \t");
        if (!*l || *l == '#')
            continue;
        sv_split(&w, l, " \t");
        if (w.n != 6 || kver_in_range(&probe, w.v[1]) < 0 ||
            (strcmp(w.v[5], "-") && strcmp(w.v[5], "mirror") && strcmp(w.v[5], "archive"))) {
            err_set(e, ERR_CONFIG,
                    "toolchain table line '%s': want 'kind versions profile "
                    "suite compiler -|mirror|archive'",
                    l);
            sv_clear(&w);
            tc_table_free(t);
            goto out;
        }
        t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
        t->v[t->n] =
            (struct tc_rule){ xstrdup(w.v[0]), xstrdup(w.v[1]), xstrdup(w.v[2]),
                              xstrdup(w.v[3]), xstrdup(w.v[4]), !strcmp(w.v[5], "archive") };
        t->n++;
        sv_clear(&w);
    }
    rc = 0;
out:
    sv_clear(&lines);
    return rc;
}

const struct tc_rule *tc_choose(const struct tc_table *t, const char *kind, const struct kver *v)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].kind, kind) && kver_in_range(v, t->v[i].range) == 1)
            return &t->v[i];
    return NULL;
}

void toolchain_free(struct toolchain *tc)
{
    free(tc->profile);
    free(tc->root);
    free(tc->cc);
    free(tc->cc_version);
    free(tc->ccache_dir);
    free(tc->fallback);
    *tc = (struct toolchain)TOOLCHAIN_INIT;
}

/* Wraps argv for the toolchain: host as is; chroot via unshare + bind mounts. */
static void wrap_argv(const struct toolchain *tc, const char *const *argv, const char *src,
                      const char *obj, struct sv *out)
{
    const char *in_src = tc->root ? "/pvlab/src" : src, *in_obj = tc->root ? "/pvlab/obj" : obj;

    if (tc->root) {
        sv_push(out, "unshare");
        sv_push(out, "--mount");
        sv_push(out, "--propagation=private");
        sv_push(out, "sh");
        sv_push(out, "-ec");
        /* $1 root, $2 src, $3 obj, $4 ccache; then the command */
        sv_push(out, "r=$1; mkdir -p \"$r/pvlab/src\" \"$r/pvlab/obj\" \"$r/pvlab/ccache\"\n"
                     "[ -z \"$2\" ] || mount --bind \"$2\" \"$r/pvlab/src\"\n"
                     "[ -z \"$3\" ] || mount --bind \"$3\" \"$r/pvlab/obj\"\n"
                     "[ -z \"$4\" ] || mount --bind \"$4\" \"$r/pvlab/ccache\"\n"
                     "mount -t proc proc \"$r/proc\" 2>/dev/null || true\n"
                     "shift 4; exec chroot \"$r\" \"$@\"");
        sv_push(out, "pvlab-chroot");
        sv_push(out, tc->root);
        sv_push(out, src ? src : "");
        sv_push(out, obj ? obj : "");
        sv_push(out, tc->ccache_dir ? tc->ccache_dir : "");
    }
    for (size_t i = 0; argv[i]; i++) {
        if (!strcmp(argv[i], "@SRC@"))
            sv_push(out, in_src);
        else if (!strcmp(argv[i], "@OBJ@"))
            sv_push(out, in_obj);
        else if (!strncmp(argv[i], "O=@OBJ@", 7))
            sv_pushf(out, "O=%s", in_obj);
        else
            sv_push(out, argv[i]);
    }
}

int toolchain_run(const struct toolchain *tc, const char *const *argv, const char *src,
                  const char *obj, const char *log, int timeout_ms, struct err *e)
{
    struct sv av = SV_INIT, env = SV_INIT;
    struct proc_spec ps = { 0 };
    int rc;

    wrap_argv(tc, argv, src, obj, &av);
    if (tc->ccache && tc->ccache_dir) {
        sv_pushf(&env, "CCACHE_DIR=%s", tc->root ? "/pvlab/ccache" : tc->ccache_dir);
        sv_push(&env, "CCACHE_NOHASHDIR=1"); /* objects are shared across build dirs */
        if (!tc->root && src)
            sv_pushf(&env, "CCACHE_BASEDIR=%s", src);
    }
    sv_push(&env, "KBUILD_BUILD_USER=pvlab");
    sv_push(&env, "KBUILD_BUILD_HOST=pvlab");
    sv_push(&env, "KBUILD_BUILD_TIMESTAMP=1970-01-01");
    ps.argv = (const char *const *)sv_argv(&av);
    ps.env = (const char *const *)sv_argv(&env);
    ps.cwd = tc->root ? NULL : src;
    ps.log_path = log;
    ps.timeout_ms = timeout_ms;
    rc = proc_run(&ps, e);
    sv_clear(&av);
    sv_clear(&env);
    return rc;
}

/* cc --version's first line and major number, run inside the toolchain. */
static int probe_cc(struct toolchain *tc, struct err *e)
{
    const char *argv[] = { tc->cc, "-dumpfullversion", "-dumpversion", NULL };
    const char *argv2[] = { tc->cc, "--version", NULL };
    struct sv av = SV_INIT;
    struct proc_spec ps = { 0 };
    struct buf out = BUF_INIT, out2 = BUF_INIT;
    int rc = -1;

    buf_init(&out, 4096);
    buf_init(&out2, 4096);
    wrap_argv(tc, argv, NULL, NULL, &av);
    ps.argv = (const char *const *)sv_argv(&av);
    ps.out = &out;
    ps.timeout_ms = T_QUERY_MS;
    if (proc_run(&ps, e) < 0) {
        err_set(e, ERR_TOOL,
                "compiler '%s' not found in the %s toolchain: install it (Debian "
                "package '%s'), or choose another with --toolchain host|PROFILE|chroot:PATH",
                tc->cc, tc->profile, tc->cc);
        goto out;
    }
    tc->cc_major = atoi(out.data);
    sv_clear(&av);
    wrap_argv(tc, argv2, NULL, NULL, &av);
    ps.argv = (const char *const *)sv_argv(&av);
    ps.out = &out2;
    if (proc_run(&ps, e) < 0)
        goto out;
    out2.data[strcspn(out2.data, "\n")] = 0;
    tc->cc_version = xasprintf("%s %s", tc->profile, out2.data);
    rc = 0;
out:
    sv_clear(&av);
    buf_release(&out);
    buf_release(&out2);
    return rc;
}

/* Makes <cache>/toolchains/<profile>/root with debootstrap unless it exists (locked). */
static int make_chroot(const struct build_req *r, const struct tc_rule *rule, const char *dir,
                       struct err *e)
{
    char *root = xasprintf("%s/root", dir), *tmp = xasprintf("%s/.tmp-root.%d", dir, getpid());
    char *lock = xasprintf("%s.lock", dir), *log = xasprintf("%s/debootstrap.log", dir);
    char *mirror = NULL, *sec = NULL, *pkgs = xasprintf("%s,%s", rule->cc, PROFILE_PKGS);
    const char *argv[] = { "debootstrap", "--variant=minbase", NULL, rule->suite, tmp, NULL, NULL };
    char *inc = xasprintf("--include=%s", pkgs);
    struct proc_spec ps = { 0 };
    char *deb = NULL;
    int lock_fd = -1, rc = -1;

    if (fs_mkdirs(dir, e) < 0 || fs_lock(lock, &lock_fd, e) < 0)
        goto out;
    if (fs_is_dir(root)) {
        rc = 0;
        goto out;
    }
    if (!(deb = fs_which("debootstrap"))) {
        err_set(e, ERR_TOOL,
                "the '%s' toolchain profile is a %s chroot made with debootstrap, "
                "which is not installed: apt-get install debootstrap (or use --toolchain "
                "chroot:PATH with an existing chroot)",
                rule->profile, rule->suite);
        goto out;
    }
    if (geteuid() != 0) {
        err_set(e, ERR_TOOL,
                "making the '%s' toolchain chroot needs root (debootstrap, "
                "chroot); run as root or pass --toolchain chroot:PATH",
                rule->profile);
        goto out;
    }
    if (rule->archive) {
        if (!r->archive_mirror) {
            err_set(e, ERR_CONFIG,
                    "toolchain profile '%s' needs Debian suite %s, which is "
                    "only on Debian's archive mirror: pass --archive-mirror URL, or "
                    "--toolchain chroot:PATH with your own %s chroot",
                    rule->profile, rule->suite, rule->cc);
            goto out;
        }
        mirror = xstrdup(r->archive_mirror);
    } else if (r->ko->mirror) {
        mirror = xstrdup(r->ko->mirror);
    } else if (aptsrc_from_system(NULL, &mirror, &sec, e) < 0) {
        err_prefix(e, "toolchain profile '%s'", rule->profile);
        goto out;
    }
    argv[2] = inc;
    argv[5] = mirror;
    fs_rmtree(tmp, NULL);
    log_warn("build", "making the %s toolchain (debootstrap %s with %s): minutes, once; log %s",
             rule->profile, rule->suite, rule->cc, log);
    ps.argv = argv;
    ps.log_path = log;
    ps.timeout_ms = T_DEBOOTSTRAP_MS;
    if (proc_run(&ps, e) < 0) {
        kernels_blame_disk(tmp, e);
        err_prefix(e, "debootstrap of %s from %s failed (log %s)", rule->suite, mirror, log);
        goto out;
    }
    if (rename(tmp, root) < 0) {
        err_sys(e, errno, "cannot publish %s", root);
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        fs_rmtree(tmp, NULL);
    fs_unlock(lock_fd);
    free(root);
    free(tmp);
    free(lock);
    free(log);
    free(mirror);
    free(sec);
    free(pkgs);
    free(inc);
    free(deb);
    return rc;
}

/*
 * The stand-in for an archive-only profile: the oldest compiler of the rows above it (same
 * kind, not archive-only, not the host), i.e. the newest toolchain this machine can make, which
 * the build-fix table carries back to the older eras. NULL when there is none.
 */
const struct tc_rule *tc_fallback(const struct tc_table *t, const struct tc_rule *rule)
{
    const struct tc_rule *best = NULL;

    for (size_t i = 0; i < t->n && &t->v[i] != rule; i++)
        if (!strcmp(t->v[i].kind, rule->kind) && !t->v[i].archive &&
            strcmp(t->v[i].profile, "host"))
            best = &t->v[i];
    return best;
}

int toolchain_get(const struct build_req *r, const char *data_dir, const char *kind,
                  const struct kver *v, struct toolchain *tc, struct err *e)
{
    struct tc_table t = { NULL, 0 };
    struct buf text = BUF_INIT;
    char *path = xasprintf("%s/toolchains.tab", data_dir), *dir = NULL, *cc = NULL;
    const struct tc_rule *rule = NULL;
    char vs[32];
    int rc = -1;

    *tc = (struct toolchain)TOOLCHAIN_INIT;
    kver_format(v, vs, sizeof(vs));
    if (r->toolchain && !strncmp(r->toolchain, "chroot:", 7)) {
        tc->profile = xstrdup("chroot");
        tc->root = fs_abspath(r->toolchain + 7, e);
        if (!tc->root || !fs_is_dir(tc->root)) {
            err_set(e, ERR_NOTFOUND, "--toolchain %s: no such directory", r->toolchain);
            goto out;
        }
        tc->cc = xstrdup("gcc");
    } else {
        if (buf_read_file(&text, path, e) < 0 || tc_table_parse(text.data, &t, e) < 0)
            goto out;
        if (r->toolchain && strcmp(r->toolchain, "host")) {
            for (size_t i = 0; i < t.n && !rule; i++)
                if (!strcmp(t.v[i].profile, r->toolchain))
                    rule = &t.v[i];
            if (!rule) {
                err_set(e, ERR_NOTFOUND,
                        "unknown toolchain profile '%s' (see %s; or use host "
                        "or chroot:PATH)",
                        r->toolchain, path);
                goto out;
            }
        } else if (!r->toolchain) {
            rule = tc_choose(&t, kind, v);
            if (!rule) {
                err_set(e, ERR_TOOL,
                        "no toolchain profile for %s %s in %s: add a row, or pass "
                        "--toolchain host|PROFILE|chroot:PATH",
                        kind, vs, path);
                goto out;
            }
        }
        if (!rule || !strcmp(rule->profile, "host")) {
            tc->profile = xstrdup("host");
            tc->cc = xstrdup(rule ? rule->cc : "gcc");
        } else {
            const struct tc_rule *fb = NULL;
            dir = xasprintf("%s/toolchains/%s", r->ko->cache_dir, rule->profile);
            /* an era's archive-only suite cannot be made here: say so, use the stand-in */
            char *made = xasprintf("%s/root", dir);
            int have = fs_is_dir(made);
            free(made);
            if (rule->archive && !r->toolchain && !have && (fb = tc_fallback(&t, rule))) {
                char *why = NULL;
                struct err e2 = ERR_INIT;
                if (!r->archive_mirror)
                    why = xstrdup("no --archive-mirror given");
                else if (make_chroot(r, rule, dir, &e2) < 0 && e2.code == ERR_NOSPACE) {
                    *e = e2; /* a full disk is no reason to change compilers */
                    goto out;
                } else if (e2.code)
                    why = xasprintf("making it failed: %s", e2.msg);
                if (why) {
                    log_warn("build",
                             "%s %s's own toolchain is %s (%s, only on Debian's archive "
                             "mirror; %s): building with the %s toolchain (%s) and the "
                             "build-fix table instead",
                             kind, vs, rule->profile, rule->cc, why, fb->profile, fb->cc);
                    tc->fallback = xasprintf("%s %s (%s)", rule->profile, rule->cc, why);
                    free(dir);
                    dir = xasprintf("%s/toolchains/%s", r->ko->cache_dir, fb->profile);
                    rule = fb;
                    free(why);
                }
            }
            if (make_chroot(r, rule, dir, e) < 0)
                goto out;
            tc->profile = xstrdup(rule->profile);
            tc->root = xasprintf("%s/root", dir);
            tc->cc = xstrdup(rule->cc);
        }
    }
    if (!tc->root && !(cc = fs_which(tc->cc))) {
        /* Debian names its versioned compilers' packages after them (gcc-12, clang-16) */
        err_set(e, ERR_TOOL,
                "%s %s builds with the host's %s, which is not installed: "
                "apt-get install %s (or pass --toolchain PROFILE|chroot:PATH)",
                kind, vs, tc->cc, !strcmp(tc->cc, "gcc") ? "build-essential" : tc->cc);
        goto out;
    }
    if (probe_cc(tc, e) < 0)
        goto out;
    if (tc->root) {
        char *cp = xasprintf("%s/usr/bin/ccache", tc->root);
        tc->ccache = fs_exists(cp);
        free(cp);
    } else {
        char *cp = fs_which("ccache");
        tc->ccache = cp != NULL;
        free(cp);
    }
    if (tc->ccache) {
        tc->ccache_dir = xasprintf("%s/ccache/%s", r->ko->cache_dir, tc->profile);
        if (fs_mkdirs(tc->ccache_dir, e) < 0)
            goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        toolchain_free(tc);
    tc_table_free(&t);
    buf_release(&text);
    free(path);
    free(dir);
    free(cc);
    return rc;
}
