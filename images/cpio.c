#include "images/cpio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "util/fsutil.h"
#include "util/xalloc.h"

#define NEWC_MAGIC "070701"
#define NEWC_HEADER_LEN 110
#define NEWC_MAX_SIZE 0xffffffffULL

struct cpio {
    char *path;     /* destination */
    char *tmp;      /* temp file being written */
    int fd;         /* temp file; -1 once handed to gz or closed */
    gzFile gz;      /* NULL when writing plain */
    uint64_t off;   /* uncompressed bytes written, for 4-byte alignment */
    unsigned ino;   /* last inode number given */
    int failed;     /* a write failed: only abort is possible */
};

int cpio_open(const char *path, enum cpio_compress how, struct cpio **c_r, struct err *e)
{
    struct cpio *c = xcalloc(1, sizeof(*c));
    int rc = -1;

    c->fd = -1;
    c->path = xstrdup(path);
    c->tmp = xasprintf("%s.tmp.%d.XXXXXX", path, (int)getpid());
    c->fd = mkostemp(c->tmp, O_CLOEXEC);
    if (c->fd < 0) {
        err_sys(e, errno, "cannot create a temp file next to %s", path);
        free(c->tmp);
        c->tmp = NULL;
        goto out;
    }
    fchmod(c->fd, 0644);
    if (how == CPIO_GZIP) {
        int dupfd = dup(c->fd);
        if (dupfd < 0 || !(c->gz = gzdopen(dupfd, "wb6"))) {
            if (dupfd >= 0)
                close(dupfd);
            err_set(e, ERR_IO, "cannot start gzip stream for %s", c->tmp);
            goto out;
        }
    }
    *c_r = c;
    c = NULL;
    rc = 0;
out:
    cpio_abort(c);
    return rc;
}

void cpio_abort(struct cpio *c)
{
    if (!c)
        return;
    if (c->gz)
        gzclose(c->gz);
    if (c->fd >= 0)
        close(c->fd);
    if (c->tmp)
        unlink(c->tmp);
    free(c->tmp);
    free(c->path);
    free(c);
}

/* Appends raw bytes to the (possibly compressed) stream. */
static int put(struct cpio *c, const void *data, size_t len, struct err *e)
{
    const char *p = data;

    if (c->failed) {
        err_set(e, ERR_INTERNAL, "cpio: write after a failed write");
        return -1;
    }
    c->off += len;
    if (c->gz) {
        while (len) {
            unsigned chunk = len > (1u << 30) ? 1u << 30 : (unsigned)len;
            if (gzwrite(c->gz, p, chunk) != (int)chunk) {
                int zerr;
                const char *msg = gzerror(c->gz, &zerr);
                c->failed = 1;
                if (zerr == Z_ERRNO)
                    err_sys(e, errno, "cannot write %s", c->tmp);
                else
                    err_set(e, ERR_IO, "cannot write %s: %s", c->tmp, msg);
                return -1;
            }
            p += chunk;
            len -= chunk;
        }
        return 0;
    }
    while (len) {
        ssize_t r = write(c->fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            c->failed = 1;
            err_sys(e, errno, "cannot write %s", c->tmp);
            return -1;
        }
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

/* Zero bytes up to the next multiple of 4 (newc pads header+name and data). */
static int pad4(struct cpio *c, struct err *e)
{
    static const char zeros[4];
    size_t n = (size_t)((4 - (c->off & 3)) & 3);

    return n ? put(c, zeros, n, e) : 0;
}

/* Strips leading slashes and rejects names the kernel would misplace. */
static const char *clean_name(const char *name, struct err *e)
{
    while (*name == '/')
        name++;
    if (!*name || !strcmp(name, "..") || !strncmp(name, "../", 3) || strstr(name, "/../") ||
        (strlen(name) >= 3 && !strcmp(name + strlen(name) - 3, "/.."))) {
        err_set(e, ERR_INTERNAL, "cpio: invalid archive name '%s'", name);
        return NULL;
    }
    return name;
}

/* Writes one newc header plus the padded name. */
static int header(struct cpio *c, const char *name, unsigned mode, unsigned nlink, uint64_t size,
                  unsigned rmaj, unsigned rmin, unsigned ino, struct err *e)
{
    char h[NEWC_HEADER_LEN + 1];
    size_t namesize = strlen(name) + 1;

    if (size > NEWC_MAX_SIZE) {
        err_set(e, ERR_IO, "cpio: %s is too large for a newc archive (4 GiB limit)", name);
        return -1;
    }
    snprintf(h, sizeof(h), NEWC_MAGIC "%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
             ino, mode, 0u, 0u, nlink, 0u, (unsigned)size, 0u, 0u, rmaj, rmin,
             (unsigned)namesize, 0u);
    if (put(c, h, NEWC_HEADER_LEN, e) < 0 || put(c, name, namesize, e) < 0)
        return -1;
    return pad4(c, e);
}

int cpio_add_dir(struct cpio *c, const char *name, unsigned mode, struct err *e)
{
    if (!(name = clean_name(name, e)))
        return -1;
    return header(c, name, S_IFDIR | (mode & 07777), 2, 0, 0, 0, ++c->ino, e);
}

int cpio_add_data(struct cpio *c, const char *name, unsigned mode, const void *data, size_t len,
                  struct err *e)
{
    if (!(name = clean_name(name, e)))
        return -1;
    if (header(c, name, S_IFREG | (mode & 07777), 1, len, 0, 0, ++c->ino, e) < 0)
        return -1;
    if (len && put(c, data, len, e) < 0)
        return -1;
    return pad4(c, e);
}

int cpio_add_file(struct cpio *c, const char *name, unsigned mode, const char *src_path,
                  struct err *e)
{
    char chunk[65536];
    struct stat sb;
    uint64_t left;
    int fd = -1, rc = -1;

    if (!(name = clean_name(name, e)))
        goto out;
    fd = open(src_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) < 0) {
        err_sys(e, errno, "cannot read %s", src_path);
        if (errno == ENOENT && e)
            e->code = ERR_NOTFOUND;
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        err_set(e, ERR_IO, "%s is not a regular file", src_path);
        goto out;
    }
    if (header(c, name, S_IFREG | (mode & 07777), 1, (uint64_t)sb.st_size, 0, 0, ++c->ino, e) < 0)
        goto out;
    for (left = (uint64_t)sb.st_size; left;) {
        ssize_t r = read(fd, chunk, left < sizeof(chunk) ? (size_t)left : sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            err_sys(e, r < 0 ? errno : EIO, "cannot read %s (did it shrink while archiving?)",
                    src_path);
            c->failed = 1; /* the header promised more bytes: the archive is unusable */
            goto out;
        }
        if (put(c, chunk, (size_t)r, e) < 0)
            goto out;
        left -= (uint64_t)r;
    }
    if (pad4(c, e) < 0)
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int cpio_add_symlink(struct cpio *c, const char *name, const char *target, struct err *e)
{
    size_t len = strlen(target);

    if (!(name = clean_name(name, e)))
        return -1;
    if (header(c, name, S_IFLNK | 0777, 1, len, 0, 0, ++c->ino, e) < 0 ||
        put(c, target, len, e) < 0)
        return -1;
    return pad4(c, e);
}

int cpio_add_chardev(struct cpio *c, const char *name, unsigned mode, unsigned major,
                     unsigned minor, struct err *e)
{
    if (!(name = clean_name(name, e)))
        return -1;
    return header(c, name, S_IFCHR | (mode & 07777), 1, 0, major, minor, ++c->ino, e);
}

int cpio_commit(struct cpio *c, struct err *e)
{
    int rc = -1;

    if (header(c, "TRAILER!!!", 0, 1, 0, 0, 0, 0, e) < 0)
        goto out;
    if (c->gz) {
        int zr = gzclose(c->gz);
        c->gz = NULL;
        if (zr != Z_OK) {
            err_set(e, ERR_IO, "cannot finish gzip stream %s (disk full?)", c->tmp);
            goto out;
        }
    }
    if (close(c->fd) < 0) {
        c->fd = -1;
        err_sys(e, errno, "cannot write %s", c->tmp);
        goto out;
    }
    c->fd = -1;
    if (fs_commit_tmp(c->tmp, c->path, e) < 0)
        goto out;
    free(c->tmp);
    c->tmp = NULL; /* renamed: nothing to remove */
    rc = 0;
out:
    cpio_abort(c);
    return rc;
}
