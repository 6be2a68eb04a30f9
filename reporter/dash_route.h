/*
 * The dashboard's URL space as data: a request path parsed into a route and its parameters.
 * Pure (no I/O). Only names made of safe bytes are accepted in a path: labs and matrix names
 * ([A-Za-z0-9._-], not starting with '.' or '-'), ids (decimal, no leading zero), so "..",
 * "%2e%2e" (decoded before it gets here), slashes inside a parameter or an empty segment never
 * name anything: they are no route (404).
 */
#ifndef PVLAB_REPORTER_DASH_ROUTE_H
#define PVLAB_REPORTER_DASH_ROUTE_H

#include "reporter/dash_db.h"

enum dash_route_kind {
    ROUTE_NONE = 0,
    /* pages (GET) */
    ROUTE_INDEX,         /* / */
    ROUTE_MATRIX,        /* /matrix/LAB/N */
    ROUTE_MATRIX_LATEST, /* /matrix/LAB/latest/NAME */
    ROUTE_NIGHTLY,       /* /nightly */
    ROUTE_NIGHTLY_NAME,  /* /nightly/LAB/NAME */
    ROUTE_RUN,           /* /run/LAB/N */
    ROUTE_RUN_LOG,       /* /run/LAB/N/log/I */
    ROUTE_BISECT,        /* /bisect/LAB/N */
    ROUTE_REQUESTS,      /* /requests */
    ROUTE_REQUEST,       /* /request/N */
    /* JSON API (GET) */
    ROUTE_API_LIST,     /* /api/v1/runs | matrices | bisects (rkind) */
    ROUTE_API_DOC,      /* /api/v1/runs/LAB/N ... */
    ROUTE_API_RESULT,   /* /api/v1/results/LAB/KIND/N: the envelope */
    ROUTE_API_REQUESTS, /* GET /api/v1/requests; POST: a new request */
    ROUTE_API_REQUEST,  /* /api/v1/requests/N */
    /* JSON API (POST, token) */
    ROUTE_API_POST_RESULT, /* /api/v1/results */
    ROUTE_API_CLAIM,       /* /api/v1/requests/claim */
    ROUTE_API_PROGRESS,    /* /api/v1/requests/N/progress */
    ROUTE_API_DONE,        /* /api/v1/requests/N/done */
};

struct dash_route {
    enum dash_route_kind kind;
    enum dash_kind rkind;
    char lab[65];
    char name[101];
    long long id, idx;
};

/* Parses path (decoded, without the query); 0 with r filled, -1 when it names nothing. */
int dash_route_parse(const char *path, struct dash_route *r);
/* Which methods a route takes: "GET" (and HEAD), "POST", or "GET, POST". */
const char *dash_route_methods(enum dash_route_kind k);
/* 1 when the route serves JSON (errors are JSON too), 0 for HTML pages. */
int dash_route_is_api(const char *path);

#endif
