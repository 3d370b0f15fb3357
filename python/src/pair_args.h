/* pair_args.h — the keywords of a clean/corrupted prompt pair (cc_prompt_pair_source)
 * as the binding's pair functions take them: PAIR_KW in the keyword list,
 * PAIR_FORMAT in the format, PAIR_ARGS(src, metric, prepend_bos) in the targets;
 * then pair_metric() turns the metric's name into the source's kind. */
#ifndef CIRCUITC_PY_PAIR_ARGS_H
#define CIRCUITC_PY_PAIR_ARGS_H

#include <string.h>

#include "binding.h"
#include "circuitc/prompt_pair.h"

#define PAIR_KW "clean", "corrupt", "clean_tokens", "corrupt_tokens", "metric", "answer", "wrong", "prepend_bos", \
                "tokenizer"
#define PAIR_FORMAT "zzzzszzpz"
#define PAIR_ARGS(s, metric, bos) \
    &(s).clean, &(s).corrupt, &(s).clean_tokens, &(s).corrupt_tokens, &(metric), &(s).answer, &(s).wrong, &(bos), \
        &(s).tokenizer_dir

/* METRIC as the library spells it: "logit-diff" is the CLI's other spelling of "logit_diff". */
static inline const char *metric_name(const char *metric)
{
    return strcmp(metric, "logit-diff") ? metric : "logit_diff";
}

/* SRC's metric (METRIC: "logit_diff" or "loss", as the CLI's --metric) and its
 * BOS flag (PREPEND_BOS); -1 with a ValueError for another metric. */
static inline int pair_metric(cc_prompt_pair_source *src, const char *metric, int prepend_bos)
{
    src->no_bos = !prepend_bos;
    if (!strcmp(metric_name(metric), "logit_diff")) return src->metric = CC_METRIC_LOGIT_DIFF, 0;
    if (!strcmp(metric, "loss")) return src->metric = CC_METRIC_LOSS, 0;
    PyErr_Format(PyExc_ValueError, "metric must be \"logit_diff\" or \"loss\", not \"%s\"", metric);
    return -1;
}

#endif
