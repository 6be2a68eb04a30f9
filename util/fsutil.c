#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/xalloc.h"

int fs_mkdirs(const char *path, struct err *e)
{
    char *p = xstrdup(path);
    char *s;
    int rc = -1;

    for (s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            err_sys(e, errno, "cannot create directory %s", p);
            goto out;
        }
        *s = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
        err_sys(e, errno, "cannot create directory %s", p);
        goto out;
    }
    if (!fs_is_dir(p)) {
        err_set(e, ERR_IO, "%s exists and is not a directory", p);
        goto out;
    }
    rc = 0;
out:
    free(p);
    return rc;
}

int fs_rmtree(const char *path, struct err *e)
{
    struct stat st;
    DIR *d = NULL;
    struct dirent *de;
    int rc = -1;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : (err_sys(e, errno, "cannot stat %s", path), -1);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0) {
            err_sys(e, errno, "cannot remove %s", path);
            return -1;
        }
        return 0;
    }
    d = opendir(path);
    if (!d) {
        err_sys(e, errno, "cannot open directory %s", path);
        return -1;
    }
    while ((de = readdir(d))) {
        char *child;
        int r;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        child = xasprintf("%s/%s", path, de->d_name);
        r = fs_rmtree(child, e);
        free(child);
        if (r < 0)
            goto out;
    }
    if (rmdir(path) < 0) {
        err_sys(e, errno, "cannot remove directory %s", path);
        goto out;
    }
    rc = 0;
out:
    closedir(d);
    return rc;
}

int fs_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

int fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fs_check_writable_dir(const char *dir, struct err *e)
{
    char *probe = NULL;
    int fd, rc = -1;

    if (fs_mkdirs(dir, e) < 0)
        goto out;
    probe = xasprintf("%s/.pvlab-write-test.%d", dir, (int)getpid());
    fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err_sys(e, errno, "directory %s is not writable", dir);
        goto out;
    }
    close(fd);
    unlink(probe);
    rc = 0;
out:
    free(probe);
    return rc;
}

static int fsync_dir_of(const char *path)
{
    char *dir = fs_dirname(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    fsync(fd);
    close(fd);
    return 0;
}

int fs_commit_tmp(const char *tmp, const char *path, struct err *e)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        err_sys(e, errno, "cannot open %s", tmp);
        return -1;
    }
    if (fsync(fd) < 0) {
        err_sys(e, errno, "cannot sync %s", tmp);
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        err_sys(e, errno, "cannot rename %s to %s", tmp, path);
        unlink(tmp);
        return -1;
    }
    fsync_dir_of(path);
    return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, struct err *e)
{
    char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    const char *p = data;
    int fd = -1, rc = -1;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err_sys(e, errno, "cannot create %s", tmp);
        goto out;
    }
    while (len) {
        ssize_t r = write(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err_sys(e, errno, "cannot write %s", tmp);
            goto out;
        }
        p += r;
        len -= (size_t)r;
    }
    close(fd);
    fd = -1;
    if (fs_commit_tmp(tmp, path, e) < 0)
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

char *fs_abspath(const char *path, struct err *e)
{
    char *r = realpath(path, NULL);
    if (!r) {
        err_sys(e, errno, "cannot resolve %s", path);
        if (errno == ENOENT && e)
            e->code = ERR_NOTFOUND;
    }
    return r;
}

char *fs_dirname(const char *path)
{
    char *copy = xstrdup(path);
    char *d = xstrdup(dirname(copy));
    free(copy);
    return d;
}

long long fs_free_bytes(const char *path)
{
    struct statvfs st;

    if (statvfs(path, &st) < 0)
        return -1;
    return (long long)st.f_bavail * (long long)st.f_frsize;
}

int fs_nearly_full(const char *path, long long min_bytes, long long *free_r)
{
    char *p = xstrdup(path);
    long long left = fs_free_bytes(p);

    /* up to the nearest existing ancestor ("/" and "." always exist) */
    while (left < 0 && errno == ENOENT && strcmp(p, "/") && strcmp(p, ".")) {
        char *up = fs_dirname(p);
        free(p);
        p = up;
        left = fs_free_bytes(p);
    }
    free(p);
    if (free_r)
        *free_r = left;
    return left >= 0 && left < min_bytes;
}

char *fs_which(const char *name)
{
    const char *path = getenv("PATH");
    char *copy, *dir, *save = NULL;
    char *found = NULL;

    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
    copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
    for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *cand = xasprintf("%s/%s", dir, name);
        if (access(cand, X_OK) == 0) {
            found = cand;
            break;
        }
        free(cand);
    }
    free(copy);
    return found;
}

/* flock(op) on path, retrying on EINTR; 1 when op has LOCK_NB and someone else holds it. */
static int lock_op(const char *path, int op, int *fd_r, struct err *e)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

    *fd_r = -1;
    if (fd < 0) {
        err_sys(e, errno, "cannot open lock file %s", path);
        return -1;
    }
    while (flock(fd, op) < 0) {
        int err = errno;

        if (err == EINTR)
            continue;
        close(fd);
        if (err == EWOULDBLOCK)
            return 1;
        err_sys(e, err, "cannot lock %s", path);
        return -1;
    }
    *fd_r = fd;
    return 0;
}

int fs_lock(const char *path, int *fd_r, struct err *e)
{
    return lock_op(path, LOCK_EX, fd_r, e);
}

int fs_lock_shared(const char *path, int *fd_r, struct err *e)
{
    return lock_op(path, LOCK_SH, fd_r, e);
}

int fs_trylock(const char *path, int *fd_r, struct err *e)
{
    return lock_op(path, LOCK_EX | LOCK_NB, fd_r, e);
}

void fs_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing drops the flock */
}
