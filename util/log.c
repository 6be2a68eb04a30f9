#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

static int current_level = LOG_WARN;

void log_set_level(int level)
{
    current_level = level;
}

int log_get_level(void)
{
    return current_level;
}

void log_msg(int level, const char *tag, const char *fmt, ...)
{
    static const char *names[] = { "error", "warning", "info", "debug" };
    char line[4096];
    va_list ap;

    if (level > current_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One fprintf so concurrent writers do not interleave within a line. */
    fprintf(stderr, "pvlab[%s]: %s: %s\n", tag, names[level], line);
}
