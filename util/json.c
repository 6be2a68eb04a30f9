#include "util/json.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

void json_str(struct buf *b, const char *s)
{
    if (!s) {
        buf_adds(b, "null");
        return;
    }
    buf_addch(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '"': buf_adds(b, "\\\""); break;
        case '\\': buf_adds(b, "\\\\"); break;
        case '\n': buf_adds(b, "\\n"); break;
        case '\r': buf_adds(b, "\\r"); break;
        case '\t': buf_adds(b, "\\t"); break;
        default:
            if (c < 0x20 || c == 0x7f)
                buf_addf(b, "\\u%04x", c);
            else
                buf_addch(b, c);
        }
    }
    buf_addch(b, '"');
}

void jw_init(struct jw *w, struct buf *b)
{
    memset(w, 0, sizeof(*w));
    w->b = b;
}

static void jw_sep(struct jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0 && w->need_comma[w->depth])
        buf_addch(w->b, ',');
    if (w->depth > 0)
        w->need_comma[w->depth] = 1;
}

static void jw_open(struct jw *w, char c)
{
    jw_sep(w);
    buf_addch(w->b, c);
    if (w->depth < 31)
        w->depth++;
    w->need_comma[w->depth] = 0;
    w->closer[w->depth] = c == '{' ? '}' : ']';
}

void jw_obj(struct jw *w)
{
    jw_open(w, '{');
}
void jw_arr(struct jw *w)
{
    jw_open(w, '[');
}

void jw_end(struct jw *w)
{
    if (w->depth == 0)
        return;
    buf_addch(w->b, w->closer[w->depth]);
    w->depth--;
}

void jw_key(struct jw *w, const char *key)
{
    jw_sep(w);
    json_str(w->b, key);
    buf_addch(w->b, ':');
    w->after_key = 1;
}

void jw_s(struct jw *w, const char *s)
{
    jw_sep(w);
    json_str(w->b, s);
}
void jw_int(struct jw *w, long long v)
{
    jw_sep(w);
    buf_addf(w->b, "%lld", v);
}
void jw_bool(struct jw *w, int v)
{
    jw_sep(w);
    buf_adds(w->b, v ? "true" : "false");
}
void jw_null(struct jw *w)
{
    jw_sep(w);
    buf_adds(w->b, "null");
}
void jw_raw(struct jw *w, const char *json)
{
    jw_sep(w);
    buf_adds(w->b, json && *json ? json : "null");
}

void jw_dbl(struct jw *w, double v)
{
    jw_sep(w);
    if (isfinite(v))
        buf_addf(w->b, "%.6g", v);
    else
        buf_adds(w->b, "null");
}

void jw_kv_s(struct jw *w, const char *k, const char *s)
{
    jw_key(w, k);
    jw_s(w, s);
}
void jw_kv_int(struct jw *w, const char *k, long long v)
{
    jw_key(w, k);
    jw_int(w, v);
}
void jw_kv_dbl(struct jw *w, const char *k, double v)
{
    jw_key(w, k);
    jw_dbl(w, v);
}
void jw_kv_bool(struct jw *w, const char *k, int v)
{
    jw_key(w, k);
    jw_bool(w, v);
}

/* ---- parser ---- */

static const char *skip_ws(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Parses a JSON string at p (pointing at the quote); returns the char after it or NULL. */
static const char *parse_string(const char *p, char **out)
{
    struct buf b = BUF_INIT;

    p++;
    while (*p && *p != '"') {
        if (*p == '\\') {
            p++;
            switch (*p) {
            case 'n': buf_addch(&b, '\n'); break;
            case 't': buf_addch(&b, '\t'); break;
            case 'r': buf_addch(&b, '\r'); break;
            case 'b': buf_addch(&b, '\b'); break;
            case 'f': buf_addch(&b, '\f'); break;
            case 'u': {
                char hex[5] = { 0 };
                unsigned v;
                if (strlen(p) < 5)
                    goto bad;
                memcpy(hex, p + 1, 4);
                v = (unsigned)strtoul(hex, NULL, 16);
                buf_addch(&b, v < 0x80 ? (int)v : '?');
                p += 4;
                break;
            }
            case '\0': goto bad;
            default: buf_addch(&b, *p);
            }
            p++;
            continue;
        }
        buf_addch(&b, *p++);
    }
    if (*p != '"')
        goto bad;
    *out = buf_detach(&b, NULL);
    return p + 1;
bad:
    buf_release(&b);
    return NULL;
}

/* Skips a nested object/array starting at p; returns the char after it or NULL. */
static const char *skip_nested(const char *p)
{
    int depth = 0;

    do {
        if (*p == '"') {
            char *tmp = NULL;
            p = parse_string(p, &tmp);
            free(tmp);
            if (!p)
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            depth--;
        else if (!*p)
            return NULL;
        p++;
    } while (depth > 0);
    return p;
}

int json_flat_parse(const char *text, struct json_flat *out, struct err *e)
{
    const char *p = skip_ws(text);

    out->f = NULL;
    out->n = 0;
    if (*p != '{')
        goto bad;
    p = skip_ws(p + 1);
    if (*p == '}')
        return 0;
    for (;;) {
        struct json_field f = { NULL, JF_NULL, 0, NULL };
        p = skip_ws(p);
        if (*p != '"' || !(p = parse_string(p, &f.key)))
            goto bad_field;
        p = skip_ws(p);
        if (*p != ':')
            goto bad_field;
        p = skip_ws(p + 1);
        if (*p == '"') {
            f.type = JF_STR;
            if (!(p = parse_string(p, &f.str)))
                goto bad_field;
        } else if (*p == '{' || *p == '[') {
            const char *start = p;
            if (!(p = skip_nested(p)))
                goto bad_field;
            f.type = JF_NESTED;
            f.str = xstrndup(start, (size_t)(p - start));
        } else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
            f.type = JF_BOOL;
            f.num = *p == 't';
            p += *p == 't' ? 4 : 5;
        } else if (!strncmp(p, "null", 4)) {
            p += 4;
        } else {
            char *end;
            f.num = strtod(p, &end);
            if (end == p)
                goto bad_field;
            f.type = JF_NUM;
            p = end;
        }
        out->f = xrealloc(out->f, (out->n + 1) * sizeof(*out->f));
        out->f[out->n++] = f;
        p = skip_ws(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}')
            return 0;
        goto bad;
    bad_field:
        free(f.key);
        free(f.str);
        goto bad;
    }
bad:
    json_flat_free(out);
    err_set(e, ERR_USAGE, "malformed JSON object: %.80s", text);
    return -1;
}

void json_flat_free(struct json_flat *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->f[i].key);
        free(j->f[i].str);
    }
    free(j->f);
    j->f = NULL;
    j->n = 0;
}

const struct json_field *json_flat_get(const struct json_flat *j, const char *key)
{
    for (size_t i = 0; i < j->n; i++)
        if (!strcmp(j->f[i].key, key))
            return &j->f[i];
    return NULL;
}

double json_flat_num(const struct json_flat *j, const char *key, double def)
{
    const struct json_field *f = json_flat_get(j, key);
    return f && (f->type == JF_NUM || f->type == JF_BOOL) ? f->num : def;
}

const char *json_flat_str(const struct json_flat *j, const char *key)
{
    const struct json_field *f = json_flat_get(j, key);
    return f && f->type == JF_STR ? f->str : NULL;
}
