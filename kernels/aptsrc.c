/* Deriving the Debian mirror from the machine's apt sources, so no host is ever hard-coded. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/sv.h"
#include "util/xalloc.h"

/* One "deb URI suite components..." source, flattened from either format. */
struct src_entry {
    char *uri;
    char *suite;
    int has_main;
};

struct src_list {
    struct src_entry *v;
    size_t n, alloc;
};

static void src_add(struct src_list *l, const char *uri, const char *suite, int has_main)
{
    size_t len = strlen(uri);

    if (l->n == l->alloc) {
        l->alloc = l->alloc ? 2 * l->alloc : 8;
        l->v = xrealloc(l->v, l->alloc * sizeof(*l->v));
    }
    while (len > 1 && uri[len - 1] == '/')
        len--;
    l->v[l->n].uri = xstrndup(uri, len);
    l->v[l->n].suite = xstrdup(suite);
    l->v[l->n].has_main = has_main;
    l->n++;
}

static void src_clear(struct src_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].uri);
        free(l->v[i].suite);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->alloc = 0;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* One-line format: "deb [opt=v ...] URI suite comp...", '#' starts a comment. */
static void parse_one_line(const char *text, struct src_list *l)
{
    struct sv lines = SV_INIT, tok = SV_INIT;
    size_t i, t;

    sv_split(&lines, text, "\n");
    for (i = 0; i < lines.n; i++) {
        char *hash = strchr(lines.v[i], '#');
        int has_main = 0;

        if (hash)
            *hash = '\0';
        sv_clear(&tok);
        sv_split(&tok, lines.v[i], " \t\r");
        if (tok.n < 3 || strcmp(tok.v[0], "deb"))
            continue;
        t = 1;
        if (tok.v[t][0] == '[') /* options may contain spaces: skip to the closing ']' */
            while (t < tok.n && !has_suffix(tok.v[t++], "]"))
                ;
        if (t + 1 >= tok.n)
            continue;
        for (size_t c = t + 2; c < tok.n; c++)
            has_main |= !strcmp(tok.v[c], "main");
        src_add(l, tok.v[t], tok.v[t + 1], has_main);
    }
    sv_clear(&tok);
    sv_clear(&lines);
}

/* Flushes one deb822 paragraph (its fields already collected) into l. */
static void deb822_flush(struct buf *types, struct buf *uris, struct buf *suites, struct buf *comps,
                         int enabled, struct src_list *l)
{
    struct sv ty = SV_INIT, u = SV_INIT, s = SV_INIT, c = SV_INIT;
    int is_deb = 0, has_main = 0;
    size_t i, j;

    sv_split(&ty, types->data, " \t");
    sv_split(&u, uris->data, " \t");
    sv_split(&s, suites->data, " \t");
    sv_split(&c, comps->data, " \t");
    for (i = 0; i < ty.n; i++)
        is_deb |= !strcmp(ty.v[i], "deb");
    for (i = 0; i < c.n; i++)
        has_main |= !strcmp(c.v[i], "main");
    if (is_deb && enabled)
        for (i = 0; i < u.n; i++)
            for (j = 0; j < s.n; j++)
                src_add(l, u.v[i], s.v[j], has_main);
    sv_clear(&ty);
    sv_clear(&u);
    sv_clear(&s);
    sv_clear(&c);
    buf_reset(types);
    buf_reset(uris);
    buf_reset(suites);
    buf_reset(comps);
}

/* deb822 format: paragraphs of "Field: value" (continuation lines start with a blank). */
static void parse_deb822(const char *text, struct src_list *l)
{
    struct buf types = BUF_INIT, uris = BUF_INIT, suites = BUF_INIT, comps = BUF_INIT;
    struct buf *cur = NULL;
    const char *p = text;
    int enabled = 1;

    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = xstrndup(p, len);
        char *colon, *s = line;

        p += len + (nl ? 1 : 0);
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        if (*s == '#') {
            free(line);
            continue;
        }
        if (!*s) { /* blank line ends a paragraph */
            deb822_flush(&types, &uris, &suites, &comps, enabled, l);
            enabled = 1;
            cur = NULL;
        } else if (s != line) { /* continuation */
            if (cur) {
                buf_addch(cur, ' ');
                buf_adds(cur, s);
            }
        } else if ((colon = strchr(line, ':'))) {
            char *val = colon + 1;
            *colon = '\0';
            while (*val == ' ' || *val == '\t')
                val++;
            cur = !strcasecmp(line, "Types")        ? &types
                  : !strcasecmp(line, "URIs")       ? &uris
                  : !strcasecmp(line, "Suites")     ? &suites
                  : !strcasecmp(line, "Components") ? &comps
                                                    : NULL;
            if (cur) {
                buf_reset(cur);
                buf_adds(cur, val);
                buf_rtrim(cur);
            }
            if (!strcasecmp(line, "Enabled"))
                enabled = strncasecmp(val, "no", 2) != 0;
        }
        free(line);
    }
    deb822_flush(&types, &uris, &suites, &comps, enabled, l);
    buf_release(&types);
    buf_release(&uris);
    buf_release(&suites);
    buf_release(&comps);
}

/* First main-component URI whose suite is one of the NULL-terminated names. */
static const char *pick(const struct src_list *l, const char *const *names)
{
    for (size_t k = 0; names[k]; k++)
        for (size_t i = 0; i < l->n; i++)
            if (l->v[i].has_main && !strcmp(l->v[i].suite, names[k]))
                return l->v[i].uri;
    return NULL;
}

int aptsrc_derive(const struct apt_source_file *files, size_t n, const char *codename,
                  char **mirror_r, char **security_r, struct err *e)
{
    struct src_list l = { NULL, 0, 0 };
    char *sec = NULL, *upd = NULL;
    const char *m, *s;
    int rc = -1;

    *mirror_r = *security_r = NULL;
    for (size_t i = 0; i < n; i++) {
        if (has_suffix(files[i].name, ".list"))
            parse_one_line(files[i].text, &l);
        else if (has_suffix(files[i].name, ".sources"))
            parse_deb822(files[i].text, &l);
    }
    codename = codename && *codename ? codename : "stable";
    sec = xasprintf("%s-security", codename);
    upd = xasprintf("%s/updates", codename);
    {
        /* prefer the system's own codename; generic names are a fallback */
        const char *main_names[] = { codename, "stable", NULL };
        const char *sec_names[] = { sec, upd, "stable-security", NULL };
        m = pick(&l, main_names);
        s = pick(&l, sec_names);
    }
    if (!m) {
        err_set(e, ERR_CONFIG,
                "cannot find a Debian mirror in the apt sources (no 'deb' entry for suite %s with "
                "component main in /etc/apt/sources.list or /etc/apt/sources.list.d/); set "
                "`mirror` (and `security_mirror`) in the pvlab configuration",
                codename);
        goto out;
    }
    *mirror_r = xstrdup(m);
    *security_r = xstrdup(s);
    rc = 0;
out:
    free(sec);
    free(upd);
    src_clear(&l);
    return rc;
}

static int name_filter(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

int aptsrc_from_system(const char *root, char **mirror_r, char **security_r, struct err *e)
{
    struct apt_source_file *files = NULL;
    struct buf osr = BUF_INIT, *texts = NULL;
    struct dirent **ents = NULL;
    char *path = NULL, *codename = NULL, *partsdir = NULL;
    int nents = 0, nfiles = 0, i, rc = -1;

    root = root ? root : "";
    path = xasprintf("%s/etc/os-release", root);
    if (buf_read_file(&osr, path, NULL) == 0) {
        const char *c = strstr(osr.data, "VERSION_CODENAME=");
        if (c && (c == osr.data || c[-1] == '\n')) {
            c += strlen("VERSION_CODENAME=");
            codename = xstrndup(c + (*c == '"'), strcspn(c + (*c == '"'), "\"\n"));
        }
    }
    partsdir = xasprintf("%s/etc/apt/sources.list.d", root);
    nents = scandir(partsdir, &ents, name_filter, alphasort);
    if (nents < 0)
        nents = 0;
    files = xcalloc((size_t)nents + 1, sizeof(*files));
    texts = xcalloc((size_t)nents + 1, sizeof(*texts));
    free(path);
    path = xasprintf("%s/etc/apt/sources.list", root);
    for (i = -1; i < nents; i++) {
        struct buf *t = &texts[nfiles];
        *t = (struct buf)BUF_INIT;
        if (i >= 0) {
            free(path);
            path = xasprintf("%s/%s", partsdir, ents[i]->d_name);
        }
        if (buf_read_file(t, path, NULL) < 0) {
            buf_release(t); /* a missing sources.list is normal with deb822-only systems */
            continue;
        }
        files[nfiles].name = i < 0 ? "sources.list" : ents[i]->d_name;
        files[nfiles].text = t->data;
        nfiles++;
    }
    rc = aptsrc_derive(files, (size_t)nfiles, codename, mirror_r, security_r, e);
    for (i = 0; i < nfiles; i++)
        buf_release(&texts[i]);
    for (i = 0; i < nents; i++)
        free(ents[i]);
    free(ents);
    free(texts);
    free(files);
    free(partsdir);
    free(codename);
    free(path);
    buf_release(&osr);
    return rc;
}

int apt_state_dirs(const char *dir, struct err *e)
{
    static const char *const sub[] = { "etc/apt.conf.d",
                                       "etc/sources.list.d",
                                       "etc/preferences.d",
                                       "etc/trusted.gpg.d",
                                       "state/lists/partial",
                                       "cache/archives/partial",
                                       "log",
                                       NULL };
    char *p = NULL;
    int rc = -1;

    for (size_t i = 0; sub[i]; i++) {
        free(p);
        p = xasprintf("%s/%s", dir, sub[i]);
        if (fs_mkdirs(p, e) < 0)
            goto out;
    }
    free(p);
    p = xasprintf("%s/state/status", dir);
    if (!fs_exists(p) && fs_write_atomic(p, "", 0, e) < 0)
        goto out;
    rc = 0;
out:
    free(p);
    return rc;
}
