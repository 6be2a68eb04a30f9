/* The Debian versions pvlab knows how to fetch: data only. */
#include <string.h>

#include "kernels/kernels_priv.h"

/*
 * Xen: the hypervisor package of the suite and the gzip'd multiboot image inside it.
 * Linux: the suite's linux-image-amd64 metapackage; its Depends names the ABI-versioned package
 * (linux-image-6.1.0-41-amd64, linux-image-6.12.118+deb13-amd64), which changes with point
 * and security releases, so the exact package is looked up at resolve time.
 */
const struct debian_entry debian_table[] = {
    { ARTIFACT_XEN, "4.14", "bullseye", "xen-hypervisor-4.14-amd64", "./boot/xen-4.14-amd64.gz" },
    { ARTIFACT_XEN, "4.17", "bookworm", "xen-hypervisor-4.17-amd64", "./boot/xen-4.17-amd64.gz" },
    { ARTIFACT_XEN, "4.20", "trixie", "xen-hypervisor-4.20-amd64", "./boot/xen-4.20-amd64.gz" },
    { ARTIFACT_LINUX, "5.10", "bullseye", "linux-image-amd64", NULL },
    { ARTIFACT_LINUX, "6.1", "bookworm", "linux-image-amd64", NULL },
    { ARTIFACT_LINUX, "6.12", "trixie", "linux-image-amd64", NULL },
};
const size_t debian_table_len = sizeof(debian_table) / sizeof(debian_table[0]);

const struct debian_entry *debian_table_find(enum artifact_kind kind, const char *version)
{
    for (size_t i = 0; i < debian_table_len; i++)
        if (debian_table[i].kind == kind && !strcmp(debian_table[i].version, version))
            return &debian_table[i];
    return NULL;
}
