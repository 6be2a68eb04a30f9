/*
 * The compatibility tables of a matrix document: one table per reproducer, Xen across, Linux
 * down; each cell its verdict as a coloured text label, the change against the previous run,
 * boots, iterations, corruptions, the rate (for a clean cell its 95% upper bound), a link to
 * the cell's run, and a strip of the cell's verdicts over past runs of the same name, newest
 * first. Pure rendering over a parsed document (jansson); the history is filled by the caller.
 */
#ifndef PVLAB_REPORTER_DASH_TABLE_H
#define PVLAB_REPORTER_DASH_TABLE_H

#include <jansson.h>
#include <stddef.h>

#include "reporter/dash_html.h"

/* The verdicts of a document's cells over nights (0 = the document's own run). */
struct dash_hist;

/* An empty history (every verdict unknown) for the cells array of a matrix document. */
struct dash_hist *dash_hist_new(const json_t *cells, size_t nnights);
/* Records the verdict of the cell with these labels in night (cells the document does not
 * have are ignored). */
void dash_hist_set(struct dash_hist *h, size_t night, const char *xen, const char *linux_,
                   const char *repro, const char *verdict);
/* The letters of cell i, one a night, newest first: p pass, f fail, i infra, - unknown. */
const char *dash_hist_cell(const struct dash_hist *h, size_t i);
size_t dash_hist_nights(const struct dash_hist *h);
/* NULL accepted. */
void dash_hist_free(struct dash_hist *h);

struct dash_table_opts {
    const char *lab;                 /* cells link to run/<lab>/<run_id> */
    const struct dash_hist *hist;    /* NULL: no history strip */
    const char *const *night_titles; /* hist's nights, for the strip's tooltips (may be NULL) */
};

/* Appends the tables of doc (a matrix document; a malformed one renders what it can). */
void dash_table_render(const struct html *h, const json_t *doc, const struct dash_table_opts *o);

#endif
