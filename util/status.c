#include "util/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/proc.h"

void status_init(struct status *s, int enabled)
{
    memset(s, 0, sizeof(*s));
    s->enabled = enabled;
    s->tty = isatty(STDERR_FILENO);
}

void status_update(struct status *s, const char *stage, const char *fmt, ...)
{
    char detail[512];
    long long now = proc_now_ms();
    int stage_changed;
    va_list ap;

    if (!s->enabled)
        return;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    stage_changed = strcmp(stage, s->last_stage) != 0;
    if (s->tty) {
        if (!stage_changed && now - s->last_ms < 200)
            return;
        fprintf(stderr, "\r\033[K%-12s %s", stage, detail);
        fflush(stderr);
        s->dirty = 1;
    } else if (stage_changed) {
        fprintf(stderr, "%-12s %s\n", stage, detail);
    }
    s->last_ms = now;
    snprintf(s->last_stage, sizeof(s->last_stage), "%s", stage);
}

void status_done(struct status *s)
{
    if (s->tty && s->dirty) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    s->dirty = 0;
}

void status_print(struct status *s, const char *fmt, ...)
{
    va_list ap;

    if (!s->enabled)
        return;
    status_done(s);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
