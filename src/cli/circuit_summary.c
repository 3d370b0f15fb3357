/* circuit_summary.c — accuracy, ranks and spectrum of a compiled circuit. */
#include "circuit_summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "progress.h"

double circuit_summary_elapsed(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

static const char *method_name(cc_topk_method m) { return m == CC_TOPK_FAST ? "fast" : "brute-force"; }

/* {count, rows: the first few, at_k: per k} or null when the circuit has no float32 error bounds. */
static json_t *near_ties_json(const cc_topk_result *r)
{
    if (!r->has_near_ties) return json_null();
    json_t *rows = json_array(), *at_k = json_array();
    for (long i = 0; i < r->near_ties && i < CC_TOPK_NEAR_TIE_LIST; i++)
        json_array_append_new(rows, json_integer(r->near_tie_rows[i]));
    for (int k = 0; k < r->k_max; k++) json_array_append_new(at_k, json_integer(r->near_ties_at[k]));
    return json_pack("{s:I, s:o, s:o}", "count", (json_int_t)r->near_ties, "rows", rows, "at_k", at_k);
}

static json_t *direction_json(const cc_topk_result *r, const char *meaning)
{
    json_t *topk = json_array(), *acc = json_array();
    for (int k = 0; k < r->k_max; k++) {
        json_array_append_new(topk, json_integer(r->correct[k]));
        json_array_append_new(acc, json_real((double)r->correct[k] / (double)r->n));
    }
    json_t *j = json_pack("{s:s, s:I, s:f, s:o, s:o, s:I, s:s, s:i, s:I, s:I, s:f}", "meaning", meaning, "top1",
                          (json_int_t)r->correct[0], "top1_accuracy", (double)r->correct[0] / (double)r->n, "topk",
                          topk, "topk_accuracy", acc, "tied_rows", (json_int_t)r->tied_rows, "method",
                          method_name(r->method), "components", r->components, "exact_evaluations",
                          (json_int_t)r->exact_evaluations, "rows_scanned_fully", (json_int_t)r->rows_scanned_fully,
                          "seconds", r->seconds);
    json_object_set_new(j, "near_ties", near_ties_json(r));
    json_object_set_new(j, "screen", json_string(r->bf16_screen ? "bf16" : "f32"));
    if (r->has_ranks) {
        json_object_set_new(j, "rank_mean", json_real(r->rank_mean));
        json_object_set_new(j, "rank_median", json_real(r->rank_median));
    } else {
        json_object_set_new(j, "rank_mean", json_null());
        json_object_set_new(j, "rank_median", json_null());
    }
    return j;
}

static void progress_phase(void *ctx, const char *label)
{
    (void)ctx;
    cli_progress_begin(label);
}

int circuit_summary(const cc_circuit *c, const cc_fm *fm, const cc_measure_options *o, json_t **out, cc_error *err)
{
    cc_measure_options with_progress = *o;
    with_progress.phase = progress_phase;
    with_progress.progress = cli_progress_update;
    cc_circuit_measurement r;
    if (cc_circuit_measure(c, fm, &with_progress, &r, err) != 0) {
        cc_circuit_measurement_free(&r);
        return -1;
    }
    json_t *sv = json_array();
    for (int i = 0; i < r.n_singular; i++) json_array_append_new(sv, json_real(r.singular_values[i]));
    *out = json_pack("{s:s, s:[i,i], s:i, s:i, s:f, s:o, s:o, s:o, s:f}", "circuit", cc_circuit_name(c), "shape", r.n,
                     r.n, "inner_dim", r.inner_dim, "rank", r.rank, "frobenius_norm", r.frobenius_norm,
                     "singular_values", sv, "rows", direction_json(&r.rows, cc_circuit_rows(c)), "cols",
                     direction_json(&r.cols, cc_circuit_cols(c)), "seconds", r.seconds);
    if (!r.rows.has_ranks)
        json_object_set_new(*out, "ranks_note", json_string("diagonal ranks skipped for a vocabulary above "
                                                            "16384; pass --ranks (one brute-force pass per "
                                                            "direction)"));
    cc_circuit_measurement_free(&r);
    return 0;
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

int circuit_load_parts(const cli_common *common, cc_model *m, const cc_circuit *c, const char *const *names,
                       const cc_head *heads, int n_bind, int n_sets, bool with_heads, cc_error *err)
{
    enum { PER_SET = CC_CIRCUIT_MAX_TERMS + 4 * CC_CIRCUIT_MAX_PARAMS };
    cc_part *parts = malloc((size_t)(n_sets > 0 ? n_sets : 1) * PER_SET * sizeof *parts);
    if (!parts) return cc_fail(err, "out of memory");
    int n = 0, rc = 0;
    for (int s = 0; s < n_sets && rc == 0; s++) {
        const cc_head *set = heads + (size_t)s * n_bind;
        int n_set = 0;
        rc = cc_circuit_parts(c, m, names, set, n_bind, parts + n, &n_set, err);
        n += n_set;
        for (int i = 0; rc == 0 && with_heads && i < n_bind; i++)
            for (cc_part_kind k = CC_PART_Q; k <= CC_PART_O; k++) parts[n++] = (cc_part){k, set[i].layer, set[i].head};
    }
    if (rc == 0) rc = cli_need_parts(common, m, parts, n, err);
    free(parts);
    return rc;
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
