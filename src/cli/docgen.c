/* docgen.c — placeholder until the generators land. */
#include "options.h"
void cli_print_man(FILE *out) { (void)out; }
int cli_print_completion(FILE *out, const char *shell) { (void)out; (void)shell; return CLI_OK; }
