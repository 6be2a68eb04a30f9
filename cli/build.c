/* pvlab build: a Linux PV kernel or a Xen hypervisor from source, into the artifact cache. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kernels/build.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/status.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: pvlab build linux|xen SOURCE [options]\n"
    "\n"
    "Builds a Linux PV kernel or a Xen hypervisor from source and puts it in the artifact\n"
    "cache, where 'pvlab run --linux/--xen' finds it (or use git:PATH@REV / tarball:PATH\n"
    "there, which build on demand). The same inputs a second time are a cache hit: no make.\n"
    "\n"
    "SOURCE (exactly one):\n"
    "  --repo PATH [--rev REV]  a git tree at REV (default HEAD), built in a worktree under\n"
    "                           the cache: your checkout is never touched\n"
    "  --tarball PATH           a source tarball (e.g. /usr/src/linux-source-6.1.tar.xz),\n"
    "                           unpacked once into the cache\n"
    "  --srcdir PATH            an unpacked source tree, used in place\n"
    "  --debian-source[=SUITE]  Xen: Debian's source package (apt-get source xen; default\n"
    "                           bookworm), with a private apt state\n"
    "  --fetch-only             with --debian-source: fetch and unpack, print the directory\n"
    "Options:\n"
    "  --role dom0|domU         Linux: which PV fragment to merge (default dom0)\n"
    "  --config-base BASE       Linux: tinyconfig (default from 3.17) | allnoconfig (default\n"
    "                           before 3.17) | defconfig | a .config file\n"
    "  --debug                  Xen: CONFIG_DEBUG=y (default: release)\n"
    "  --toolchain T            host | a profile of kernels/data/toolchains.tab | chroot:PATH\n"
    "                           (default: chosen by the source's version)\n"
    "  --archive-mirror URL     Debian archive mirror for profiles of old suites (without it,\n"
    "                           their eras build with bullseye's gcc-10 and the fix table)\n"
    "  -j N                     make jobs (default 2)\n"
    "  --timeout S              per make step (default 3 hours)\n"
    "  --json                   print the result as JSON on stdout\n"
    "  -q, --quiet              no progress output\n"
    "\n"
    "Exit status: 0 built (or cached); 125 the source does not build at that commit (a\n"
    "'skip' for git bisect; the last error lines of the log are printed); 2 bad usage;\n"
    "3 other errors (missing tool, disk full, network).\n";

static void on_stage(void *ctx, const char *stage, const char *detail)
{
    status_update(ctx, stage, "%s", detail ? detail : "");
}

static void print_json(const struct artifact *a, const struct build_result *res)
{
    struct buf b = BUF_INIT;
    struct jw w;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_s(&w, "kind", artifact_kind_name(a->kind));
    jw_kv_s(&w, "path", a->path);
    jw_kv_s(&w, "sha256", a->sha256);
    jw_kv_s(&w, "provider", a->provider);
    jw_kv_s(&w, "source", a->package);
    jw_kv_s(&w, "commit", res->commit);
    jw_kv_s(&w, "version", res->src_version);
    jw_kv_s(&w, "toolchain", res->toolchain);
    jw_kv_s(&w, "fixes", res->fixes);
    jw_kv_s(&w, "config_sha256", res->config_sha256);
    jw_kv_s(&w, "key", res->key);
    jw_kv_bool(&w, "cache_hit", res->cache_hit);
    jw_kv_int(&w, "make_runs", res->make_runs);
    jw_kv_int(&w, "ms", res->ms);
    jw_kv_s(&w, "log", res->log_path);
    jw_end(&w);
    printf("%s\n", b.data);
    buf_release(&b);
}

int cmd_build(struct cli *c, int argc, char **argv)
{
    enum {
        O_REPO = 256,
        O_REV,
        O_TAR,
        O_SRCDIR,
        O_DEBSRC,
        O_ROLE,
        O_BASE,
        O_DEBUG,
        O_TC,
        O_ARCHIVE,
        O_TO,
        O_JSON,
        O_FETCH
    };
    static const struct option opts[] = {
        { "repo", required_argument, NULL, O_REPO },
        { "rev", required_argument, NULL, O_REV },
        { "tarball", required_argument, NULL, O_TAR },
        { "srcdir", required_argument, NULL, O_SRCDIR },
        { "debian-source", optional_argument, NULL, O_DEBSRC },
        { "role", required_argument, NULL, O_ROLE },
        { "config-base", required_argument, NULL, O_BASE },
        { "debug", no_argument, NULL, O_DEBUG },
        { "toolchain", required_argument, NULL, O_TC },
        { "archive-mirror", required_argument, NULL, O_ARCHIVE },
        { "timeout", required_argument, NULL, O_TO },
        { "json", no_argument, NULL, O_JSON },
        { "fetch-only", no_argument, NULL, O_FETCH },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct kernels_opts ko = { 0 };
    struct build_req r;
    struct build_result res = BUILD_RESULT_INIT;
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;
    struct status st;
    const char *debsrc = NULL;
    char *dir = NULL, *id = NULL;
    int want_debsrc = 0, fetch_only = 0, quiet = 0, opt, rc = EXIT_ERROR;
    long v;

    memset(&r, 0, sizeof(r));
    while ((opt = getopt_long(argc, argv, "j:qh", opts, NULL)) != -1) {
        switch (opt) {
        case O_REPO: r.repo = optarg; break;
        case O_REV: r.rev = optarg; break;
        case O_TAR: r.tarball = optarg; break;
        case O_SRCDIR: r.srcdir = optarg; break;
        case O_DEBSRC:
            want_debsrc = 1;
            debsrc = optarg;
            break;
        case O_ROLE:
            if (strcmp(optarg, "dom0") && strcmp(optarg, "domU")) {
                err_set(&e, ERR_USAGE, "--role expects dom0 or domU, got '%s'", optarg);
                goto usage_err;
            }
            r.role = !strcmp(optarg, "domU") ? BUILD_DOMU : BUILD_DOM0;
            break;
        case O_BASE: r.config_base = optarg; break;
        case O_DEBUG: r.debug = 1; break;
        case O_TC: r.toolchain = optarg; break;
        case O_ARCHIVE: r.archive_mirror = optarg; break;
        case 'j':
            if (cli_parse_long("-j", optarg, 1, 1024, &v, &e) < 0)
                goto usage_err;
            r.jobs = (int)v;
            break;
        case O_TO:
            if (cli_parse_long("--timeout", optarg, 1, 86400 * 7, &v, &e) < 0)
                goto usage_err;
            r.timeout_s = (int)v;
            break;
        case O_JSON: c->json = 1; break;
        case O_FETCH: fetch_only = 1; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || (strcmp(argv[optind], "linux") && strcmp(argv[optind], "xen"))) {
        err_set(&e, ERR_USAGE,
                "say what to build: 'pvlab build linux ...' or 'pvlab build "
                "xen ...'");
        goto usage_err;
    }
    r.kind = !strcmp(argv[optind], "xen") ? ARTIFACT_XEN : ARTIFACT_LINUX;
    if (want_debsrc && r.kind != ARTIFACT_XEN) {
        err_set(&e, ERR_USAGE,
                "--debian-source builds Xen; for Linux use --tarball with "
                "Debian's linux-source-X package (/usr/src/linux-source-X.tar.xz)");
        goto usage_err;
    }
    if (!!r.repo + !!r.tarball + !!r.srcdir + want_debsrc != 1) {
        err_set(&e, ERR_USAGE,
                "give exactly one source: --repo PATH, --tarball PATH, --srcdir "
                "PATH or --debian-source");
        goto usage_err;
    }
    if (fetch_only && !want_debsrc) {
        err_set(&e, ERR_USAGE, "--fetch-only goes with --debian-source");
        goto usage_err;
    }
    if (r.rev && !r.repo) {
        err_set(&e, ERR_USAGE, "--rev needs --repo");
        goto usage_err;
    }
    status_init(&st, !quiet);
    if (cli_config(c, &e) < 0)
        goto err;
    ko.cache_dir = c->cfg.cache_dir;
    ko.mirror = c->cfg.mirror;
    ko.security_mirror = c->cfg.security_mirror;
    ko.refresh_hours = c->cfg.refresh_hours;
    ko.progress = on_stage;
    ko.progress_ctx = &st;
    r.ko = &ko;
    r.result = &res;
    if (want_debsrc) {
        if (build_debian_source(&ko, "xen", debsrc, &dir, &id, &e) < 0)
            goto err;
        r.srcdir = dir;
        r.srcid = id;
        if (fetch_only) {
            status_done(&st);
            printf("%s\n", dir);
            rc = 0;
            goto out;
        }
    }
    if (build_artifact(&r, &a, &e) < 0) {
        status_done(&st);
        cli_error(&e);
        rc = e.code == ERR_BUILD ? 125 : e.code == ERR_USAGE ? EXIT_USAGE : EXIT_ERROR;
        goto out;
    }
    status_done(&st);
    if (c->json) {
        print_json(&a, &res);
    } else {
        printf("%s %s %s (%s %.12s) in %.1f s%s\n", res.cache_hit ? "cached" : "built",
               artifact_kind_name(a.kind), res.src_version, a.provider, res.commit,
               (double)res.ms / 1000.0, res.cache_hit ? " (cache hit, make not run)" : "");
        printf("  file:      %s\n  sha256:    %s\n  toolchain: %s\n  fixes:     %s\n"
               "  log:       %s\n",
               a.path, a.sha256, res.toolchain, res.fixes && *res.fixes ? res.fixes : "none",
               res.log_path);
    }
    rc = 0;
    goto out;
usage_err:
    cli_error(&e);
    rc = EXIT_USAGE;
    goto out;
err:
    status_done(&st);
    cli_error(&e);
    rc = e.code == ERR_USAGE ? EXIT_USAGE : EXIT_ERROR;
out:
    artifact_free(&a);
    build_result_free(&res);
    free(dir);
    free(id);
    return rc;
}
