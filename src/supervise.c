/* supervise.c - the supervisor of a process pool: a thread of the parent
 * that turns every worker death into an exact account of that worker's
 * tasks, and replaces the worker.
 *
 * It talks to the fork server (forkserver.c) over a socket: "spawn worker
 * 3", "send signal 15 to worker 3"; the fork server answers "worker 3 is pid
 * 4711" and "worker 3 (pid 4711) died with status S".  A death is settled
 * from the dead worker's slot (sched.h):
 *   - the tasks it finished but had not counted are added to the job's done;
 *   - the task it was running fails with the cause ("worker 4711 killed by
 *     SIGSEGV while running task 17"), or runs again if retries allow, or
 *     fails as timed out if the supervisor killed it for its deadline;
 *   - the rest of its chunk goes to its replacement, which runs it first;
 *   - a replacement is forked.
 * If the worker died inside one of the two uncertain windows, the
 * replacement waits until the job is quiet and the count of missing tasks
 * tells which way the window went.
 *
 * Besides deaths, it watches deadlines (SIGTERM, then SIGKILL after a grace
 * period) and kills workers running tasks of a cancelled call.  It sleeps in
 * poll() on the fork server's socket and an eventfd that callers use to
 * wake it; it ticks only while something has a deadline.
 */
#include "shm.h"
#include "supervise.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TERM_GRACE 0.1          /* seconds between SIGTERM and SIGKILL */
#define CLOSE_GRACE 3.0         /* seconds close lets idle workers take to exit before SIGKILL */
#define DEADLINE_TICK 0.005     /* how often deadlines are checked, when any is set */
#define SETTLE_TICK 0.001       /* how often an uncertain death is re-examined */
#define MAX_EARLY_DEATHS 5      /* replacements dying before ready, in a row */
#define MAX_BARREN_DEATHS 100   /* workers dying before finishing a task, in a row */

enum { KILL_NONE, KILL_TIMEOUT, KILL_CANCEL };
enum { UNSURE_NONE, UNSURE_CLAIM, UNSURE_FLUSH };

typedef struct sup_worker {
    pid_t pid;            /* 0: dead or not yet started */
    bool spawning;        /* a spawn request is on its way */
    int kill_reason;      /* why we signalled it */
    int kill_sig;
    uint64_t kill_pos;    /* its slot's pos when we decided */
    double kill_at;       /* when to escalate to SIGKILL */
    double timeout;       /* the limit it broke, for the message */
    /* A death in an uncertain window, not yet settled. */
    int unsure;
    uint32_t job, gen;
    uint64_t begin, end;  /* CLAIM: the range it may have taken; FLUSH: end - begin tasks */
} sup_worker;

typedef struct retry_rec {
    uint32_t job, gen;
    uint64_t index;
    int attempts;
} retry_rec;

typedef struct supervisor {
    mp__crew *crew;
    pthread_t thread;
    int fs_fd;
    pid_t fs_pid;
    int kick_fd;
    sup_worker *w;
    int alive;
    int nunsure;
    int early_deaths;
    int barren_deaths;          /* workers in a row that died before finishing a task */
    retry_rec *retry;
    size_t nretry, capretry;
    bool fs_gone;
    bool quit_sent;
    _Atomic int stop;           /* 1: close (workers exit by themselves), 2: kill now */
    /* Start-up hand-shake with the opening thread. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool started;
    _Atomic bool starting;      /* deaths are the opener's to report */
    int start_error;            /* set under lock */
    char start_msg[256];
} supervisor;

/* ---- small helpers ------------------------------------------------------- */

static void request(supervisor *s, int type, int worker, pid_t pid, int arg)
{
    if (s->fs_gone)
        return;
    mp__fs_msg m = { type, worker, (int32_t)pid, arg };
    while (send(s->fs_fd, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static const char *signame(int sig, char *buf, size_t len)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(buf, len, "SIG%s", abbrev);
    else
        snprintf(buf, len, "signal %d", sig);
    return buf;
}

/* "killed by SIGSEGV" or "exited with status 3" */
static void describe_status(char *buf, size_t len, int status)
{
    char sig[32];
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by %s", signame(WTERMSIG(status), sig, sizeof sig));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/* Marks the pool broken (the first reason stays) and wakes every caller.
 * Called with the pool lock held. */
static MP_PRINTF(2, 3) void set_broken(supervisor *s, const char *fmt, ...)
{
    char msg[sizeof s->crew->broken_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mp__crew_break_locked(s->crew, MP_EBROKEN, "%s", msg);
}

/* The job a slot names, if it is still that generation and running. */
static mp__job *live_job(mp__shared *sh, uint32_t index, uint32_t gen)
{
    if (index >= MP__JOB_SLOTS)
        return NULL;
    mp__job *job = &sh->jobs[index];
    /* Acquire the publishing caller's writes of the job's plain fields (ring,
     * slot_done...): its publish is a read-modify-write of `active`. */
    if (!(atomic_load(&sh->active) >> index & 1))
        return NULL;
    if ((uint32_t)(atomic_load(&job->claim) >> MP__CLAIM_SHIFT) != gen)
        return NULL;
    if (atomic_load(&job->state) != MP__JOB_ACTIVE)
        return NULL;
    return job;
}

/* How many times task `index` of a job has been run again after its worker
 * died; bumps the count when `bump`.  Records of finished jobs are dropped
 * as the table is scanned. */
static int attempts(supervisor *s, uint32_t job, uint32_t gen, uint64_t index, bool bump)
{
    mp__shared *sh = s->crew->sh;
    for (size_t i = 0; i < s->nretry;) {
        retry_rec *r = &s->retry[i];
        if (!live_job(sh, r->job, r->gen)) {
            *r = s->retry[--s->nretry];
            continue;
        }
        if (r->job == job && r->gen == gen && r->index == index)
            return bump ? r->attempts++ : r->attempts;
        i++;
    }
    if (!bump)
        return 0;
    if (s->nretry == s->capretry) {
        size_t cap = s->capretry ? 2 * s->capretry : 16;
        retry_rec *p = realloc(s->retry, cap * sizeof *p);
        if (!p)
            return INT_MAX;     /* no memory to count: do not retry */
        s->retry = p;
        s->capretry = cap;
    }
    s->retry[s->nretry++] = (retry_rec){ job, gen, index, 1 };
    return 0;
}

/* ---- workers: spawn, hand over, settle ------------------------------------- */

/* Counts tasks [begin, end) as finished, the way the job counts: a stream
 * reports each one to its consumer (those not reported yet), other jobs
 * add to done. */
static void account(mp__shared *sh, mp__job *job, uint64_t begin, uint64_t end)
{
    if (!job->ring) {
        mp__job_credit(sh, job, end - begin);
        return;
    }
    for (uint64_t i = begin; i < end; i++)
        if (atomic_load(&job->slot_done[i % job->ring]) < i + 1)
            mp__job_report_stream(sh, job, i, i + 1);
}

static void reset_slot(mp__wslot *ws)
{
    atomic_store(&ws->deadline_ns, 0);
    atomic_store(&ws->status, MP__WS_STARTING);
    atomic_store(&ws->acct, 0);
}

/* The replacement in slot `id` will run [begin, end) of the job first. */
static void hand_over(mp__wslot *ws, uint32_t job, uint32_t gen, uint64_t begin, uint64_t end)
{
    atomic_store(&ws->job, job);
    atomic_store(&ws->gen, gen);
    atomic_store(&ws->begin, begin);
    atomic_store(&ws->end, end);
    atomic_store(&ws->pos, 2 * begin);
    atomic_store(&ws->deadline_ns, 0);
    atomic_store(&ws->status, MP__WS_STARTING);
    mp__ws_set(ws, 0, MP__WS_HOLDING);
}

static void spawn(supervisor *s, int id)
{
    if (atomic_load(&s->stop) || s->crew->broken || s->fs_gone)
        return;
    s->w[id].spawning = true;
    request(s, MP__FS_SPAWN, id, 0, 0);
}

/* Settles a worker that died holding a chunk: credits what it finished,
 * decides the fate of the task it was running, hands the rest over. */
static void settle_holding(supervisor *s, int id, pid_t pid, int status, mp__job *job, uint64_t unflushed)
{
    mp__shared *sh = s->crew->sh;
    mp__wslot *ws = &sh->wslots[id];
    sup_worker *sw = &s->w[id];
    uint32_t jix = atomic_load(&ws->job), gen = atomic_load(&ws->gen);
    uint64_t pos = atomic_load(&ws->pos), begin = atomic_load(&ws->begin), end = atomic_load(&ws->end);
    bool running = pos & 1;
    uint64_t i = running ? (pos - 1) / 2 : pos / 2;
    uint64_t next = i;
    bool cancelled = atomic_load(&job->cancelled);

    if (running) {
        char why[64], msg[MP_MESSAGE_MAX];
        if (cancelled) {
            next++;               /* a cancelled call reports nothing more */
        } else if (sw->kill_reason && sw->kill_pos != pos) {
            /* We signalled it for another task, which it finished first:
             * this one is innocent and simply runs again. */
        } else if (sw->kill_reason == KILL_TIMEOUT) {
            snprintf(msg, sizeof msg, "task %llu timed out after %g s on worker %d", (unsigned long long)i, sw->timeout, (int)pid);
            mp__job_record_failure(job, i, MP_ETIMEDOUT, msg);
            next++;
        } else {
            int tried = attempts(s, jix, gen, i, false);
            if (tried < s->crew->retries) {
                attempts(s, jix, gen, i, true);
            } else {
                describe_status(why, sizeof why, status);
                int n = snprintf(msg, sizeof msg, "worker %d %s while running task %llu", (int)pid, why, (unsigned long long)i);
                if (tried && n > 0 && (size_t)n < sizeof msg)
                    snprintf(msg + n, sizeof msg - (size_t)n, " (run %d times)", tried + 1);
                mp__fault_explain(ws, status, msg, sizeof msg, strlen(msg));
                mp__job_record_failure(job, i, MP_EWORKER, msg);
                next++;
            }
        }
    }
    uint64_t upto = next;
    if (cancelled)
        upto = next = end;      /* skipped, as a live worker would */
    reset_slot(ws);
    if (next < end)
        hand_over(ws, jix, gen, next, end);
    /* Finished, failed or skipped: [begin, upto), except a task retried. */
    if (!job->ring)
        mp__job_credit(sh, job, unflushed + (upto - begin));
    else
        account(sh, job, begin, upto);
}

static void handle_death(supervisor *s, int id, pid_t pid, int status)
{
    mp__crew *crew = s->crew;
    mp__shared *sh = crew->sh;
    mp__wslot *ws = &sh->wslots[id];
    sup_worker *sw = &s->w[id];
    if (sw->pid == pid) {
        sw->pid = 0;
        s->alive--;
    }
    int kill_reason = sw->kill_reason;
    if (atomic_load(&s->stop))
        return;
    uint32_t life = atomic_load(&ws->status);
    char why[64];
    describe_status(why, sizeof why, status);
    if (life == MP__WS_INIT_FAILED || (WIFEXITED(status) && WEXITSTATUS(status) == MP__EXIT_INIT_FAILED)) {
        if (!s->starting) {
            set_broken(s, "pool is broken: the worker initializer failed in replacement worker %d: %s", (int)pid,
                       atomic_load(&sh->init_code) ? sh->init_msg : "(no message)");
        }
        return;                  /* never respawned: no loop of failing workers */
    }
    if (life == MP__WS_STARTING && s->starting) {
        pthread_mutex_lock(&s->lock);
        if (!s->start_error) {
            s->start_error = MP_EWORKER;
            snprintf(s->start_msg, sizeof s->start_msg, "mp_pool_open: worker %d %s while starting", (int)pid, why);
        }
        pthread_mutex_unlock(&s->lock);
        return;
    }
    if (life == MP__WS_STARTING && !kill_reason && ++s->early_deaths > MAX_EARLY_DEATHS) {
        set_broken(s, "pool is broken: replacement workers keep dying before they start (the last one, %d, %s)", (int)pid, why);
        return;
    }
    if (life != MP__WS_STARTING)
        s->early_deaths = 0;
    /* Every task kills its worker: stop rather than fork once per task. */
    if (life == MP__WS_READY && !kill_reason && ++s->barren_deaths > MAX_BARREN_DEATHS) {
        set_broken(s, "pool is broken: %d workers in a row died before finishing a task (the last one %s)",
                   MAX_BARREN_DEATHS + 1, why);
        return;
    }
    if (life == MP__WS_WORKED || life == MP__WS_RETIRING)
        s->barren_deaths = 0;

    uint64_t acct = atomic_load(&ws->acct);
    unsigned state = MP__WS_STATE(acct);
    uint64_t unflushed = MP__WS_UNFLUSHED(acct);
    uint32_t jix = atomic_load(&ws->job), gen = atomic_load(&ws->gen);
    mp__job *job = state == MP__WS_IDLE ? NULL : live_job(sh, jix, gen);
    if (!job) {
        reset_slot(ws);
        spawn(s, id);
        return;
    }
    if (state == MP__WS_HOLDING) {
        settle_holding(s, id, pid, status, job, unflushed);
        spawn(s, id);
        return;
    }
    if (state == MP__WS_FLUSHING && job->ring) {
        /* A stream's reports say themselves which were made. */
        account(sh, job, atomic_load(&ws->begin), atomic_load(&ws->end));
        reset_slot(ws);
        spawn(s, id);
        return;
    }
    /* CLAIMING or FLUSHING: what it finished before is certain... */
    if (state == MP__WS_CLAIMING) {
        if (unflushed)
            mp__job_credit(sh, job, unflushed);
        uint64_t begin = atomic_load(&ws->begin), end = atomic_load(&ws->end);
        uint64_t at = atomic_load(&job->claim) & MP__CLAIM_MASK;
        if (at <= begin || begin >= end) {
            /* Nobody claimed from `begin` yet: its claim did not happen. */
            reset_slot(ws);
            spawn(s, id);
            return;
        }
        sw->unsure = UNSURE_CLAIM;
        sw->begin = begin;
        sw->end = end;
    } else {
        sw->unsure = UNSURE_FLUSH;
        sw->begin = 0;
        sw->end = unflushed;
    }
    /* ...the last operation is not: settle it once the job is quiet. */
    sw->job = jix;
    sw->gen = gen;
    s->nunsure++;
}

/* Settles the uncertain deaths of one job once no live worker is in it:
 * every task below the claim point is then counted in done, unless an
 * uncertain operation took it (a claim that happened) or kept it from the
 * count (a flush that did not happen).  The missing number says which. */
static void settle_unsure_job(supervisor *s, uint32_t jix, uint32_t gen)
{
    mp__shared *sh = s->crew->sh;
    int ids[16], n = 0;
    for (int i = 0; i < s->crew->workers && n < 16; i++)
        if (s->w[i].unsure && s->w[i].job == jix && s->w[i].gen == gen)
            ids[n++] = i;
    mp__job *job = live_job(sh, jix, gen);
    uint64_t missing = 0;
    int pick = -1;
    if (job) {
        uint64_t c1 = atomic_load(&job->claim);
        for (int i = 0; i < s->crew->workers; i++) {
            if (s->w[i].unsure)
                continue;
            mp__wslot *ws = &sh->wslots[i];
            if (MP__WS_STATE(atomic_load(&ws->acct)) != MP__WS_IDLE && atomic_load(&ws->job) == jix &&
                atomic_load(&ws->gen) == gen)
                return;          /* not quiet yet */
        }
        uint64_t done = atomic_load(&job->done);
        if (atomic_load(&job->claim) != c1)
            return;
        uint64_t count = atomic_load(&job->count), at = c1 & MP__CLAIM_MASK;
        missing = (at < count ? at : count) - done;
        if (job->ring) {
            /* A stream: task `begin` was run by someone (reported) unless
             * the dead worker's claim took it. */
            pick = 0;
            for (int k = 0; k < n; k++) {
                uint64_t b = s->w[ids[k]].begin;
                if (atomic_load(&job->slot_done[b % job->ring]) < b + 1)
                    pick |= 1 << k;
            }
            missing = 0;
        }
        for (int mask = 0; mask < (1 << n) && pick < 0 && !job->ring; mask++) {
            uint64_t sum = 0;
            for (int k = 0; k < n; k++)
                if (mask >> k & 1)
                    sum += s->w[ids[k]].end - s->w[ids[k]].begin;
            if (sum == missing)
                pick = mask;
        }
        if (pick < 0) {
            set_broken(s, "pool is broken: %llu tasks were lost with a dead worker", (unsigned long long)missing);
        }
    }
    for (int k = 0; k < n; k++) {
        sup_worker *sw = &s->w[ids[k]];
        mp__wslot *ws = &sh->wslots[ids[k]];
        reset_slot(ws);
        if (job && pick >= 0 && (pick >> k & 1)) {
            if (sw->unsure == UNSURE_CLAIM)
                hand_over(ws, jix, gen, sw->begin, sw->end);
            else
                mp__job_credit(sh, job, sw->end);
        }
        sw->unsure = UNSURE_NONE;
        s->nunsure--;
        spawn(s, ids[k]);
    }
    if (job && !job->ring)
        mp__job_credit(sh, job, 0);   /* a flush that happened may have been the last */
}

static void settle_unsure(supervisor *s)
{
    for (int i = 0; i < s->crew->workers && s->nunsure; i++)
        if (s->w[i].unsure)
            settle_unsure_job(s, s->w[i].job, s->w[i].gen);
}

/* Deadlines and cancelled calls: signal the workers that must stop. */
static void watch(supervisor *s, double now)
{
    mp__shared *sh = s->crew->sh;
    uint64_t now_ns = (uint64_t)(now * 1e9);
    for (int i = 0; i < s->crew->workers; i++) {
        sup_worker *sw = &s->w[i];
        if (!sw->pid)
            continue;
        if (sw->kill_reason) {
            if (sw->kill_sig == SIGTERM && now >= sw->kill_at) {
                sw->kill_sig = SIGKILL;
                request(s, MP__FS_KILL, i, sw->pid, SIGKILL);
            }
            continue;
        }
        mp__wslot *ws = &sh->wslots[i];
        uint64_t pos = atomic_load(&ws->pos);
        if (!(pos & 1))
            continue;
        uint64_t deadline = atomic_load(&ws->deadline_ns);
        uint32_t jix = atomic_load(&ws->job), gen = atomic_load(&ws->gen);
        if (atomic_load(&ws->pos) != pos)
            continue;            /* it moved on while we looked */
        mp__job *job = live_job(sh, jix, gen);
        if (job && atomic_load(&job->cancelled)) {
            sw->kill_reason = KILL_CANCEL;
            sw->kill_sig = SIGKILL;
        } else if (job && deadline && now_ns > deadline) {
            sw->kill_reason = KILL_TIMEOUT;
            sw->kill_sig = SIGTERM;
            sw->kill_at = now + TERM_GRACE;
            sw->timeout = (double)atomic_load(&job->timeout_ns) * 1e-9;
        } else {
            continue;
        }
        sw->kill_pos = pos;
        request(s, MP__FS_KILL, i, sw->pid, sw->kill_sig);
    }
}

/* ---- the loop -------------------------------------------------------------- */

static void on_message(supervisor *s, const mp__fs_msg *m)
{
    if (m->worker < 0 || m->worker >= s->crew->workers)
        return;
    sup_worker *sw = &s->w[m->worker];
    switch (m->type) {
    case MP__FS_SPAWNED:
        sw->spawning = false;
        sw->pid = m->pid;
        sw->kill_reason = KILL_NONE;
        s->alive++;
        break;
    case MP__FS_DIED:
        /* Under the pool lock: a caller takes it before it reuses a job
         * slot, so what we read of the job happens before that.  (The real
         * order goes through the workers, which no race detector sees.) */
        mp__crew_lock(s->crew);
        handle_death(s, m->worker, m->pid, m->arg);
        mp__crew_unlock(s->crew);
        break;
    case MP__FS_FAILED:
        sw->spawning = false;
        if (s->starting) {
            pthread_mutex_lock(&s->lock);
            if (!s->start_error) {
                s->start_error = -m->arg;
                snprintf(s->start_msg, sizeof s->start_msg, "mp_pool_open: cannot fork worker %d: %s", m->worker + 1, strerror(m->arg));
            }
            pthread_mutex_unlock(&s->lock);
        } else if (!atomic_load(&s->stop)) {
            mp__crew_lock(s->crew);
            set_broken(s, "pool is broken: cannot fork a replacement worker: %s", strerror(m->arg));
            mp__crew_unlock(s->crew);
        }
        break;
    }
}

static void read_messages(supervisor *s)
{
    for (;;) {
        mp__fs_msg m;
        ssize_t got = recv(s->fs_fd, &m, sizeof m, MSG_DONTWAIT);
        if (got == (ssize_t)sizeof m) {
            on_message(s, &m);
            continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        /* The fork server is gone, and with it every worker. */
        s->fs_gone = true;
        while (waitpid(s->fs_pid, NULL, 0) < 0 && errno == EINTR)
            ;
        if (!atomic_load(&s->stop)) {
            mp__crew_lock(s->crew);
            set_broken(s, "pool is broken: its fork server (pid %d) died", (int)s->fs_pid);
            mp__crew_unlock(s->crew);
            pthread_mutex_lock(&s->lock);
            if (!s->start_error) {
                s->start_error = MP_EBROKEN;
                snprintf(s->start_msg, sizeof s->start_msg, "mp_pool_open: the fork server died");
            }
            pthread_mutex_unlock(&s->lock);
        }
        s->alive = 0;
        return;
    }
}

static bool any_spawning(supervisor *s)
{
    for (int i = 0; i < s->crew->workers; i++)
        if (s->w[i].spawning)
            return true;
    return false;
}

/* Whether to tell the fork server to quit now (it kills what is left with
 * SIGKILL, reaps it and exits): at once for terminate; for close, once
 * every worker has left, or once the grace period is over -- a worker
 * stopped by SIGSTOP or held by a debugger never leaves by itself, and
 * close must finish.  Close comes after all work finished, so such a
 * worker holds no task. */
static bool quit_due(supervisor *s, int stop, double now, double close_deadline)
{
    if (!stop || s->quit_sent)
        return false;
    return stop == 2 || (s->alive == 0 && !any_spawning(s)) || now >= close_deadline;
}

static void *supervisor_main(void *arg)
{
    supervisor *s = arg;
    mp__crew *crew = s->crew;
    double close_deadline = 0;
    for (;;) {
        int stop = atomic_load(&s->stop);
        if (s->fs_gone && stop)
            break;
        double now = mp__now(), tick = -1;
        if (stop && !close_deadline)
            close_deadline = now + CLOSE_GRACE;
        if (quit_due(s, stop, now, close_deadline)) {
            request(s, MP__FS_QUIT, 0, 0, 0);
            s->quit_sent = true;
        }
        if (stop && !s->quit_sent)
            tick = close_deadline - now;   /* wake up when the grace is over */
        if (!stop) {
            watch(s, now);
            if (s->nunsure) {
                mp__crew_lock(crew);
                settle_unsure(s);
                mp__crew_unlock(crew);
            }
            if (atomic_load(&crew->timeouts_used))
                tick = DEADLINE_TICK;
            for (int i = 0; i < crew->workers; i++)
                if (s->w[i].kill_reason && s->w[i].pid)
                    tick = DEADLINE_TICK;
            if (s->nunsure)
                tick = SETTLE_TICK;
        }
        /* Without a fork server only a stop request can matter. */
        struct pollfd pfd[2] = { { .fd = s->kick_fd, .events = POLLIN }, { .fd = s->fs_fd, .events = POLLIN } };
        int r = poll(pfd, s->fs_gone ? 1 : 2, tick < 0 ? -1 : (int)(tick * 1000) + 1);
        if (r < 0)
            continue;
        if (pfd[0].revents) {
            uint64_t v;
            ssize_t got = read(s->kick_fd, &v, sizeof v);
            MP__UNUSED(got);
        }
        if (!s->fs_gone && pfd[1].revents)
            read_messages(s);
    }
    return NULL;
}

/* ---- start and stop ---------------------------------------------------------- */

static void worker_main(mp__crew *crew, int id)
{
    if (mp__crew_worker_init(crew, id) != 0) {
        fflush(NULL);
        mp__child_exit(MP__EXIT_INIT_FAILED);
    }
    mp__sched_worker_main(crew->sh, id);
    fflush(NULL);          /* the tasks' own buffered output */
    mp__child_exit(0);     /* no atexit handlers: they belong to the program */
}

/* The supervisor thread forks the fork server itself, so that the fork
 * server's parent-death signal is tied to a thread that lives exactly as
 * long as the pool (not to whichever thread happened to open it). */
static void *supervisor_boot(void *arg)
{
    supervisor *s = arg;
    int r = mp__forkserver_start(s->crew, worker_main, &s->fs_pid, &s->fs_fd);
    pthread_mutex_lock(&s->lock);
    if (r) {
        s->start_error = r;
        snprintf(s->start_msg, sizeof s->start_msg, "%s", mp_last_error());
        s->fs_gone = true;
    }
    s->started = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (r)
        return NULL;
    for (int i = 0; i < s->crew->workers; i++)
        spawn(s, i);
    return supervisor_main(s);
}

static int startup_failed(mp__crew *crew)
{
    supervisor *s = crew->backend_data;
    pthread_mutex_lock(&s->lock);
    int r = s->start_error;
    if (r)
        mp__error(r, "%s", s->start_msg);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* This process's descriptors and memory of the supervisor. */
static void release(supervisor *s)
{
    if (s->fs_fd >= 0)
        close(s->fs_fd);
    close(s->kick_fd);
    free(s->retry);
    free(s->w);
    free(s);
}

static void destroy(supervisor *s)
{
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    release(s);
}

int mp__supervisor_start(mp__crew *crew)
{
    supervisor *s = calloc(1, sizeof *s);
    sup_worker *w = calloc((size_t)crew->workers, sizeof *w);
    if (!s || !w) {
        free(s);
        free(w);
        return mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
    }
    s->crew = crew;
    s->w = w;
    s->fs_fd = -1;
    s->starting = true;
    s->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->kick_fd < 0) {
        int r = mp__syserror("mp_pool_open: eventfd");
        free(w);
        free(s);
        return r;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    crew->backend_data = s;

    /* The supervisor takes no signal meant for the program. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&s->thread, NULL, supervisor_boot, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r) {
        crew->backend_data = NULL;
        destroy(s);
        return mp__error(-r, "mp_pool_open: cannot start the supervisor thread");
    }
    pthread_mutex_lock(&s->lock);
    while (!s->started)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);

    r = mp__crew_wait_ready(crew, startup_failed);
    if (r) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mp_last_error());
        mp__supervisor_stop(crew, true);
        return mp__error(r, "%s", msg);
    }
    atomic_store(&s->starting, false);
    return 0;
}

void mp__supervisor_kick(mp__crew *crew)
{
    supervisor *s = crew->backend_data;
    uint64_t one = 1;
    if (s && write(s->kick_fd, &one, sizeof one) < 0) {
        /* The counter is full: the supervisor has wake-ups pending anyway. */
    }
}

void mp__supervisor_forget(mp__crew *crew)
{
    supervisor *s = crew->backend_data;
    if (!s)
        return;
    /* The lock and condition variable are not destroyed: a thread of the
     * owner may have held them at the fork, and they are only memory. */
    release(s);
    crew->backend_data = NULL;
}

void mp__supervisor_stop(mp__crew *crew, bool now)
{
    supervisor *s = crew->backend_data;
    if (!s)
        return;
    atomic_store(&s->stop, now ? 2 : 1);
    mp__supervisor_kick(crew);
    pthread_join(s->thread, NULL);
    crew->backend_data = NULL;
    destroy(s);
}
