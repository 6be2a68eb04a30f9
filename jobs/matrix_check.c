/*
 * A matrix file checked without fetching or building: every spec (artifact_check_spec), every
 * reproducer, and every git: spec against the file's [sources] (provenance): the commit a spec
 * names must be recorded under its clone's directory name, and a clone that exists must give
 * that commit the recorded tree, so a run builds exactly what the file says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/matrix.h"
#include "images/payload.h"
#include "images/plugin.h"
#include "jobs/matrix.h"
#include "kernels/kernels.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/git.h"
#include "util/xalloc.h"

/* "git:PATH[@REV][?OPTS]" -> PATH ("~/" expanded) and REV (NULL when absent); 0 if not git:. */
static int git_spec_parts(const char *spec, char **path_r, char **rev_r)
{
    char *body, *q, *at;

    if (strncmp(spec, "git:", 4))
        return 0;
    body = xstrdup(spec + 4);
    if ((q = strrchr(body, '?')))
        *q = 0;
    at = strrchr(body, '@');
    *rev_r = at ? xstrdup(at + 1) : NULL;
    if (at)
        *at = 0;
    if (body[0] == '~' && body[1] == '/' && getenv("HOME"))
        *path_r = xasprintf("%s%s", getenv("HOME"), body + 1);
    else
        *path_r = xstrdup(body);
    free(body);
    return 1;
}

static const struct matrix_source *source_named(const struct matrix_def *def, const char *name)
{
    for (size_t i = 0; i < def->nsrc; i++)
        if (!strcmp(def->src[i].name, name))
            return &def->src[i];
    return NULL;
}

/* What the specs did with each [sources] line: named it, and verified its clone's tree (counted
 * once however many specs name the source). */
enum { SRC_NAMED = 1, SRC_VERIFIED = 2 };

/* One spec: its own check; for git: its [sources] line and, when cloned, its tree. */
static int check_one(const struct matrix_def *def, enum artifact_kind kind, const char *spec,
                     struct matrix_check *out, int *used, struct err *e)
{
    char *path = NULL, *rev = NULL, *name = NULL;
    const struct matrix_source *s = NULL;
    struct buf t = BUF_INIT;
    int rc = -1;

    if (!git_spec_parts(spec, &path, &rev)) {
        rc = artifact_check_spec(kind, spec, e);
        goto out;
    }
    {
        size_t len = strlen(path);
        const char *slash;
        while (len > 1 && path[len - 1] == '/')
            len--;
        name = xstrndup(path, len);
        if ((slash = strrchr(name, '/'))) {
            char *b = xstrdup(slash + 1);
            free(name);
            name = b;
        }
    }
    if (def->nsrc) { /* a file with provenance records all of it */
        if (!(s = source_named(def, name))) {
            err_set(e, ERR_CONFIG,
                    "'%s': no [sources] line names '%s' (NAME = URL COMMIT TREE): pvlab "
                    "builds nothing the file cannot name",
                    spec, name);
            goto out;
        }
        used[s - def->src] |= SRC_NAMED;
        if (!rev || strcmp(rev, s->commit)) {
            err_set(e, ERR_CONFIG,
                    "'%s': [sources] %s (line %d) records commit %s; name it in "
                    "full in the spec",
                    spec, name, s->line, s->commit);
            goto out;
        }
    }
    if (!fs_exists(path) && s && out) { /* not cloned here: say how, check the rest */
        struct buf m = BUF_INIT;
        int seen = 0;
        buf_addf(&m, "git clone --no-checkout %s %s", s->url, path);
        for (size_t i = 0; i < out->missing.n && !seen; i++)
            seen = !strcmp(out->missing.v[i], m.data);
        if (!seen)
            sv_push(&out->missing, m.data);
        buf_release(&m);
        rc = 0;
        goto out;
    }
    if (artifact_check_spec(kind, spec, e) < 0) {
        if (s)
            err_prefix(e, "(clone it: git clone --no-checkout %s %s)", s->url, path);
        goto out;
    }
    if (s) {
        const char *args[] = { "rev-parse", "--verify", NULL };
        char *obj = xasprintf("%s^{tree}", s->commit);
        const char *ops[] = { obj, NULL };
        struct git_cmd c = { path, args, ops, NULL, &t, 0 };
        int r = git_run(&c, e);
        free(obj);
        if (r < 0)
            goto out;
        if (strcmp(t.data, s->tree)) {
            err_set(e, ERR_CONFIG,
                    "'%s': commit %s has tree %s in %s, but [sources] %s (line %d) records "
                    "tree %s: not the content the file names",
                    spec, s->commit, t.data, path, name, s->line, s->tree);
            goto out;
        }
        if (out && !(used[s - def->src] & SRC_VERIFIED))
            out->verified++;
        used[s - def->src] |= SRC_VERIFIED;
    }
    rc = 0;
out:
    buf_release(&t);
    free(path);
    free(rev);
    free(name);
    return rc;
}

/* Whether a slice's cells use the entry (axis 'x', 'l' or 'r', index i); no slice: all are. */
static int in_slice(const struct matrix_def *def, const struct matrix_cell *slice, size_t n,
                    char axis, size_t i)
{
    if (!slice)
        return 1;
    for (size_t k = 0; k < n; k++)
        if ((axis == 'x' && slice[k].xen == &def->xen[i]) ||
            (axis == 'l' && slice[k].linux_ == &def->linux_[i]) ||
            (axis == 'r' && slice[k].repro == &def->repro[i]))
            return 1;
    return 0;
}

int matrix_check_specs(const struct matrix_def *def, const struct matrix_cell *slice, size_t nslice,
                       struct matrix_check *out, struct err *e)
{
    int *used = xcalloc(def->nsrc + 1, sizeof(*used));
    int rc = -1;

    for (size_t i = 0; i < def->nxen; i++)
        if (in_slice(def, slice, nslice, 'x', i) &&
            check_one(def, ARTIFACT_XEN, def->xen[i].spec, out, used, e) < 0) {
            err_prefix(e, "%s:%d: [xen] %s", def->path, def->xen[i].line, def->xen[i].label);
            goto out;
        }
    for (size_t i = 0; i < def->nlinux; i++)
        if (in_slice(def, slice, nslice, 'l', i) &&
            check_one(def, ARTIFACT_LINUX, def->linux_[i].spec, out, used, e) < 0) {
            err_prefix(e, "%s:%d: [linux] %s", def->path, def->linux_[i].line,
                       def->linux_[i].label);
            goto out;
        }
    for (size_t i = 0; i < def->nrepro; i++) {
        struct sv dl = SV_INIT;
        int bad;
        if (!in_slice(def, slice, nslice, 'r', i))
            continue;
        if (plugin_is_spec(def->repro[i].name)) { /* read and checked, not compiled */
            char *spec = matrix_repro_spec(def, def->repro[i].name, e);
            struct plugin p;
            bad = !spec || plugin_load(spec, &p, e) < 0;
            if (!bad)
                plugin_free(&p);
            free(spec);
        } else {
            bad = !repro_lookup(def->repro[i].name, e);
        }
        if (!bad && def->repro[i].amplifiers) {
            unsigned mask;
            bad = amplifier_parse(def->repro[i].amplifiers, &mask, e) < 0;
        }
        if (!bad && def->repro[i].domu_linux)
            sv_split(&dl, def->repro[i].domu_linux, " ");
        for (size_t k = 0; k < dl.n && !bad; k++)
            bad = check_one(def, ARTIFACT_LINUX, dl.v[k], out, used, e) < 0;
        sv_clear(&dl);
        if (bad) {
            err_prefix(e, "%s:%d: [repro] %s", def->path, def->repro[i].line, def->repro[i].label);
            goto out;
        }
    }
    for (size_t i = 0; i < def->nsrc && out; i++)
        if (!used[i])
            sv_pushf(&out->unused, "%s (line %d)", def->src[i].name, def->src[i].line);
    rc = 0;
out:
    free(used);
    return rc;
}

int matrix_check_file(const char *file, struct matrix_check *out, struct err *e)
{
    struct matrix_def def;
    struct matrix_cell *cells = NULL;
    size_t n = 0;
    int rc = -1;

    memset(&def, 0, sizeof(def));
    if (matrix_load(file, &def, e) < 0 || matrix_cells(&def, &cells, &n, e) < 0)
        goto out;
    out->cells = n;
    out->xen = def.nxen;
    out->linux_ = def.nlinux;
    out->repro = def.nrepro;
    out->sources = def.nsrc;
    rc = matrix_check_specs(&def, NULL, 0, out, e);
out:
    free(cells);
    matrix_def_free(&def);
    return rc;
}

void matrix_check_free(struct matrix_check *c)
{
    sv_clear(&c->missing);
    sv_clear(&c->unused);
    *c = (struct matrix_check)MATRIX_CHECK_INIT;
}

char *matrix_repro_spec(const struct matrix_def *def, const char *name, struct err *e)
{
    const char *colon = strchr(name, ':');
    char *dir, *joined, *spec;

    if (!plugin_is_spec(name) || colon[1] == '/' || colon[1] == '~')
        return plugin_is_spec(name) ? plugin_spec_canonical(name, e) : xstrdup(name);
    dir = fs_dirname(def->path);
    joined = xasprintf("%.*s%s/%s", (int)(colon - name + 1), name, dir, colon + 1);
    spec = plugin_spec_canonical(joined, e);
    free(dir);
    free(joined);
    return spec;
}
