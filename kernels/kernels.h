/*
 * Artifacts: the bootable files a trial needs (a Xen hypervisor, a Linux dom0 kernel), resolved
 * from a user's spec through a provider and kept in a content-addressed cache.
 *
 *   spec             provider   where the file comes from
 *   "4.17"           debian     the shipped table (kernels/debian_table.c) -> a Debian suite's
 *   "debian:4.17"               package, fetched with apt-get into a private apt state under
 *                               <cache_dir>/apt/<suite>/ (the system's apt setup is never touched)
 *   "file:/boot/x"   file       a local file, copied (Xen: gunzipped when gzip) into the cache
 *
 * Cache layout (every entry is published by renaming a finished temp directory, so a killed run
 * or a full disk never leaves an entry that a later run would use):
 *   <cache_dir>/artifacts/{xen,linux}/<key>/{xen.bin|vmlinuz, meta.json}
 *   <cache_dir>/debs/<package>_<version>_amd64.deb          downloaded packages (hash-checked)
 *   <cache_dir>/apt/<suite>/                                 private apt lists, refreshed when
 *                                                            older than refresh_hours
 * (kernels/cache_gc.h lists and removes them; a resolve holds the cache against gc meanwhile.)
 * The key is sha256("<provider>\n<package>\n<version>\n") for debian, the file's sha256 for file:.
 */
#ifndef PVLAB_KERNELS_KERNELS_H
#define PVLAB_KERNELS_KERNELS_H

#include "util/err.h"

enum artifact_kind { ARTIFACT_XEN, ARTIFACT_LINUX };

struct artifact { /* all strings owned, freed by artifact_free */
    enum artifact_kind kind;
    char *spec;          /* as the user gave it: "4.17", "file:/boot/xen.gz" */
    char *provider;      /* "debian" | "file" */
    char *path;          /* bootable file in the cache: Xen = gunzipped multiboot image;
                            Linux = vmlinuz/bzImage */
    char *version;       /* exact: Debian package version, or "file" */
    char *package;       /* Debian binary package, e.g. linux-image-6.1.0-41-amd64;
                            NULL for file: */
    char *suite;         /* bookworm, bookworm-security, ...; NULL for file: */
    char *sha256;        /* of path */
    char *source_sha256; /* of the downloaded .deb or of the given file */
};

#define ARTIFACT_INIT                                                                              \
    {                                                                                              \
        ARTIFACT_XEN, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL                               \
    }

struct kernels_opts {
    const char *cache_dir;       /* required */
    const char *mirror;          /* NULL = derive from the machine's apt sources */
    const char *security_mirror; /* NULL = derive (none found: security updates are skipped) */
    int refresh_hours;           /* re-run the private apt update when lists are older; 0 = 24 */
    int linux_domu;              /* a Linux built from source (git:, tarball:) is a PV domU
                                    kernel (kernels/data/linux-domU.frag), not a dom0 one */
    /* Called at each slow step (stage "update", "fetch", "extract"); may be NULL. */
    void (*progress)(void *ctx, const char *stage, const char *detail);
    void *progress_ctx;
};

/*
 * Resolves spec to a cached bootable file, fetching and converting it when the cache lacks it.
 * Blocks (apt-get update/download, dpkg-deb: seconds to minutes; a warm cache with fresh lists
 * runs only apt-cache). On success fills *a (caller frees with artifact_free) and returns 0.
 * On failure returns -1 with e set and *a left empty:
 *   ERR_NOTFOUND unknown version (the message lists the known ones) or missing file;
 *   ERR_USAGE    a file: that is not readable or not a bootable image of that kind;
 *   ERR_CONFIG   no Debian mirror could be derived from the apt sources (set `mirror`);
 *   ERR_TOOL     apt-get / dpkg-deb / tar missing;  ERR_NET  the package archive unreachable
 *                and no usable lists;  ERR_NOSPACE  disk full;  ERR_IO / ERR_PROC otherwise.
 */
int artifact_resolve(const struct kernels_opts *o, enum artifact_kind kind, const char *spec,
                     struct artifact *a, struct err *e);
/*
 * Checks spec the way artifact_resolve would, as far as that needs no network, no download,
 * no build and no cache: the syntax of every form, a Debian version in the table, a file:
 * that exists and is readable (Linux: a kernel image), a git: repository with that revision
 * (local git), a tarball: that exists, a debsrc: suite that is known. Returns 0, or -1 with e
 * set with the message artifact_resolve gives for the same spec. Call it for every spec of a
 * request before resolving any, so that a typo in the second does not wait for the first's
 * download. Blocks only on local file reads and git.
 */
int artifact_check_spec(enum artifact_kind kind, const char *spec, struct err *e);
/* Frees the strings and resets *a to ARTIFACT_INIT; NULL and repeated calls are fine. */
void artifact_free(struct artifact *a);
/* A deep copy of src into dst (free with artifact_free). */
void artifact_copy(struct artifact *dst, const struct artifact *src);
/* "4.14, 4.17, 4.20" (Xen) or "5.10, 6.1, 6.12" (Linux): the shipped Debian versions; static. */
const char *artifact_known(enum artifact_kind kind);
/* "xen" / "linux"; static. */
const char *artifact_kind_name(enum artifact_kind kind);

/*
 * domU trials (kernels/domu.c): what a dom0 needs to start PV domUs, cached like the artifacts.
 *
 * toolstack_resolve: the Xen toolstack matching a Debian hypervisor artifact (xl, xenstored,
 * xenconsoled, xen-init-dom0 from xen-utils-X of the same version, with their shared
 * libraries and the dynamic loader) as a directory tree to copy into the dom0 initramfs.
 * ERR_USAGE for a Xen that is not Debian's (its tools would have to be built alongside it).
 *
 * dom0_xen_modules: a directory holding the dom0 kernel's Xen device modules as plain .ko
 * files (dom0_xen_modules_list, in load order; a module built into the kernel is absent).
 * ERR_USAGE for a kernel that is not Debian's.
 *
 * kernel_pv_elf: the domU kernel as an uncompressed ELF (the bzImage's payload unpacked once,
 * cached by the kernel's sha256); an ELF kernel is returned as it is.
 *
 * All three block (downloads, tar, decompression) on a cold cache; *_r is malloc'd.
 */
int toolstack_resolve(const struct kernels_opts *o, const struct artifact *xen, char **dir_r,
                      struct err *e);
int dom0_xen_modules(const struct kernels_opts *o, const struct artifact *linux_, char **dir_r,
                     struct err *e);
int kernel_pv_elf(const struct kernels_opts *o, const struct artifact *k, char **path_r,
                  struct err *e);
/* NULL-terminated, in load order: "xen-privcmd", "xenfs", "xen-evtchn", ... */
extern const char *const dom0_xen_modules_list[];

#endif
