/* String vector: a NULL-terminated array of owned strings, usable directly as an argv. */
#ifndef PVLAB_UTIL_SV_H
#define PVLAB_UTIL_SV_H

#include <stddef.h>

struct sv {
    char **v; /* never NULL after sv_init/SV_INIT use: points at an empty NULL-terminated array */
    size_t n;
    size_t alloc;
};

#define SV_INIT { NULL, 0, 0 }

void sv_init(struct sv *s);
/* Appends a copy of str. */
void sv_push(struct sv *s, const char *str);
/* Appends str, taking ownership. */
void sv_push_owned(struct sv *s, char *str);
void sv_pushf(struct sv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends copies of a NULL-terminated list. */
void sv_pushv(struct sv *s, const char *const *list);
/* Splits str on any of the bytes in seps, dropping empty fields. */
void sv_split(struct sv *s, const char *str, const char *seps);
/* Returns a malloc'd string of the elements joined with sep. */
char *sv_join(const struct sv *s, const char *sep);
void sv_clear(struct sv *s);
/* Returns the argv-style array (never NULL). */
char **sv_argv(struct sv *s);

#endif
