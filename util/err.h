/*
 * Error reporting: functions return 0 / -1 and fill a caller-owned struct err with a code and a
 * message written for the user ("what went wrong; what to do"). Every function accepts e == NULL.
 */
#ifndef PVLAB_UTIL_ERR_H
#define PVLAB_UTIL_ERR_H

enum err_code {
    ERR_OK = 0,
    ERR_USAGE,    /* bad command-line input */
    ERR_CONFIG,   /* malformed or invalid configuration */
    ERR_NOTFOUND, /* unknown version, missing file, unknown run id */
    ERR_TOOL,     /* a required external tool is missing */
    ERR_IO,       /* read/write/permission failure */
    ERR_NOSPACE,  /* disk full */
    ERR_PROC,     /* a child process exited non-zero or was killed by a signal */
    ERR_NET,      /* package archive unreachable */
    ERR_DB,       /* SQLite store failure */
    ERR_INTERNAL,
    ERR_HOST,        /* this host cannot run the lab's guests (QEMU fails before any output) */
    ERR_BUSY,        /* another live pvlab process owns it (a running bisection) */
    ERR_TIMEOUT,     /* a child process was killed for its timeout */
    ERR_INTERRUPTED, /* pvlab was interrupted (SIGINT/SIGTERM/SIGHUP): nothing is at fault */
    ERR_BUILD = 64,  /* the source does not build at that commit: an untestable commit (skip) */
};

struct err {
    int code;
    char msg[2048];
};

#define ERR_INIT                                                                                   \
    {                                                                                              \
        ERR_OK, ""                                                                                 \
    }

void err_clear(struct err *e);
/* Sets code and message (replacing any previous one). */
void err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like err_set, appending ": strerror(errnum)"; ENOSPC/EDQUOT become ERR_NOSPACE. */
void err_sys(struct err *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to the current message, keeping the code. */
void err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *err_code_name(int code);

#endif
