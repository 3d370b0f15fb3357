/* launcher.c — the circuitc program. It links neither libcircuitc nor OpenBLAS:
 * it chooses the OpenBLAS kernel first (docs/blas.md), since OpenBLAS reads
 * OPENBLAS_CORETYPE only while it is being loaded, then loads the CLI module
 * (circuitc-cli.so, which links both) and runs the tool in this same process.
 * The choice is made by the planner module in a forked child, which loads
 * OpenBLAS with the library's own kernel and writes back the variables to set;
 * never when the user set OPENBLAS_CORETYPE. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h"

/* NAME beside the program (the build tree), else where the modules are
 * installed relative to the program (CC_CLI_MODULE_FROM_BINDIR, or absolute). */
static void module_path(const char *name, char *path, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    const char *installed = CC_CLI_MODULE_FROM_BINDIR;
    snprintf(path, size, "%s/%s", exe, name);
    if (access(path, F_OK) != 0) {
        if (installed[0] == '/') snprintf(path, size, "%s/%s", installed, name);
        else snprintf(path, size, "%s/%s/%s", exe, installed, name);
    }
}

/* Global: Open MPI's plug-ins need libmpi's symbols (atlas under mpirun). */
static void *load_module(const char *path) { return dlopen(path, RTLD_NOW | RTLD_GLOBAL); }

/* Whether ARGV runs a command (the only runs that choose a kernel): not
 * --help, --version, the hidden modes (all options) or `help`. */
static bool runs_a_command(int argc, char **argv)
{
    return argc >= 2 && argv[1][0] != '-' && strcmp(argv[1], "help") != 0;
}

/* Sets the planner's "NAME=value" lines for the two names it may set. */
static void adopt_plan(char *lines)
{
    for (char *save = NULL, *line = strtok_r(lines, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = '\0';
        if (strcmp(line, "OPENBLAS_CORETYPE") == 0 || strcmp(line, CLI_BLAS_MARKER_VAR) == 0) setenv(line, eq + 1, 1);
    }
}

/* Runs the module's planner in a forked child, before this process loads
 * anything. A planner that fails leaves the environment as it was: the tool
 * then runs on the library's kernel and says why (blas_select.c). */
static void plan_kernel(void)
{
    char module[PATH_MAX + 64];
    module_path("circuitc-blas-plan.so", module, sizeof module);
    int fds[2];
    if (pipe(fds) != 0) return;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        void *h = load_module(module);
        cli_module_plan_fn *plan = h ? (cli_module_plan_fn *)dlsym(h, CLI_MODULE_PLAN) : NULL;
        _exit(plan ? plan(fds[1]) : 1);
    }
    close(fds[1]);
    char lines[1024] = "";
    size_t got = 0;
    ssize_t n;
    while (pid > 0 && got < sizeof lines - 1 && (n = read(fds[0], lines + got, sizeof lines - 1 - got)) > 0)
        got += (size_t)n;
    lines[got] = '\0';
    close(fds[0]);
    int status = 1;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) continue;
    if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) adopt_plan(lines);
}

int main(int argc, char **argv)
{
    /* Nothing to choose when the user pinned the kernel or asked for the library's own. */
    const char *request = getenv("CIRCUITC_BLAS_CORE");
    bool keep = request && strcmp(request, "keep") == 0;
    if (runs_a_command(argc, argv) && !getenv("OPENBLAS_CORETYPE") && !keep) plan_kernel();
    char module[PATH_MAX + 64];
    module_path("circuitc-cli.so", module, sizeof module);
    void *h = load_module(module);
    cli_module_main_fn *run = h ? (cli_module_main_fn *)dlsym(h, CLI_MODULE_MAIN) : NULL;
    if (!run) {
        fprintf(stderr, "circuitc: cannot load its module %s: %s\n", module, dlerror());
        return 1;
    }
    return run(argc, argv);
}
