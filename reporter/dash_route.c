#include "reporter/dash_route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reporter/dash_html.h"

#define MAX_SEGS 8

/* Splits path into at most MAX_SEGS segments; -1 for an empty segment or too many. */
static int split(const char *path, char segs[MAX_SEGS][128], int *n_r)
{
    int n = 0;

    if (path[0] != '/')
        return -1;
    if (!strcmp(path, "/")) {
        *n_r = 0;
        return 0;
    }
    for (const char *p = path + 1;;) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 0 || len >= sizeof(segs[0]) || n == MAX_SEGS)
            return -1;
        memcpy(segs[n], p, len);
        segs[n++][len] = '\0';
        if (!q)
            break;
        p = q + 1;
    }
    *n_r = n;
    return 0;
}

/* A positive decimal id without sign, spaces or leading zeros. */
static int parse_id(const char *s, long long *v)
{
    char *end;

    if (s[0] < '1' || s[0] > '9' || strlen(s) > 18)
        return -1;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return *end || errno ? -1 : 0;
}

static int set_lab(struct dash_route *r, const char *s)
{
    if (!dash_lab_valid(s))
        return -1;
    strcpy(r->lab, s);
    return 0;
}

static int set_name(struct dash_route *r, const char *s)
{
    if (!dash_name_safe(s))
        return -1;
    strcpy(r->name, s);
    return 0;
}

/* "runs", "matrices" (or "matrix"), "bisects" */
static int api_kind(const char *s, enum dash_kind *k)
{
    if (!strcmp(s, "runs"))
        *k = DASH_RUN;
    else if (!strcmp(s, "matrices") || !strcmp(s, "matrix"))
        *k = DASH_MATRIX;
    else if (!strcmp(s, "bisects"))
        *k = DASH_BISECT;
    else
        return -1;
    return 0;
}

static int parse_api(char s[MAX_SEGS][128], int n, struct dash_route *r)
{
    /* s[0] = "api", s[1] = "v1" */
    if (n < 3 || strcmp(s[1], "v1"))
        return -1;
    if (!strcmp(s[2], "results")) {
        if (n == 3) {
            r->kind = ROUTE_API_POST_RESULT;
            return 0;
        }
        r->kind = ROUTE_API_RESULT;
        return n == 6 && set_lab(r, s[3]) == 0 && dash_kind_parse(s[4], &r->rkind) == 0 &&
                       parse_id(s[5], &r->id) == 0
                   ? 0
                   : -1;
    }
    if (!strcmp(s[2], "requests")) {
        if (n == 3)
            r->kind = ROUTE_API_REQUESTS;
        else if (n == 4 && !strcmp(s[3], "claim"))
            r->kind = ROUTE_API_CLAIM;
        else if (n == 4 && parse_id(s[3], &r->id) == 0)
            r->kind = ROUTE_API_REQUEST;
        else if (n == 5 && parse_id(s[3], &r->id) == 0 && !strcmp(s[4], "progress"))
            r->kind = ROUTE_API_PROGRESS;
        else if (n == 5 && parse_id(s[3], &r->id) == 0 && !strcmp(s[4], "done"))
            r->kind = ROUTE_API_DONE;
        else
            return -1;
        return 0;
    }
    if (api_kind(s[2], &r->rkind) < 0)
        return -1;
    if (n == 3) {
        r->kind = ROUTE_API_LIST;
        return 0;
    }
    r->kind = ROUTE_API_DOC;
    return n == 5 && set_lab(r, s[3]) == 0 && parse_id(s[4], &r->id) == 0 ? 0 : -1;
}

int dash_route_parse(const char *path, struct dash_route *r)
{
    char s[MAX_SEGS][128];
    int n, rc = -1;

    memset(r, 0, sizeof(*r));
    if (!path || split(path, s, &n) < 0)
        goto out;
    if (n == 0) {
        r->kind = ROUTE_INDEX;
        return 0;
    }
    if (!strcmp(s[0], "api")) {
        rc = parse_api(s, n, r);
    } else if (!strcmp(s[0], "matrix")) {
        r->rkind = DASH_MATRIX;
        if (n == 3 && set_lab(r, s[1]) == 0 && parse_id(s[2], &r->id) == 0)
            r->kind = ROUTE_MATRIX, rc = 0;
        else if (n == 4 && set_lab(r, s[1]) == 0 && !strcmp(s[2], "latest") &&
                 set_name(r, s[3]) == 0)
            r->kind = ROUTE_MATRIX_LATEST, rc = 0;
    } else if (!strcmp(s[0], "nightly")) {
        if (n == 1)
            r->kind = ROUTE_NIGHTLY, rc = 0;
        else if (n == 3 && set_lab(r, s[1]) == 0 && set_name(r, s[2]) == 0)
            r->kind = ROUTE_NIGHTLY_NAME, rc = 0;
    } else if (!strcmp(s[0], "run")) {
        r->rkind = DASH_RUN;
        if (n >= 3 && set_lab(r, s[1]) == 0 && parse_id(s[2], &r->id) == 0) {
            if (n == 3)
                r->kind = ROUTE_RUN, rc = 0;
            else if (n == 5 && !strcmp(s[3], "log") && parse_id(s[4], &r->idx) == 0)
                r->kind = ROUTE_RUN_LOG, rc = 0;
        }
    } else if (!strcmp(s[0], "bisect")) {
        r->rkind = DASH_BISECT;
        if (n == 3 && set_lab(r, s[1]) == 0 && parse_id(s[2], &r->id) == 0)
            r->kind = ROUTE_BISECT, rc = 0;
    } else if (!strcmp(s[0], "requests") && n == 1) {
        r->kind = ROUTE_REQUESTS, rc = 0;
    } else if (!strcmp(s[0], "request") && n == 2 && parse_id(s[1], &r->id) == 0) {
        r->kind = ROUTE_REQUEST, rc = 0;
    }
out:
    if (rc < 0)
        memset(r, 0, sizeof(*r));
    return rc;
}

const char *dash_route_methods(enum dash_route_kind k)
{
    switch (k) {
    case ROUTE_API_POST_RESULT:
    case ROUTE_API_CLAIM:
    case ROUTE_API_PROGRESS:
    case ROUTE_API_DONE: return "POST";
    case ROUTE_API_REQUESTS: return "GET, POST";
    default: return "GET";
    }
}

int dash_route_is_api(const char *path)
{
    return path && !strncmp(path, "/api/", 5);
}
