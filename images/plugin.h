/*
 * Reproducer plug-ins: a user's check that runs in the guest like a built-in reproducer
 * (docs/reproducers.md, "Plug-ins").
 *
 *   --repro script:FILE   a shell script, run by the guest's busybox sh
 *   --repro c:FILE        a C file, compiled static by pvlab (cached by source and compiler)
 *   --repro script:DIR    a directory with a manifest, repro.conf (c:DIR alike; its kind wins):
 *                           name = avx-visible      summary = one line
 *                           kind = script | c       file = avx-visible.sh
 *                           model = once | iterations
 *                           runs-in = dom0 | domu | both
 *                           [params]                threads = 4   (NAME = default)
 *
 * A single file is a plug-in named after it (without the extension), model once, runs-in both,
 * no parameters. The plug-in travels in the trial's initramfs under /pvlab/repro with a small
 * manifest for the guest (images/guest/pvlab-init.c reads it); pvlab.repro=plugin on the guest
 * command line selects it. Parameters reach it as --NAME=VALUE words, then the run's
 * --repro-args words. Exit codes: guest.h, plugin_outcome.
 */
#ifndef PVLAB_IMAGES_PLUGIN_H
#define PVLAB_IMAGES_PLUGIN_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/json.h"
#include "util/sha256.h"

enum plugin_kind { PLUGIN_KIND_SCRIPT, PLUGIN_KIND_C };
enum { PLUGIN_IN_DOM0 = 1, PLUGIN_IN_DOMU = 2 };

struct plugin_param {
    char *name, *def;
};

struct plugin {
    char *spec; /* canonical: "script:/abs/path" */
    char *name;
    char *summary;
    enum plugin_kind kind;
    int once;            /* model once (1) or iterations (0) */
    int runs_in;         /* PLUGIN_IN_DOM0 | PLUGIN_IN_DOMU */
    char *source;        /* absolute path of the script or the C file */
    char *manifest_path; /* absolute path of repro.conf, or NULL */
    struct plugin_param *params;
    size_t n_params;
    char source_sha[SHA256_HEX_LEN + 1];
    char *program; /* what the guest runs: the script, or the compiled binary (plugin_build) */
    int compiled;  /* plugin_build compiled it now (0: from the cache, or a script) */
};

/* 1 when the --repro value names a plug-in ("script:..." or "c:..."). */
int plugin_is_spec(const char *repro);
/*
 * The spec with its path made absolute (malloc'd), so that trials in other directories and a
 * resumed bisection find the same file; NULL with e set when the path does not exist.
 */
char *plugin_spec_canonical(const char *spec, struct err *e);
/*
 * Reads the spec, its manifest and its source, and checks them without compiling: file and
 * manifest errors (file:line), a name that a built-in has, a script the guest's shell cannot
 * run (another interpreter on its #! line, a syntax error under busybox sh -n with busybox the
 * initramfs carries). Returns 0, or -1 with e (ERR_USAGE / ERR_NOTFOUND / ERR_CONFIG).
 */
int plugin_load(const char *spec, struct plugin *p, struct err *e);
/*
 * Makes p->program: the script itself, or the C file compiled by gcc -static into
 * <cache_dir>/repro/<key>/<name>, key = sha256 of the source, the flags and the compiler's
 * version (an entry is reused; p->compiled says whether it was built now). A compile error is
 * ERR_USAGE with the compiler's message. Blocks while gcc runs.
 */
int plugin_build(struct plugin *p, const char *cache_dir, struct err *e);
/*
 * The guest manifest (/pvlab/repro/manifest): name, kind, model, then an "arg" line per word:
 * each parameter as --NAME=VALUE, then the words of args (split on blanks; may be NULL).
 * Returns -1 with e (ERR_USAGE) for a word the guest cannot take (too long, too many).
 */
int plugin_guest_manifest(const struct plugin *p, const char *args, struct buf *out, struct err *e);
/* "dom0", "domu" or "both": where it may run (its manifest's runs-in). */
const char *plugin_runs_in_name(const struct plugin *p);
/* Writes the plug-in as one JSON object (name, kind, model, runs_in, source, sha256, params). */
void plugin_describe_json(const struct plugin *p, struct jw *w);
void plugin_free(struct plugin *p);

#endif
