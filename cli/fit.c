/* fit.c - least-squares fits of Amdahl's, Gustafson's and Gunther's laws
 * (see fit.h for the linear forms). */
#include "fit.h"

#include <math.h>

double amdahl_speedup(double serial, double k)
{
    return 1.0 / (serial + (1.0 - serial) / k);
}

static double gustafson_speedup(double serial, double k)
{
    return k - serial * (k - 1.0);
}

double usl_speedup(double sigma, double kappa, double k)
{
    return k / (1.0 + sigma * (k - 1.0) + kappa * k * (k - 1.0));
}

double karp_flatt(double workers, double speedup)
{
    if (!(workers > 1) || !(speedup > 0))
        return NAN;
    return (1.0 / speedup - 1.0 / workers) / (1.0 - 1.0 / workers);
}

/* Points at k = 1 say nothing (S(1) = 1 under every law); a speedup of
 * 0 or less (a run too fast to time) cannot be inverted. */
static int usable(const fit_point *p)
{
    return p->workers > 1 && p->speedup > 0;
}

/* The residuals of a law's speedups over the usable points. */
static fit_residuals residuals(const fit_point *p, size_t n, size_t params, double (*law)(const double *, double),
                               const double *coef)
{
    fit_residuals r = { 0, 0, params, NAN };
    for (size_t i = 0; i < n; i++) {
        if (!usable(&p[i]))
            continue;
        double e = p[i].speedup - law(coef, p[i].workers);
        r.rss += e * e;
        r.points++;
    }
    if (r.points > params)
        r.rse = sqrt(r.rss / (double)(r.points - params));
    return r;
}

/* A law's linear form: the (y, z) of one point, for y = b z. */
typedef void (*linear_form)(const fit_point *p, double *y, double *z);

/* One parameter through the origin, y = b z, over the usable points.
 * Returns how many were used (0: no fit); *b and its standard error *se
 * (NaN with one point). */
static size_t one_param(const fit_point *p, size_t n, linear_form form, double *b, double *se)
{
    double szz = 0, szy = 0, y, z;
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        if (usable(&p[i])) {
            form(&p[i], &y, &z);
            szz += z * z;
            szy += z * y;
            used++;
        }
    if (used == 0 || szz == 0)
        return 0;
    *b = szy / szz;
    double rss = 0;
    for (size_t i = 0; i < n; i++)
        if (usable(&p[i])) {
            form(&p[i], &y, &z);
            rss += (y - *b * z) * (y - *b * z);
        }
    *se = used > 1 ? sqrt(rss / (double)(used - 1) / szz) : NAN;
    return used;
}

static double amdahl_law(const double *c, double k) { return amdahl_speedup(c[0], k); }
static double gustafson_law(const double *c, double k) { return gustafson_speedup(c[0], k); }
static double usl_law(const double *c, double k) { return usl_speedup(c[0], c[1], k); }

static void amdahl_form(const fit_point *p, double *y, double *z)
{
    *y = 1.0 / p->speedup - 1.0 / p->workers;
    *z = 1.0 - 1.0 / p->workers;
}

static void gustafson_form(const fit_point *p, double *y, double *z)
{
    *y = p->workers - p->speedup;
    *z = p->workers - 1.0;
}

amdahl_fit fit_amdahl(const fit_point *p, size_t n)
{
    amdahl_fit f = { 0 };
    if (!one_param(p, n, amdahl_form, &f.serial, &f.stderr_serial))
        return f;
    f.ok = 1;
    f.ceiling = f.serial > 0 ? 1.0 / f.serial : INFINITY;
    f.res = residuals(p, n, 1, amdahl_law, &f.serial);
    return f;
}

gustafson_fit fit_gustafson(const fit_point *p, size_t n)
{
    gustafson_fit f = { 0 };
    if (!one_param(p, n, gustafson_form, &f.serial, &f.stderr_serial))
        return f;
    f.ok = 1;
    f.res = residuals(p, n, 1, gustafson_law, &f.serial);
    return f;
}

/* Two parameters through the origin, y = sigma u + kappa v, by the normal
 * equations. */
usl_fit fit_usl(const fit_point *p, size_t n)
{
    usl_fit f = { 0 };
    double suu = 0, suv = 0, svv = 0, suy = 0, svy = 0;
    for (size_t i = 0; i < n; i++) {
        if (!usable(&p[i]))
            continue;
        double k = p[i].workers;
        double y = k / p[i].speedup - 1.0, u = k - 1.0, v = k * (k - 1.0);
        suu += u * u, suv += u * v, svv += v * v, suy += u * y, svy += v * y;
    }
    double det = suu * svv - suv * suv;
    /* Two distinct k > 1 make the determinant positive; guard rounding. */
    if (!(det > 1e-12 * suu * svv))
        return f;
    f.ok = 1;
    f.sigma = (svv * suy - suv * svy) / det;
    f.kappa = (suu * svy - suv * suy) / det;
    if (f.kappa > 0 && f.sigma < 1) {
        f.peak_workers = sqrt((1.0 - f.sigma) / f.kappa);
        f.peak_speedup = usl_speedup(f.sigma, f.kappa, f.peak_workers);
    } else {
        f.peak_workers = INFINITY;
        f.peak_speedup = f.sigma > 0 ? 1.0 / f.sigma : INFINITY;
    }
    double coef[2] = { f.sigma, f.kappa };
    f.res = residuals(p, n, 2, usl_law, coef);
    return f;
}

/* NaN (undefined) ranks after every number. */
static int better(double rse, double than)
{
    return !isnan(rse) && (isnan(than) || rse < than);
}

/* The 95% quantile of the F distribution with (1, d) degrees of freedom;
 * between table rows, the row below (the stricter value). */
static double f_critical_1(size_t d)
{
    static const struct { size_t d; double f; } table[] = {
        { 1, 161.45 }, { 2, 18.51 }, { 3, 10.13 }, { 4, 7.71 }, { 5, 6.61 }, { 6, 5.99 }, { 7, 5.59 },
        { 8, 5.32 }, { 9, 5.12 }, { 10, 4.96 }, { 12, 4.75 }, { 15, 4.54 }, { 20, 4.35 }, { 30, 4.17 },
        { 60, 4.00 }, { 120, 3.92 },
    };
    double f = table[0].f;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].d <= d)
            f = table[i].f;
    return f;
}

/* Does Gunther's law explain significantly more than Amdahl's?  Nested
 * models: F = (RSS_a - RSS_u) / (RSS_u / (n - 2)) against F(1, n - 2). */
static int usl_significant(const amdahl_fit *a, const usl_fit *u)
{
    if (!a->ok || u->res.points <= 2)
        return 0;
    double gain = a->res.rss - u->res.rss, d = (double)(u->res.points - 2);
    if (!(gain > 1e-12 * (1 + a->res.rss)))   /* exact data fit both: keep the simpler */
        return 0;
    return gain * d > f_critical_1(u->res.points - 2) * u->res.rss;
}

enum fit_law fit_best(const amdahl_fit *a, const gustafson_fit *g, const usl_fit *u)
{
    enum fit_law best = LAW_NONE;
    double err = NAN;
    if (a->ok)
        best = LAW_AMDAHL, err = a->res.rse;
    if (g->ok && (best == LAW_NONE || better(g->res.rse, err)))
        best = LAW_GUSTAFSON, err = g->res.rse;
    if (u->ok && (best == LAW_NONE || (usl_significant(a, u) && better(u->res.rse, err))))
        best = LAW_USL;
    return best;
}
