#include "reporter/dash_svg.h"

#include <math.h>

#include "reporter/dash_html.h"

static double px(size_t i, size_t n)
{
    double w = SVG_W - SVG_ML - SVG_MR;
    return n <= 1 ? SVG_ML + w / 2 : SVG_ML + (double)i * w / (double)(n - 1);
}

static double py(double p)
{
    if (p < 0)
        p = 0;
    if (p > 1)
        p = 1;
    return SVG_MT + (1 - p) * (SVG_H - SVG_MT - SVG_MB);
}

/* Grid lines and labels of the P axis, and the first and last trial numbers. */
static void axes(struct buf *out, const long long *seq, size_t n)
{
    for (int k = 0; k <= 4; k++) {
        double y = py(k / 4.0);
        buf_addf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e1e5ea\"/>",
                 SVG_ML, y, SVG_W - SVG_MR, y);
        buf_addf(out,
                 "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\" "
                 "fill=\"#5b6670\">%.2f</text>",
                 SVG_ML - 6, y + 4, k / 4.0);
    }
    if (n > 0) {
        buf_addf(out,
                 "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\" "
                 "fill=\"#5b6670\">%lld</text>",
                 px(0, n), SVG_H - SVG_MB + 16, seq ? seq[0] : 1LL);
        if (n > 1)
            buf_addf(out,
                     "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\" "
                     "fill=\"#5b6670\">%lld</text>",
                     px(n - 1, n), SVG_H - SVG_MB + 16, seq ? seq[n - 1] : (long long)n);
    }
    buf_addf(out,
             "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\" "
             "fill=\"#5b6670\">trial</text>",
             (SVG_W + SVG_ML - SVG_MR) / 2, SVG_H - 4);
}

void svg_prob_chart(struct buf *out, const double *p, const long long *seq, size_t n, double level,
                    const char *title)
{
    int first = 1;

    buf_addf(out,
             "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
             "role=\"img\" class=\"probchart\"><title>",
             SVG_W, SVG_H);
    html_esc(out, title);
    buf_adds(out, "</title>");
    axes(out, seq, n);
    if (level > 0 && level <= 1)
        buf_addf(out,
                 "<line class=\"level\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                 "stroke=\"#c62828\" stroke-dasharray=\"5 4\"/>",
                 SVG_ML, py(level), SVG_W - SVG_MR, py(level));
    buf_adds(out, "<polyline fill=\"none\" stroke=\"#0b5cad\" stroke-width=\"2\" points=\"");
    for (size_t i = 0; i < n; i++) {
        if (isnan(p[i]))
            continue;
        buf_addf(out, "%s%.1f,%.1f", first ? "" : " ", px(i, n), py(p[i]));
        first = 0;
    }
    buf_adds(out, "\"/>");
    for (size_t i = 0; i < n; i++) {
        if (isnan(p[i]))
            continue;
        buf_addf(out,
                 "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#0b5cad\"><title>trial "
                 "%lld: P = %.3f</title></circle>",
                 px(i, n), py(p[i]), seq ? seq[i] : (long long)i + 1,
                 p[i] < 0   ? 0
                 : p[i] > 1 ? 1
                            : p[i]);
    }
    buf_adds(out, "</svg>");
}
