/* util/proc internals that only tests need. */
#ifndef PVLAB_UTIL_PROC_PRIV_H
#define PVLAB_UTIL_PROC_PRIV_H

/* Forgets a proc_interrupt(), so a test binary can go on running children after one. */
void proc_interrupt_reset(void);

#endif
