/* golden_checks.h — parity checks shared by the parity suites: each compares what
 * circuitc computes on a model with one golden file of golden/out/<model>/
 * (golden/FORMAT.md), under the classes of golden/tolerances.json, and fails
 * the running test at the first difference, naming the model, quantity and index. */
#ifndef CIRCUITC_TEST_GOLDEN_CHECKS_H
#define CIRCUITC_TEST_GOLDEN_CHECKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "circuitc/model.h"
#include "golden.h"

/* tokens.json of MODEL as ints [B, 1 + 2n]; *B, *n filled. Caller frees. */
int *golden_tokens(const char *model, int *B, int *n);

/* Fails unless golden_near(TOL, GOT, WANT), naming WHAT[IDX]. */
void golden_check_near(double got, double want, golden_tol tol, const char *what, long idx);

/* FILE (forward.json or raw/forward.json) on tokens.json, by both kernels:
 * logits_sample, correct_logprobs, argmax, the half means and accuracies, loss,
 * loss_per_seq, and logits_seq0 / fixed when the golden has them. */
void golden_check_forward(const cc_model *m, const char *model, const char *file);

/* head_scores.json (diagonal scores and every detect_head variant) on tokens.json,
 * and patterns.json's heads of sequence 0. */
void golden_check_head_scores(const cc_model *m, const char *model);

/* factored.json's "kcomp" pairs: top-1/top-5 in both directions, exact, by the
 * fast path and, for the first BRUTE_PAIRS pairs, the brute-force one too. */
void golden_check_kcomp(const cc_model *m, json_t *factored, size_t brute_pairs);

/* factored.json's "ov" and "qk" [L, H] counts, every head; or, when "ov" lists
 * "heads", the OV counts of those. */
void golden_check_ov_qk(const cc_model *m, json_t *factored);

/* factored.json's "composition_scores", every mode it has ("q", "k", "v"). */
void golden_check_composition_scores(const cc_model *m, json_t *factored, const char *model);

/* act_patching.json: every result of every metric (NAIVE_TOO: also by the naive
 * path, which reruns the whole corrupted pass for each patch). */
void golden_check_act_patching(cc_model *m, const char *model, bool naive_too);

#endif
