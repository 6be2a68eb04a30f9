/*
 * Internals shared by the builder's files, not for other modules (they use kernels/build.h):
 *   build.c         orchestration: source identity, toolchain, key, locks, tree preparation
 *   build_config.c  configuration: config inputs of the key, fragment merge, olddefconfig,
 *                   the survived-options check
 *   build_make.c    make: running it in the toolchain, the log, disk-full detection,
 *                   publishing the result into the artifact cache
 */
#ifndef PVLAB_KERNELS_BUILD_INT_H
#define PVLAB_KERNELS_BUILD_INT_H

#include "kernels/build_priv.h"
#include "kernels/kernels.h"
#include "util/err.h"
#include "util/sv.h"

/* Everything one build call works with; strings owned. */
struct bctx {
    const struct build_req *r;
    struct build_result *res;
    const char *kind; /* "linux" / "xen" */
    int xen;
    char *data_dir;
    char *source;  /* "git <commit>" / "tarball <sha>" / "srcdir <id>" */
    char *commit;  /* commit or sha256 */
    char *tree;    /* source tree to build (worktree / unpacked / srcdir) */
    char *tree_id; /* names the persistent build dir */
    char *obj;     /* Linux O= dir */
    char *log;
    struct kver ver;
    struct toolchain tc;
    struct frag frag;
    struct sv fixes; /* in-range ids (key) */
    struct sv applied;
    struct fix_table fixtab;
    char *config_in; /* key input: base + fragment */
    char *config_sha;
    char key[65];
};

/* ---- build.c ---- */
/* Logs a stage and passes it to the caller's progress callback. */
void build_progress(const struct bctx *b, const char *stage, const char *detail);

/* ---- build_config.c ---- */
/* Fragment (by version) and base config -> b->frag and b->config_in (the key input). */
int build_config_inputs(struct bctx *b, struct err *e);
/* The Linux base config: the request's, else allnoconfig before 3.17 and tinyconfig after. */
const char *build_linux_base(const struct bctx *b);
/*
 * Writes the resolved config: Linux: the base (build_linux_base) in b->obj;
 * Xen: defconfig in the tree; then the fragment, olddefconfig and the survived-options check
 * (ERR_BUILD naming the options that dropped out). Sets b->config_sha.
 */
int build_configure(struct bctx *b, struct err *e);

/* ---- build_make.c ---- */
/*
 * Runs make with targets in the toolchain, appending to b->log; counts it. A failure becomes
 * ERR_NOSPACE (the disk is nearly full), stays a timeout / interruption, or is ERR_BUILD with
 * the log's error lines.
 */
int build_run_make(struct bctx *b, const char *const *targets, struct err *e);
/* make bzImage (Linux, in b->obj) or the hypervisor (Xen, in the tree). */
int build_make_image(struct bctx *b, struct err *e);
/* Publishes the built image, its config and build.json into the cache; fills *a. */
int build_publish(struct bctx *b, enum artifact_kind kind, struct artifact *a, struct err *e);
/* On a cache hit: the recorded config hash and fixes, and a fresh mtime for gc's LRU. */
void build_hit_record(struct bctx *b, const char *path);

#endif
