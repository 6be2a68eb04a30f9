/*
 * What the dashboard accepts from labs: request bodies parsed with jansson, and result
 * envelopes checked and turned into database rows.
 *
 *   POST /api/v1/results
 *   {"kind": "run" | "matrix" | "bisect", "id": "<lab>/<kind>/<local id>", "lab": "<lab>",
 *    "doc": <pvlab show --json | matrix show --format json | bisect status --json>}
 *
 * The envelope's lab and kind must be those of its id, and doc.id its local id. A matrix's
 * cells must carry string labels (xen, linux, repro); the rest of a document is stored as it
 * came (re-serialised compactly) and rendered defensively. Pure: no I/O.
 */
#ifndef PVLAB_REPORTER_DASH_INGEST_H
#define PVLAB_REPORTER_DASH_INGEST_H

#include <jansson.h>
#include <stddef.h>

#include "reporter/dash_db.h"
#include "util/buf.h"
#include "util/err.h"

/*
 * Appends s with every invalid UTF-8 sequence replaced by U+FFFD (console logs carry stray
 * bytes; jansson only takes valid UTF-8). Returns how many were replaced.
 */
size_t dash_utf8_fix(const char *s, size_t n, struct buf *out);
/*
 * Parses a request body (invalid UTF-8 repaired first). NULL with ERR_USAGE and a message
 * saying what is wrong and where ("malformed JSON: ... at line 1, column 7") otherwise.
 */
json_t *dash_json_parse(const char *body, size_t len, struct err *e);

/* A checked envelope as a database row; info's strings point into this struct or the JSON. */
struct dash_ingest {
    struct dash_result_info info;
    struct dash_cell_info *cells;
    char *doc, *summary, *changes, *name;
    char lab[65];
};

/* Checks env (an envelope) and fills in; ERR_USAGE with the reason. Release in either case. */
int dash_ingest_result(json_t *env, const char *posted_by, struct dash_ingest *in, struct err *e);
void dash_ingest_release(struct dash_ingest *in);

#endif
