/* pvlab repro: the reproducers a run can name, built-in and plug-in (docs/reproducers.md). */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "images/payload.h"
#include "images/plugin.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/sv.h"
#include "util/xalloc.h"

#define DEFAULT_REPRO_DIR PVLAB_TOP "/repro"

static const char usage[] =
    "usage: pvlab repro list [--json] [DIR...]\n"
    "       pvlab repro show NAME|script:PATH|c:PATH [--json]\n"
    "\n"
    "list: the built-in reproducers, then the plug-ins in each DIR (default: the examples\n"
    "shipped in " DEFAULT_REPRO_DIR "): a subdirectory with a repro.conf, a *.sh script or a *.c\n"
    "file. A plug-in that does not load is listed with its error.\n"
    "show: one reproducer with its kind, model (once: its exit code is the verdict;\n"
    "iterations: a fresh exec per iteration), where it runs, its parameters and defaults, and\n"
    "for a plug-in its source and sha256. The spec is what `pvlab run --repro` takes.\n"
    "\n"
    "Plug-in exit codes: 0 pass, 1 fail, 125 untestable (skip); XTF's 0 success, 3 skip,\n"
    "4 error (infra), 5 failure, 6 crash (infra). See docs/reproducers.md.\n"
    "\n"
    "Exit status: 0; 2 on usage errors; 3 when show cannot load the plug-in.\n";

static void builtin_json(struct jw *w, const struct repro_info *r)
{
    jw_obj(w);
    jw_kv_s(w, "name", r->name);
    jw_kv_s(w, "summary", r->summary);
    jw_kv_s(w, "kind", "built-in");
    jw_kv_s(w, "model", r->model);
    jw_kv_s(w, "runs_in", "both");
    jw_kv_s(w, "params", r->params);
    jw_kv_bool(w, "self_test_only", r->self_test_only);
    jw_end(w);
}

static void builtin_human(const struct repro_info *r, int long_form)
{
    if (!long_form) {
        printf("  %-22s built-in  %-10s %s\n", r->name, r->model, r->summary);
        return;
    }
    printf("name:     %s\nkind:     built-in\nmodel:    %s\nruns in:  dom0 and domUs\n"
           "summary:  %s\noptions:  %s\n",
           r->name, r->model, r->summary, *r->params ? r->params : "(none)");
}

static void plugin_human(const struct plugin *p, int long_form)
{
    const char *in = plugin_runs_in_name(p);
    const char *where = !strcmp(in, "both") ? "dom0 and domUs" : !strcmp(in, "domu") ? "domUs" : in;
    if (!long_form) {
        printf("  %-22s %-9s %-10s %s\n    --repro %s\n", p->name,
               p->kind == PLUGIN_KIND_C ? "c" : "script", p->once ? "once" : "iterations",
               p->summary, p->spec);
        return;
    }
    printf("name:     %s\nkind:     %s\nmodel:    %s\nruns in:  %s\nsummary:  %s\n"
           "spec:     %s\nsource:   %s\nsha256:   %s\n",
           p->name,
           p->kind == PLUGIN_KIND_C ? "c (compiled static by pvlab)" : "script (busybox sh)",
           p->once ? "once (its exit code is the verdict)" : "iterations (a fresh exec each)",
           where, p->summary, p->spec, p->source, p->source_sha);
    if (p->manifest_path)
        printf("manifest: %s\n", p->manifest_path);
    printf("params:  %s\n", p->n_params ? "" : " (none)");
    for (size_t i = 0; i < p->n_params; i++)
        printf("  --%s=%s\n", p->params[i].name, p->params[i].def);
}

/* The plug-in specs in dir, sorted: subdirectories with repro.conf, *.sh, *.c. */
static void scan_dir(const char *dir, struct sv *specs)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);

    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        size_t len = strlen(nm);
        char *path = xasprintf("%s/%s", dir, nm);
        char *conf = xasprintf("%s/repro.conf", path);
        if (nm[0] != '.' && fs_is_dir(path) && fs_exists(conf))
            sv_pushf(specs, "script:%s", path);
        else if (len > 3 && !strcmp(nm + len - 3, ".sh"))
            sv_pushf(specs, "script:%s", path);
        else if (len > 2 && !strcmp(nm + len - 2, ".c"))
            sv_pushf(specs, "c:%s", path);
        free(path);
        free(conf);
        free(ents[i]);
    }
    free(ents);
}

static int do_list(struct cli *c, int argc, char **argv)
{
    size_t nb;
    const struct repro_info *b = repro_table(&nb);
    struct sv dirs = SV_INIT, specs = SV_INIT;
    struct buf out = BUF_INIT;
    struct jw w;

    for (int i = optind + 1; i < argc; i++)
        sv_push(&dirs, argv[i]);
    if (!dirs.n)
        sv_push(&dirs, DEFAULT_REPRO_DIR);
    for (size_t i = 0; i < dirs.n; i++) {
        if (!fs_is_dir(dirs.v[i])) {
            fprintf(stderr,
                    "pvlab: error: %s is not a directory\nhint: pvlab repro list [DIR...] "
                    "takes directories of plug-ins\n",
                    dirs.v[i]);
            sv_clear(&dirs);
            return EXIT_USAGE;
        }
        scan_dir(dirs.v[i], &specs);
    }
    jw_init(&w, &out);
    if (c->json)
        jw_arr(&w);
    else
        printf("built-in:\n");
    for (size_t i = 0; i < nb; i++)
        if (c->json)
            builtin_json(&w, &b[i]);
        else
            builtin_human(&b[i], 0);
    if (!c->json)
        printf("plug-ins (%s):\n", specs.n ? "pvlab repro show SPEC for details" : "none found");
    for (size_t i = 0; i < specs.n; i++) {
        struct plugin p;
        struct err e = ERR_INIT;
        if (plugin_load(specs.v[i], &p, &e) < 0) {
            if (c->json) {
                jw_obj(&w);
                jw_kv_s(&w, "spec", specs.v[i]);
                jw_kv_s(&w, "error", e.msg);
                jw_end(&w);
            } else {
                printf("  %s: does not load: %s\n", specs.v[i], e.msg);
            }
            continue;
        }
        if (c->json)
            plugin_describe_json(&p, &w);
        else
            plugin_human(&p, 0);
        plugin_free(&p);
    }
    if (c->json) {
        jw_end(&w);
        printf("%s\n", out.data);
    }
    buf_release(&out);
    sv_clear(&dirs);
    sv_clear(&specs);
    return 0;
}

static int do_show(struct cli *c, const char *name)
{
    const struct repro_info *r = repro_find(name);
    struct buf out = BUF_INIT;
    struct err e = ERR_INIT;
    struct plugin p;
    struct jw w;

    jw_init(&w, &out);
    if (r) {
        if (c->json)
            builtin_json(&w, r);
        else
            builtin_human(r, 1);
    } else if (!plugin_is_spec(name)) {
        struct buf names = BUF_INIT;
        repro_names(&names);
        fprintf(stderr,
                "pvlab: error: unknown reproducer '%s'\nhint: built-ins: %s; a plug-in "
                "is script:PATH or c:PATH (pvlab repro list)\n",
                name, names.data);
        buf_release(&names);
        return EXIT_USAGE;
    } else if (plugin_load(name, &p, &e) < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    } else {
        if (c->json)
            plugin_describe_json(&p, &w);
        else
            plugin_human(&p, 1);
        plugin_free(&p);
    }
    if (c->json)
        printf("%s\n", out.data);
    buf_release(&out);
    return 0;
}

int cmd_repro(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *sub;
    int opt;

    while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (opt) {
        case 'j': c->json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    sub = argv[optind];
    /* options may follow the subcommand too */
    {
        int k = optind + 1, out = optind + 1;
        for (; k < argc; k++)
            if (!strcmp(argv[k], "--json"))
                c->json = 1;
            else
                argv[out++] = argv[k];
        argc = out;
    }
    if (!strcmp(sub, "list"))
        return do_list(c, argc, argv);
    if (!strcmp(sub, "show")) {
        if (argc != optind + 2) {
            fprintf(stderr, "pvlab: error: repro show takes one reproducer\n%s", usage);
            return EXIT_USAGE;
        }
        return do_show(c, argv[optind + 1]);
    }
    fprintf(stderr, "pvlab: error: unknown repro command '%s' (list, show)\n", sub);
    return EXIT_USAGE;
}
