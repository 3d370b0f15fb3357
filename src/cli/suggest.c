/* suggest.c — the nearest known word (suggest.h). */
#include "suggest.h"

#include <string.h>

enum { MAX_WORD = 64 };

/* Edit distance between A and B with insertions, deletions, substitutions
 * and swaps of neighbouring letters each costing one (optimal string
 * alignment). Words longer than MAX_WORD are compared on their first MAX_WORD. */
static int edit_distance(const char *a, const char *b)
{
    size_t n = strnlen(a, MAX_WORD), m = strnlen(b, MAX_WORD);
    int d[MAX_WORD + 1][MAX_WORD + 1]; /* d[i][j]: distance of a[0..i) and b[0..j) */
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

const char *cli_suggest(const char *word, const char *const *candidates, int n)
{
    size_t len = strlen(word);
    const char *prefixed = NULL;
    int n_prefixed = 0;
    for (int i = 0; i < n; i++)
        if (len > 0 && strncmp(candidates[i], word, len) == 0) prefixed = candidates[i], n_prefixed++;
    if (n_prefixed == 1) return prefixed;
    /* one edit for short words, two from five letters, three from ten */
    int allowed = 1 + (int)len / 5, best = allowed + 1;
    const char *nearest = NULL;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, candidates[i]);
        if (d < best) best = d, nearest = candidates[i];
    }
    return nearest;
}
