/* parse.c — command-line parsing driven by the option table (options.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html_cli.h"
#include "options.h"
#include "plot_cli.h"
#include "progress.h"

enum { VAL_BASE = 1000 }; /* getopt_long value of option id i: VAL_BASE + i */

bool cli_takes(const cli_command *c, opt_id id)
{
    if (id == O_HELP) return true;
    for (const opt_id *o = c->options; *o != O_NONE; o++)
        if (*o == id) return true;
    return false;
}

/* Stores TEXT as option ID's value; -1 after a usage error. */
static int set_value(const char *cmd, opt_id id, const char *text, opt_value *v, int max_items)
{
    const opt_spec *o = &cli_options[id];
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", o->name);
    switch (o->kind) {
    case KIND_FLAG: v->on = true; return 0;
    case KIND_INT: return cli_parse_int(cmd, flag, text, (int)o->min, (int)o->max, &v->i);
    case KIND_U64: return cli_parse_u64(cmd, flag, text, &v->u);
    case KIND_TEXT: v->s = text; return 0;
    case KIND_CHOICE:
        for (int k = 0; o->choices[k]; k++)
            if (strcmp(text, o->choices[k]) == 0) {
                v->s = o->choices[k];
                v->choice = k;
                return 0;
            }
        char list[128] = "";
        for (int k = 0; o->choices[k]; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? (o->choices[k + 1] ? ", " : " or ") : "",
                     o->choices[k]);
        cli_usage_error(cmd, "%s takes %s, got \"%s\"", flag, list, text);
        return -1;
    case KIND_LIST:
        if (!v->items && !(v->items = calloc((size_t)max_items, sizeof *v->items))) {
            cli_usage_error(cmd, "out of memory");
            return -1;
        }
        v->items[v->n_items++] = text;
        return 0;
    }
    return 0;
}

/* The defaults of every option (the table's values are trusted text). */
static void set_defaults(cli_args *a)
{
    for (int id = 1; id < O_COUNT; id++)
        if (cli_options[id].def) set_value("(defaults)", (opt_id)id, cli_options[id].def, &a->v[id], 0);
}

/* The usage error for ARG, an option this command does not take. */
static int unknown_option(const cli_command *c, const char *arg)
{
    char name[64];
    snprintf(name, sizeof name, "%s", arg + strspn(arg, "-"));
    name[strcspn(name, "=")] = '\0';
    for (int id = 1; id < O_COUNT; id++)
        if (arg[0] == '-' && arg[1] == '-' && strcmp(name, cli_options[id].name) == 0)
            return cli_usage_error(c->name, "unknown option --%s: %s does not take it", name, c->name);
    return cli_usage_error(c->name, "unknown option %s", arg);
}

/* The usage error when the number of positional arguments is wrong; -1 if it is right. */
static int check_arg_count(const cli_command *c, const cli_args *a)
{
    int n = a->n_pos;
    if (n >= c->min_args && (c->max_args < 0 || n <= c->max_args)) return -1;
    if (c->max_args == 0 || (c->max_args > 0 && n > c->max_args && c->min_args != c->max_args))
        return cli_usage_error(c->name, "unexpected argument \"%s\"", a->pos[c->max_args]);
    if (c->max_args < 0) {
        char word[64];
        snprintf(word, sizeof word, "%s", c->synopsis);
        word[strcspn(word, ".")] = '\0';
        return cli_usage_error(c->name, "give at least one %s (usage: circuitc %s %s)", word, c->name, c->synopsis);
    }
    if (n == 0 && c->min_args == 1)
        return cli_usage_error(c->name, "%s is required: give %s %s", c->synopsis, strchr("aeiou", c->arg_noun[0]) ? "an" : "a",
                               c->arg_noun);
    return cli_usage_error(c->name, "expected %d %s%s (%s), got %d", c->min_args, c->arg_noun, c->min_args > 1 ? "s" : "",
                           c->synopsis, n);
}

/* Fills a->common from the parsed values. */
static void set_common(cli_args *a)
{
    a->common.model = a->v[O_MODEL].s;
    a->common.config = a->v[O_CONFIG].s;
    a->common.json = a->v[O_JSON].on;
    a->common.no_processing = a->v[O_NO_PROCESSING].on;
    a->common.allow_nonfinite = a->v[O_ALLOW_NONFINITE].on;
    a->common.plot = a->v[O_PLOT].s;
    a->common.html = a->v[O_HTML].s;
    if (a->v[O_QUIET].on) cli_progress_silence();
}

int cli_parse(const cli_command *c, int argc, char **argv, cli_args *a)
{
    struct option longopts[O_COUNT + 1];
    char shortopts[2 * O_COUNT + 2] = ":";
    int n = 0;
    for (int id = 1; id < O_COUNT; id++) {
        if (!cli_takes(c, (opt_id)id)) continue;
        const opt_spec *o = &cli_options[id];
        int has_arg = o->kind == KIND_FLAG ? no_argument : required_argument;
        longopts[n++] = (struct option){o->name, has_arg, NULL, VAL_BASE + id};
        if (o->short_name) {
            size_t k = strlen(shortopts);
            shortopts[k] = o->short_name;
            shortopts[k + 1] = has_arg == required_argument ? ':' : '\0';
            shortopts[k + 2] = '\0';
        }
    }
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    *a = (cli_args){.cmd = c};
    set_defaults(a);
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (ch == ':') return cli_usage_error(c->name, "option %s needs a value", argv[optind - 1]);
        if (ch == '?') return unknown_option(c, optopt ? (char[]){'-', (char)optopt, 0} : argv[optind - 1]);
        int id = ch;
        if (ch < VAL_BASE)
            for (id = 1; cli_options[id].short_name != ch || !cli_takes(c, (opt_id)id); id++) {}
        else
            id = ch - VAL_BASE;
        a->v[id].given = true;
        if (set_value(c->name, (opt_id)id, optarg, &a->v[id], argc) != 0) return CLI_USAGE;
    }
    if (a->v[O_HELP].on) {
        cli_print_help(c);
        return CLI_OK;
    }
    a->pos = argv + optind;
    a->n_pos = argc - optind;
    set_common(a);
    int rc = check_arg_count(c, a);
    if (rc >= 0) return rc;
    rc = cli_plot_check(c->name, &a->common);
    return rc >= 0 ? rc : cli_html_check(c->name, &a->common);
}

void cli_args_free(cli_args *a)
{
    for (int id = 0; id < O_COUNT; id++) free(a->v[id].items);
}
