/*
 * A live status line for long work. On a TTY it rewrites one line in place ("\r\033[K"),
 * at most every 200 ms; elsewhere it prints a plain line only when the text's "stage" part
 * changes, so logs stay short. Writes to stderr; stdout stays for results.
 */
#ifndef PVLAB_UTIL_STATUS_H
#define PVLAB_UTIL_STATUS_H

struct status {
    int tty;
    int enabled;
    long long last_ms;
    char last_stage[128];
    int dirty; /* a TTY line is showing */
};

void status_init(struct status *s, int enabled);
/* Shows "stage  detail": detail may change often, stage changes print a line off-TTY. */
void status_update(struct status *s, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints a permanent line (clearing the live line first). */
void status_print(struct status *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the live line. */
void status_done(struct status *s);

#endif
