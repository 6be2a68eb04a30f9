#include "util/clock.h"

#include <time.h>

#include "util/xalloc.h"

char *clock_iso_now(void)
{
    char tmp[32];
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return xstrdup(tmp);
}
