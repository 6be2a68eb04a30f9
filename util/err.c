#include "util/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(struct err *e)
{
    if (!e)
        return;
    e->code = ERR_OK;
    e->msg[0] = '\0';
}

void err_set(struct err *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (!e)
        return;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

void err_sys(struct err *e, int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    if (!e)
        return;
    e->code = (errnum == ENOSPC || errnum == EDQUOT) ? ERR_NOSPACE : ERR_IO;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    n = strlen(e->msg);
    snprintf(e->msg + n, sizeof(e->msg) - n, ": %s%s", strerror(errnum),
             e->code == ERR_NOSPACE ? " (free some disk space or point cache_dir elsewhere)" : "");
}

void err_prefix(struct err *e, const char *fmt, ...)
{
    char prefix[512];
    char old[sizeof(e->msg)];
    va_list ap;

    if (!e)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    {
        /* truncate the old text rather than the prefix */
        size_t n = strlen(prefix);
        if (n > sizeof(e->msg) - 3)
            n = sizeof(e->msg) - 3;
        memcpy(e->msg, prefix, n);
        memcpy(e->msg + n, ": ", 2);
        strncpy(e->msg + n + 2, old, sizeof(e->msg) - n - 3);
        e->msg[sizeof(e->msg) - 1] = '\0';
    }
}

const char *err_code_name(int code)
{
    static const char *names[] = {
        [ERR_OK] = "ok",
        [ERR_USAGE] = "usage",
        [ERR_CONFIG] = "config",
        [ERR_NOTFOUND] = "not-found",
        [ERR_TOOL] = "missing-tool",
        [ERR_IO] = "io",
        [ERR_NOSPACE] = "no-space",
        [ERR_PROC] = "process",
        [ERR_NET] = "network",
        [ERR_DB] = "store",
        [ERR_INTERNAL] = "internal",
        [ERR_HOST] = "host",
        [ERR_BUSY] = "busy",
        [ERR_TIMEOUT] = "timeout",
        [ERR_INTERRUPTED] = "interrupted",
    };
    if (code == ERR_BUILD)
        return "build";
    if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0])) || !names[code])
        return "unknown";
    return names[code];
}
