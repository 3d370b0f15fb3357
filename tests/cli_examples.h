/* cli_examples.h — the commands and examples circuitc's help lists, for the
 * suites that run every command (cli_docs, cli_options, cli_text). */
#ifndef CIRCUITC_CLI_EXAMPLES_H
#define CIRCUITC_CLI_EXAMPLES_H

enum { TU_MAX_COMMANDS = 64, TU_MAX_WORDS = 32 };

/* The command names listed under "Commands:" in `circuitc --help`, into
 * NAMES (at most TU_MAX_COMMANDS); their number. */
int tu_list_commands(char names[][32]);

/* The example command lines of CMD's help without their "circuitc ", a long
 * example's backslash continuations joined: a NULL-terminated array, freed by
 * tu_examples_free. */
char **tu_examples(const char *cmd);
void tu_examples_free(char **lines);

/* Splits LINE in place into ARGV (room for TU_MAX_WORDS) as a shell would for
 * the examples: words separated by spaces, "double" or 'single' quoted words
 * kept together; NULL-terminated with a free slot after it. Returns the count. */
int tu_split_words(char *line, const char **argv);

/* A scratch folder with the source tree's golden/ and circuits/ linked in,
 * where the examples (written to run from the source tree) run. Remove it
 * with tu_rmtree; caller frees. */
char *tu_example_dir(void);

#endif
