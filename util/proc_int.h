/* util/proc internals shared by proc.c (starting children) and proc_loop.c (waiting for them). */
#ifndef PVLAB_UTIL_PROC_INT_H
#define PVLAB_UTIL_PROC_INT_H

#include <stddef.h>

#include "util/proc.h"

/* Appends stderr bytes to p's ring, which keeps the newest PROC_ERR_TAIL of them. */
void proc_err_ring_add(struct proc *p, const char *data, size_t n);
/* The read end of the pipe proc_interrupt() writes to (made on first use), or -1. */
int proc_intr_fd(void);
/* Empties the interrupt pipe (the flag stays: proc_interrupted()). */
void proc_intr_drain(void);

#endif
