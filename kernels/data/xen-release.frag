# Xen hypervisor fragment for release builds (format: see linux-dom0.frag).
# CONFIG_DEBUG is not set                @ 4.8-
CONFIG_PV=y                             @ 4.11-
