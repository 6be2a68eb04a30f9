/* Helpers shared by the page files (dash_pages.c, dash_page_run.c, dash_page_bisect.c). */
#ifndef PVLAB_REPORTER_DASH_PAGES_INT_H
#define PVLAB_REPORTER_DASH_PAGES_INT_H

#include <jansson.h>

#include "reporter/dash_pages.h"

/* Parses a stored document; ERR_INTERNAL when the database holds something that is not JSON. */
json_t *page_parse(const char *doc, const char *what, struct err *e);
/* The string at key of o, or NULL. */
const char *page_str(const json_t *o, const char *key);
/* A <dl> of an object's members: scalars as text, nested values as compact JSON (escaped). */
void page_kv(const struct html *h, const json_t *o);
/* One JSON value as text (strings as they are, numbers %g, nested as compact JSON), escaped. */
void page_value(const struct html *h, const json_t *v);
/* <a href=KIND/LAB/N>LAB/KIND/N</a> for a result. */
void page_result_link(const struct html *h, enum dash_kind kind, const char *lab, long long id);
/* A link to a result named by its id "lab/kind/N" (plain escaped text when it is not one). */
void page_result_id_link(const struct html *h, const char *result_id);
/* <dt>label</dt><dd> (the caller writes the value and </dd>). */
void page_dt(const struct html *h, const char *label);
/* The table of requests shared by the overview and /requests (dash_page_bisect.c). */
void page_requests_table(const struct html *h, const struct dash_request *v, size_t n);

#endif
