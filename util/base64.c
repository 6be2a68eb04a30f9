#include "util/base64.h"

#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void b64_encode(const void *data, size_t len, struct buf *out)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        size_t n = len - i < 3 ? len - i : 3;
        if (n > 1)
            v |= (unsigned)p[i + 1] << 8;
        if (n > 2)
            v |= p[i + 2];
        buf_addch(out, alphabet[(v >> 18) & 63]);
        buf_addch(out, alphabet[(v >> 12) & 63]);
        buf_addch(out, n > 1 ? alphabet[(v >> 6) & 63] : '=');
        buf_addch(out, n > 2 ? alphabet[v & 63] : '=');
    }
}

int b64_decode(const char *text, struct buf *out)
{
    size_t len = strlen(text);

    if (len % 4)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        unsigned v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *c = text[i + k] == '=' ? NULL : strchr(alphabet, text[i + k]);
            if (text[i + k] == '=') {
                if (i + 4 != len || k < 2)
                    return -1;
                pad++;
            } else if (!c || !text[i + k] || pad) {
                return -1;
            }
            v = v << 6 | (c ? (unsigned)(c - alphabet) : 0);
        }
        buf_addch(out, (int)(v >> 16 & 255));
        if (pad < 2)
            buf_addch(out, (int)(v >> 8 & 255));
        if (pad < 1)
            buf_addch(out, (int)(v & 255));
    }
    return 0;
}
