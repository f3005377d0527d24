/* fault.c - naming where a process worker crashed, and why it likely did.
 *
 * The usual crash of a process worker is the memory rule broken: a task
 * follows a pointer to memory the program made after the pool opened,
 * which does not exist in the worker.  "killed by SIGSEGV" alone does not
 * say so.  So each worker catches SIGSEGV and SIGBUS on an alternate stack
 * (a stack overflow must be catchable too), stores si_addr and si_code in
 * its slot with plain atomic stores (async-signal-safe), and dies of the
 * signal as before: the handler is one-shot and re-raises.  The supervisor,
 * in the program itself, then looks at the address: mapped in the program
 * but not in the worker means the memory rule.
 */
#include "fault.h"

#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAULT_STACK_SIZE (64 * 1024)

static mp__wslot *fault_slot;           /* this worker's slot */
static char fault_stack[FAULT_STACK_SIZE];

static void on_fault(int sig, siginfo_t *si, void *context)
{
    (void)context;
    atomic_store_explicit(&fault_slot->fault_addr, (uint64_t)(uintptr_t)si->si_addr, memory_order_relaxed);
    atomic_store_explicit(&fault_slot->fault, (uint32_t)sig << 16 | (uint16_t)si->si_code, memory_order_release);
    /* SA_RESETHAND restored the default action.  The signal is blocked
     * while we run, so this one is delivered as we return -- before a
     * faulting instruction would run again -- and kills the worker, whether
     * the fault was real or the signal was sent. */
    raise(sig);
}

void mp__fault_watch(mp__wslot *ws)
{
    atomic_store(&ws->fault, 0);
    fault_slot = ws;
    stack_t stack = { .ss_sp = fault_stack, .ss_size = sizeof fault_stack };
    sigaltstack(&stack, NULL);
    struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
}

/* Whether the page holding `addr` is mapped in this process (the program:
 * the supervisor is one of its threads). */
static bool mapped_here(uint64_t addr)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    unsigned char resident;
    return mincore((void *)(uintptr_t)(addr / page * page), 1, &resident) == 0;
}

/* The likely cause of a fault at `addr`, or "" when there is no telling. */
static const char *likely_cause(int sig, int code, uint64_t addr)
{
    if (sig == SIGSEGV && addr < (uint64_t)sysconf(_SC_PAGESIZE))
        return " (a NULL pointer)";
    if (sig == SIGSEGV && code == SEGV_MAPERR && mapped_here(addr))
        return " is not mapped in the worker: memory allocated after the pool opened is not visible to process "
               "workers; use mp_shm_alloc or pass it as input/context";
    if (sig == SIGSEGV && code == SEGV_MAPERR)
        return " is not mapped (a dangling or corrupt pointer?)";
    if (sig == SIGSEGV && code == SEGV_ACCERR)
        return ": access not permitted (a write to read-only memory?)";
    return "";
}

void mp__fault_explain(const mp__wslot *ws, int status, char *buf, size_t len, size_t used)
{
    uint32_t fault = atomic_load(&ws->fault);
    int sig = (int)(fault >> 16), code = (int16_t)(fault & 0xffff);
    /* Only a fault the kernel raised has an address (si_code > 0); a
     * signal sent by kill() or raise() has none. */
    if (!fault || !WIFSIGNALED(status) || WTERMSIG(status) != sig || code <= 0 || used >= len)
        return;
    uint64_t addr = atomic_load(&ws->fault_addr);
    snprintf(buf + used, len - used, ": address 0x%llx%s", (unsigned long long)addr, likely_cause(sig, code, addr));
}
