/* blas_plan.c — the planner of blas_plan.h: self-checks candidates in a child
 * process (so a crash only rejects the candidate), caches the verdicts and
 * names the variables the computing process sets before OpenBLAS loads. */
#include "blas_plan.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char SELF[] = "/proc/self/exe";
/* Test hooks (docs/blas.md): pretend the library picked this core by itself;
 * make the self-check of this core die of SIGILL. */
static const char PRETEND_VAR[] = "CIRCUITC_BLAS_TEST_LIBRARY_CORE";
static const char FAULT_VAR[] = "CIRCUITC_BLAS_TEST_FAULT";
enum { SELF_CHECK_OK = 0, SELF_CHECK_FAIL = 1, SELF_CHECK_ABSENT = 3, SELF_CHECK_SECONDS = 60 };

int cli_blas_self_check_main(int argc, char **argv)
{
    alarm(SELF_CHECK_SECONDS); /* a hanging kernel is a failing one */
    cc_blas_library lib;
    cc_blas_library_query(&lib);
    if (argc < 3 || strcasecmp(lib.core, argv[2]) != 0) {
        printf("absent: this OpenBLAS runs %s when asked for %s\n", lib.core, argc < 3 ? "nothing" : argv[2]);
        return SELF_CHECK_ABSENT;
    }
    const char *fault = getenv(FAULT_VAR);
    if (fault && strcasecmp(fault, argv[2]) == 0) raise(SIGILL);
    char summary[512];
    bool ok = cc_blas_self_check(summary, sizeof summary);
    printf("%s: %s\n", ok ? "pass" : "fail", summary);
    return ok ? SELF_CHECK_OK : SELF_CHECK_FAIL;
}

void cli_blas_query(cc_blas_library *lib, cc_cpu_features *cpu)
{
    cc_blas_library_query(lib);
    cc_cpu_detect(cpu);
    const char *pretend = getenv(PRETEND_VAR);
    if (pretend && !getenv("OPENBLAS_CORETYPE")) snprintf(lib->core, sizeof lib->core, "%s", pretend);
}

/* Runs the hidden self-check mode with OPENBLAS_CORETYPE=CORE; DETAIL gets
 * its line or how it died. *TRANSIENT is set when the result says nothing
 * about the kernel (could not start, killed, timed out): not to be cached. */
static cc_blas_verdict self_check_in_child(const char *core, char *detail, size_t size, bool *transient)
{
    *transient = true;
    snprintf(detail, size, "could not run the self-check");
    int fds[2];
    if (pipe(fds) != 0) return CC_VERDICT_FAIL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    char *child_argv[] = {(char *)"circuitc", (char *)CLI_BLAS_SELF_CHECK_MODE, (char *)core, NULL};
    setenv("OPENBLAS_CORETYPE", core, 1);
    pid_t pid;
    int spawned = posix_spawn(&pid, SELF, &fa, NULL, child_argv, environ);
    unsetenv("OPENBLAS_CORETYPE");
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (spawned != 0) {
        close(fds[0]);
        return CC_VERDICT_FAIL;
    }
    char line[512] = "";
    size_t got = 0;
    ssize_t n;
    while (got < sizeof line - 1 && (n = read(fds[0], line + got, sizeof line - 1 - got)) > 0) got += (size_t)n;
    line[got] = '\0';
    line[strcspn(line, "\n")] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return CC_VERDICT_FAIL;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        *transient = sig == SIGKILL || sig == SIGALRM;
        snprintf(detail, size, "%s crashed the self-check with signal %d (%s)", core, sig, strsignal(sig));
        return CC_VERDICT_FAIL;
    }
    *transient = false;
    const char *colon = strstr(line, ": "); /* the verdict word is recorded separately */
    snprintf(detail, size, "%s", colon ? colon + 2 : line[0] ? line : "no report");
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && strncmp(line, "pass", 4) == 0 ? CC_VERDICT_PASS
                                                                                          : CC_VERDICT_FAIL;
}

static cc_blas_verdict verdict_for(const cc_blas_inputs *in, cc_blas_candidate c, bool self_check, bool *fresh)
{
    const char *core = cc_blas_candidate_core(c);
    cc_blas_cache_entry entry;
    bool cacheable = cc_blas_cache_entry_for(in->cpu, in->lib, core, &entry);
    cc_blas_verdict v = cacheable ? cc_blas_cache_read(&entry) : CC_VERDICT_UNKNOWN;
    *fresh = v == CC_VERDICT_UNKNOWN;
    if (!*fresh || !self_check) return v;
    char detail[600];
    bool transient;
    v = self_check_in_child(core, detail, sizeof detail, &transient);
    if (cacheable && !transient) cc_blas_cache_write(&entry, v, detail);
    return v;
}

void cli_blas_plan_decide(cc_blas_inputs *in, bool self_check, cc_blas_decision *out)
{
    for (cc_blas_decide(in, out); out->action == CC_BLAS_VERIFY; cc_blas_decide(in, out)) {
        cc_blas_candidate c = out->candidate;
        in->verdict[c] = verdict_for(in, c, self_check, &in->fresh[c]);
        if (in->verdict[c] == CC_VERDICT_UNKNOWN) return; /* not checked: stays VERIFY */
    }
}

int cli_blas_plan(FILE *out)
{
    cc_blas_library lib;
    cc_cpu_features cpu;
    cli_blas_query(&lib, &cpu);
    cc_blas_inputs in = {.request = getenv("CIRCUITC_BLAS_CORE"),
                         .coretype = getenv("OPENBLAS_CORETYPE"),
                         .marker = getenv(CLI_BLAS_MARKER_VAR),
                         .lib = &lib,
                         .cpu = &cpu};
    cc_blas_decision d;
    cli_blas_plan_decide(&in, true, &d);
    if (d.action == CC_BLAS_SWITCH) fprintf(out, "OPENBLAS_CORETYPE=%s\n%s=%s\n", d.core, CLI_BLAS_MARKER_VAR, d.marker);
    if (d.action == CC_BLAS_REFUSE) fprintf(out, "%s=%s\n", CLI_BLAS_REFUSED, d.reason);
    return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}

cli_module_plan_fn circuitc_cli_plan;

int circuitc_cli_plan(int fd)
{
    FILE *out = fdopen(fd, "w");
    return out ? cli_blas_plan(out) : 1;
}
