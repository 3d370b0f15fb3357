/* parse.c — command-line parsing driven by the option table (options.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html_cli.h"
#include "options.h"
#include "plot_cli.h"
#include "progress.h"
#include "suggest.h"

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
        for (int a = 0; o->aliases && o->aliases[a]; a += 2) /* an alias stands for its choice */
            if (strcmp(text, o->aliases[a]) == 0) text = o->aliases[a + 1];
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

/* The option C takes named NAME (LEN bytes: exactly, no prefix of a longer name), or O_NONE. */
static opt_id long_option(const cli_command *c, const char *name, size_t len)
{
    for (int id = 1; id < O_COUNT; id++)
        if (cli_takes(c, (opt_id)id) && strlen(cli_options[id].name) == len && strncmp(name, cli_options[id].name, len) == 0)
            return (opt_id)id;
    return O_NONE;
}

static opt_id short_option(const cli_command *c, char ch)
{
    for (int id = 1; id < O_COUNT; id++)
        if (cli_options[id].short_name == ch && cli_takes(c, (opt_id)id)) return (opt_id)id;
    return O_NONE;
}

/* What the user of C most likely meant by option NAME, into BUF ("" if
 * nothing is close): "--ablate zero" when NEXT (the argument after it, or
 * NULL) is a value only one of C's options takes, else the nearest name. */
static const char *suggest_option(const cli_command *c, const char *name, const char *next, char *buf, size_t size)
{
    const char *names[O_COUNT];
    int n = 0;
    for (int id = 1; id < O_COUNT; id++) {
        if (!cli_takes(c, (opt_id)id)) continue;
        names[n++] = cli_options[id].name;
        const char *const *choice = cli_options[id].choices;
        for (; next && choice && *choice; choice++)
            if (strcmp(*choice, next) == 0) {
                snprintf(buf, size, "; did you mean --%s %s?", cli_options[id].name, next);
                return buf;
            }
    }
    const char *near = cli_suggest(name, names, n);
    if (near) snprintf(buf, size, "; did you mean --%s?", near);
    else buf[0] = '\0';
    return buf;
}

/* The usage error for ARG (NEXT: the argument after it, or NULL), an option C does not take. */
static int unknown_option(const cli_command *c, const char *arg, const char *next)
{
    char name[64], hint[128];
    snprintf(name, sizeof name, "%s", arg + strspn(arg, "-"));
    name[strcspn(name, "=")] = '\0';
    if (arg[1] != '-') return cli_usage_error(c->name, "unknown option %s", arg);
    suggest_option(c, name, next, hint, sizeof hint);
    for (int id = 1; id < O_COUNT; id++)
        if (strcmp(name, cli_options[id].name) == 0)
            return cli_usage_error(c->name, "unknown option --%s: %s does not take it%s", name, c->name, hint);
    return cli_usage_error(c->name, "unknown option --%s%s", name, hint);
}

/* Stores option ID given as ARG with VALUE (NULL for a flag); a usage error's status, else 0. */
static int take(const cli_command *c, opt_id id, const char *arg, const char *value, cli_args *a, int max_items)
{
    bool flag = cli_options[id].kind == KIND_FLAG;
    if (flag && value) return cli_usage_error(c->name, "option %s takes no value", arg);
    if (!flag && !value) return cli_usage_error(c->name, "option %s needs a value", arg);
    a->v[id].given = true;
    return set_value(c->name, id, value, &a->v[id], max_items) == 0 ? 0 : CLI_USAGE;
}

/* Takes the long option ARGV[*I] ("--name" or "--name=value"; a value may be the next argument). */
static int take_long(const cli_command *c, int argc, char **argv, int *i, cli_args *a)
{
    const char *arg = argv[(*i)++], *name = arg + 2, *eq = strchr(name, '=');
    opt_id id = long_option(c, name, eq ? (size_t)(eq - name) : strlen(name));
    if (id == O_NONE) return unknown_option(c, arg, *i < argc ? argv[*i] : NULL);
    const char *value = eq ? eq + 1 : NULL;
    if (!value && cli_options[id].kind != KIND_FLAG && *i < argc) value = argv[(*i)++];
    char label[72];
    snprintf(label, sizeof label, "--%s", cli_options[id].name);
    return take(c, id, label, value, a, argc);
}

/* Takes the short options ARGV[*I] ("-jq", "-o DIR", "-oDIR"). */
static int take_short(const cli_command *c, int argc, char **argv, int *i, cli_args *a)
{
    const char *arg = argv[(*i)++];
    for (const char *p = arg + 1; *p; p++) {
        char label[3] = {'-', *p, '\0'};
        opt_id id = short_option(c, *p);
        if (id == O_NONE) return unknown_option(c, label, NULL);
        const char *value = NULL;
        if (cli_options[id].kind != KIND_FLAG) value = p[1] ? p + 1 : *i < argc ? argv[(*i)++] : NULL;
        int rc = take(c, id, label, value, a, argc);
        if (rc != 0 || value) return rc;
    }
    return 0;
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

/* Options are matched by their exact long name (a prefix is an unknown option,
 * so --mode never silently becomes --model) or short letter; they may come
 * before, between or after the positional arguments; "--" ends them. */
int cli_parse(const cli_command *c, int argc, char **argv, cli_args *a)
{
    *a = (cli_args){.cmd = c};
    set_defaults(a);
    if (!(a->pos = calloc((size_t)argc + 1, sizeof *a->pos))) return cli_usage_error(c->name, "out of memory");
    for (int i = 1; i < argc;) {
        const char *arg = argv[i];
        int rc = 0;
        if (strcmp(arg, "--") == 0) {
            while (++i < argc) a->pos[a->n_pos++] = argv[i];
        } else if (arg[0] != '-' || arg[1] == '\0') {
            a->pos[a->n_pos++] = argv[i++];
        } else {
            rc = arg[1] == '-' ? take_long(c, argc, argv, &i, a) : take_short(c, argc, argv, &i, a);
        }
        if (rc != 0) return rc;
    }
    if (a->v[O_HELP].on) {
        cli_print_help(c);
        return CLI_OK;
    }
    set_common(a);
    int rc = check_arg_count(c, a);
    if (rc >= 0) return rc;
    rc = cli_plot_check(c->name, &a->common);
    return rc >= 0 ? rc : cli_html_check(c->name, &a->common);
}

void cli_args_free(cli_args *a)
{
    for (int id = 0; id < O_COUNT; id++) free(a->v[id].items);
    free(a->pos);
}
