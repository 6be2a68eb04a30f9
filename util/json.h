/*
 * Minimal JSON: a writer that appends to a struct buf, and a parser for flat objects of
 * scalars (the guest protocol's PVLAB-RESULT / PVLAB-EVENT payloads).
 */
#ifndef PVLAB_UTIL_JSON_H
#define PVLAB_UTIL_JSON_H

#include "util/buf.h"
#include "util/err.h"

/* Appends s as a quoted JSON string (NULL -> null). */
void json_str(struct buf *b, const char *s);

/*
 * Writer with automatic commas. Usage:
 *   struct jw w; jw_init(&w, &b); jw_obj(&w); jw_key(&w, "a"); jw_int(&w, 1); jw_end(&w);
 */
struct jw {
    struct buf *b;
    int depth;
    int need_comma[32];
    char closer[32];
    int after_key;
};
void jw_init(struct jw *w, struct buf *b);
void jw_obj(struct jw *w);
void jw_arr(struct jw *w);
void jw_end(struct jw *w); /* closes the innermost object or array */
void jw_key(struct jw *w, const char *key);
void jw_s(struct jw *w, const char *s);
void jw_int(struct jw *w, long long v);
void jw_dbl(struct jw *w, double v);
void jw_bool(struct jw *w, int v);
void jw_null(struct jw *w);
/* Appends already-serialised JSON text as one value. */
void jw_raw(struct jw *w, const char *json);
/* Convenience: key + value. */
void jw_kv_s(struct jw *w, const char *key, const char *s);
void jw_kv_int(struct jw *w, const char *key, long long v);
void jw_kv_dbl(struct jw *w, const char *key, double v);
void jw_kv_bool(struct jw *w, const char *key, int v);

enum json_type { JF_NULL, JF_BOOL, JF_NUM, JF_STR, JF_NESTED };

struct json_field {
    char *key;
    enum json_type type;
    double num;
    char *str; /* JF_STR: decoded; JF_NESTED: raw text of the object/array */
};

struct json_flat {
    struct json_field *f;
    size_t n;
};

/* Parses one JSON object; nested values are kept as raw text. Returns 0 or -1 with e set. */
int json_flat_parse(const char *text, struct json_flat *out, struct err *e);
void json_flat_free(struct json_flat *j);
const struct json_field *json_flat_get(const struct json_flat *j, const char *key);
/* Number of key, or def when missing or not a number. */
double json_flat_num(const struct json_flat *j, const char *key, double def);
/* String of key, or NULL. */
const char *json_flat_str(const struct json_flat *j, const char *key);

#endif
