/*
 * newc ("070701") cpio archive writer, the format the Linux kernel unpacks as an initramfs.
 *
 * Output is deterministic: mtime 0, uid/gid 0, inode numbers assigned 1, 2, 3... in the order
 * entries are added, so the same calls give byte-identical archives (the gzip header carries no
 * time or name either). Entries need no privileges: a device node is just a header, so
 * /dev/console can be shipped without mknod.
 *
 * The archive is written to a temp file next to the destination and renamed over it by
 * cpio_commit(), so a failed or interrupted build never leaves a partial archive under the
 * final name; cpio_abort() (or a failed commit) removes the temp file.
 *
 * Names are archive paths without a leading "/" ("init", "bin/busybox"); leading slashes are
 * stripped. Modes are permission bits only (e.g. 0755); the type bits are added per call.
 * All calls block on file I/O; none accepts a NULL writer except cpio_abort().
 */
#ifndef PVLAB_IMAGES_CPIO_H
#define PVLAB_IMAGES_CPIO_H

#include <stddef.h>

#include "util/err.h"

struct cpio;

enum cpio_compress { CPIO_PLAIN = 0, CPIO_GZIP = 1 };

/* Starts an archive destined for path; on success *c_r is the caller's until commit/abort. */
int cpio_open(const char *path, enum cpio_compress how, struct cpio **c_r, struct err *e);
int cpio_add_dir(struct cpio *c, const char *name, unsigned mode, struct err *e);
/* A regular file with the contents of src_path (read now, in full). */
int cpio_add_file(struct cpio *c, const char *name, unsigned mode, const char *src_path,
                  struct err *e);
/* A regular file from memory (data may be NULL when len is 0). */
int cpio_add_data(struct cpio *c, const char *name, unsigned mode, const void *data, size_t len,
                  struct err *e);
int cpio_add_symlink(struct cpio *c, const char *name, const char *target, struct err *e);
/* A character device node (e.g. "dev/console", 0600, 5, 1). */
int cpio_add_chardev(struct cpio *c, const char *name, unsigned mode, unsigned major,
                     unsigned minor, struct err *e);
/*
 * Writes the trailer, flushes, syncs and renames the temp file to the destination. Frees c in
 * every case; on failure the temp file is removed and the destination is untouched.
 */
int cpio_commit(struct cpio *c, struct err *e);
/* Discards the archive: removes the temp file and frees c. NULL is accepted. */
void cpio_abort(struct cpio *c);

#endif
