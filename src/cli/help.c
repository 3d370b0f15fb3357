/* help.c — `circuitc --help`, `circuitc CMD --help` / `-h` and `circuitc help
 * CMD`, generated from the option and command tables (options.h). */
#include <stdio.h>
#include <string.h>

#include "options.h"

enum { LABEL_WIDTH = 26, LINE_WIDTH = 96, EXAMPLE_INDENT = 6 };

const cli_command *cli_find_command(const char *name)
{
    for (int i = 0; i < cli_n_commands; i++)
        if (strcmp(cli_commands[i]->name, name) == 0) return cli_commands[i];
    return NULL;
}

void cli_print_usage(FILE *out)
{
    fprintf(out,
            "circuitc — mechanistic-interpretability analyses of transformer language models\n\n"
            "Usage: circuitc <command> [options]\n"
            "       circuitc help <command>      (or circuitc <command> --help, -h)\n"
            "       circuitc --version\n\n"
            "Commands:\n");
    for (int i = 0; i < cli_n_commands; i++) fprintf(out, "  %-12s %s\n", cli_commands[i]->name, cli_commands[i]->summary);
    fprintf(out,
            "\nHeads are written L<layer>H<head> (L4H11) or <layer>.<head> (4.11), 0-based.\n"
            "Models: a Hugging Face folder of a GPT-2, GPT-Neo, GPT-NeoX or Llama-family model (config.json\n"
            "+ model.safetensors, or sharded; F32, F16 or BF16), a TransformerLens export, or a .safetensors\n"
            "file with --config (docs/architectures.md). Default model: $CIRCUITC_MODEL, else the bundled one.\n"
            "Exit status: 0 success, 1 error (message on stderr, nothing on stdout), 2 usage error.\n"
            "The manual page circuitc(1) has every command, option and example.\n");
}

/* Option ID's help with its default and range, e.g. "rows listed (default 10; 1 to 1000000)". */
static void option_text(opt_id id, char *buf, size_t size)
{
    const opt_spec *o = &cli_options[id];
    int n = snprintf(buf, size, "%s", o->help);
    if (n < 0 || (size_t)n >= size) return;
    if (o->kind == KIND_INT)
        snprintf(buf + n, size - (size_t)n, " (default %s; %lld to %lld)", o->def, o->min, o->max);
    else if (o->def)
        snprintf(buf + n, size - (size_t)n, " (default %s)", o->def);
    else if (o->kind == KIND_LIST)
        snprintf(buf + n, size - (size_t)n, " (repeatable)");
}

/* Prints TEXT word-wrapped to LINE_WIDTH, continuation lines indented by INDENT. */
static void print_wrapped(const char *text, int column, int indent)
{
    const char *p = text;
    while (*p) {
        size_t word = strcspn(p, " ");
        if (column > indent && column + 1 + (int)word > LINE_WIDTH) {
            printf("\n%*s", indent, "");
            column = indent;
        } else if (column > indent) {
            putchar(' ');
            column++;
        }
        printf("%.*s", (int)word, p);
        column += (int)word;
        p += word;
        p += strspn(p, " ");
    }
    putchar('\n');
}

static void print_option(opt_id id)
{
    char label[64], text[512];
    const opt_spec *o = &cli_options[id];
    char form[48];
    cli_option_label(id, form, sizeof form);
    if (o->short_name) snprintf(label, sizeof label, "-%c, %s", o->short_name, form);
    else snprintf(label, sizeof label, "    %s", form);
    option_text(id, text, sizeof text);
    int column = printf("  %-*s", LABEL_WIDTH - 2, label);
    /* a label that leaves no space before the text column gets a line of its own */
    if ((int)strlen(label) > LABEL_WIDTH - 3) {
        printf("\n%*s", LABEL_WIDTH, "");
        column = LABEL_WIDTH;
    }
    print_wrapped(text, column, LABEL_WIDTH);
}

/* Prints the example command line LINE (N bytes) as the shell takes it: past
 * LINE_WIDTH it goes on after a backslash, broken at a space outside quotes. */
static void print_example(const char *line, size_t n)
{
    int column = printf("  circuitc ");
    size_t start = 0;
    while (start < n) {
        size_t end = start, fits = 0; /* end: the next break; fits: the last break that fits */
        char quote = 0;
        for (; end < n; end++) {
            if (quote) quote = line[end] == quote ? 0 : quote;
            else if (line[end] == '\'' || line[end] == '"') quote = line[end];
            else if (line[end] == ' ' && column + (int)(end - start) + 2 <= LINE_WIDTH) fits = end;
            else if (line[end] == ' ') break;
        }
        /* break at the last space that fits: before a word that does not, or before a last word past the width */
        if (fits > start && (end < n || column + (int)(end - start) > LINE_WIDTH)) end = fits;
        printf("%.*s", (int)(end - start), line + start);
        if (end >= n) break;
        column = printf(" \\\n%*s", EXAMPLE_INDENT, "") - 3;
        start = end + 1;
    }
    putchar('\n');
}

void cli_print_help(const cli_command *c)
{
    printf("Usage: circuitc %s%s%s [options]\n\n%s\n\n", c->name, *c->synopsis ? " " : "", c->synopsis, c->summary);
    fputs(c->description, stdout);
    printf("\nOptions:\n");
    for (const opt_id *o = c->options; *o != O_NONE; o++) print_option(*o);
    print_option(O_HELP);
    printf("\nExamples:\n");
    for (const char *line = c->examples; *line;) {
        size_t n = strcspn(line, "\n");
        print_example(line, n);
        line += n + (line[n] == '\n');
    }
}
