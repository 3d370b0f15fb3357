/* stdout_hold.c — a command's standard output held back until it succeeded
 * (cli.h): what a --plot command prints goes to memory and reaches stdout only
 * when the chart was drawn too, so a failed chart leaves stdout empty like any
 * other error. glibc lets stdout be reassigned; every command prints through
 * the stdout stream (none writes to descriptor 1 directly), so they all follow. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static FILE *real_stdout; /* set while held */
static char *held;
static size_t held_len;

int cli_stdout_hold(void)
{
    fflush(stdout);
    FILE *m = open_memstream(&held, &held_len);
    if (!m) {
        return cli_report_error(CLI_FAIL, cli_run()->command, "out of memory");
    }
    real_stdout = stdout;
    stdout = m;
    return CLI_OK;
}

int cli_stdout_release(int status)
{
    if (!real_stdout) return status;
    FILE *m = stdout;
    stdout = real_stdout;
    real_stdout = NULL;
    if (fclose(m) != 0) { /* a memory stream only fails for want of memory */
        status = cli_report_error(CLI_FAIL, cli_run()->command, "out of memory holding the standard output");
    } else if (status == CLI_OK) {
        fwrite(held, 1, held_len, stdout); /* checked with every other write at exit (main.c) */
    }
    free(held);
    held = NULL, held_len = 0;
    return status;
}
