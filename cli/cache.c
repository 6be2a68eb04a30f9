/* pvlab cache: what the artifact cache holds, and removing least recently used entries. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kernels/cache_gc.h"
#include "util/buf.h"
#include "util/json.h"

static const char usage[] =
    "usage: pvlab cache ls [--json]\n"
    "       pvlab cache gc --keep SIZE [--json]\n"
    "\n"
    "ls lists the cache with sizes and last use: artifacts (linux, xen: Debian's, files,\n"
    "builds), build directories (build-obj: persistent per-tree object dirs; build-src:\n"
    "unpacked sources; build-tree: git worktrees), downloaded packages (deb), private apt\n"
    "package lists (apt-lists), initramfs images, build logs, ccache and toolchain chroots.\n"
    "gc removes least recently used artifacts, build directories, .deb files and apt lists\n"
    "(downloaded again when next needed) until the cache is at most SIZE (bytes, or with\n"
    "K/M/G/T suffix: 20G). Toolchain chroots, ccache, initramfs images and build logs are\n"
    "kept, and so is anything another pvlab is using.\n";

/* "20G" -> bytes; -1 when malformed. */
static long long parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    long long mult = 1;

    if (end == s || v < 0)
        return -1;
    switch (*end) {
    case 'K':
    case 'k':
        mult = 1LL << 10;
        end++;
        break;
    case 'M':
    case 'm':
        mult = 1LL << 20;
        end++;
        break;
    case 'G':
    case 'g':
        mult = 1LL << 30;
        end++;
        break;
    case 'T':
    case 't':
        mult = 1LL << 40;
        end++;
        break;
    default: break;
    }
    if (*end == 'B' || *end == 'b' || (*end == 'i' && end[1] == 'B' && end++))
        end++;
    return *end ? -1 : (long long)(v * (double)mult);
}

static void human(long long n, char *out, size_t len)
{
    const char *u[] = { "B", "K", "M", "G", "T" };
    double v = (double)n;
    int i = 0;

    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(out, len, i ? "%.1f%s" : "%.0f%s", v, u[i]);
}

static int cache_ls(struct cli *c, struct err *e)
{
    struct cache_item *v = NULL;
    size_t n = 0;
    long long total = 0;

    if (cache_list(c->cfg.cache_dir, &v, &n, e) < 0)
        return -1;
    if (c->json) {
        struct buf b = BUF_INIT;
        struct jw w;
        jw_init(&w, &b);
        jw_arr(&w);
        for (size_t i = 0; i < n; i++) {
            jw_obj(&w);
            jw_kv_s(&w, "kind", v[i].kind);
            jw_kv_s(&w, "path", v[i].path);
            jw_kv_s(&w, "desc", v[i].desc);
            jw_kv_int(&w, "bytes", v[i].bytes);
            jw_kv_int(&w, "mtime", v[i].mtime);
            jw_kv_bool(&w, "kept_by_gc", v[i].kept);
            jw_end(&w);
        }
        jw_end(&w);
        printf("%s\n", b.data);
        buf_release(&b);
    } else {
        for (size_t i = 0; i < n; i++) {
            char h[32];
            human(v[i].bytes, h, sizeof(h));
            printf("%-10s %8s  %s\n           %s\n", v[i].kind, h, v[i].desc, v[i].path);
            total += v[i].bytes;
        }
        {
            char h[32];
            human(total, h, sizeof(h));
            printf("%zu entries, %s in %s\n", n, h, c->cfg.cache_dir);
        }
    }
    cache_items_free(v, n);
    return 0;
}

int cmd_cache(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "keep", required_argument, NULL, 'k' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct err e = ERR_INIT;
    const char *keep = NULL;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'k': keep = optarg; break;
        case 'j': c->json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || (strcmp(argv[optind], "ls") && strcmp(argv[optind], "gc"))) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (cli_config(c, &e) < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    if (!strcmp(argv[optind], "ls")) {
        if (cache_ls(c, &e) < 0) {
            cli_error(&e);
            return EXIT_ERROR;
        }
        return 0;
    }
    {
        long long bytes = keep ? parse_size(keep) : -1, freed = 0;
        size_t removed = 0;
        char h[32];
        if (bytes < 0) {
            err_set(&e, ERR_USAGE, "cache gc needs --keep SIZE (e.g. 20G), got '%s'",
                    keep ? keep : "");
            cli_error(&e);
            return EXIT_USAGE;
        }
        if (cache_gc(c->cfg.cache_dir, bytes, &freed, &removed, &e) < 0) {
            cli_error(&e);
            return EXIT_ERROR;
        }
        human(freed, h, sizeof(h));
        if (c->json)
            printf("{\"removed\":%zu,\"freed_bytes\":%lld}\n", removed, freed);
        else
            printf("removed %zu entr%s, freed %s\n", removed, removed == 1 ? "y" : "ies", h);
    }
    return 0;
}
