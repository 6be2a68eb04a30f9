/* Bootable-image formats: gzip detection and streaming gunzip, copies, and format checks. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "kernels/kernels_priv.h"

/* Reads up to len bytes at offset; returns the count read or -1 with e set. */
static ssize_t read_head(const char *path, unsigned char *b, size_t len, struct err *e)
{
    ssize_t r, got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        err_sys(e, errno, "cannot open %s", path);
        if (errno == ENOENT && e)
            e->code = ERR_NOTFOUND;
        return -1;
    }
    while ((size_t)got < len) {
        r = read(fd, b + got, len - (size_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err_sys(e, errno, "cannot read %s", path);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        got += r;
    }
    close(fd);
    return got;
}

int image_is_gzip(const char *path, struct err *e)
{
    unsigned char m[2];
    ssize_t n = read_head(path, m, 2, e);

    if (n < 0)
        return -1;
    return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static int write_all(int fd, const void *data, size_t len, const char *path, struct err *e)
{
    const char *p = data;

    while (len) {
        ssize_t r = write(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err_sys(e, errno, "cannot write %s", path);
            return -1;
        }
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static int finish_fd(int fd, const char *path, struct err *e)
{
    if (fsync(fd) < 0) {
        err_sys(e, errno, "cannot sync %s", path);
        close(fd);
        return -1;
    }
    if (close(fd) < 0) {
        err_sys(e, errno, "cannot close %s", path);
        return -1;
    }
    return 0;
}

/* QEMU's multiboot loader rejects compressed kernels, so Xen's .gz is stored gunzipped. */
int image_gunzip(const char *src, const char *dst, struct err *e)
{
    unsigned char chunk[1 << 16];
    gzFile gz = NULL;
    int fd = -1, n, zr, rc = -1;

    gz = gzopen(src, "rb");
    if (!gz) {
        err_sys(e, errno ? errno : EIO, "cannot open %s", src);
        goto out;
    }
    fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err_sys(e, errno, "cannot create %s", dst);
        goto out;
    }
    while ((n = gzread(gz, chunk, sizeof(chunk))) > 0)
        if (write_all(fd, chunk, (size_t)n, dst, e) < 0)
            goto out;
    if (n < 0) {
        err_set(e, ERR_USAGE, "%s is not a valid gzip file: %s", src, gzerror(gz, &zr));
        goto out;
    }
    zr = gzclose_r(gz);
    gz = NULL;
    if (zr != Z_OK) { /* Z_BUF_ERROR: the stream ended early */
        err_set(e, ERR_USAGE, "%s is a truncated or corrupt gzip file (zlib error %d)", src, zr);
        goto out;
    }
    rc = finish_fd(fd, dst, e);
    fd = -1;
out:
    if (gz)
        gzclose_r(gz);
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(dst);
    return rc;
}

int image_copy(const char *src, const char *dst, struct err *e)
{
    char chunk[1 << 16];
    int in = -1, out_fd = -1, rc = -1;
    ssize_t r;

    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        err_sys(e, errno, "cannot open %s", src);
        goto out;
    }
    out_fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        err_sys(e, errno, "cannot create %s", dst);
        goto out;
    }
    for (;;) {
        r = read(in, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err_sys(e, errno, "cannot read %s", src);
            goto out;
        }
        if (r == 0)
            break;
        if (write_all(out_fd, chunk, (size_t)r, dst, e) < 0)
            goto out;
    }
    rc = finish_fd(out_fd, dst, e);
    out_fd = -1;
out:
    if (in >= 0)
        close(in);
    if (out_fd >= 0)
        close(out_fd);
    if (rc < 0)
        unlink(dst);
    return rc;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int image_check_xen(const char *path, struct err *e)
{
    unsigned char head[8192];
    ssize_t n = read_head(path, head, sizeof(head), e);

    if (n < 0)
        return -1;
    /* Multiboot 1: magic, flags, checksum (sum 0), 4-byte aligned within the first 8 KiB. */
    for (ssize_t i = 0; i + 12 <= n; i += 4)
        if (le32(head + i) == 0x1BADB002u &&
            (uint32_t)(le32(head + i) + le32(head + i + 4) + le32(head + i + 8)) == 0)
            return 0;
    err_set(e, ERR_USAGE,
            "%s is not a Xen hypervisor image: no multiboot header in its first 8 KiB (expected "
            "xen.gz or the gunzipped xen binary, e.g. /boot/xen-4.17-amd64.gz)",
            path);
    return -1;
}

int image_check_linux(const char *path, struct err *e)
{
    unsigned char head[0x210];
    ssize_t n = read_head(path, head, sizeof(head), e);

    if (n < 0)
        return -1;
    if (n >= 0x206 && !memcmp(head + 0x202, "HdrS", 4))
        return 0;
    if (n >= 4 && !memcmp(head, "\177ELF", 4))
        return 0;
    err_set(e, ERR_USAGE,
            "%s is not a Linux kernel image: neither a bzImage (no \"HdrS\" at offset 0x202) nor "
            "an ELF vmlinux",
            path);
    return -1;
}
