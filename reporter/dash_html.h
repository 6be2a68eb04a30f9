/*
 * HTML writing for the dashboard's pages: escaping, links inside the site (served by pvlab
 * serve, or static files written by pvlab publish), the page frame with its inline CSS, and
 * the labels every page shares (verdicts, changes, commits, times).
 *
 * Every string that comes from a document goes through html_esc (text and attribute values
 * alike: & < > " ' are replaced, control characters other than tab and newline become U+FFFD).
 * URLs of the site are built from segments that are percent-encoded, so they never need
 * escaping. Nothing here blocks or allocates beyond the output buffer.
 */
#ifndef PVLAB_REPORTER_DASH_HTML_H
#define PVLAB_REPORTER_DASH_HTML_H

#include <stddef.h>

#include "config/repos.h"
#include "util/buf.h"

struct html {
    struct buf *b;
    int static_site;           /* links are files (.html ...) relative to the page */
    int depth;                 /* static site: directories between the page and the root */
    const struct repos *repos; /* commit links ([repo_web]); NULL: none */
};

/* Appends s (NULL: nothing) escaped for HTML text and quoted attribute values. */
void html_esc(struct buf *b, const char *s);
/* The same for n bytes of s. */
void html_escn(struct buf *b, const char *s, size_t n);
/* Appends s percent-encoded as one URL path segment (unreserved bytes kept). */
void url_seg(struct buf *b, const char *s);
/* 1 when s is a lab or name that can be a URL segment and a file name as it is. */
int dash_name_safe(const char *s);

/*
 * Appends the URL of a page of the site: the NULL-terminated segments joined by '/', each
 * percent-encoded; no segment is the home page. On a static site the URL is relative to the
 * page (h->depth) and ext (".html", ".txt", ".json") is appended (the home page is
 * index.html); served, it is absolute and ext is ignored.
 */
void html_url(const struct html *h, const char *ext, ...) __attribute__((sentinel));
/* Literal markup (never a document's text). */
void html_raw(const struct html *h, const char *s);
/* Formatted markup; arguments must be numbers or markup, never a document's text. */
void html_fmt(const struct html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Escaped text. */
void html_text(const struct html *h, const char *s);

/* <!doctype html> ... <main>: the page's title (escaped), inline CSS, navigation; refresh_s
 * > 0 adds a meta refresh (pages of running work). */
void html_begin(const struct html *h, const char *title, int refresh_s);
/* </main> ... </html>. */
void html_end(const struct html *h);

/* A verdict (pass, fail, infra, skip, or anything else) as a coloured text label. */
void html_verdict(const struct html *h, const char *verdict);
/* Whether verdict is one the pages style (pass, fail, infra, skip): its CSS class suffix. */
int html_verdict_known(const char *verdict);
/* A matrix change (REGRESSION, FIXED, heisenbug, never-pass, could-not-test, new, pass) as a
 * label; NULL writes nothing. */
void html_change(const struct html *h, const char *change);
/* A state of a run, bisection or request (running, done, queued, refused ...) as a label. */
void html_state(const struct html *h, const char *state);
/* An ISO-8601 time as "2026-12-04 18:16Z" in a <time> element; NULL: "–". */
void html_time(const struct html *h, const char *iso);
/* A commit: its first 12 digits (the whole id in the title), a link when alias has a
 * [repo_web] URL. */
void html_commit(const struct html *h, const char *alias, const char *sha);
/* A rate as a percentage with 3 significant digits ("2.95%", "0.0148%"). */
void html_pct(const struct html *h, double rate);

#endif
