/*
 * A small client of QEMU's machine protocol (QMP) on a unix socket: connect (waiting for QEMU
 * to create the socket), negotiate capabilities, run commands and read their replies (events in
 * between are skipped). Used to save a booted machine to a file and to watch a restore
 * (lab/trial.c, snapshot trials). Blocking, with timeouts.
 */
#ifndef PVLAB_LAB_QMP_H
#define PVLAB_LAB_QMP_H

#include "util/buf.h"
#include "util/err.h"

struct qmp {
    int fd;
    struct buf in; /* bytes read, not yet a whole line */
};

/* Connects to path within timeout_ms (QEMU may not have created it yet). */
int qmp_open(struct qmp *q, const char *path, int timeout_ms, struct err *e);
/*
 * Sends one command (a JSON object text) and waits up to timeout_ms for its reply line; *reply
 * (malloc'd, may be NULL) gets it. An {"error":...} reply is -1 with its description.
 */
int qmp_cmd(struct qmp *q, const char *cmd, int timeout_ms, char **reply, struct err *e);
/*
 * Runs the query command (e.g. "query-migrate", "query-status") every 20 ms while the "status"
 * of its reply is one of pending (NULL-terminated), at most timeout_ms; status (n bytes) gets
 * the last one. Returns 0 once it left pending, -1 with e (QMP failed, or ERR_TIMEOUT).
 */
int qmp_poll(struct qmp *q, const char *command, const char *const *pending, int timeout_ms,
             char *status, size_t n, struct err *e);
void qmp_close(struct qmp *q);

#endif
