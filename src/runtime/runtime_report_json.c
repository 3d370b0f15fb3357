/* runtime_report_json.c — repeat's, heads' and ablate's results as the JSON the CLI
 * prints (include/circuitc/runtime_report.h; keys in README.md). */
#include <string.h>

#include "circuitc/prompt_json.h"
#include "circuitc/runtime_report.h"
#include "core/args.h"

/* The keys every runtime command's body starts with. */
static json_t *input_json(const cc_repeat_input *in)
{
    return json_pack("{s:I, s:i, s:i, s:i}", "seed", (json_int_t)in->seed, "seq_len", in->seq_len, "positions",
                     1 + 2 * in->seq_len, "batch", in->batch);
}

/* The keys a body on prompts B (rows of one length) starts with: tokenizer,
 * prompts [{text, ids, tokens}], positions, batch. */
static json_t *prompts_json(const cc_prompt_batch *b)
{
    json_t *rows = json_array();
    for (int i = 0; rows && i < b->batch; i++) json_array_append_new(rows, cc_prompt_row_json(b, i));
    return json_pack("{s:o, s:o, s:i, s:i}", "tokenizer", b->tokenizer_dir ? json_string(b->tokenizer_dir) : json_null(),
                     "prompts", rows, "positions", b->length[0], "batch", b->batch);
}

/* A [BOS, A, A] run's figures, as repeat and ablate (clean and ablated) write them:
 * {first_half {mean_logprob, accuracy}, second_half {...}, loss}. */
static json_t *halves_json(const cc_repeat_stats *s)
{
    return json_pack("{s:{s:f, s:f}, s:{s:f, s:f}, s:f}", "first_half", "mean_logprob", s->first_mean, "accuracy",
                     s->first_acc, "second_half", "mean_logprob", s->second_mean, "accuracy", s->second_acc, "loss",
                     s->loss);
}

json_t *cc_repeat_report_json(const cc_repeat_report *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    const cc_repeat_stats *s = &r->stats;
    if (!s->logprob) return NULL;
    int n = r->input.seq_len, B = r->input.batch;
    json_t *j = input_json(&r->input), *per_pos = json_array(), *per_seq = json_array();
    for (int i = 0; i < 2 * n; i++) {
        double sum = 0;
        for (int b = 0; b < B; b++) sum += s->logprob[(size_t)b * 2 * n + i];
        json_array_append_new(per_pos, json_real(sum / B));
    }
    for (int b = 0; b < B; b++) json_array_append_new(per_seq, json_real(s->loss_per_seq[b]));
    json_t *halves = halves_json(s);
    json_object_update(j, halves);
    json_decref(halves);
    json_object_set_new(j, "loss_per_seq", per_seq);
    json_object_set_new(j, "mean_logprob_per_position", per_pos);
    return j;
}

/* Every head with its scores, by descending main score. */
static json_t *every_head(const cc_heads_report *r)
{
    int H = r->n_heads, LH = r->n_layers * H;
    const size_t detect = strlen("detect_");
    json_t *heads = json_array();
    for (int n = 0; n < LH; n++) {
        int i = r->ranking[r->main_score][n];
        char name[32];
        cc_head_name((cc_head){i / H, i % H}, name, sizeof name);
        json_t *e = json_pack("{s:s, s:i, s:i}", "head", name, "layer", i / H, "index", i % H);
        for (int k = 0; k < r->n_scores; k++)
            if (strncmp(r->label[k], "detect_", detect) != 0) json_object_set_new(e, r->label[k], json_real(r->score[k][i]));
        json_t *det = json_object();
        for (int k = 0; k < r->n_scores; k++) /* "detect_induction_head" -> "induction_head" */
            if (strncmp(r->label[k], "detect_", detect) == 0)
                json_object_set_new(det, r->label[k] + detect, json_real(r->score[k][i]));
        json_object_set_new(e, "detect", det);
        json_array_append_new(heads, e);
    }
    return heads;
}

json_t *cc_heads_report_json(const cc_heads_report *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    if (!r->ranking[0]) return NULL;
    int H = r->n_heads;
    const cc_prompt_batch *b = r->options.prompts;
    json_t *j = b ? prompts_json(b) : input_json(&r->options.input), *rankings = json_object();
    json_object_set_new(j, "n_layers", json_integer(r->n_layers));
    json_object_set_new(j, "n_heads", json_integer(H));
    json_object_set_new(j, "detect_options", json_pack("{s:b, s:b}", "exclude_bos", r->options.exclude_bos,
                                                       "exclude_current_token", r->options.exclude_current));
    json_t *heads = every_head(r);
    for (int k = 0; k < r->n_scores; k++) {
        json_t *top = json_array();
        for (int n = 0; n < r->n_top; n++) {
            char name[32];
            int i = r->ranking[k][n];
            cc_head_name((cc_head){i / H, i % H}, name, sizeof name);
            json_array_append_new(top, json_pack("{s:s, s:f}", "head", name, "score", r->score[k][i]));
        }
        json_object_set_new(rankings, r->label[k], top);
    }
    json_object_set_new(j, "heads", heads);
    json_object_set_new(j, "rankings", rankings);
    return j;
}


/* Every head's induction score before and after, by |change| (R's order). */
static json_t *induction_changes(const cc_ablate_report *r, int L, int H, const double *clean, const double *ablated)
{
    char name[32];
    json_t *ind = json_array();
    for (int k = 0; k < L * H; k++) {
        int i = r->order[k];
        json_array_append_new(ind, json_pack("{s:s, s:f, s:f, s:f}", "head",
                                             cc_head_name((cc_head){i / H, i % H}, name, sizeof name), "clean",
                                             clean[i], "ablated", ablated[i], "change", r->change[i]));
    }
    return ind;
}

/* ablate's keys on prompts: both runs' next-token figures, the change per position. */
static void prompt_figures(json_t *j, const cc_token_ablation *a)
{
    int B = a->clean.batch, P = a->clean.positions - 1;
    const cc_token_stats *st[2] = {&a->clean, &a->ablated};
    for (int k = 0; k < 2; k++)
        json_object_set_new(j, k ? "ablated" : "clean", json_pack("{s:f, s:f, s:f}", "mean_logprob", st[k]->mean_logprob,
                                                                   "accuracy", st[k]->accuracy, "loss", st[k]->loss));
    json_object_set_new(j, "loss_change", json_real(a->ablated.loss - a->clean.loss));
    json_t *per_pos = json_array(); /* position t predicts t+1; the mean over the prompts */
    for (int t = 0; t < P; t++) {
        double d = 0;
        for (int b = 0; b < B; b++) d += a->ablated.logprob[(size_t)b * P + t] - a->clean.logprob[(size_t)b * P + t];
        json_array_append_new(per_pos, json_real(d / B));
    }
    json_object_set_new(j, "logprob_change", per_pos);
}

json_t *cc_ablate_report_json(const cc_ablate_report *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    const cc_ablation *a = &r->ablation;
    const cc_token_ablation *p = &r->on_prompts;
    if (!r->order) return NULL;
    char name[32];
    json_t *j = r->prompts ? prompts_json(r->prompts) : input_json(&r->input), *jh = json_array();
    for (int i = 0; i < r->n_ablated; i++) json_array_append_new(jh, json_string(cc_head_name(r->ablated[i], name, sizeof name)));
    json_object_set_new(j, "heads", jh);
    json_object_set_new(j, "mode", json_string(r->mode == CC_ABLATE_MEAN ? "mean" : "zero"));
    if (r->prompts) {
        prompt_figures(j, p);
    } else {
        json_object_set_new(j, "clean", halves_json(&a->clean));
        json_object_set_new(j, "ablated", halves_json(&a->ablated));
        json_object_set_new(j, "loss_change", json_real(a->ablated.loss - a->clean.loss));
        json_object_set_new(j, "second_half_logprob_change", json_real(a->ablated.second_mean - a->clean.second_mean));
    }
    json_object_set_new(j, "induction_score", json_string(r->prompts ? "induction_head" : "induction"));
    json_object_set_new(j, "induction_scores",
                        r->prompts ? induction_changes(r, p->n_layers, p->n_heads, p->clean_induction, p->ablated_induction)
                                   : induction_changes(r, a->n_layers, a->n_heads, a->clean_induction, a->ablated_induction));
    return j;
}

json_t *cc_pattern_report_json(const cc_pattern_report *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    if (!r->pattern) return NULL;
    int T = r->positions;
    char name[32];
    json_t *j = input_json(&r->input);
    json_object_set_new(j, "head", json_string(cc_head_name(r->head, name, sizeof name)));
    json_object_set_new(j, "layer", json_integer(r->head.layer));
    json_object_set_new(j, "index", json_integer(r->head.head));
    json_t *jt = json_array(), *jp = json_array(), *jd = json_object();
    for (int t = 0; t < T; t++) json_array_append_new(jt, json_integer(r->tokens[t]));
    for (int i = 0; i < T; i++) {
        json_t *row = json_array();
        for (int k = 0; k < T; k++) json_array_append_new(row, json_real(r->pattern[(size_t)i * T + k]));
        json_array_append_new(jp, row);
    }
    for (int k = 0; k < CC_SCORE_COUNT; k++)
        json_object_set_new(jd, cc_score_name((cc_score_kind)k), json_real(r->diagonals[k]));
    json_object_set_new(j, "tokens", jt);
    json_object_set_new(j, "diagonals", jd);
    json_object_set_new(j, "pattern", jp);
    return j;
}

json_t *cc_patch_sweep_report_json(const cc_patch_sweep_report *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    const cc_patch_sweep *s = &r->sweep;
    if (!s->delta) return NULL;
    int n = r->input.seq_len, L = s->n_layers, NP = n + 1;
    json_t *j = input_json(&r->input);
    json_object_set_new(j, "hook", json_string("blocks.{layer}.hook_mlp_out"));
    json_object_set_new(j, "method", json_string(r->naive ? "naive" : "causal"));
    json_object_set_new(j, "n_layers", json_integer(L));
    json_object_set_new(j, "clean_loss", json_real(s->clean_loss));
    json_t *pos = json_array(), *delta = json_array(), *pl = json_array();
    for (int k = 0; k < NP; k++) json_array_append_new(pos, json_integer(n + k));
    for (int l = 0; l < L; l++) {
        json_t *dr = json_array(), *pr = json_array();
        for (int k = 0; k < NP; k++) {
            json_array_append_new(dr, json_real(s->delta[l * NP + k]));
            json_array_append_new(pr, json_real(s->patched_loss[l * NP + k]));
        }
        json_array_append_new(delta, dr);
        json_array_append_new(pl, pr);
    }
    json_object_set_new(j, "patch_positions", pos);
    json_object_set_new(j, "delta", delta);
    json_object_set_new(j, "patched_loss", pl);
    return j;
}
