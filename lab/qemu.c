#include "lab/qemu.h"

#include <string.h>

/* QEMU's option parser splits on ',', and ",," stands for a literal comma. */
static void add_escaped(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == ',')
            buf_addch(b, ',');
        buf_addch(b, *s);
    }
}

static int check_path(const char *what, const char *path, struct err *e)
{
    if (!path || !*path) {
        err_set(e, ERR_INTERNAL, "no %s given", what);
        return -1;
    }
    if (strpbrk(path, " \t\n")) {
        err_set(e, ERR_USAGE,
                "%s path '%s' contains whitespace, which QEMU's multiboot module list cannot "
                "carry; move it (or set cache_dir) to a path without spaces",
                what, path);
        return -1;
    }
    return 0;
}

int qemu_check_cfg(const struct qemu_cfg *cfg, struct err *e)
{
    if (check_path("Xen image", cfg->xen_path, e) < 0 ||
        check_path("dom0 kernel", cfg->dom0_path, e) < 0 ||
        check_path("initramfs", cfg->initrd_path, e) < 0 ||
        check_path("serial log", cfg->serial_log, e) < 0)
        return -1;
    if (strchr(cfg->serial_log, ',')) {
        err_set(e, ERR_USAGE, "serial log path '%s' contains a comma; set state_dir elsewhere",
                cfg->serial_log);
        return -1;
    }
    if (cfg->incoming && strpbrk(cfg->incoming, " \t\n'\"\\$`;&|<>(){}*?,")) {
        err_set(e, ERR_USAGE,
                "snapshot path '%s' has characters QEMU's exec: migration cannot "
                "carry; set cache_dir elsewhere",
                cfg->incoming);
        return -1;
    }
    return 0;
}

void qemu_modules(const struct qemu_cfg *cfg, struct buf *out)
{
    add_escaped(out, cfg->dom0_path);
    if (cfg->dom0_cmdline && *cfg->dom0_cmdline) {
        buf_addch(out, ' ');
        add_escaped(out, cfg->dom0_cmdline);
    }
    buf_addch(out, ',');
    add_escaped(out, cfg->initrd_path);
}

int qemu_build_argv(const struct qemu_cfg *cfg, struct sv *argv, struct err *e)
{
    struct buf mods = BUF_INIT;
    int rc = -1;

    if (qemu_check_cfg(cfg, e) < 0)
        goto out;
    sv_push(argv, cfg->binary);
    sv_push(argv, "-machine");
    sv_push(argv, cfg->machine);
    sv_push(argv, "-accel");
    sv_push(argv, cfg->accel);
    sv_push(argv, "-cpu");
    sv_push(argv, cfg->cpu);
    sv_push(argv, "-m");
    sv_pushf(argv, "%d", cfg->memory_mb);
    sv_push(argv, "-smp");
    sv_pushf(argv, "%d", cfg->smp);
    /* no default devices, no display, no monitor: the serial port is the only way out */
    sv_push(argv, "-nodefaults");
    sv_push(argv, "-no-user-config");
    sv_push(argv, "-display");
    sv_push(argv, "none");
    sv_push(argv, "-monitor");
    sv_push(argv, "none");
    if (cfg->console_sock) {
        sv_push(argv, "-chardev");
        /* appended: a restored trial's log starts with the boot its snapshot was saved from */
        sv_pushf(argv, "socket,id=pvlabcon,path=%s,server=on,wait=off,logfile=%s,logappend=on",
                 cfg->console_sock, cfg->serial_log);
        sv_push(argv, "-serial");
        sv_push(argv, "chardev:pvlabcon");
    } else {
        sv_push(argv, "-serial");
        sv_pushf(argv, "file:%s", cfg->serial_log);
    }
    if (cfg->qmp_sock) {
        sv_push(argv, "-qmp");
        sv_pushf(argv, "unix:%s,server=on,wait=off", cfg->qmp_sock);
    }
    if (cfg->incoming) { /* QEMU's exec: runs the command with /bin/sh */
        sv_push(argv, "-incoming");
        sv_pushf(argv, "exec:cat %s", cfg->incoming);
    }
    /* Xen reboots the machine when dom0 powers off or crashes: make that an exit */
    sv_push(argv, "-no-reboot");
    sv_push(argv, "-kernel");
    sv_push(argv, cfg->xen_path);
    sv_push(argv, "-append");
    sv_push(argv, cfg->xen_cmdline);
    qemu_modules(cfg, &mods);
    sv_push(argv, "-initrd");
    sv_push(argv, mods.data);
    rc = 0;
out:
    buf_release(&mods);
    return rc;
}

int qemu_build_probe_argv(const char *binary, const char *machine, const char *accel,
                          const char *cpu, const char *image, struct sv *argv, struct err *e)
{
    if (check_path("probe image", image, e) < 0)
        return -1;
    sv_push(argv, binary);
    sv_push(argv, "-machine");
    sv_push(argv, machine);
    sv_push(argv, "-accel");
    sv_push(argv, accel);
    sv_push(argv, "-cpu");
    sv_push(argv, cpu);
    sv_push(argv, "-m");
    sv_push(argv, "64");
    sv_push(argv, "-smp");
    sv_push(argv, "1");
    sv_push(argv, "-nodefaults");
    sv_push(argv, "-no-user-config");
    sv_push(argv, "-display");
    sv_push(argv, "none");
    sv_push(argv, "-monitor");
    sv_push(argv, "none");
    sv_push(argv, "-serial");
    sv_push(argv, "stdio");
    /* the probe writes to port 0xf4 when done: QEMU exits with status 1 at once */
    sv_push(argv, "-device");
    sv_push(argv, "isa-debug-exit,iobase=0xf4,iosize=0x04");
    sv_push(argv, "-no-reboot");
    sv_push(argv, "-kernel");
    sv_push(argv, image);
    return 0;
}

void qemu_shell_quote(struct buf *out, char *const *argv)
{
    for (size_t i = 0; argv[i]; i++) {
        const char *a = argv[i];
        if (i)
            buf_addch(out, ' ');
        if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            "-_./=:,+@%") == strlen(a)) {
            buf_adds(out, a);
            continue;
        }
        buf_addch(out, '\'');
        for (; *a; a++) {
            if (*a == '\'')
                buf_adds(out, "'\\''");
            else
                buf_addch(out, *a);
        }
        buf_addch(out, '\'');
    }
}
