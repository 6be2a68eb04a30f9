#include "lab/qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/json.h"
#include "util/proc.h"
#include "util/xalloc.h"

/* Reads one line (without CRLF) within the deadline; malloc'd, or NULL with e set. */
static char *read_line(struct qmp *q, long long deadline, struct err *e)
{
    for (;;) {
        char *nl = q->in.len ? memchr(q->in.data, '\n', q->in.len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - q->in.data);
            char *line = xstrndup(q->in.data, n && nl[-1] == '\r' ? n - 1 : n);
            memmove(q->in.data, nl + 1, q->in.len - n - 1);
            buf_setlen(&q->in, q->in.len - n - 1);
            return line;
        }
        long long left = deadline - proc_now_ms();
        struct pollfd p = { q->fd, POLLIN, 0 };
        char chunk[4096];
        ssize_t r;
        if (left <= 0) {
            err_set(e, ERR_TIMEOUT, "QEMU's machine protocol did not answer in time");
            return NULL;
        }
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
            err_sys(e, errno, "poll on QMP");
            return NULL;
        }
        if (!(p.revents & (POLLIN | POLLHUP)))
            continue;
        r = read(q->fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            err_set(e, ERR_PROC, "QEMU closed its machine protocol socket (it exited)");
            return NULL;
        }
        buf_add(&q->in, chunk, (size_t)r);
    }
}

int qmp_open(struct qmp *q, const char *path, int timeout_ms, struct err *e)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    long long deadline = proc_now_ms() + timeout_ms;
    char *greeting;

    memset(q, 0, sizeof(*q));
    q->fd = -1;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        err_set(e, ERR_USAGE, "QMP socket path %s is too long for a unix socket", path);
        return -1;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    for (;;) {
        q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (q->fd < 0) {
            err_sys(e, errno, "socket");
            return -1;
        }
        if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        close(q->fd);
        q->fd = -1;
        if (proc_now_ms() >= deadline) {
            err_sys(e, errno, "cannot connect to QEMU's machine protocol at %s", path);
            return -1;
        }
        usleep(50000);
    }
    greeting = read_line(q, deadline, e);
    if (!greeting || !strstr(greeting, "\"QMP\"")) {
        if (greeting)
            err_set(e, ERR_PROC, "not a QMP greeting: %.80s", greeting);
        free(greeting);
        qmp_close(q);
        return -1;
    }
    free(greeting);
    if (qmp_cmd(q, "{\"execute\":\"qmp_capabilities\"}", timeout_ms, NULL, e) < 0) {
        qmp_close(q);
        return -1;
    }
    return 0;
}

int qmp_cmd(struct qmp *q, const char *cmd, int timeout_ms, char **reply, struct err *e)
{
    long long deadline = proc_now_ms() + timeout_ms;
    size_t n = strlen(cmd);

    if (reply)
        *reply = NULL;
    if (write(q->fd, cmd, n) != (ssize_t)n || write(q->fd, "\n", 1) != 1) {
        err_sys(e, errno, "writing to QMP");
        return -1;
    }
    for (;;) {
        char *line = read_line(q, deadline, e);
        if (!line)
            return -1;
        if (strstr(line, "\"return\"")) {
            if (reply)
                *reply = line;
            else
                free(line);
            return 0;
        }
        if (strstr(line, "\"error\"")) {
            err_set(e, ERR_PROC, "QEMU refused %.60s: %.300s", cmd, line);
            free(line);
            return -1;
        }
        free(line); /* an event */
    }
}

/* The "status" inside a reply's "return" object, into out ("" when there is none). */
static void return_status(const char *reply, char *out, size_t n)
{
    struct json_flat top, ret;
    const struct json_field *r;

    *out = '\0';
    if (json_flat_parse(reply, &top, NULL) < 0)
        return;
    r = json_flat_get(&top, "return");
    if (r && r->type == JF_NESTED && json_flat_parse(r->str, &ret, NULL) == 0) {
        snprintf(out, n, "%s", json_flat_str(&ret, "status") ? json_flat_str(&ret, "status") : "");
        json_flat_free(&ret);
    }
    json_flat_free(&top);
}

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return 1;
    return 0;
}

int qmp_poll(struct qmp *q, const char *command, const char *const *pending, int timeout_ms,
             char *status, size_t n, struct err *e)
{
    long long deadline = proc_now_ms() + timeout_ms;
    char *cmd = xasprintf("{\"execute\":\"%s\"}", command), *reply = NULL;
    int rc = -1;

    for (;;) {
        free(reply);
        if (qmp_cmd(q, cmd, 10000, &reply, e) < 0)
            break;
        return_status(reply, status, n);
        if (!in_list(status, pending)) {
            rc = 0;
            break;
        }
        if (proc_now_ms() > deadline) {
            err_set(e, ERR_TIMEOUT, "QEMU's %s still says '%s' after %d s", command, status,
                    timeout_ms / 1000);
            break;
        }
        usleep(20000);
    }
    free(cmd);
    free(reply);
    return rc;
}

void qmp_close(struct qmp *q)
{
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
    buf_release(&q->in);
}
