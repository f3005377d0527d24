/* progress.c - the progress thread: every bar of the process, drawn on
 * standard error at most ten times a second.
 *
 * Bars are counters.  A call's bar reads the `done` count its workers keep
 * anyway, so the hot path pays nothing; a bar of one's own (mp_bar_add) is
 * an atomic add.  One thread, started with the first bar and gone a second
 * after the last, reads every counter, smooths the rates, lays out the lines
 * (progress_line.c) and writes them in one write(2): live bars stacked at
 * the bottom of the terminal, each finished bar's final line above them.
 * Drawing from that thread and nowhere else keeps a slow terminal away from
 * workers and callers, and keeps lines from interleaving.
 *
 * Ending a bar hands it to the thread for its final line (and last
 * callback).  A caller that will return its results right after waits for
 * that, so the bar is complete before the program prints; a caller holding
 * a pool's lock does not, and the thread frees the bar itself.
 */
#include "progress.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define FRAME_SECONDS 0.1        /* ten redraws a second at most */
#define PLAIN_SECONDS 1.0        /* not a terminal: one line a second */
#define LINGER_SECONDS 1.0       /* an idle thread waits this long for a new bar */
#define LABEL_MAX 64
#define LINE_MAX_BYTES 512

enum stage { BAR_LIVE, BAR_ENDING, BAR_ENDED };

struct mp_bar {
    mp_bar *next;                    /* registry order: oldest first */
    _Atomic uint64_t own;            /* the count, when there is no source */
    const _Atomic uint64_t *source;  /* the workers' count; NULL once ended */
    _Atomic uint64_t total;
    mp_progress_fn fn;
    void *arg;
    bool draw;                       /* lines on stderr */
    bool tty;                        /* stderr was a terminal at open */
    bool registered;                 /* in the registry (drawn or called back) */
    bool owner_waits;                /* the ender frees it, after BAR_ENDED */
    bool final_drawn;                /* this frame drew its final line */
    enum stage stage;
    char label[LABEL_MAX];
    char note[LABEL_MAX];
    double opened, completed_at;     /* completed_at: when done reached total */
    double next_plain, next_call;
    uint64_t called_with;            /* count at the last callback */
    bool called;
    mp__rate rate;
};

/* Everything below is guarded by R.lock. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;             /* the thread: a bar was added or ended */
    pthread_cond_t ended;            /* enders waiting for their final line */
    mp_bar *bars;
    bool running;                    /* the thread exists */
    bool urgent;                     /* draw now: a bar ended */
    pthread_t thread;
    int lines;                       /* terminal lines the live bars take */
    bool utf8;
} R = { .lock = PTHREAD_MUTEX_INITIALIZER };

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- set-up, and fork ---------------------------------------------------- */

static void init_conds(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&R.wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&R.ended, NULL);
}

/* A forked child has no progress thread and none of the parent's bars are
 * its own: it starts with an empty registry (their memory is the parent's
 * copy, not freed here). */
static void before_fork(void) { pthread_mutex_lock(&R.lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&R.lock); }
static void after_fork_child(void)
{
    R.bars = NULL;
    R.running = false;
    R.urgent = false;
    R.lines = 0;
    init_conds();
    pthread_mutex_unlock(&R.lock);
}

static bool utf8_locale(void)
{
    const char *names[] = { "LC_ALL", "LC_CTYPE", "LANG" };
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return strcasestr(v, "utf-8") || strcasestr(v, "utf8");
    }
    return false;
}

static void init_once(void)
{
    init_conds();
    R.utf8 = utf8_locale();
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

/* ---- what is wanted ------------------------------------------------------ */

enum env_choice { ENV_UNSET, ENV_OFF, ENV_ON, ENV_FORCE };

static enum env_choice env_choice(void)
{
    static _Atomic bool warned;
    const char *v = getenv("MPROC_PROGRESS");
    if (!v || !*v)
        return ENV_UNSET;
    static const char *const off[] = { "0", "off", "no", "false" }, *const on[] = { "1", "on", "yes", "true" };
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, off[i]))
            return ENV_OFF;
        if (!strcasecmp(v, on[i]))
            return ENV_ON;
    }
    if (!strcasecmp(v, "force") || !strcmp(v, "2"))
        return ENV_FORCE;
    if (!atomic_exchange(&warned, true))
        fprintf(stderr, "mproc: MPROC_PROGRESS=%s is not 0, 1 or force; ignored\n", v);
    return ENV_UNSET;
}

/* Whether a bar with these options is drawn, and whether it exists at all
 * (drawn, or called back). */
static bool decide(const mp_progress *o, bool *draw)
{
    mp_progress_mode mode = o ? o->mode : MP_PROGRESS_AUTO;
    *draw = false;
    if (mode == MP_PROGRESS_OFF)
        return false;
    enum env_choice env = env_choice();
    if (env != ENV_OFF) {
        if (env == ENV_FORCE && mode != MP_PROGRESS_OFF)
            mode = MP_PROGRESS_FORCE;
        else if (env == ENV_ON && mode == MP_PROGRESS_AUTO)
            mode = MP_PROGRESS_ON;
        *draw = mode == MP_PROGRESS_FORCE || (mode == MP_PROGRESS_ON && isatty(STDERR_FILENO));
    }
    return *draw || (o && o->fn);
}

bool mp__progress_wanted(const mp_progress *opts)
{
    bool draw;
    return decide(opts, &draw);
}

/* ---- drawing --------------------------------------------------------------- */

/* A growable buffer for one frame. */
typedef struct frame {
    char *data;
    size_t len, cap;
    bool failed;
} frame;

static void frame_add(frame *f, const char *s, size_t n)
{
    if (f->failed)
        return;
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 1024;
        while (cap < f->len + n)
            cap *= 2;
        char *p = realloc(f->data, cap);
        if (!p) {
            f->failed = true;
            return;
        }
        f->data = p;
        f->cap = cap;
    }
    memcpy(f->data + f->len, s, n);
    f->len += n;
}

static void frame_adds(frame *f, const char *s) { frame_add(f, s, strlen(s)); }

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;           /* stderr is gone: nothing to report it on */
        p += w;
        n -= (size_t)w;
    }
}

static int terminal_columns(bool tty)
{
    struct winsize ws;
    if (tty && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int n = c ? atoi(c) : 0;
    return n > 0 && n < 1000 ? n : 80;
}

static uint64_t count_of(const mp_bar *b)
{
    return b->source ? atomic_load_explicit(b->source, memory_order_relaxed)
                     : atomic_load_explicit(&b->own, memory_order_relaxed);
}

static void line_of(mp_bar *b, double now, int columns, char *buf, size_t cap)
{
    uint64_t done = count_of(b), total = atomic_load(&b->total);
    bool final = b->stage != BAR_LIVE;
    if (!final)
        mp__rate_update(&b->rate, done, now);
    if (total && done >= total && !b->completed_at)
        b->completed_at = now;
    double until = b->completed_at ? b->completed_at : now;
    mp__bar_view v = { b->label, done, total, until - b->opened, b->rate.per_second, b->note, final };
    mp__bar_line(buf, cap, &v, columns, R.utf8);
}

/* A callback due this frame, made once the lock is dropped. */
typedef struct due_call {
    mp_progress_fn fn;
    void *arg;
    uint64_t done, total;
} due_call;

/* Composes and writes one frame; collects the callbacks due.  Bars whose
 * final line this frame drew are marked final_drawn.  R.lock held. */
static size_t compose(double now, due_call *calls, size_t max_calls)
{
    frame f = { 0 };
    char line[LINE_MAX_BYTES];
    size_t ncalls = 0;
    int columns = -1, live = 0;
    bool tty_frame = false;

    for (mp_bar *b = R.bars; b; b = b->next) {
        if (b->stage == BAR_ENDED)
            continue;
        bool ending = b->stage == BAR_ENDING;
        if (ending) {
            b->final_drawn = true;
            if (b->source) {          /* mp__bar_end took the last count */
                atomic_store(&b->own, atomic_load(b->source));
                b->source = NULL;
            }
        }
        if (b->fn && ncalls < max_calls && (ending || now >= b->next_call)) {
            uint64_t done = count_of(b);
            if (ending || !b->called || done != b->called_with) {
                calls[ncalls++] = (due_call){ b->fn, b->arg, done, atomic_load(&b->total) };
                b->called = true;
                b->called_with = done;
                b->next_call = now + FRAME_SECONDS;
            }
        }
        if (!b->draw)
            continue;
        if (columns < 0)
            columns = terminal_columns(b->tty);
        if (b->tty) {
            tty_frame = true;
            if (ending) {             /* finals go above the live bars */
                if (f.len == 0)
                    frame_adds(&f, "\r");
                line_of(b, now, columns, line, sizeof line);
                frame_adds(&f, line);
                frame_adds(&f, "\033[K\n");
            }
        } else if (ending || now >= b->next_plain) {
            b->next_plain = now + PLAIN_SECONDS;
            line_of(b, now, columns, line, sizeof line);
            frame_adds(&f, line);
            frame_adds(&f, "\n");
        }
    }
    if (tty_frame) {
        if (f.len == 0)
            frame_adds(&f, "\r");
        for (mp_bar *b = R.bars; b; b = b->next) {
            if (!b->draw || !b->tty || b->stage != BAR_LIVE)
                continue;
            if (live++)
                frame_adds(&f, "\n");
            line_of(b, now, columns, line, sizeof line);
            frame_adds(&f, line);
            frame_adds(&f, "\033[K");
        }
        frame_adds(&f, "\033[J");    /* lines a bar left behind */
        if (live > 1) {
            char up[16];
            snprintf(up, sizeof up, "\033[%dA", live - 1);
            frame_adds(&f, up);
        }
        frame_adds(&f, "\r");
        R.lines = live;
    }
    if (f.len && !f.failed)
        write_all(f.data, f.len);
    free(f.data);
    return ncalls;
}

/* Bars whose final line is out are ENDED: their enders are woken, and the
 * bars nobody waits for are freed here.  R.lock held. */
static void retire_ended(void)
{
    bool any = false;
    for (mp_bar **p = &R.bars; *p;) {
        mp_bar *b = *p;
        if (b->final_drawn && b->stage == BAR_ENDING) {
            b->stage = BAR_ENDED;
            any = true;
            if (!b->owner_waits) {
                *p = b->next;
                free(b);
                continue;
            }
        }
        p = &b->next;
    }
    if (any)
        pthread_cond_broadcast(&R.ended);
}

static bool anything_live(void)
{
    for (mp_bar *b = R.bars; b; b = b->next)
        if (b->stage != BAR_ENDED)
            return true;
    return false;
}

/* With no bar left, the thread waits a little for the next one before it
 * exits: a program that runs call after call with a bar then starts one
 * thread, not one per call.  True if a bar came.  R.lock held. */
static bool linger(void)
{
    double until = mp__now() + LINGER_SECONDS;
    struct timespec ts;
    ts.tv_sec = (time_t)until;
    ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
    while (!anything_live())
        if (pthread_cond_timedwait(&R.wake, &R.lock, &ts) == ETIMEDOUT)
            return anything_live();
    return true;
}

static void *progress_thread(void *unused)
{
    (void)unused;
    enum { MAX_CALLS = 64 };
    due_call calls[MAX_CALLS];
    pthread_mutex_lock(&R.lock);
    for (;;) {
        R.urgent = false;
        double now = mp__now();
        size_t n = compose(now, calls, MAX_CALLS);
        if (n) {
            /* Callbacks run unlocked (they may open or move bars); no bar
             * can be freed meanwhile: ended bars wait for retire_ended. */
            pthread_mutex_unlock(&R.lock);
            for (size_t i = 0; i < n; i++)
                calls[i].fn(calls[i].done, calls[i].total, calls[i].arg);
            pthread_mutex_lock(&R.lock);
        }
        retire_ended();
        if (!anything_live() && !linger()) {
            R.running = false;
            pthread_mutex_unlock(&R.lock);
            return NULL;
        }
        double next = now + FRAME_SECONDS;
        struct timespec ts;
        ts.tv_sec = (time_t)next;
        ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
        while (!R.urgent && mp__now() < next)
            if (pthread_cond_timedwait(&R.wake, &R.lock, &ts) == ETIMEDOUT)
                break;
    }
}

/* Starts the thread if it is not running.  R.lock held. */
static int ensure_thread(void)
{
    if (R.running)
        return 0;
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    /* Signals go to the program's threads, never to this one. */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&R.thread, &attr, progress_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (e)
        return mp__error(e == EAGAIN ? MP_ENOMEM : -e, "progress: cannot start the progress thread: %s", strerror(e));
    R.running = true;
    return 0;
}

/* ---- bars ------------------------------------------------------------------ */

static void set_label(mp_bar *b, const char *label)
{
    snprintf(b->label, sizeof b->label, "%s", label);
}

static int bar_new(mp_bar **out, const char *label, uint64_t total, const mp_progress *o,
                   const _Atomic uint64_t *source, bool *registered)
{
    pthread_once(&once, init_once);
    bool draw;
    *registered = decide(o, &draw);
    mp_bar *b = calloc(1, sizeof *b);
    if (!b)
        return mp__error(MP_ENOMEM, "progress: out of memory");
    set_label(b, o && o->label ? o->label : label);
    atomic_init(&b->own, 0);
    atomic_init(&b->total, total);
    b->source = source;
    b->fn = o && o->mode != MP_PROGRESS_OFF ? o->fn : NULL;
    b->arg = o ? o->arg : NULL;
    b->draw = draw;
    b->tty = draw && isatty(STDERR_FILENO);
    b->opened = mp__now();
    mp__rate_start(&b->rate, b->opened);
    b->registered = *registered;
    if (*registered) {
        pthread_mutex_lock(&R.lock);
        int r = ensure_thread();
        if (r) {
            pthread_mutex_unlock(&R.lock);
            free(b);
            return r;
        }
        mp_bar **tail = &R.bars;
        while (*tail)
            tail = &(*tail)->next;
        *tail = b;
        pthread_cond_signal(&R.wake);    /* a lingering thread takes it on */
        pthread_mutex_unlock(&R.lock);
    }
    *out = b;
    return 0;
}

int mp__bar_open(mp_bar **out, const char *who, uint64_t total, const mp_progress *opts,
                 const _Atomic uint64_t *source)
{
    bool registered;
    *out = NULL;
    if (!mp__progress_wanted(opts))
        return 0;
    mp_bar *b;
    int r = bar_new(&b, who, total, opts, source, &registered);
    if (r)
        return r;
    if (!registered) {               /* MPROC_PROGRESS changed in between */
        free(b);
        return 0;
    }
    *out = b;
    return 0;
}

void mp__bar_end(mp_bar *bar, const char *note, bool wait)
{
    if (!bar)
        return;
    if (!bar->registered) {
        free(bar);
        return;
    }
    pthread_mutex_lock(&R.lock);
    if (bar->source) {
        atomic_store(&bar->own, atomic_load(bar->source));
        bar->source = NULL;
    }
    snprintf(bar->note, sizeof bar->note, "%s", note ? note : "");
    /* The progress thread itself (a callback closing a bar) cannot wait
     * for itself: it frees the bar after the final line instead. */
    if (wait && R.running && pthread_equal(pthread_self(), R.thread))
        wait = false;
    bar->owner_waits = wait;
    bar->stage = BAR_ENDING;
    R.urgent = true;
    pthread_cond_signal(&R.wake);
    if (wait) {
        while (bar->stage != BAR_ENDED)
            pthread_cond_wait(&R.ended, &R.lock);
        for (mp_bar **p = &R.bars; *p; p = &(*p)->next)
            if (*p == bar) {
                *p = bar->next;
                break;
            }
        free(bar);
    }
    pthread_mutex_unlock(&R.lock);
}

/* ---- the public bar ---------------------------------------------------------- */

int mp_bar_open(mp_bar **bar, uint64_t total, const mp_progress *opts)
{
    if (!bar)
        return mp__error(MP_EINVAL, "mp_bar_open: bar is NULL");
    *bar = NULL;
    bool registered;
    return bar_new(bar, "progress", total, opts, NULL, &registered);
}

int mp_bar_add(mp_bar *bar, uint64_t n)
{
    if (!bar)
        return mp__error(MP_EINVAL, "mp_bar_add: bar is NULL");
    atomic_fetch_add_explicit(&bar->own, n, memory_order_relaxed);
    return 0;
}

int mp_bar_set(mp_bar *bar, uint64_t done)
{
    if (!bar)
        return mp__error(MP_EINVAL, "mp_bar_set: bar is NULL");
    atomic_store_explicit(&bar->own, done, memory_order_relaxed);
    return 0;
}

int mp_bar_set_total(mp_bar *bar, uint64_t total)
{
    if (!bar)
        return mp__error(MP_EINVAL, "mp_bar_set_total: bar is NULL");
    atomic_store(&bar->total, total);
    return 0;
}

int mp_bar_set_label(mp_bar *bar, const char *label)
{
    if (!bar || !label)
        return mp__error(MP_EINVAL, "mp_bar_set_label: %s is NULL", bar ? "label" : "bar");
    if (!bar->registered) {
        set_label(bar, label);
        return 0;
    }
    pthread_mutex_lock(&R.lock);
    set_label(bar, label);
    pthread_mutex_unlock(&R.lock);
    return 0;
}

void mp_bar_close(mp_bar *bar)
{
    mp__bar_end(bar, NULL, true);
}
