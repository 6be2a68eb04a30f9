/* Internals of the builders (versions, fragments, toolchain and fix tables, keys), for tests. */
#ifndef PVLAB_KERNELS_BUILD_PRIV_H
#define PVLAB_KERNELS_BUILD_PRIV_H

#include <stddef.h>

#include "kernels/build.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/sv.h"

/* ---- build_ver.c: versions and ranges ---- */
struct kver {
    int v[3]; /* major, minor, patch; -1 = not given */
};
/* Parses "4.1.5", "v6.1", "2.6.26", "6.12-rc3", "RELEASE-4.17.0", "4.17.5+72-g01e". */
int kver_parse(const char *s, struct kver *out);
/* Compares a and b, missing parts counting as 0. */
int kver_cmp(const struct kver *a, const struct kver *b);
/*
 * 1 when v is in range "LO-HI" (both inclusive; HI "4.8" covers every 4.8.y), "LO-", "-HI",
 * "*" or a single version "4.1" (= "4.1-4.1"); 0 when not; -1 when range is malformed.
 */
int kver_in_range(const struct kver *v, const char *range);
/* "4.1.5" into buf (parts that are given). */
void kver_format(const struct kver *v, char *buf, size_t n);
/* Version from Makefile text: VERSION/PATCHLEVEL/SUBLEVEL, or xen/Makefile's XEN_*VERSION. */
int kver_of_text(const char *text, int xen, struct kver *out);
/* kver_of_text on <srcdir>/Makefile (Linux) or <srcdir>/xen/Makefile. */
int kver_of_tree(const char *srcdir, int xen, struct kver *out, struct err *e);

/* ---- config_frag.c: Kconfig fragments ---- */
struct frag_opt {
    char *name;   /* "CONFIG_XEN" */
    char *value;  /* "y", "m", "n", "\"str\"", "123" */
    int optional; /* "?" : wanted, not checked */
};
struct frag {
    struct frag_opt *v;
    size_t n;
};
/*
 * Parses fragment text: "CONFIG_X=y", "# CONFIG_X is not set", "CONFIG_X=n", each optionally
 * followed by "?" (not checked) and "@ RANGE" (only for versions in RANGE); '#' comments.
 * Lines outside v's range are dropped (v NULL keeps all). A later line for the same option
 * wins. ERR_CONFIG names the line of a malformed entry.
 */
int frag_parse(const char *text, const char *name, const struct kver *v, struct frag *f,
               struct err *e);
void frag_free(struct frag *f);
/* Canonical text of the selected lines (for the cache key and the build record). */
void frag_canon(const struct frag *f, struct buf *out);
/* Value of CONFIG_X in .config text: "y", "\"str\"", "n" for "is not set", NULL if absent. */
char *config_get(const char *config, const char *name);
/* Writes config with every fragment option set to its value (replaced or appended) into out. */
void frag_apply(const char *config, const struct frag *f, struct buf *out);
/* Appends "CONFIG_X=y (got n)" / "(absent)" for each required option not as wanted. Count. */
int frag_check(const char *config, const struct frag *f, struct sv *bad);

/* ---- toolchain.c: toolchain profiles ---- */
struct tc_rule {
    char *kind;    /* "linux" / "xen" */
    char *range;   /* versions */
    char *profile; /* "host" or a suite profile name */
    char *suite;   /* Debian suite ("-" for host) */
    char *cc;      /* compiler command: "gcc", "gcc-10" */
    int archive;   /* the suite lives only on Debian's archive mirror */
};
struct tc_table {
    struct tc_rule *v;
    size_t n;
};
int tc_table_parse(const char *text, struct tc_table *t, struct err *e);
void tc_table_free(struct tc_table *t);
/* The first rule for kind whose range holds v; NULL when none (then say what exists). */
const struct tc_rule *tc_choose(const struct tc_table *t, const char *kind, const struct kver *v);
/* What stands in for an archive-only rule: the rows' oldest reachable chroot; NULL = none. */
const struct tc_rule *tc_fallback(const struct tc_table *t, const struct tc_rule *rule);

/* A toolchain ready to run make: host, or a chroot (paths inside it differ). */
struct toolchain {
    char *profile;    /* "host", "bullseye", "chroot" */
    char *root;       /* chroot directory; NULL for the host */
    char *cc;         /* "gcc-10" */
    char *cc_version; /* first line of `cc --version` */
    int cc_major;
    int ccache;       /* ccache available in this toolchain */
    char *ccache_dir; /* outside path */
    char *fallback;   /* the era's own profile it stands in for, and why; NULL = none */
};
#define TOOLCHAIN_INIT                                                                             \
    {                                                                                              \
        NULL, NULL, NULL, NULL, 0, 0, NULL, NULL                                                   \
    }
/*
 * Prepares the toolchain named by r->toolchain, or chosen for (kind, v) by the table in
 * data_dir: creates the chroot profile with debootstrap when missing (minutes, once).
 */
int toolchain_get(const struct build_req *r, const char *data_dir, const char *kind,
                  const struct kver *v, struct toolchain *tc, struct err *e);
void toolchain_free(struct toolchain *tc);
/*
 * Runs argv in the toolchain with src and obj visible (at /pvlab/src, /pvlab/obj inside a
 * chroot; argv may use the words @SRC@ and @OBJ@ to name them). Output appended to log.
 */
int toolchain_run(const struct toolchain *tc, const char *const *argv, const char *src,
                  const char *obj, const char *log, int timeout_ms, struct err *e);

/* ---- fixes.c: the build-fix table ---- */
struct fix {
    char *id;
    char *kind;  /* linux / xen */
    char *range; /* source versions */
    int min_cc;  /* compiler major from which it is needed; 0 = any */
    char *op;    /* "copy" SRC DST | "append" FILE TEXT (if TEXT is absent) |
                    "replace" FILE "OLD ==> NEW" (every OLD, while one is present) */
    char *arg1, *arg2;
    char *reason;
};
#define REPLACE_SEP " ==> "
struct fix_table {
    struct fix *v;
    size_t n;
};
int fix_table_parse(const char *text, struct fix_table *t, struct err *e);
void fix_table_free(struct fix_table *t);
/* 1 when fix applies to (kind, v, cc_major) by its range and compiler; 0 otherwise. */
int fix_in_range(const struct fix *f, const char *kind, const struct kver *v, int cc_major);
/* "${cc_major}" in s replaced; malloc'd. */
char *fix_expand(const char *s, int cc_major);
/*
 * Applies the in-range fixes that the tree needs (copy: DST missing; append: TEXT not yet in
 * FILE); ids of applied fixes appended to applied. Works on the tree in place.
 */
int fixes_apply(const struct fix_table *t, const char *kind, const struct kver *v, int cc_major,
                const char *srcdir, struct sv *applied, struct err *e);
/* Which in-range fixes the tree needs, without changing it (for the cache key). */
int fixes_needed(const struct fix_table *t, const char *kind, const struct kver *v, int cc_major,
                 const char *srcdir, struct sv *ids);

/* ---- build.c ---- */
struct build_key_in {
    const char *kind;
    const char *source;    /* "git <commit>" / "tarball <sha256>" / "srcdir <id>" */
    const char *config;    /* base + canonical fragment */
    const char *toolchain; /* profile + compiler version */
    const char *fixes;     /* applied fix ids */
};
/* sha256 over the inputs, with a format version so a builder change can invalidate keys. */
void build_key(const struct build_key_in *in, char out[65]);
/* ---- build_make.c ---- */
/* The last lines of a build log that say what failed (make's "Error", "error:"), malloc'd. */
char *build_log_errors(const char *log, size_t max_lines);

#endif
