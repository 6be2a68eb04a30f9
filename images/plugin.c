#include "images/plugin.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/payload_priv.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sv.h"
#include "util/xalloc.h"

#define PLUGIN_MANIFEST "repro.conf"
#define PLUGIN_CFLAGS "-O2 -static -Wall"
#define PLUGIN_MAX_WORDS 32 /* images/guest/pvlab-init.c: PLUGIN_MAX_ARGS */
#define PLUGIN_MAX_WORD 255

int plugin_is_spec(const char *repro)
{
    return repro && (!strncmp(repro, "script:", 7) || !strncmp(repro, "c:", 2));
}

/* Splits "kind:path"; returns the kind's length, 0 when spec is no plug-in. */
static size_t spec_prefix(const char *spec)
{
    return !plugin_is_spec(spec) ? 0 : spec[0] == 's' ? 7 : 2;
}

char *plugin_spec_canonical(const char *spec, struct err *e)
{
    size_t k = spec_prefix(spec);
    char *abs, *out;

    if (!k || !spec[k]) {
        err_set(e, ERR_USAGE,
                "'%s' is not a plug-in: use script:FILE, c:FILE or either with a "
                "directory holding " PLUGIN_MANIFEST,
                spec ? spec : "");
        return NULL;
    }
    abs = fs_abspath(spec + k, e);
    if (!abs) {
        err_prefix(e, "reproducer %s", spec);
        if (e)
            e->code = ERR_NOTFOUND;
        return NULL;
    }
    out = xasprintf("%.*s%s", (int)k, spec, abs);
    free(abs);
    return out;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 48 || !isalnum((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
            return 0;
    return 1;
}

struct mctx {
    struct plugin *p;
    char *file, *kind, *model, *runs_in;
    char msg[256];
};

static int on_manifest(void *user, const char *section, const char *name, const char *value)
{
    struct mctx *m = user;
    struct plugin *p = m->p;
    char **slot = NULL;

    if (!name)
        return 1;
    if (!strcmp(section, "params")) {
        if (!valid_name(name) || strchr(value, ' ') || strlen(value) > 200) {
            snprintf(m->msg, sizeof(m->msg),
                     "parameter '%s': names are letters, digits, '.', '_', '-'; defaults one word",
                     name);
            return 0;
        }
        p->params = xrealloc(p->params, (p->n_params + 1) * sizeof(*p->params));
        p->params[p->n_params].name = xstrdup(name);
        p->params[p->n_params++].def = xstrdup(value);
        return 1;
    }
    if (*section && strcmp(section, "repro")) {
        snprintf(m->msg, sizeof(m->msg), "unknown section [%s] (known: [repro], [params])",
                 section);
        return 0;
    }
    if (!strcmp(name, "kind") && strcmp(value, "script") && strcmp(value, "c"))
        snprintf(m->msg, sizeof(m->msg), "kind = %s: must be script or c", value);
    else if (!strcmp(name, "model") && strcmp(value, "once") && strcmp(value, "iterations"))
        snprintf(m->msg, sizeof(m->msg), "model = %s: must be once or iterations", value);
    else if (!strcmp(name, "runs-in") && strcmp(value, "dom0") && strcmp(value, "domu") &&
             strcmp(value, "both"))
        snprintf(m->msg, sizeof(m->msg), "runs-in = %s: must be dom0, domu or both", value);
    else if (!strcmp(name, "name") && (!valid_name(value) || repro_find(value)))
        snprintf(m->msg, sizeof(m->msg), "name '%s': %s", value,
                 repro_find(value) ? "a built-in reproducer's; choose another"
                                   : "1-48 letters, digits, '.', '_' or '-', starting with a "
                                     "letter or digit");
    if (*m->msg)
        return 0;
    if (!strcmp(name, "name"))
        slot = &p->name;
    else if (!strcmp(name, "summary"))
        slot = &p->summary;
    else if (!strcmp(name, "file"))
        slot = &m->file;
    else if (!strcmp(name, "kind"))
        slot = &m->kind;
    else if (!strcmp(name, "model"))
        slot = &m->model;
    else if (!strcmp(name, "runs-in"))
        slot = &m->runs_in;
    if (!slot) {
        snprintf(m->msg, sizeof(m->msg),
                 "unknown key '%s' (known: name, summary, kind, file, model, runs-in)", name);
        return 0;
    }
    free(*slot);
    *slot = xstrdup(value);
    return 1;
}

/* Reads DIR/repro.conf into p; m keeps the raw kind, model, runs-in and file. */
static int read_manifest(const char *dir, struct plugin *p, struct mctx *m, struct err *e)
{
    FILE *f;
    int line;

    p->manifest_path = xasprintf("%s/" PLUGIN_MANIFEST, dir);
    f = fopen(p->manifest_path, "r");
    if (!f) {
        err_sys(e, errno, "%s is a directory without a readable " PLUGIN_MANIFEST, dir);
        if (e)
            e->code = ERR_NOTFOUND;
        return -1;
    }
    m->p = p;
    line = ini_parse_file(f, on_manifest, m);
    fclose(f);
    if (line != 0) {
        err_set(e, ERR_CONFIG, "%s:%d: %s", p->manifest_path, line,
                *m->msg ? m->msg : "syntax error (expected [section] or key = value)");
        return -1;
    }
    return 0;
}

/* The manifest's or the defaults' kind, model and placement, checked. */
static int settle(struct plugin *p, struct mctx *m, enum plugin_kind asked, struct err *e)
{
    const char *where = p->manifest_path ? p->manifest_path : p->source;

    p->kind = asked;
    if (m->kind && strcmp(m->kind, "script") && strcmp(m->kind, "c")) {
        err_set(e, ERR_CONFIG, "%s: kind = %s: must be script or c", where, m->kind);
        return -1;
    }
    if (m->kind) /* a directory's manifest says what it is, whichever prefix named it */
        p->kind = !strcmp(m->kind, "c") ? PLUGIN_KIND_C : PLUGIN_KIND_SCRIPT;
    p->once = 1;
    if (m->model && !strcmp(m->model, "iterations"))
        p->once = 0;
    else if (m->model && strcmp(m->model, "once")) {
        err_set(e, ERR_CONFIG, "%s: model = %s: must be once or iterations", where, m->model);
        return -1;
    }
    p->runs_in = PLUGIN_IN_DOM0 | PLUGIN_IN_DOMU;
    if (m->runs_in && !strcmp(m->runs_in, "dom0"))
        p->runs_in = PLUGIN_IN_DOM0;
    else if (m->runs_in && !strcmp(m->runs_in, "domu"))
        p->runs_in = PLUGIN_IN_DOMU;
    else if (m->runs_in && strcmp(m->runs_in, "both")) {
        err_set(e, ERR_CONFIG, "%s: runs-in = %s: must be dom0, domu or both", where, m->runs_in);
        return -1;
    }
    if (!valid_name(p->name)) {
        err_set(e, ERR_CONFIG,
                "%s: name '%s': 1-48 letters, digits, '.', '_' or '-', starting with a letter "
                "or digit",
                where, p->name);
        return -1;
    }
    if (repro_find(p->name) || !strcmp(p->name, "plugin")) {
        err_set(e, ERR_CONFIG, "%s: name '%s' is a built-in reproducer's; choose another", where,
                p->name);
        return -1;
    }
    return 0;
}

/* What the guest's shell cannot run: another interpreter, binary data, a syntax error. */
static int check_script(const struct plugin *p, struct err *e)
{
    struct buf b = BUF_INIT, out = BUF_INIT;
    const char *busybox = payload_busybox();
    const char *argv[] = { busybox, "sh", "-n", p->source, NULL };
    struct proc_spec ps = { 0 };
    int rc = -1;

    if (buf_read_file(&b, p->source, e) < 0)
        goto out;
    if (memchr(b.data, '\0', b.len)) {
        err_set(e, ERR_USAGE,
                "%s is not a shell script (it holds binary data); a compiled "
                "program is a c: plug-in",
                p->source);
        goto out;
    }
    if (b.len > 2 && !strncmp(b.data, "#!", 2)) {
        size_t n = strcspn(b.data + 2, "\n");
        char *interp = xstrndup(b.data + 2, n);
        char *t = interp;
        while (*t == ' ')
            t++;
        if (strncmp(t, "/bin/sh", 7) && strncmp(t, "/bin/busybox sh", 15) &&
            strncmp(t, "/bin/ash", 8)) {
            err_set(e, ERR_USAGE,
                    "%s starts with #!%s, but the guest has only busybox sh: write it for "
                    "/bin/sh (no bash features) or make it a c: plug-in",
                    p->source, t);
            free(interp);
            goto out;
        }
        free(interp);
    }
    if (!fs_exists(busybox)) {
        err_set(e, ERR_TOOL,
                "busybox not found at %s; the initramfs needs a static one: "
                "apt-get install busybox-static (or set PVLAB_BUSYBOX)",
                busybox);
        goto out;
    }
    ps.argv = argv;
    ps.out = &out;
    ps.timeout_ms = 10000;
    if (proc_run(&ps, e) < 0) {
        err_prefix(e, "%s is not a script the guest's shell (busybox sh) can run", p->source);
        if (e)
            e->code = ERR_USAGE;
        goto out;
    }
    rc = 0;
out:
    buf_release(&b);
    buf_release(&out);
    return rc;
}

int plugin_load(const char *spec, struct plugin *p, struct err *e)
{
    struct mctx m;
    size_t k = spec_prefix(spec);
    enum plugin_kind asked = k == 2 ? PLUGIN_KIND_C : PLUGIN_KIND_SCRIPT;
    char *path = NULL;
    int rc = -1;

    memset(p, 0, sizeof(*p));
    memset(&m, 0, sizeof(m));
    p->spec = plugin_spec_canonical(spec, e);
    if (!p->spec)
        return -1;
    path = xstrdup(p->spec + k);
    if (fs_is_dir(path)) {
        char *dir = path;
        if (read_manifest(dir, p, &m, e) < 0)
            goto out;
        if (!m.file) {
            err_set(e, ERR_CONFIG, "%s: no file = (the script or C file, relative to %s)",
                    p->manifest_path, dir);
            goto out;
        }
        p->source = m.file[0] == '/' ? xstrdup(m.file) : xasprintf("%s/%s", dir, m.file);
        if (!p->name) {
            const char *slash = strrchr(dir, '/');
            p->name = xstrdup(slash ? slash + 1 : dir);
        }
    } else {
        const char *base = strrchr(path, '/'), *dot;
        base = base ? base + 1 : path;
        dot = strrchr(base, '.');
        p->source = xstrdup(path);
        p->name = dot && dot != base ? xstrndup(base, (size_t)(dot - base)) : xstrdup(base);
    }
    if (access(p->source, R_OK) < 0) {
        err_sys(e, errno, "reproducer %s: cannot read %s", spec, p->source);
        if (e && errno == ENOENT)
            e->code = ERR_NOTFOUND;
        goto out;
    }
    if (settle(p, &m, asked, e) < 0)
        goto out;
    if (!p->summary)
        p->summary = xasprintf("%s plug-in %s", asked == PLUGIN_KIND_C ? "C" : "script", p->source);
    if (sha256_file_hex(p->source, p->source_sha, e) < 0)
        goto out;
    if (p->kind == PLUGIN_KIND_SCRIPT && check_script(p, e) < 0)
        goto out;
    if (p->kind == PLUGIN_KIND_C &&
        (strlen(p->source) < 3 || strcmp(p->source + strlen(p->source) - 2, ".c"))) {
        err_set(e, ERR_USAGE, "%s: a c: plug-in is a C source file ending in .c", p->source);
        goto out;
    }
    rc = 0;
out:
    free(path);
    free(m.file);
    free(m.kind);
    free(m.model);
    free(m.runs_in);
    if (rc < 0)
        plugin_free(p);
    return rc;
}

/* "gcc (Debian 12.2.0-14) 12.2.0": the compiler's first line, part of the cache key. */
static int compiler_version(struct buf *v, struct err *e)
{
    const char *argv[] = { "gcc", "--version", NULL };
    struct proc_spec ps = { 0 };

    ps.argv = argv;
    ps.out = v;
    ps.timeout_ms = 30000;
    if (proc_run(&ps, e) < 0) {
        err_prefix(e, "C plug-ins are compiled with gcc (apt-get install gcc libc6-dev)");
        if (e)
            e->code = ERR_TOOL;
        return -1;
    }
    buf_setlen(v, strcspn(v->data, "\n"));
    return 0;
}

static int compile(struct plugin *p, const char *out, struct err *e)
{
    char *tmp = xasprintf("%s.tmp", out), *log = xasprintf("%s.log", out);
    const char *argv[] = { "gcc", "-O2", "-static", "-Wall", "-o", tmp, p->source, NULL };
    struct proc_spec ps = { 0 };
    struct proc pr = PROC_INIT;
    long long t0 = proc_now_ms();
    int rc = -1;

    unlink(log);
    ps.argv = argv;
    ps.log_path = log;
    ps.timeout_ms = 300000;
    if (proc_start(&ps, &pr, e) < 0 || proc_wait(&pr, e) < 0)
        goto out;
    if (pr.end != PROC_EXITED || pr.code != 0) {
        struct buf msg = BUF_INIT;
        char *tail;
        buf_read_file(&msg, log, NULL);
        tail = str_tail_lines(msg.data ? msg.data : "", msg.len, 20, 4000);
        err_set(e, ERR_USAGE, "%s does not compile (gcc " PLUGIN_CFLAGS "):\n%s", p->source, tail);
        free(tail);
        buf_release(&msg);
        goto out;
    }
    if (fs_commit_tmp(tmp, out, e) < 0)
        goto out;
    log_info("repro", "compiled %s in %.1f s", p->source, (proc_now_ms() - t0) / 1000.0);
    rc = 0;
out:
    proc_release(&pr);
    unlink(tmp);
    free(tmp);
    free(log);
    return rc;
}

int plugin_build(struct plugin *p, const char *cache_dir, struct err *e)
{
    struct buf key = BUF_INIT, cc = BUF_INIT;
    char hex[SHA256_HEX_LEN + 1];
    char *dir = NULL, *out = NULL, *lock = NULL;
    int lock_fd = -1, rc = -1;

    free(p->program);
    p->program = NULL;
    p->compiled = 0;
    if (p->kind == PLUGIN_KIND_SCRIPT) {
        p->program = xstrdup(p->source);
        return 0;
    }
    if (compiler_version(&cc, e) < 0)
        goto out;
    buf_addf(&key, "pvlab-repro-c-1\n%s\n" PLUGIN_CFLAGS "\n%s\n", p->source_sha, cc.data);
    sha256_hex_buf(key.data, key.len, hex);
    dir = xasprintf("%s/repro/%s", cache_dir, hex);
    out = xasprintf("%s/%s", dir, p->name);
    lock = xasprintf("%s/repro/.lock", cache_dir);
    if (fs_mkdirs(dir, e) < 0 || fs_lock(lock, &lock_fd, e) < 0)
        goto out;
    if (!fs_exists(out)) {
        if (compile(p, out, e) < 0)
            goto out;
        p->compiled = 1;
    }
    if (payload_elf_is_static(out, e) != 1) {
        err_set(e, ERR_USAGE, "%s did not compile to a static program (is libc6-dev installed?)",
                p->source);
        goto out;
    }
    p->program = out;
    out = NULL;
    rc = 0;
out:
    fs_unlock(lock_fd);
    buf_release(&key);
    buf_release(&cc);
    free(dir);
    free(out);
    free(lock);
    return rc;
}

int plugin_guest_manifest(const struct plugin *p, const char *args, struct buf *out, struct err *e)
{
    struct sv words = SV_INIT;
    int rc = -1;

    for (size_t i = 0; i < p->n_params; i++)
        sv_pushf(&words, "--%s=%s", p->params[i].name, p->params[i].def);
    if (args)
        sv_split(&words, args, " \t\n");
    if (words.n > PLUGIN_MAX_WORDS) {
        err_set(e, ERR_USAGE,
                "reproducer %s: %zu arguments (parameters and --repro-args); at "
                "most %d",
                p->name, words.n, PLUGIN_MAX_WORDS);
        goto out;
    }
    buf_addf(out, "name %s\nkind %s\nmodel %s\n", p->name,
             p->kind == PLUGIN_KIND_C ? "c" : "script", p->once ? "once" : "iterations");
    for (size_t i = 0; i < words.n; i++) {
        if (strlen(words.v[i]) > PLUGIN_MAX_WORD) {
            err_set(e, ERR_USAGE, "reproducer %s: argument '%.40s...' is longer than %d bytes",
                    p->name, words.v[i], PLUGIN_MAX_WORD);
            goto out;
        }
        buf_addf(out, "arg %s\n", words.v[i]);
    }
    rc = 0;
out:
    sv_clear(&words);
    return rc;
}

const char *plugin_runs_in_name(const struct plugin *p)
{
    return p->runs_in == PLUGIN_IN_DOM0 ? "dom0" : p->runs_in == PLUGIN_IN_DOMU ? "domu" : "both";
}

void plugin_describe_json(const struct plugin *p, struct jw *w)
{
    jw_obj(w);
    jw_kv_s(w, "name", p->name);
    jw_kv_s(w, "summary", p->summary);
    jw_kv_s(w, "kind", p->kind == PLUGIN_KIND_C ? "c" : "script");
    jw_kv_s(w, "model", p->once ? "once" : "iterations");
    jw_kv_s(w, "runs_in", plugin_runs_in_name(p));
    jw_kv_s(w, "source", p->source);
    jw_kv_s(w, "source_sha256", p->source_sha);
    if (p->manifest_path)
        jw_kv_s(w, "manifest", p->manifest_path);
    jw_key(w, "params");
    jw_obj(w);
    for (size_t i = 0; i < p->n_params; i++)
        jw_kv_s(w, p->params[i].name, p->params[i].def);
    jw_end(w);
    jw_end(w);
}

void plugin_free(struct plugin *p)
{
    free(p->spec);
    free(p->name);
    free(p->summary);
    free(p->source);
    free(p->manifest_path);
    for (size_t i = 0; i < p->n_params; i++) {
        free(p->params[i].name);
        free(p->params[i].def);
    }
    free(p->params);
    free(p->program);
    memset(p, 0, sizeof(*p));
}
