# Xen hypervisor fragment for `--debug` builds (format: see linux-dom0.frag).
CONFIG_DEBUG=y                          @ 4.8-
CONFIG_PV=y                             @ 4.11-
