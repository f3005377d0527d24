/* fit.h - scaling laws fitted to measured speedups, for `mproc speedup`.
 *
 * A point is a worker count k and the speedup S(k) = T(1) / T(k).  Each
 * law is fitted by linear least squares on a form in which it is linear:
 *   Amdahl     S = 1 / (s + (1 - s)/k)        1/S - 1/k = s (1 - 1/k)
 *   Gustafson  S = k - a (k - 1)              k - S = a (k - 1)
 *   Gunther    S = k / (1 + sigma (k - 1) + kappa k (k - 1))
 *                                             k/S - 1 = sigma (k - 1) + kappa k (k - 1)
 * (the universal scalability law: sigma contention, kappa coherency; kappa > 0 gives
 * a peak, after which more workers are slower).  Points at k = 1 carry no
 * information (every law has S(1) = 1) and are skipped.  Each fit reports
 * its residuals in speedup units: RSS and the residual standard error
 * sqrt(RSS / (n - p)), with n points beyond k = 1 and p parameters.  Pure
 * functions: no I/O, no allocation. */
#ifndef MPROC_CLI_FIT_H
#define MPROC_CLI_FIT_H

#include <stddef.h>

typedef struct fit_point {
    double workers;
    double speedup;
} fit_point;

typedef struct fit_residuals {
    double rss;             /* sum of squared speedup residuals */
    size_t points;          /* n: points beyond k = 1 */
    size_t params;          /* p */
    double rse;             /* sqrt(rss / (n - p)); NaN if n <= p */
} fit_residuals;

typedef struct amdahl_fit {
    int ok;                 /* 0: fewer than one point beyond k = 1 */
    double serial;          /* s */
    double stderr_serial;   /* its standard error; NaN with one point */
    double ceiling;         /* 1/s: the speedup no worker count exceeds; inf if s <= 0 */
    fit_residuals res;
} amdahl_fit;

typedef struct gustafson_fit {
    int ok;
    double serial;          /* a, Gustafson's serial fraction */
    double stderr_serial;
    fit_residuals res;
} gustafson_fit;

typedef struct usl_fit {
    int ok;                 /* 0: fewer than two distinct k beyond 1 */
    double sigma, kappa;
    double peak_workers;    /* sqrt((1 - sigma)/kappa) when kappa > 0 and sigma < 1, else inf */
    double peak_speedup;    /* S at peak_workers; the limit 1/sigma when kappa <= 0 */
    fit_residuals res;
} usl_fit;

enum fit_law { LAW_NONE, LAW_AMDAHL, LAW_GUSTAFSON, LAW_USL };

amdahl_fit fit_amdahl(const fit_point *p, size_t n);
gustafson_fit fit_gustafson(const fit_point *p, size_t n);
usl_fit fit_usl(const fit_point *p, size_t n);

double amdahl_speedup(double serial, double k);
double usl_speedup(double sigma, double kappa, double k);

/* The Karp-Flatt metric, the serial fraction one point implies:
 * (1/S - 1/k) / (1 - 1/k).  NaN for k <= 1. */
double karp_flatt(double workers, double speedup);

/* The law that describes the points best; LAW_NONE if no fit is ok.
 * Between the one-parameter laws, the smaller residual standard error
 * wins (Amdahl's on a tie).  Gunther's law contains Amdahl's (kappa = 0), so
 * its extra parameter always absorbs some noise: it wins only when it
 * improves on Amdahl's significantly (an F-test at the 5% level) and also
 * beats the better one-parameter law. */
enum fit_law fit_best(const amdahl_fit *a, const gustafson_fit *g, const usl_fit *u);

#endif
