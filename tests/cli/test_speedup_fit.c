/* test_speedup_fit.c - unit tests for the pure parts of `mproc speedup`:
 * the scaling-law fits on exact data, Karp-Flatt, the choice of law, the
 * SVG plot and the worker-list option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "fit.h"
#include "speedup.h"
#include "svg.h"

static const double ks[] = { 1, 2, 3, 4, 6, 8, 12, 16 };
#define NK (sizeof ks / sizeof ks[0])

static void amdahl_points(fit_point *p, double s)
{
    for (size_t i = 0; i < NK; i++)
        p[i] = (fit_point){ ks[i], amdahl_speedup(s, ks[i]) };
}

static void test_amdahl_recovers_serial_fraction(void **state)
{
    (void)state;
    fit_point p[NK];
    for (double s = 0; s <= 0.9; s += 0.15) {
        amdahl_points(p, s);
        amdahl_fit a = fit_amdahl(p, NK);
        assert_true(a.ok);
        assert_true(fabs(a.serial - s) < 1e-12);
        assert_true(a.stderr_serial < 1e-9);
        assert_true(a.res.rse < 1e-9);
        if (s > 0)
            assert_true(fabs(a.ceiling - 1 / s) < 1e-9);
        else
            assert_true(isinf(a.ceiling));
        /* Every point implies the same serial fraction. */
        for (size_t i = 1; i < NK; i++)
            assert_true(fabs(karp_flatt(p[i].workers, p[i].speedup) - s) < 1e-12);
        usl_fit u = fit_usl(p, NK);
        gustafson_fit g = fit_gustafson(p, NK);
        if (s > 0)   /* at s = 0 every law is exact: the simplest wins */
            assert_true(g.res.rse > 1e-3);
        assert_int_equal(fit_best(&a, &g, &u), LAW_AMDAHL);
    }
    assert_true(isnan(karp_flatt(1, 1)));
}

static void test_amdahl_uncertainty_grows_with_noise(void **state)
{
    (void)state;
    fit_point p[NK];
    amdahl_points(p, 0.2);
    for (size_t i = 1; i < NK; i++)
        p[i].speedup *= i % 2 ? 1.02 : 0.98;
    amdahl_fit a = fit_amdahl(p, NK);
    assert_true(a.ok);
    assert_true(fabs(a.serial - 0.2) < 0.02);
    assert_true(a.stderr_serial > 1e-4 && a.stderr_serial < 0.02);

    /* Measured with serial fraction 0.3 on a busy machine: Gunther's law
     * has the smaller residual error, but its second parameter only fits
     * noise (not significant with one degree of freedom left). */
    fit_point busy[4] = { { 1, 1 }, { 2, 1.52 }, { 4, 2.11 }, { 8, 2.50 } };
    a = fit_amdahl(busy, 4);
    usl_fit u = fit_usl(busy, 4);
    gustafson_fit g = fit_gustafson(busy, 4);
    assert_true(u.res.rse < a.res.rse);
    assert_int_equal(fit_best(&a, &g, &u), LAW_AMDAHL);

    /* One point beyond k = 1: a fit, but no uncertainty. */
    fit_point two[2] = { { 1, 1 }, { 4, amdahl_speedup(0.25, 4) } };
    a = fit_amdahl(two, 2);
    assert_true(a.ok && fabs(a.serial - 0.25) < 1e-12 && isnan(a.stderr_serial) && isnan(a.res.rse));
    /* Only k = 1: nothing to fit. */
    assert_false(fit_amdahl(two, 1).ok);
    assert_false(fit_usl(two, 2).ok);   /* two parameters need two points */
}

static void test_usl_finds_the_peak(void **state)
{
    (void)state;
    const double sigma = 0.1, kappa = 0.01;
    fit_point p[NK];
    for (size_t i = 0; i < NK; i++)
        p[i] = (fit_point){ ks[i], usl_speedup(sigma, kappa, ks[i]) };
    usl_fit u = fit_usl(p, NK);
    assert_true(u.ok);
    assert_true(fabs(u.sigma - sigma) < 1e-9 && fabs(u.kappa - kappa) < 1e-9);
    assert_true(fabs(u.peak_workers - sqrt(0.9 / 0.01)) < 1e-6);
    assert_true(fabs(u.peak_speedup - usl_speedup(sigma, kappa, u.peak_workers)) < 1e-12);
    amdahl_fit a = fit_amdahl(p, NK);
    gustafson_fit g = fit_gustafson(p, NK);
    assert_int_equal(fit_best(&a, &g, &u), LAW_USL);
}

static void test_gustafson_on_linear_speedups(void **state)
{
    (void)state;
    fit_point p[NK];
    for (size_t i = 0; i < NK; i++)
        p[i] = (fit_point){ ks[i], ks[i] - 0.3 * (ks[i] - 1) };
    gustafson_fit g = fit_gustafson(p, NK);
    assert_true(g.ok && fabs(g.serial - 0.3) < 1e-12 && g.res.rse < 1e-9);
    amdahl_fit a = fit_amdahl(p, NK);
    usl_fit u = fit_usl(p, NK);
    assert_int_equal(fit_best(&a, &g, &u), LAW_GUSTAFSON);
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)); p++)
        n++;
    return n;
}

static void test_svg_is_deterministic_and_escaped(void **state)
{
    (void)state;
    svg_point p[3] = { { 1, 1, 0.9, 1.1 }, { 2, 1.8, 1.7, 1.9 }, { 4, 3.1, 2.9, 3.3 } };
    fit_point fp[3] = { { 1, 1 }, { 2, 1.8 }, { 4, 3.1 } };
    amdahl_fit a = fit_amdahl(fp, 3);
    strbuf x = STRBUF_INIT, y = STRBUF_INIT;
    assert_int_equal(svg_speedup_plot(&x, "./prog <in> & \"out\"", p, 3, &a), 0);
    assert_int_equal(svg_speedup_plot(&y, "./prog <in> & \"out\"", p, 3, &a), 0);
    assert_string_equal(sb_str(&x), sb_str(&y));
    assert_non_null(strstr(sb_str(&x), "./prog &lt;in&gt; &amp; &quot;out&quot;"));
    assert_int_equal(count(sb_str(&x), "<circle class=\"point\""), 3);
    assert_non_null(strstr(sb_str(&x), "data-workers=\"4\" data-speedup=\"3.1000\""));
    assert_non_null(strstr(sb_str(&x), "<polyline class=\"amdahl\""));
    assert_non_null(strstr(sb_str(&x), "ceiling 1/s = "));
    sb_free(&x);
    sb_free(&y);
}

static void test_worker_list(void **state)
{
    (void)state;
    speedup_options o;
    strbuf err = STRBUF_INIT;
    memset(&o, 0, sizeof o);
    assert_int_equal(speedup_parse_workers(&o, "8,2,2,4", &err), 0);
    assert_int_equal(o.nworkers, 4);   /* 1 added, sorted, duplicates dropped */
    assert_true(o.workers[0] == 1 && o.workers[1] == 2 && o.workers[2] == 4 && o.workers[3] == 8);
    static const char *const bad[] = { "0", "1,,2", "abc", "", "2,", "-1", "4097", "1.5" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sb_clear(&err);
        assert_int_equal(speedup_parse_workers(&o, bad[i], &err), -1);
        assert_non_null(strstr(sb_str(&err), "--workers"));
    }
    char *argv[] = { "--max", "3", "--runs=5", "--", "prog", "{w}" };
    assert_int_equal(speedup_options_parse(&o, 6, argv, 2, &err), 0);
    assert_int_equal(o.nworkers, 3);
    assert_int_equal(o.runs, 5);
    assert_int_equal(o.ncommand, 2);
    char *none[] = { "--runs", "0", "--", "prog" };
    assert_int_equal(speedup_options_parse(&o, 4, none, 2, &err), -1);
    char *nocmd[] = { "--max", "2" };
    assert_int_equal(speedup_options_parse(&o, 2, nocmd, 2, &err), -1);
    sb_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amdahl_recovers_serial_fraction),
        cmocka_unit_test(test_amdahl_uncertainty_grows_with_noise),
        cmocka_unit_test(test_usl_finds_the_peak),
        cmocka_unit_test(test_gustafson_on_linear_speedups),
        cmocka_unit_test(test_svg_is_deterministic_and_escaped),
        cmocka_unit_test(test_worker_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
