/*
 * Builders: a Linux PV kernel or a Xen hypervisor built from source at one commit, published
 * into the artifact cache (kernels.h) like any other artifact.
 *
 *   source            how it is prepared (never touching the user's checkout)
 *   git  repo + rev   `git worktree add --detach` into <cache>/build/trees/<repo-id>/, then
 *                     `git checkout --detach <commit>` there on later builds (incremental)
 *   tarball PATH      unpacked once into <cache>/build/src/<sha256-of-tarball>/
 *   srcdir PATH       an unpacked tree used as is (e.g. from build_debian_source)
 *
 * Linux: out-of-tree (O=) build in a persistent per-tree directory; base config (tinyconfig,
 * defconfig or a file) + the role's fragment (kernels/data/linux-<role>.frag, lines selected
 * by kernel version) merged with `make olddefconfig`, then every required fragment option is
 * checked to have survived. Xen: `make -C xen` with xen/.config from defconfig + the debug or
 * release fragment, in the tree itself.
 *
 * The toolchain is chosen by version from kernels/data/toolchains.tab (a Debian suite chroot
 * made with debootstrap, or the host), build fixes from kernels/data/fixes.tab are applied
 * when the version is in their range and the tree needs them; both are recorded.
 *
 * Cache key = sha256(kind, source identity (commit id or tarball sha256), config inputs
 * (base + selected fragment lines), toolchain (profile + compiler version), fixes). A key that
 * is published is returned without running make. Builds of one key, and of one tree, are
 * serialised with flock; entries are published by rename, so a killed build leaves nothing
 * half-written. Everything blocks (a full Linux build is minutes).
 */
#ifndef PVLAB_KERNELS_BUILD_H
#define PVLAB_KERNELS_BUILD_H

#include "kernels/kernels.h"
#include "util/err.h"

/*
 * A build that ran and failed (compile error, a required config option dropped) fails with
 * ERR_BUILD (util/err.h): the commit is untestable, a `skip` verdict (git bisect's 125), never
 * `infra`. The message carries the last error lines of the build log. Missing tools, a full
 * disk or bad input keep their own codes (ERR_TOOL, ERR_NOSPACE, ERR_USAGE ...).
 */

enum build_role { BUILD_DOM0, BUILD_DOMU };

/* What happened, for the CLI and the bisect engine; strings owned, freed by build_result_free. */
struct build_result {
    int cache_hit;       /* 1: the artifact was in the cache, make did not run */
    int make_runs;       /* make invocations of this call (0 on a cache hit) */
    long long ms;        /* wall time of this call */
    char *key;           /* cache key */
    char *commit;        /* resolved commit id (git) or source sha256 (tarball) */
    char *src_version;   /* "6.1.158", "4.17.5" from the tree's Makefile */
    char *toolchain;     /* "host gcc (Debian 12.2.0-14) 12.2.0" */
    char *fixes;         /* applied fix ids, comma-separated, "" for none */
    char *config_sha256; /* of the resolved .config (Linux) / xen/.config */
    char *log_path;      /* the build log (appended per build of that key) */
};

#define BUILD_RESULT_INIT                                                                          \
    {                                                                                              \
        0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL                                          \
    }

struct build_req {
    const struct kernels_opts *ko; /* required: cache_dir, mirrors, progress */
    enum artifact_kind kind;
    /* exactly one source: */
    const char *repo; /* git tree (path); rev defaults to HEAD */
    const char *rev;
    const char *tarball; /* .tar / .tar.xz / .tar.gz of a source tree */
    const char *srcdir;  /* an unpacked tree, used in place (Xen builds write into it) */
    const char *srcid;   /* identity of srcdir for the key (e.g. "xen=4.17.5+72-g01e0c5e-1") */
    /* Linux */
    enum build_role role;
    const char *config_base; /* "tinyconfig" (NULL) | "defconfig" | a .config file */
    /* Xen */
    int debug; /* CONFIG_DEBUG=y */
    /* toolchain: NULL = by version from the table; "host"; a table profile name;
       "chroot:PATH" an existing chroot with a compiler */
    const char *toolchain;
    const char *archive_mirror;  /* for profiles of suites only on Debian's archive */
    const char *data_dir;        /* NULL = $PVLAB_DATA_DIR or <source>/kernels/data */
    int jobs;                    /* make -j; 0 = 2 */
    int timeout_s;               /* per make step; 0 = 3 hours */
    struct build_result *result; /* filled when non-NULL (caller frees) */
};

/*
 * Builds (or finds in the cache) a bootable Linux kernel / Xen hypervisor for r. Blocks for
 * minutes. On success fills *a (provider "git", "tarball" or "srcdir"; version = commit or
 * source sha256; suite = toolchain profile; sha256 = of the bootable file) and returns 0.
 * On failure returns -1 with *a empty and e set: ERR_BUILD (see above); ERR_USAGE not a git
 * repository, no source given; ERR_NOTFOUND unknown rev, missing tarball; ERR_TOOL make/gcc/
 * git/debootstrap missing or no compiler for the era (the message says what to install or
 * how to point at one); ERR_CONFIG no mirror for a toolchain profile; ERR_NOSPACE disk full.
 */
int build_linux(const struct build_req *r, struct artifact *a, struct err *e);
int build_xen(const struct build_req *r, struct artifact *a, struct err *e);
/* Dispatches on r->kind. */
int build_artifact(const struct build_req *r, struct artifact *a, struct err *e);

/*
 * Downloads a Debian source package (apt-get source, with a private apt state holding deb-src
 * lines under <cache>/apt/src-<suite>/) and unpacks it once into <cache>/build/debsrc/. Blocks.
 * *dir_r (malloc'd) is the unpacked tree, *id_r (malloc'd) "pkg=version" for build_req.srcid.
 */
int build_debian_source(const struct kernels_opts *o, const char *package, const char *suite,
                        char **dir_r, char **id_r, struct err *e);

/*
 * artifact_resolve's entry for build specs: "git:PATH[@REV]", "tarball:PATH" (Linux: dom0 on
 * tinyconfig; Xen: release build) and "debsrc:SUITE" (Xen from Debian's source package).
 * Returns 1 when spec is a build spec (then 0/-1 is in *rc_r), 0 when it is not.
 */
int build_resolve_spec(const struct kernels_opts *o, enum artifact_kind kind, const char *spec,
                       struct artifact *a, int *rc_r, struct err *e);

/*
 * The cheap part of build_resolve_spec, for checking a request before anything is fetched:
 * the spec's syntax, git: the repository, the revision and the version in its Makefile (local
 * git, no checkout), tarball: the file, debsrc: a known suite. No network, no cache, no build.
 * Returns 1 when spec is a build spec (then 0/-1 is in *rc_r), 0 when it is not.
 */
int build_check_spec(enum artifact_kind kind, const char *spec, int *rc_r, struct err *e);

void build_result_free(struct build_result *res);

#endif
