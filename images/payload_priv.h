/* images/payload internals exposed for unit tests. */
#ifndef PVLAB_IMAGES_PAYLOAD_PRIV_H
#define PVLAB_IMAGES_PAYLOAD_PRIV_H

#include "images/payload.h"

/* Bumped whenever the archive layout changes, so cached archives of the old layout are unused. */
#define PAYLOAD_FORMAT "pvlab-initramfs-v2"

/* The archive's sha256 (hex + newline) is recorded in <key>.cpio.gz PAYLOAD_SHA_SUFFIX. */
#define PAYLOAD_SHA_SUFFIX ".sha256"

/* payload_initramfs with explicit inputs (no environment lookups). */
int payload_build(const char *cache_dir, const char *guest_dir, const char *busybox,
                  const struct payload_plugin *pl, char **path_r, char **sha256_r, struct err *e);
/* The busybox the initramfs carries: $PVLAB_BUSYBOX, else /bin/busybox or /usr/bin/busybox. */
const char *payload_busybox(void);
/* 1 when path is an ELF executable without a program interpreter (statically linked), 0 when
 * it is dynamic; -1 with e set when it is not an ELF file or cannot be read. */
int payload_elf_is_static(const char *path, struct err *e);

struct cpio;
/* Adds the reproducer initramfs's entries (programs, busybox, /dev/console) to c. */
int payload_add_base(struct cpio *c, const struct payload_plugin *pl, struct err *e);
/* Why a cached archive cannot be reused (missing, no or a different sha256 record), or NULL:
 * then sha holds its digest. */
const char *payload_cached_problem(const char *path, const char *side, char sha[65]);

#endif
