/* kernels/ internals shared between its files and exposed for unit tests. */
#ifndef PVLAB_KERNELS_KERNELS_PRIV_H
#define PVLAB_KERNELS_KERNELS_PRIV_H

#include <stddef.h>

#include "kernels/kernels.h"
#include "util/err.h"
#include "util/sv.h"

/* ---- debian_table.c: what the debian provider can fetch ---- */
struct debian_entry {
    enum artifact_kind kind;
    const char *version; /* what users write: "4.17", "6.1" */
    const char *suite;   /* base suite; <suite>-security is searched too */
    const char *package; /* Xen: the hypervisor package; Linux: the metapackage to follow */
    const char *member;  /* Xen: path inside the package; Linux: NULL (./boot/vmlinuz-<abi>) */
};
extern const struct debian_entry debian_table[];
extern const size_t debian_table_len;
/* Returns the entry for (kind, version) or NULL. */
const struct debian_entry *debian_table_find(enum artifact_kind kind, const char *version);

/* ---- kernels.c: specs ---- */
enum spec_provider { SPEC_DEBIAN, SPEC_FILE };
struct parsed_spec {
    enum spec_provider provider;
    const char *arg;                  /* points into the spec: version for debian, path for file */
    const struct debian_entry *entry; /* debian only */
};
/* Parses "4.17" / "debian:4.17" / "file:PATH". ERR_NOTFOUND lists the known versions. */
int kernels_parse_spec(enum artifact_kind kind, const char *spec, struct parsed_spec *ps,
                       struct err *e);

/* ---- aptsrc.c: deriving the Debian mirror from the machine's apt sources ---- */
struct apt_source_file {
    const char *name; /* base name decides the format: *.list one-line, *.sources deb822;
                         anything else (e.g. *.disabled-by-farm) is ignored, as apt does */
    const char *text;
};
/*
 * Pure: picks the URI that serves `codename` with component main (*mirror_r) and the one that
 * serves "<codename>-security" (*security_r, NULL when none). Both malloc'd, no trailing '/'.
 * ERR_CONFIG when no main mirror is found.
 */
int aptsrc_derive(const struct apt_source_file *files, size_t n, const char *codename,
                  char **mirror_r, char **security_r, struct err *e);
/* Reads <root>/etc/os-release and <root>/etc/apt/sources.list{,.d/} then aptsrc_derive. */
int aptsrc_from_system(const char *root, char **mirror_r, char **security_r, struct err *e);
/* Makes the directories of a private apt state under dir (etc/, state/, cache/, log) and its
 * empty dpkg status file. */
int apt_state_dirs(const char *dir, struct err *e);

/* ---- cache.c: content-addressed artifact store ---- */
/* sha256 hex of "<provider>\n<package>\n<version>\n". */
void cache_key(const char *provider, const char *package, const char *version, char out[65]);
/* <cache_dir>/artifacts/<kind>/<key>, malloc'd. */
char *cache_entry_dir(const char *cache_dir, enum artifact_kind kind, const char *key);
/* "xen.bin" / "vmlinuz". */
const char *cache_file_name(enum artifact_kind kind);
/*
 * Fills a from a published entry whose file still matches its recorded sha256. Returns 1 when
 * found, 0 when absent (or damaged: then it is removed), -1 on error.
 */
int cache_lookup(const char *cache_dir, enum artifact_kind kind, const char *key,
                 struct artifact *a, struct err *e);
/*
 * Builds an entry: creates a temp directory next to the final one, calls fill(ctx, file, e) to
 * write the bootable file at `file` (a path inside the temp directory), checks its format,
 * hashes it, writes meta.json from a, then renames the directory into place. On success a->path
 * and a->sha256 are set. On any failure nothing appears under the final name.
 */
int cache_publish(const char *cache_dir, enum artifact_kind kind, const char *key,
                  int (*fill)(void *ctx, const char *file, struct err *e), void *ctx,
                  struct artifact *a, struct err *e);

/*
 * Below this much free space, a child process (make, tar, dpkg-deb, apt-get, debootstrap) that
 * failed while writing is taken to have run out of disk: its own "No space left on device" may
 * not reach any log on that disk, and must not be taken for a build or network failure.
 */
#define KERNELS_MIN_FREE (64LL << 20)
/*
 * After a child process failed (e set) while writing under path: when the filesystem holding
 * path has less than KERNELS_MIN_FREE free, e becomes ERR_NOSPACE, saying so and how to free
 * space (`pvlab cache gc`), with the old message after it; returns 1. Otherwise (or when the
 * tool was missing: ERR_TOOL) returns 0 and leaves e alone. e may be NULL.
 */
int kernels_blame_disk(const char *path, struct err *e);

/* ---- image.c: formats ---- */
/* 1 when the file starts with the gzip magic 1f 8b, 0 when not, -1 with e set on I/O error. */
int image_is_gzip(const char *path, struct err *e);
/* Streams a gzip file into dst (created, fsynced); a truncated or corrupt stream is an error. */
int image_gunzip(const char *src, const char *dst, struct err *e);
/* Copies src to dst (created, fsynced). */
int image_copy(const char *src, const char *dst, struct err *e);
/* Xen: a multiboot (v1) header in the first 8 KiB, which QEMU's -kernel loader needs. */
int image_check_xen(const char *path, struct err *e);
/* Linux: a bzImage ("HdrS" at 0x202) or an ELF (vmlinux). */
int image_check_linux(const char *path, struct err *e);

/* ---- domu.c ---- */
/* Appends the DT_NEEDED names of a 64-bit ELF file to out (none for a static one). */
int elf_needed(const char *path, struct sv *out, struct err *e);

/* ---- debian.c: the debian provider ---- */
int debian_resolve(const struct kernels_opts *o, const struct debian_entry *ent, struct artifact *a,
                   struct err *e);
/*
 * Fetches each package of pkgs ("name" or "name=version", NULL-terminated) from suite (and its
 * -security) into the package cache and extracts it into dir: whole, or only the tar members
 * matching members (shell wildcards, "./lib/modules/ * /kernel/drivers/xen/ *"; NULL = all).
 */
int debian_fetch_tree(const struct kernels_opts *o, const char *suite, const char *const *pkgs,
                      const char *const *members, const char *dir, struct err *e);
/* The names in pkg's recursive Depends closure (pkg first, virtual packages left out). */
int debian_depends(const struct kernels_opts *o, const char *suite, const char *pkg, struct sv *out,
                   struct err *e);
/* 1 when apt-get's output (stdout or stderr) says a suite's signature cannot be verified. */
int debian_apt_unsigned(const char *apt_output);
/* Parses a field of the first record of `apt-cache show` output; malloc'd or NULL. */
char *debian_field(const char *record, const char *field);
/* First package name in a Depends value ("linux-image-6.1.0-41-amd64 (= 6.1.158-1), ...") and
 * its pinned version if "(= v)"; malloc'd; *ver_r may be NULL. Returns 0 or -1 if empty. */
int debian_first_depend(const char *depends, char **pkg_r, char **ver_r);

#endif
