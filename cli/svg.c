/* svg.c - the speedup plot (see svg.h). */
#include "svg.h"

#include <math.h>
#include <stdio.h>

/* Plot geometry in SVG user units. */
#define WIDTH 640.0
#define HEIGHT 440.0
#define LEFT 60.0
#define RIGHT 20.0
#define TOP 40.0
#define BOTTOM 50.0
#define CURVE_STEPS 120

typedef struct frame {
    double xmax, ymax;    /* data ranges: workers 0..xmax, speedup 0..ymax */
} frame;

static double px(const frame *f, double workers)
{
    return LEFT + workers / f->xmax * (WIDTH - LEFT - RIGHT);
}

static double py(const frame *f, double speedup)
{
    return HEIGHT - BOTTOM - speedup / f->ymax * (HEIGHT - TOP - BOTTOM);
}

static void add_escaped(strbuf *out, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '&': sb_adds(out, "&amp;"); break;
        case '<': sb_adds(out, "&lt;"); break;
        case '>': sb_adds(out, "&gt;"); break;
        case '"': sb_adds(out, "&quot;"); break;
        default:
            /* Control characters are not allowed in XML 1.0 text. */
            sb_addc(out, (unsigned char)*s < 0x20 ? ' ' : *s);
        }
}

/* A tick step of 1, 2 or 5 times a power of ten giving at most ~8 ticks. */
static double tick_step(double range)
{
    double raw = range / 8, mag = pow(10, floor(log10(raw)));
    double steps[3] = { 1, 2, 5 };
    for (int i = 0; i < 3; i++)
        if (steps[i] * mag >= raw)
            return fmax(steps[i] * mag, 1);
    return fmax(10 * mag, 1);
}

static void axes(strbuf *out, const frame *f)
{
    double x0 = px(f, 0), y0 = py(f, 0), x1 = px(f, f->xmax), y1 = py(f, f->ymax);
    sb_addf(out, "<g class=\"axes\" stroke=\"#444\" fill=\"none\">\n"
                 "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n"
                 "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n</g>\n",
            x0, y0, x1, y0, x0, y0, x0, y1);
    sb_adds(out, "<g class=\"ticks\" font-size=\"11\" fill=\"#444\">\n");
    double xs = tick_step(f->xmax), ys = tick_step(f->ymax);
    for (double k = 0; k <= f->xmax + 1e-9; k += xs)
        sb_addf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px(f, k), y0 + 16, k);
    for (double s = 0; s <= f->ymax + 1e-9; s += ys)
        sb_addf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", x0 - 6, py(f, s) + 4, s);
    sb_addf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">workers</text>\n",
            (x0 + x1) / 2, HEIGHT - 12);
    sb_addf(out, "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" "
                 "transform=\"rotate(-90 16 %.1f)\">speedup</text>\n</g>\n",
            (y0 + y1) / 2, (y0 + y1) / 2);
}

static void ideal_line(strbuf *out, const frame *f)
{
    double k = fmin(f->xmax, f->ymax);
    sb_addf(out, "<line class=\"ideal\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
                 "stroke-dasharray=\"6 4\"/>\n",
            px(f, 0), py(f, 0), px(f, k), py(f, k));
}

static void amdahl_curve(strbuf *out, const frame *f, const amdahl_fit *a)
{
    sb_adds(out, "<polyline class=\"amdahl\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"");
    for (int i = 0; i <= CURVE_STEPS; i++) {
        double k = 1 + (f->xmax - 1) * i / CURVE_STEPS;
        sb_addf(out, "%s%.1f,%.1f", i ? " " : "", px(f, k), py(f, amdahl_speedup(a->serial, k)));
    }
    sb_adds(out, "\"/>\n");
}

static void points(strbuf *out, const frame *f, const svg_point *p, size_t n)
{
    sb_adds(out, "<g class=\"measured\" stroke=\"#1f77b4\" fill=\"#1f77b4\">\n");
    for (size_t i = 0; i < n; i++) {
        double x = px(f, p[i].workers);
        sb_addf(out, "<line class=\"range\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x,
                py(f, p[i].low), x, py(f, p[i].high));
        sb_addf(out, "<circle class=\"point\" data-workers=\"%g\" data-speedup=\"%.4f\" data-low=\"%.4f\" "
                     "data-high=\"%.4f\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"/>\n",
                p[i].workers, p[i].speedup, p[i].low, p[i].high, x, py(f, p[i].speedup));
    }
    sb_adds(out, "</g>\n");
}

static void legend(strbuf *out, const amdahl_fit *a)
{
    double x = LEFT + 16, y = TOP + 8;
    sb_adds(out, "<g class=\"legend\" font-size=\"12\">\n");
    sb_addf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f77b4\"/>"
                 "<text x=\"%.1f\" y=\"%.1f\">measured: median, min-max bars</text>\n",
            x, y, x + 14, y + 4);
    sb_addf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"6 4\"/>"
                 "<text x=\"%.1f\" y=\"%.1f\">ideal (speedup = workers)</text>\n",
            x - 6, y + 18, x + 6, y + 18, x + 14, y + 22);
    if (a && a->ok) {
        char ceiling[32];
        if (isinf(a->ceiling))
            snprintf(ceiling, sizeof ceiling, "none");
        else
            snprintf(ceiling, sizeof ceiling, "%.2fx", a->ceiling);
        sb_addf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" stroke-width=\"2\"/>"
                     "<text x=\"%.1f\" y=\"%.1f\">Amdahl fit: serial fraction s = %.3f, ceiling 1/s = %s</text>\n",
                x - 6, y + 36, x + 6, y + 36, x + 14, y + 40, a->serial, ceiling);
    }
    sb_adds(out, "</g>\n");
}

int svg_speedup_plot(strbuf *out, const char *title, const svg_point *p, size_t n, const amdahl_fit *a)
{
    frame f = { 1, 1 };
    for (size_t i = 0; i < n; i++) {
        f.xmax = fmax(f.xmax, p[i].workers);
        f.ymax = fmax(f.ymax, fmax(p[i].high, p[i].speedup));
    }
    f.ymax = fmax(f.ymax, f.xmax) * 1.05;
    f.xmax *= 1.05;
    sb_addf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                 "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
                 "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            WIDTH, HEIGHT, WIDTH, HEIGHT);
    sb_addf(out, "<text class=\"title\" x=\"%.1f\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">speedup: ",
            WIDTH / 2);
    add_escaped(out, title);
    sb_adds(out, "</text>\n");
    axes(out, &f);
    ideal_line(out, &f);
    if (a && a->ok)
        amdahl_curve(out, &f, a);
    points(out, &f, p, n);
    legend(out, a);
    sb_adds(out, "</svg>\n");
    return out->failed ? -1 : 0;
}
