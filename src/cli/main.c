/* main.c — the CLI module's entry points (launcher.h), called by circuitc's
 * launcher: the tool finds the command in the command table (commands.c),
 * parses its options from the option table (parse.c) and runs it; also `help
 * CMD`, --version, and the hidden generators of the man page and the shell
 * completions (docgen.c, run by the build). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "blas_plan.h"
#include "blas_select.h"
#include "circuitc/cleanup.h"
#include "cli.h"
#include "launcher.h"
#include "options.h"
#include "suggest.h"

/* Flushes and closes stdout, turning a failed write (full disk, closed pipe,
 * /dev/full) into a message and exit status 1: one place for every command. */
static int finish_stdout(int status)
{
    int e = 0;
    if (fflush(stdout) != 0) e = errno;
    else if (ferror(stdout)) e = EIO; /* an earlier buffered write failed */
    if (fclose(stdout) != 0 && !e) e = errno;
    if (!e) return status;
    return cli_report_error(CLI_FAIL, cli_run()->command, "cannot write standard output: %s", strerror(e));
}

/* The usage error for NAME, no command: the nearest command when one is close, else the command list. */
static int unknown_command(const char *name)
{
    const char *names[64];
    int n = 0;
    for (int i = 0; i < cli_n_commands && n < 64; i++) names[n++] = cli_commands[i]->name;
    const char *near = cli_suggest(name, names, n);
    if (near) return cli_report_error(CLI_USAGE, NULL, "unknown command \"%s\"; did you mean \"%s\"?", name, near);
    fprintf(stderr, "circuitc: unknown command \"%s\"\n\n", name);
    cli_print_usage(stderr);
    return CLI_USAGE;
}

/* `circuitc help [CMD]`. */
static int help(int argc, char **argv)
{
    if (argc < 3) {
        cli_print_usage(stdout);
        return CLI_OK;
    }
    const cli_command *c = cli_find_command(argv[2]);
    if (!c) return unknown_command(argv[2]);
    cli_print_help(c);
    return CLI_OK;
}

/* Whether ARGV asks for --json ("--json", or short flags with j: "-j", "-jq"),
 * so that even a usage error before it is reported as JSON. */
static bool wants_json(int argc, char **argv)
{
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0 ||
            (argv[i][0] == '-' && strchr(argv[i], 'j') && strspn(argv[i] + 1, "jqh") == strlen(argv[i] + 1)))
            return true;
    return false;
}

/* Runs command C with circuitc's whole ARGV (ARGV[1] is C's name). */
static int run_command(const cli_command *c, int argc, char **argv)
{
    cli_run_begin(c->name);
    cli_errors_as_json(cli_takes(c, O_JSON) && wants_json(argc, argv));
    cli_args a;
    int rc = cli_parse(c, argc - 1, argv + 1, &a);
    if (rc < 0) {
        /* The kernel the launcher chose (docs/blas.md), or a bad CIRCUITC_BLAS_CORE. */
        rc = cli_blas_select();
        /* with --plot or --html, nothing is printed unless the chart or page is written too */
        if (rc == CLI_OK && (a.common.plot || a.common.html)) rc = cli_stdout_hold();
        if (rc == CLI_OK) rc = cli_stdout_release(c->run(&a));
    }
    cli_args_free(&a);
    return rc;
}

static int run(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], CLI_BLAS_SELF_CHECK_MODE) == 0) return cli_blas_self_check_main(argc, argv);
    if (argc < 2) {
        cli_print_usage(stderr);
        return CLI_USAGE;
    }
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
        cli_print_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(first, "help") == 0) return help(argc, argv);
    if (strcmp(first, "--version") == 0) {
        printf("circuitc %s\n", CIRCUITC_VERSION);
        return CLI_OK;
    }
    if (strcmp(first, "--man") == 0) {
        cli_print_man(stdout);
        return CLI_OK;
    }
    if (strcmp(first, "--completion") == 0) return cli_print_completion(stdout, argc > 2 ? argv[2] : "");
    const cli_command *c = cli_find_command(first);
    return c ? run_command(c, argc, argv) : unknown_command(first);
}

cli_module_main_fn circuitc_cli_main;

int circuitc_cli_main(int argc, char **argv)
{
    cc_cleanup_install(); /* temporary files go away on SIGINT/SIGTERM/SIGHUP */
    /* Past a file-size limit (ulimit -f) a write then fails with EFBIG, reported like a full
     * disk, instead of SIGXFSZ killing circuitc silently with its temporary files in place.
     * gnuplot and report's steps inherit this. */
    signal(SIGXFSZ, SIG_IGN);
    return finish_stdout(run(argc, argv));
}
