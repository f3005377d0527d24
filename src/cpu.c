/* cpu.c - how many CPUs this process may use.
 *
 * The affinity mask says which CPUs the scheduler may run us on; a cgroup
 * v2 cpu.max quota (containers, CI runners) may allow less time than that
 * many CPUs.  We take the smaller, rounding a fractional quota up. */
#include "internal.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads "quota period" from <cgroup>/cpu.max for our cgroup and each
 * ancestor; returns the tightest limit in CPUs, or 0 when unlimited. */
static int cgroup_cpu_limit(void)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return 0;
    char line[4096], path[4096] = "";
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0) {
            snprintf(path, sizeof path, "%s", line + 3);
            path[strcspn(path, "\n")] = '\0';
        }
    fclose(f);
    if (!path[0])
        return 0;

    int best = 0;
    for (;;) {
        char file[4200];
        snprintf(file, sizeof file, "/sys/fs/cgroup%s/cpu.max", strcmp(path, "/") ? path : "");
        FILE *m = fopen(file, "re");
        if (m) {
            char quota[64];
            unsigned long long period = 0;
            if (fscanf(m, "%63s %llu", quota, &period) == 2 && strcmp(quota, "max") && period) {
                unsigned long long q = strtoull(quota, NULL, 10);
                int cpus = (int)((q + period - 1) / period);
                if (cpus < 1) cpus = 1;
                if (!best || cpus < best) best = cpus;
            }
            fclose(m);
        }
        char *slash = strrchr(path, '/');
        if (!slash || slash == path)
            break;
        *slash = '\0';
    }
    return best;
}

int mp_cpu_count(void)
{
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n < 1)
        n = 1;
    int limit = cgroup_cpu_limit();
    if (limit > 0 && limit < n)
        n = limit;
    return n;
}
