/* suggest.h — "did you mean": the known word nearest a misspelled one, for
 * unknown commands and options. Private to src/cli/. */
#ifndef CIRCUITC_CLI_SUGGEST_H
#define CIRCUITC_CLI_SUGGEST_H

/* The one of the N CANDIDATES that WORD most likely misspells: the only one
 * WORD is a prefix of, else the nearest in edit distance (a swap of two
 * neighbouring letters counts as one edit) when it is near enough for the
 * length of WORD; NULL when none is. */
const char *cli_suggest(const char *word, const char *const *candidates, int n);

#endif
