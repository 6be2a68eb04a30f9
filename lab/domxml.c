#include "lab/domxml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sv.h"

void domxml_escape(struct buf *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': buf_adds(out, "&amp;"); break;
        case '<': buf_adds(out, "&lt;"); break;
        case '>': buf_adds(out, "&gt;"); break;
        case '\'': buf_adds(out, "&apos;"); break;
        case '"': buf_adds(out, "&quot;"); break;
        default: buf_addch(out, *s);
        }
    }
}

/* "<tag>escaped text</tag>\n" indented by ind spaces. */
static void element(struct buf *out, int ind, const char *tag, const char *text)
{
    buf_addf(out, "%*s<%s>", ind, "", tag);
    domxml_escape(out, text);
    buf_addf(out, "</%s>\n", tag);
}

/* QEMU's -cpu "MODEL,+feat,-feat,feat=on|off" as libvirt's <cpu>. */
static void cpu_element(struct buf *out, const char *cpu)
{
    struct sv w = SV_INIT;

    sv_split(&w, cpu, ",");
    if (!w.n) {
        sv_clear(&w);
        return;
    }
    if (!strcmp(w.v[0], "max"))
        buf_adds(out, "  <cpu mode='maximum' check='none'>\n");
    else if (!strcmp(w.v[0], "host"))
        buf_adds(out, "  <cpu mode='host-passthrough' check='none'>\n");
    else {
        buf_adds(out, "  <cpu mode='custom' match='exact' check='none'>\n");
        buf_adds(out, "    <model fallback='forbid'>");
        domxml_escape(out, w.v[0]);
        buf_adds(out, "</model>\n");
    }
    for (size_t i = 1; i < w.n; i++) {
        const char *f = w.v[i], *eq = strchr(f, '=');
        int on = 1;
        char name[64];
        if (*f == '+' || *f == '-') {
            on = *f == '+';
            snprintf(name, sizeof(name), "%s", f + 1);
        } else if (eq) {
            on = !strcmp(eq + 1, "on");
            snprintf(name, sizeof(name), "%.*s", (int)(eq - f), f);
        } else {
            snprintf(name, sizeof(name), "%s", f);
        }
        buf_addf(out, "    <feature policy='%s' name='", on ? "require" : "disable");
        domxml_escape(out, name);
        buf_adds(out, "'/>\n");
    }
    buf_adds(out, "  </cpu>\n");
    sv_clear(&w);
}

int domxml_build(const struct qemu_cfg *cfg, const struct domxml_owner *o, struct buf *out,
                 struct err *e)
{
    struct buf mods = BUF_INIT;

    if (qemu_check_cfg(cfg, e) < 0)
        return -1;
    qemu_modules(cfg, &mods);
    buf_addf(out, "<domain type='%s'>\n", !strcmp(cfg->accel, "kvm") ? "kvm" : "qemu");
    element(out, 2, "name", o->name);
    buf_addf(out, "  <metadata>\n    <pvlab:trial xmlns:pvlab='" DOMXML_NS "' pid='%ld' host='",
             o->pid);
    domxml_escape(out, o->host);
    buf_adds(out, "' started='");
    domxml_escape(out, o->started);
    buf_adds(out, "'/>\n  </metadata>\n");
    buf_addf(out, "  <memory unit='MiB'>%d</memory>\n", cfg->memory_mb);
    buf_addf(out, "  <vcpu>%d</vcpu>\n", cfg->smp);
    buf_adds(out, "  <os>\n    <type arch='x86_64' machine='");
    domxml_escape(out, cfg->machine);
    buf_adds(out, "'>hvm</type>\n");
    element(out, 4, "kernel", cfg->xen_path);
    element(out, 4, "initrd", mods.data);
    element(out, 4, "cmdline", cfg->xen_cmdline);
    buf_adds(out, "  </os>\n");
    cpu_element(out, cfg->cpu);
    buf_adds(out, "  <on_poweroff>destroy</on_poweroff>\n"
                  "  <on_reboot>destroy</on_reboot>\n"
                  "  <on_crash>destroy</on_crash>\n"
                  "  <devices>\n");
    element(out, 4, "emulator", cfg->binary);
    buf_adds(out, "    <serial type='file'>\n      <source path='");
    domxml_escape(out, cfg->serial_log);
    buf_adds(out, "'/>\n      <target port='0'/>\n    </serial>\n"
                  "    <controller type='usb' model='none'/>\n"
                  "    <memballoon model='none'/>\n"
                  "  </devices>\n"
                  "  <seclabel type='static' model='dac' relabel='no'>\n"
                  "    <label>+0:+0</label>\n"
                  "  </seclabel>\n"
                  "</domain>\n");
    buf_release(&mods);
    return 0;
}

/* The value of attr='...' (or "...") in s, copied into out (n bytes); 0 when found. */
static int attr(const char *s, const char *name, char *out, size_t n)
{
    char key[32];
    const char *p;

    snprintf(key, sizeof(key), " %s=", name);
    p = strstr(s, key);
    if (!p)
        return -1;
    p += strlen(key);
    if (*p != '\'' && *p != '"')
        return -1;
    {
        char q = *p++;
        const char *end = strchr(p, q);
        if (!end || (size_t)(end - p) >= n)
            return -1;
        memcpy(out, p, (size_t)(end - p));
        out[end - p] = '\0';
    }
    return 0;
}

int domxml_parse_owner(const char *meta, long *pid_r, char *host, size_t n)
{
    char pid[32];
    char *end;

    if (!meta || !strstr(meta, "trial") || attr(meta, "pid", pid, sizeof(pid)) < 0 ||
        attr(meta, "host", host, n) < 0)
        return -1;
    *pid_r = strtol(pid, &end, 10);
    return *end || *pid_r <= 0 ? -1 : 0;
}
