/* options.c — every circuitc option, once (options.h). An option means the
 * same thing, with the same default and range, in every command that takes
 * it; a command's description says what its random draws or its chart are. */
#include "options.h"

#include <stdio.h>

#include "circuitc/topk.h"

static const char *const COMP_MODES[] = {"q", "k", "v", "all", NULL}; /* the order of cc_comp_mode */
static const char *const ABLATIONS[] = {"mean", "zero", NULL};
static const char *const ORDERS[] = {"optimal", "tl", NULL};
static const char *const PRESETS[] = {"tiny", "gpt2-small", NULL};
static const char *const DTYPES[] = {"f32", "f16", "bf16", NULL};
static const char *const METRICS[] = {"logit_diff", "loss", NULL}; /* the order of cc_metric_kind */
/* logit_diff, as the JSON and the library spell it; patch first spelled it logit-diff */
static const char *const METRIC_ALIASES[] = {"logit-diff", "logit_diff", NULL};
static const char *const POSITIONS[] = {"each", "all", NULL};
static const char *const HEAD_INPUTS[] = {"q", "k", "v", NULL};
static const char *const EAP_TASKS[] = {"repeat", "ioi", "greater-than", NULL};
static const char *const EAP_METRICS[] = {"logit_diff", "loss", "kl", NULL}; /* the order of cc_pair_metric */

#define FLAG(n, s, h) {.name = n, .short_name = s, .kind = KIND_FLAG, .help = h}
#define INT(n, mv, d, lo, hi, h) {.name = n, .kind = KIND_INT, .metavar = mv, .def = d, .min = lo, .max = hi, .help = h}
#define TEXT(n, s, mv, h) {.name = n, .short_name = s, .kind = KIND_TEXT, .metavar = mv, .help = h}
#define CHOICE(n, mv, list, d, h) {.name = n, .kind = KIND_CHOICE, .metavar = mv, .def = d, .choices = list, .help = h}

const opt_spec cli_options[O_COUNT] = {
    [O_MODEL] = TEXT("model", 'm', "PATH",
                     "model folder (config.json + model.safetensors) or .safetensors file; default: "
                     "$CIRCUITC_MODEL, else the bundled fixture model"),
    [O_CONFIG] = TEXT("config", 0, "FILE", "config.json to use with a bare .safetensors file"),
    [O_NO_PROCESSING] = FLAG("no-processing", 0,
                             "skip TransformerLens' default weight processing (fold_ln, center_writing_weights, "
                             "center_unembed, fold_value_biases)"),
    [O_ALLOW_NONFINITE] = FLAG("allow-nonfinite", 0,
                               "load weights holding NaN or Inf, and run forward passes whose activations are NaN "
                               "or Inf or whose logits reach 2^24 (all refused by default), for inspection"),
    [O_JSON] = FLAG("json", 'j', "print the result as JSON: the envelope of README \"JSON output\", then the "
                                 "command's keys"),
    [O_QUIET] = FLAG("quiet", 'q', "no progress line (it is drawn on stderr only when that is a terminal)"),
    [O_PLOT] = TEXT("plot", 0, "FILE", "also draw the command's chart into FILE (.png or .svg; gnuplot, README "
                                       "\"Charts\")"),
    [O_SEED] = {.name = "seed", .kind = KIND_U64, .metavar = "S", .def = "0",
                .help = "seed of the command's random draws: tokens, baseline matrices or weights"},
    [O_SEQ_LEN] = INT("seq-len", "N", "50", 1, 1000000,
                      "length n of the repeated random block A in [BOS, A, A] (1+2n positions); when not given, 50 or "
                      "the longest that fits n_ctx"),
    [O_BATCH] = INT("batch", "B", "10", 1, 1000000, "number of repeated random sequences"),
    [O_BASELINE_SAMPLES] = INT("baseline-samples", "N", "200", 0, 100000,
                               "random matrix pairs for the composition score's baseline; 0 skips the baseline"),
    [O_TOP] = INT("top", "K", "10", 1, 1000000, "entries listed per ranking"),
    [O_K] = INT("k", "K", "5", 1, CC_TOPK_MAX_K, "report exact top-1 .. top-K accuracy"),
    [O_RANKS] = FLAG("ranks", 0, "always compute exact diagonal ranks (one brute-force pass per direction)"),
    [O_NO_RANKS] = FLAG("no-ranks", 0, "never compute diagonal ranks (default: only when the vocabulary is <= 16384)"),
    [O_EXACT] = FLAG("exact", 0, "the SVD-bounded fast path, exact (the default)"),
    [O_BRUTE_FORCE] = FLAG("brute-force", 0, "the reference path: every entry through streamed GEMM tiles"),
    [O_COMPARE] = FLAG("compare", 0, "run both paths and fail if they ever disagree"),
    [O_COMPONENTS] = INT("components", "C", "0", 0, 100000,
                         "leading components the fast path scores with; 0: automatic"),
    [O_SINGULAR] = INT("singular", "N", "8", 0, 100000, "leading singular values to report"),
    [O_CIRCUIT] = {.name = "circuit", .kind = KIND_TEXT, .metavar = "FILE", .def = "kcomp",
                   .help = "two-head circuit: a .circuit file or a built-in name (kcomp, qcomp, vcomp)"},
    [O_BIND] = {.name = "bind", .kind = KIND_LIST, .metavar = "NAME=HEAD",
                .help = "bind circuit parameter NAME to HEAD (L4H11 or 4.11); repeat for each parameter"},
    [O_EXPLAIN] = FLAG("explain", 0,
                       "print the plan: the chain with shapes, the split, each factor's multiplication order and "
                       "FLOP counts"),
    [O_ORDER] = CHOICE("order", "ORDER", ORDERS, "optimal",
                       "optimal: each factor's sub-chain in the FLOP-optimal order; tl: A left to right and B right "
                       "to left, TransformerLens' order for a chain written as Q K^T"),
    [O_MODE] = CHOICE("mode", "MODE", COMP_MODES, "all", "composition modes to score: q, k, v or all"),
    [O_ABLATE] = CHOICE("ablate", "MODE", ABLATIONS, "mean",
                        "ablation of a head's hook_z: mean (its clean mean over batch and positions) or zero"),
    [O_NAIVE] = FLAG("naive", 0, "one full forward pass per patch (the reference; same numbers, slower)"),
    [O_EXCLUDE_BOS] = FLAG("exclude-bos", 0, "detect_head: ignore attention to position 0"),
    [O_EXCLUDE_CURRENT] = FLAG("exclude-current", 0, "detect_head: ignore attention to the destination itself"),
    [O_GOLDEN] = TEXT("golden", 0, "DIR",
                      "also check parity with the TransformerLens goldens in DIR (a golden/out/<model> folder)"),
    [O_CLEAN] = TEXT("clean", 0, "TEXT", "the clean prompt (GPT-2 tokenizer, BOS prepended unless --no-bos)"),
    [O_CORRUPT] = TEXT("corrupt", 0, "TEXT", "the corrupted prompt, as many tokens as the clean one"),
    [O_CLEAN_TOKENS] = TEXT("clean-tokens", 0, "IDS", "the clean prompt as token ids (comma- or space-separated), "
                                                       "used as given; in place of --clean"),
    [O_CORRUPT_TOKENS] = TEXT("corrupt-tokens", 0, "IDS", "the corrupted prompt as token ids; in place of --corrupt"),
    [O_METRIC] = {.name = "metric", .kind = KIND_CHOICE, .metavar = "M", .def = "logit_diff", .choices = METRICS,
                  .aliases = METRIC_ALIASES,
                  .help = "logit_diff (also spelled logit-diff): logit(answer) - logit(wrong) at the last position; "
                          "loss: mean cross-entropy of the run's own next tokens"},
    [O_PAIRS] = TEXT("pairs", 0, "FILE",
                     "prompt pairs, JSON Lines: {\"clean\": ..., \"corrupt\": ..., \"answer\": ..., \"wrong\": ...} "
                     "(text, or token id lists)"),
    [O_TASK] = CHOICE("task", "T", EAP_TASKS, "repeat",
                      "built-in prompt pairs: repeated random tokens (induction), IOI-style or greater-than "
                      "sentences (these two need a tokenizer)"),
    [O_EAP_METRIC] = {.name = "metric", .kind = KIND_CHOICE, .metavar = "M", .def = "logit_diff",
                      .choices = EAP_METRICS, .aliases = METRIC_ALIASES,
                      .help = "at the last position: logit_diff (also spelled logit-diff), logit(answer) - "
                              "logit(wrong); loss, -log p(answer); kl, KL(clean || run) of the next-token "
                              "distributions (EAP-IG's default)"},
    [O_SCORES_OUT] = TEXT("scores", 0, "FILE",
                          "also write every edge's score to FILE.safetensors or FILE.npz (float64 [n_edges], graph "
                          "order, and the [senders, receivers] matrix)"),
    [O_IG_STEPS] = INT("ig-steps", "N", "5", 0, 1000,
                       "EAP-IG's integration steps (the gradient averaged over N runs between the corrupted and "
                       "the clean input embedding); 0: plain EAP, the gradient on the clean run"),
    [O_SCORES_ONLY] = FLAG("scores-only", 0, "only score and rank the edges: no circuit, no faithfulness curve "
                                             "(no patched forward pass)"),
    [O_TOP_N] = INT("top-n", "N", "20", 1, 100000000, "edges asked for the circuit (before pruning)"),
    [O_GREEDY] = FLAG("greedy", 0, "choose the circuit greedily from the logits back (EAP-IG's greedy) instead of "
                                   "the top-n edges by |score|"),
    [O_ANSWER] = TEXT("answer", 0, "TOKEN", "the answer token: text that is one token (\" Mary\"), or #ID"),
    [O_WRONG] = TEXT("wrong", 0, "TOKEN", "the wrong token the answer is compared with: one token's text, or #ID"),
    [O_PER_HEAD] = FLAG("per-head", 0, "z, pattern, q, k, v: one patch per head (else all of a layer's heads at once)"),
    [O_POSITIONS] = CHOICE("positions", "P", POSITIONS, "each",
                           "each: one patch per position; all: one patch over every position"),
    [O_TO] = CHOICE("to", "INPUT", HEAD_INPUTS, "q", "the receivers' input the path ends at: q, k or v"),
    [O_VERIFY] = TEXT("verify", 0, "K",
                      "patch the K largest estimates exactly (K runs) and list them beside their exact values; "
                      "all: every node (patch's cost) and the correlation over them; 0 (default): estimates only"),
    [O_OUT] = TEXT("out", 'o', "DIR", "output folder (created if missing)"),
    [O_PREV] = TEXT("prev", 0, "HEAD", "the previous-token head of the kcomp step (with --ind)"),
    [O_IND] = TEXT("ind", 0, "HEAD", "the induction head of the kcomp step (with --prev)"),
    [O_PRESET] = CHOICE("preset", "NAME", PRESETS, "tiny",
                        "tiny, or gpt2-small (12 x 12 heads, d_model 768, vocab 50257; about 500 MB)"),
    [O_DTYPE] = CHOICE("dtype", "T", DTYPES, "f32", "tensor dtype written: f32, f16 or bf16"),
    [O_PREFIX] = FLAG("prefix", 0, "name tensors \"transformer.*\" as some checkpoints do"),
    [O_LM_HEAD] = FLAG("lm-head", 0, "also write an untied lm_head.weight"),
    [O_CHECKSUM] = FLAG("checksum", 0, "also compute the SHA-256 of the weights file (reads it whole)"),
    [O_TOKENIZER] = TEXT("tokenizer", 0, "DIR",
                         "folder with vocab.json + merges.txt or tokenizer.json; default: the model folder when "
                         "--model (or $CIRCUITC_MODEL) is given (run, lens, dla, pattern: when it holds them), "
                         "else GPT-2's tokenizer"),
    [O_NO_BOS] = FLAG("no-bos", 0, "do not prepend BOS"),
    [O_PROMPT_FILE] = TEXT("prompt-file", 0, "FILE", "one prompt per line (the line ending, \\n or \\r\\n, is not part of it)"),
    [O_DECODE] = TEXT("decode", 0, "IDS", "decode token ids (comma- or space-separated) instead"),
    [O_REPLACE_INVALID] = FLAG("replace-invalid", 0,
                               "replace invalid UTF-8 by U+FFFD (as Python's errors=\"replace\"); default: refuse"),
    [O_PROMPT] = TEXT("prompt", 0, "TEXT", "the prompt (GPT-2 tokenizer, BOS prepended as to_tokens does unless --no-bos)"),
    [O_TOKENS] = TEXT("tokens", 0, "IDS|@FILE",
                      "token ids, comma- or space-separated (@FILE: one sequence per line), run as given (no BOS "
                      "added); in place of --prompt"),
    [O_OUT_FILE] = TEXT("out", 'o', "FILE", "write the results to FILE (JSON lines, replaced atomically when complete)"),
    [O_RESUME] = FLAG("resume", 0, "continue an interrupted run: keep the pairs already in FILE's partial file (or FILE)"),
    [O_MIN_ACC] = {.name = "min-acc", .kind = KIND_TEXT, .metavar = "A", .def = "0.01",
                   .help = "pairs whose top-5 accuracy is certified below A (rows and columns) are not computed "
                           "exactly; 0 computes every pair exactly"},
    [O_NO_RUNTIME] = FLAG("no-runtime", 0, "skip the forward-pass check against the runtime head scores"),
    [O_HOOKS] = {.name = "hooks", .kind = KIND_TEXT, .metavar = "LIST", .def = "*",
                 .help = "the hooks to cache, comma-separated: TransformerLens names (blocks.5.hook_resid_pre), a "
                         "name without its layer for every layer (hook_pattern, resid_pre) or a glob over the "
                         "names (blocks.*.attn.hook_pattern)"},
    [O_CACHE_OUT] = TEXT("out", 'o', "FILE", "the activations file: FILE.safetensors or FILE.npz (the extension picks)"),
    [O_HTML] = TEXT("html", 0, "FILE",
                    "also write an interactive page into FILE: one self-contained HTML file that opens from disk "
                    "(docs/html.md)"),
    [O_POSITION] = TEXT("position", 0, "P",
                        "the position to attribute (0-based), or all (every position); default: the last"),
    [O_HELP] = FLAG("help", 'h', "this help"),
};

const char *cli_option_label(opt_id id, char *buf, size_t size)
{
    const opt_spec *o = &cli_options[id];
    snprintf(buf, size, "--%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
    return buf;
}
