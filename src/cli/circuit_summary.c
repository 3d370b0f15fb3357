/* circuit_summary.c — accuracy, ranks and spectrum of a compiled circuit. */
#include "circuit_summary.h"

#include <stdio.h>

#include "progress.h"

void circuit_summary_progress(cc_measure_options *o)
{
    o->phase = cli_progress_phase;
    o->progress = cli_progress_update;
}

int circuit_summary(const cc_circuit *c, const cc_fm *fm, const cc_measure_options *o, json_t **out, cc_error *err)
{
    cc_measure_options with_progress = *o;
    circuit_summary_progress(&with_progress);
    cc_circuit_measurement r;
    int rc = cc_circuit_measure(c, fm, &with_progress, &r, err);
    if (rc == 0 && !(*out = cc_circuit_measurement_json(c, &r))) rc = cc_fail_code(err, CC_E_NOMEM, "out of memory");
    cc_circuit_measurement_free(&r);
    return rc;
}

static void print_direction(const char *label, const json_t *d, long n)
{
    json_t *topk = json_object_get(d, "topk");
    printf("  %-8s top-1 %6lld / %ld = %.4f", label, (long long)json_integer_value(json_object_get(d, "top1")), n,
           json_real_value(json_object_get(d, "top1_accuracy")));
    size_t K = json_array_size(topk);
    if (K > 1)
        printf("   top-%zu %6lld = %.4f", K, (long long)json_integer_value(json_array_get(topk, K - 1)),
               (double)json_integer_value(json_array_get(topk, K - 1)) / (double)n);
    json_t *mean = json_object_get(d, "rank_mean"), *med = json_object_get(d, "rank_median");
    if (json_is_number(mean))
        printf("   diagonal rank: median %g, mean %.2f", json_number_value(med), json_number_value(mean));
    printf("\n           (%s; %s path, %.3f s, %lld exact evaluations",
           json_string_value(json_object_get(d, "meaning")), json_string_value(json_object_get(d, "method")),
           json_real_value(json_object_get(d, "seconds")),
           (long long)json_integer_value(json_object_get(d, "exact_evaluations")));
    if (json_integer_value(json_object_get(d, "tied_rows")))
        printf(", %lld rows tie exactly", (long long)json_integer_value(json_object_get(d, "tied_rows")));
    printf(")\n");
    json_t *near = json_object_get(d, "near_ties"), *rows = json_object_get(near, "rows");
    long long count = (long long)json_integer_value(json_object_get(near, "count"));
    if (count == 0) return;
    printf("           near-ties: %lld row%s whose outcome a float32 evaluation of the chain could change (row%s",
           count, count == 1 ? "" : "s", count == 1 ? "" : "s");
    for (size_t i = 0; i < json_array_size(rows); i++)
        printf("%s%lld", i ? ", " : " ", (long long)json_integer_value(json_array_get(rows, i)));
    printf("%s)\n", (long long)json_array_size(rows) < count ? ", ..." : "");
}

void circuit_summary_print(const json_t *r)
{
    json_t *shape = json_object_get(r, "shape");
    long n = (long)json_integer_value(json_array_get(shape, 0));
    printf("shape     %ld x %lld, factored through %lld (rank %lld, Frobenius norm %.6g)\n", n,
           (long long)json_integer_value(json_array_get(shape, 1)),
           (long long)json_integer_value(json_object_get(r, "inner_dim")),
           (long long)json_integer_value(json_object_get(r, "rank")),
           json_real_value(json_object_get(r, "frobenius_norm")));
    printf("accuracy  (diagonal = the correct token; exact over all %ld rows)\n", n);
    print_direction("rows", json_object_get(r, "rows"), n);
    print_direction("columns", json_object_get(r, "cols"), n);
    json_t *note = json_object_get(r, "ranks_note");
    if (note) printf("          %s\n", json_string_value(note));
    json_t *sv = json_object_get(r, "singular_values");
    printf("singular values ");
    for (size_t i = 0; i < json_array_size(sv); i++) printf("%s%.5g", i ? " " : "", json_real_value(json_array_get(sv, i)));
    printf("\n");
}
