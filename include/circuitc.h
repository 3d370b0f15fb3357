/* circuitc.h — the whole public API of libcircuitc in one include:
 *
 *     #include <circuitc.h>     cc prog.c $(pkg-config --cflags --libs circuitc)
 *
 * Each header below may also be included on its own (<circuitc/model.h> ...).
 * docs/library.md says which call runs which analysis. */
#ifndef CIRCUITC_H
#define CIRCUITC_H

#include "circuitc/act_cache.h"
#include "circuitc/atlas.h"
#include "circuitc/attribution.h"
#include "circuitc/backward.h"
#include "circuitc/blas_kernel.h"
#include "circuitc/charts.h"
#include "circuitc/circuit.h"
#include "circuitc/circuit_report.h"
#include "circuitc/cleanup.h"
#include "circuitc/comp_scores.h"
#include "circuitc/composition.h"
#include "circuitc/config.h"
#include "circuitc/datadir.h"
#include "circuitc/discover.h"
#include "circuitc/dla.h"
#include "circuitc/eap.h"
#include "circuitc/eap_graph.h"
#include "circuitc/eap_run.h"
#include "circuitc/error.h"
#include "circuitc/experiments.h"
#include "circuitc/factored.h"
#include "circuitc/forward.h"
#include "circuitc/fsio.h"
#include "circuitc/head_circuits.h"
#include "circuitc/heads.h"
#include "circuitc/hooks.h"
#include "circuitc/html.h"
#include "circuitc/measure.h"
#include "circuitc/model.h"
#include "circuitc/pair_metric.h"
#include "circuitc/patching.h"
#include "circuitc/plot.h"
#include "circuitc/predictions.h"
#include "circuitc/process.h"
#include "circuitc/progress.h"
#include "circuitc/prompt_json.h"
#include "circuitc/prompt_pair.h"
#include "circuitc/prompts.h"
#include "circuitc/rng.h"
#include "circuitc/runtime_report.h"
#include "circuitc/safetensors.h"
#include "circuitc/sha256.h"
#include "circuitc/synth.h"
#include "circuitc/tokenizer.h"
#include "circuitc/topk.h"
#include "circuitc/utf8.h"
#include "circuitc/validate.h"
#include "circuitc/version.h"

#endif
