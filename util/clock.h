/* Wall-clock timestamps as the store and the reports write them. */
#ifndef PVLAB_UTIL_CLOCK_H
#define PVLAB_UTIL_CLOCK_H

/* Now as ISO-8601 UTC ("2026-01-31T12:00:00Z"), malloc'd; the caller frees it. */
char *clock_iso_now(void);

#endif
