#include "reporter/dash_html.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One stylesheet for every page: light, dense tables, sticky labels, scrolling on phones. */
static const char css[] =
    ":root{--fg:#1d2329;--mut:#5b6670;--bd:#d5dbe1;--alt:#f4f6f8;--acc:#0b5cad}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;"
    "color:var(--fg);background:#fff}"
    "header{background:#14283d;color:#fff;padding:.55rem 1rem;display:flex;flex-wrap:wrap;"
    "gap:.2rem 1.4rem;align-items:baseline}"
    "header a{color:#fff;text-decoration:none}header .brand{font-weight:700;font-size:1.1rem}"
    "header nav a{margin-right:1.1rem;opacity:.85}header nav a:hover{opacity:1}"
    "main{padding:1rem 1.2rem;max-width:1800px;margin:0 auto}"
    "h1{font-size:1.4rem;margin:.2rem 0 .7rem;word-break:break-word}"
    "h2{font-size:1.15rem;margin:1.6rem 0 .5rem;border-bottom:1px solid var(--bd);"
    "padding-bottom:.2rem}h3{font-size:1rem;margin:1.2rem 0 .4rem}"
    "a{color:var(--acc)}p{margin:.4rem 0}"
    ".scroll{overflow-x:auto;max-width:100%;border:1px solid var(--bd);border-radius:4px}"
    "table{border-collapse:collapse;font-size:.9rem}"
    "th,td{padding:.35rem .6rem;border-bottom:1px solid var(--bd);text-align:left;"
    "vertical-align:top}"
    "thead th{background:var(--alt);white-space:nowrap}"
    "table.list{width:100%}table.list tr:hover td{background:#fafbfc}"
    ".num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".mono,code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
    "font-size:.84rem}"
    ".muted{color:var(--mut)}.nw{white-space:nowrap}"
    ".v{display:inline-block;padding:0 .4rem;border-radius:3px;font-weight:700;font-size:.8rem;"
    "text-decoration:none}"
    ".v-pass,.v-done{background:#dff3e0;color:#17632a}.v-fail{background:#fbd9d7;color:#9b1c13}"
    ".v-infra,.v-interrupted{background:#f3e8c4;color:#6d5300}"
    ".v-other,.v-skip{background:#e7eaee;color:#3b4550}"
    ".v-running,.v-queued{background:#dbe9fb;color:#0b4a8f}"
    ".v-refused,.v-error{background:#fbd9d7;color:#9b1c13}"
    ".ch{display:inline-block;padding:0 .35rem;border-radius:3px;font-size:.72rem;"
    "font-weight:700;letter-spacing:.02em;white-space:nowrap}"
    ".ch-REGRESSION{background:#c62828;color:#fff}.ch-FIXED{background:#2e7d32;color:#fff}"
    ".ch-heisenbug{background:#6a1b9a;color:#fff}"
    ".ch-never-pass{border:1px solid #9b1c13;color:#9b1c13}"
    ".ch-could-not-test{border:1px solid #6d5300;color:#6d5300}"
    ".ch-new{border:1px solid #0b4a8f;color:#0b4a8f}.ch-pass{color:var(--mut)}"
    "table.compat th.row{position:sticky;left:0;background:var(--alt);z-index:1}"
    "table.compat td.c{min-width:10rem;border-left:1px solid var(--bd)}"
    "td.c-pass{background:#f2faf2}td.c-fail{background:#fdf0ef}td.c-infra{background:#fbf6e6}"
    "td.c-none,td.c-skip{background:#f6f7f8;color:var(--mut)}"
    ".n{font-size:.78rem;color:var(--mut);white-space:nowrap}"
    ".legend{font-size:.8rem;color:var(--mut)}.legend b{font-size:.62rem;border-radius:2px}"
    ".answer .scroll{display:inline-block;background:#fff}ul.ev li{word-break:break-all}"
    ".hs{display:flex;gap:2px;margin-top:.3rem}"
    ".hs b{display:inline-block;width:1.1rem;height:1.1rem;line-height:1.1rem;"
    "text-align:center;font-size:.62rem;border-radius:2px}"
    ".hp{background:#57a65a;color:#fff}.hf{background:#d64035;color:#fff}"
    ".hi{background:#d8b54a;color:#fff}.hn{background:#e3e6ea;color:#8a939c}"
    "dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1.2rem;margin:.5rem 0}"
    "dl.kv dt{color:var(--mut)}dl.kv dd{margin:0;word-break:break-all}"
    "pre.log{background:#0f1720;color:#d8dee4;padding:.75rem;overflow:auto;max-height:40rem;"
    "white-space:pre-wrap;word-break:break-all;border-radius:4px;margin:.4rem 0}"
    /* a console box opens scrolled to its end, where a failure is, without a script */
    ".tail{display:flex;flex-direction:column-reverse;overflow:auto;max-height:40rem}"
    ".tail pre.log{max-height:none;overflow:visible}"
    ".answer{border-left:4px solid var(--acc);background:var(--alt);padding:.6rem .9rem;"
    "margin:.8rem 0}"
    ".chart svg{width:100%;max-width:760px;height:auto;display:block}"
    "footer{color:var(--mut);font-size:.8rem;padding:1.2rem;text-align:center}"
    "@media (max-width:640px){body{font-size:14px}main{padding:.6rem}"
    "dl.kv{grid-template-columns:1fr}dl.kv dt{font-weight:600;margin-top:.3rem}}";

void html_escn(struct buf *b, const char *s, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        case '\t':
        case '\n': break;
        case '\r': rep = ""; break; /* CR LF console lines */
        default:
            if (c < 0x20 || c == 0x7f)
                rep = "\xef\xbf\xbd"; /* U+FFFD: no control characters in a page */
        }
        if (!rep)
            continue;
        buf_add(b, s + run, i - run);
        buf_adds(b, rep);
        run = i + 1;
    }
    buf_add(b, s + run, n - run);
}

void html_esc(struct buf *b, const char *s)
{
    if (s)
        html_escn(b, s, strlen(s));
}

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

void url_seg(struct buf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (unreserved(c))
            buf_addch(b, c);
        else
            buf_addf(b, "%%%02X", c);
    }
}

int dash_name_safe(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 100 || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!unreserved((unsigned char)s[i]) || s[i] == '~')
            return 0;
    return 1;
}

void html_url(const struct html *h, const char *ext, ...)
{
    const char *seg;
    va_list ap;
    int nseg = 0;

    if (h->static_site)
        for (int i = 0; i < h->depth; i++)
            buf_adds(h->b, "../");
    else
        buf_addch(h->b, '/');
    va_start(ap, ext);
    while ((seg = va_arg(ap, const char *))) {
        if (nseg++)
            buf_addch(h->b, '/');
        url_seg(h->b, seg);
    }
    va_end(ap);
    if (h->static_site)
        buf_adds(h->b, nseg ? ext : "index.html");
}

void html_raw(const struct html *h, const char *s)
{
    buf_adds(h->b, s);
}

void html_fmt(const struct html *h, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(h->b, fmt, ap);
    va_end(ap);
}

void html_text(const struct html *h, const char *s)
{
    html_esc(h->b, s);
}

void html_begin(const struct html *h, const char *title, int refresh_s)
{
    html_raw(h, "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
                "<meta name=viewport content=\"width=device-width,initial-scale=1\">");
    if (refresh_s > 0)
        html_fmt(h, "<meta http-equiv=refresh content=%d>", refresh_s);
    html_raw(h, "<title>");
    html_text(h, title);
    html_raw(h, " · pvlab</title><style>");
    html_raw(h, css);
    html_raw(h, "</style></head>\n<body><header><a class=brand href=\"");
    html_url(h, ".html", NULL);
    html_raw(h, "\">pvlab dashboard</a><nav><a href=\"");
    html_url(h, ".html", NULL);
    html_raw(h, "\">Overview</a><a href=\"");
    html_url(h, ".html", "nightly", NULL);
    html_raw(h, "\">Nightly</a><a href=\"");
    html_url(h, ".html", "requests", NULL);
    html_raw(h, "\">Requests</a><a href=\"");
    html_url(h, ".json", "api", "v1", "matrices", NULL);
    html_raw(h, "\">API</a></nav></header>\n<main>\n<h1>");
    html_text(h, title);
    html_raw(h, "</h1>\n");
}

void html_end(const struct html *h)
{
    html_raw(h, "</main>\n<footer>pvlab: a regression and bisect lab for Xen PV guests"
                "</footer></body></html>\n");
}

int html_verdict_known(const char *verdict)
{
    return verdict && (!strcmp(verdict, "pass") || !strcmp(verdict, "fail") ||
                       !strcmp(verdict, "infra") || !strcmp(verdict, "skip"));
}

void html_verdict(const struct html *h, const char *verdict)
{
    const char *cls = "other";

    if (!verdict || !*verdict) {
        html_raw(h, "<span class=\"v v-other\">–</span>");
        return;
    }
    if (html_verdict_known(verdict))
        cls = verdict;
    html_fmt(h, "<span class=\"v v-%s\">", cls);
    html_text(h, !strcmp(verdict, "fail") ? "FAIL" : verdict);
    html_raw(h, "</span>");
}

void html_change(const struct html *h, const char *change)
{
    static const char *const known[] = { "REGRESSION",     "FIXED", "heisenbug", "never-pass",
                                         "could-not-test", "new",   "pass" };
    const char *cls = "pass";

    if (!change || !*change)
        return;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(change, known[i]))
            cls = known[i];
    html_fmt(h, "<span class=\"ch ch-%s\">", cls);
    html_text(h, change);
    html_raw(h, "</span>");
}

void html_state(const struct html *h, const char *state)
{
    static const char *const known[] = { "running", "done",        "queued", "refused",
                                         "error",   "interrupted", "stopped" };
    const char *cls = "other";

    for (size_t i = 0; state && i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(state, known[i]))
            cls = known[i];
    html_fmt(h, "<span class=\"v v-%s\">", cls);
    html_text(h, state && *state ? state : "–");
    html_raw(h, "</span>");
}

void html_time(const struct html *h, const char *iso)
{
    size_t n = iso ? strlen(iso) : 0;

    if (!n) {
        html_raw(h, "<span class=muted>–</span>");
        return;
    }
    html_raw(h, "<time class=nw datetime=\"");
    html_text(h, iso);
    html_raw(h, "\">");
    if (n == 20 && iso[10] == 'T' && iso[19] == 'Z') {
        html_escn(h->b, iso, 10);
        html_raw(h, " ");
        html_escn(h->b, iso + 11, 5);
        html_raw(h, "Z");
    } else {
        html_text(h, iso);
    }
    html_raw(h, "</time>");
}

void html_commit(const struct html *h, const char *alias, const char *sha)
{
    struct buf url = BUF_INIT;
    size_t n = sha ? strlen(sha) : 0;

    if (!n) {
        html_raw(h, "<span class=muted>–</span>");
        return;
    }
    if (repos_commit_url(h->repos, alias, sha, &url)) {
        html_raw(h, "<a class=mono href=\"");
        html_esc(h->b, url.data);
        html_raw(h, "\" title=\"");
    } else {
        html_raw(h, "<span class=mono title=\"");
    }
    html_text(h, sha);
    html_raw(h, "\">");
    html_escn(h->b, sha, n > 12 ? 12 : n);
    html_raw(h, url.len ? "</a>" : "</span>");
    buf_release(&url);
}

void html_pct(const struct html *h, double rate)
{
    if (!isfinite(rate))
        html_raw(h, "–");
    else if (rate == 0)
        html_raw(h, "0%");
    else
        html_fmt(h, "%.3g%%", rate * 100);
}
