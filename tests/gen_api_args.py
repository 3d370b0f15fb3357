#!/usr/bin/env python3
"""Generates the api_args suite (tests/meson.build) from include/circuitc/*.h.

For every public function (every cc_* prototype of the headers) the generated
Check suite calls it once per pointer parameter with that parameter NULL and
the others valid, once per enum parameter with an out-of-range value (-1 and
one past the last enumerator), once per size listed in BAD_SIZES with a value
below 1, and once per enum field of a struct it reads
(a `const T *` or a `T` passed by value) with that field out of range. It then
asserts the library's argument rule (README.md, "Errors and arguments"):

  - a function with a cc_error *err fails (-1, or NULL for a pointer result)
    and err says "FUNC: argument NAME" (NAME as the header spells it,
    "opts->kernel" for a field);
  - a function without one returns its documented sentinel (RESULT_SENTINEL
    below) and does not crash; a void function does not crash.

Valid values come from VALUES, one entry per parameter type. A parameter type
with no entry stops the build with the function and the type named, so a new
function is never skipped: give its type an entry (or its NULL a reason in
MAY_BE_NULL).

usage: gen_api_args.py HEADER... OUT.c
"""
import os
import re
import sys

# ---------------------------------------------------------------- the tables

# A valid value of each parameter type (C expressions; `fx` is the fixture of
# the generated file's prologue: the bundled model loaded once, a circuit, a
# tokenizer...). Storage for outputs is fresh per call (compound literals).
VALUES = {
    # scalars
    'int': '1', 'long': '0', 'size_t': '1', 'double': '0.5', 'float': '1.0f', 'bool': 'false',
    'uint64_t': '1', 'uint32_t': '1', 'int32_t': '1', 'uint16_t': '1', 'pid_t': '0', 'unsigned long': '16',
    # text and buffers
    'const char *': '"x"',
    'const char *const *': 'fx.strings',
    'char *': 'fx.chars',
    'char **': '&(char *){NULL}',
    'const float *': 'fx.floats',
    'float *': 'fx.floats',
    'float **': '&(float *){NULL}',
    'const double *': 'fx.doubles',
    'double *': 'fx.doubles',
    'const double *const *': 'fx.double_rows',
    'const int *': 'fx.ints',
    'int *': 'fx.ints',
    'const int32_t *': 'fx.ids',
    'int32_t *': 'fx.ids',
    'long *': 'fx.longs',
    'size_t *': '&(size_t){0}',
    'bool *': '&(bool){false}',
    'uint8_t *': 'fx.bytes',
    'const uint8_t *': 'fx.bytes',
    'const void *': 'fx.bytes',
    'void *': '&fx',
    'FILE *': 'fx.file',
    'sigset_t *': '&(sigset_t){0}', 'const sigset_t *': '&fx.signal_mask',
    # callbacks
    'cc_progress_fn': 'stub_progress',
    'cc_atlas_next_fn': 'stub_next',
    'cc_atlas_unit_fn': 'stub_unit',
    'cc_prompt_line_fn': 'stub_line',
    # library objects: real ones, made once by the fixture
    'cc_model *': 'fx.model', 'const cc_model *': 'fx.model', 'cc_model **': '&(cc_model *){NULL}',
    'const cc_config *': 'cc_model_config(fx.model)', 'cc_config *': '&(cc_config){0}',
    'const cc_circuit *': 'fx.circuit', 'cc_circuit *': 'NULL', 'cc_chain_cache *': 'NULL', 'cc_circuit **': '&(cc_circuit *){NULL}',
    'const cc_tokenizer *': 'fx.tok', 'cc_tokenizer *': 'fx.tok', 'cc_tokenizer **': '&(cc_tokenizer *){NULL}',
    'const cc_st_file *': 'fx.st', 'cc_st_file *': 'NULL', 'cc_st_file **': '&(cc_st_file *){NULL}',
    'cc_st_file *const *': '&fx.st',
    'const cc_st_tensor *': 'cc_st_tensor_at(fx.st, 0)',
    'cc_st_writer *': 'fx.writer', 'cc_st_writer **': '&(cc_st_writer *){NULL}',
    'const cc_atlas *': 'fx.atlas', 'cc_atlas *': 'NULL',
    'cc_plot *': 'fx.plot', 'const cc_plot *': 'fx.plot', 'cc_plot **': '&(cc_plot *){NULL}',
    'const cc_fm *': '&fx.fm', 'cc_fm *': '&(cc_fm){0}',
    'const cc_fwd_result *': '&fx.fwd', 'cc_fwd_result *': '&(cc_fwd_result){0}',
    'const cc_prompt_batch *': '&fx.batch', 'cc_prompt_batch *': '&(cc_prompt_batch){0}',
    # inputs: plain structs, valid when set as here
    'cc_head': '(cc_head){0, 0}', 'const cc_head *': 'fx.heads', 'cc_head *': '&(cc_head){0, 0}', 'cc_head **': '&(cc_head *){NULL}',
    'cc_part': '(cc_part){CC_PART_W_E, -1, -1}', 'const cc_part *': '&(cc_part){CC_PART_W_E, -1, -1}',
    'cc_part *': 'fx.parts',
    'const cc_fwd_opts *': '&(cc_fwd_opts){0}', 'cc_fwd_opts *': '&(cc_fwd_opts){0}',
    'const cc_segment *': '&(cc_segment){0, 0, 1, NULL}',
    'const cc_metric *': '&(cc_metric){CC_METRIC_LOGIT_DIFF, 1, 2, 0, 0}',
    'const cc_grad_metric *': '&(cc_grad_metric){.kind = CC_GRAD_LOSS}',
    'const cc_grad_opts *': '&(cc_grad_opts){0}', 'cc_grad_opts *': '&(cc_grad_opts){0}',
    'const cc_attr_result *': '&(cc_attr_result){0}', 'cc_attr_result *': '&(cc_attr_result){0}',
    'cc_attr_sweep *': '&(cc_attr_sweep){0}',
    'const cc_patch_result *': '&(cc_patch_result){0}',
    'const cc_grad_result *': '&(cc_grad_result){0}', 'cc_grad_result *': '&(cc_grad_result){0}',
    'const cc_patch_opts *': '&(cc_patch_opts){.hook = CC_HOOK_RESID_PRE}',
    'const cc_measure_options *': '&fx.measure', 'cc_measure_options *': '&(cc_measure_options){0}',
    'const cc_topk_options *': '&(cc_topk_options){.k_max = 1}',
    'cc_validate_options *': '&(cc_validate_options){0}', 'const cc_validate_options *': '&fx.validate',
    'const cc_synth_options *': '&(cc_synth_options){0}',
    'const cc_chart_opts *': '&(cc_chart_opts){"x.png", "x", NULL, 0}',
    'const cc_circuit_plan *': '&(cc_circuit_plan){0}', 'cc_circuit_plan *': '&(cc_circuit_plan){0}',
    'const cc_prompt_source *': '&(cc_prompt_source){.tokens = "1"}',
    'const cc_discover_options *': '&fx.discover', 'const cc_atlas_options *': '&(cc_atlas_options){0}',
    'const cc_discover_result *': '&(cc_discover_result){0}',
    'const cc_circuit_report_options *': '&fx.circuit_report', 'cc_circuit_report_options *': '&(cc_circuit_report_options){0}',
    'const cc_circuit_report *': '&(cc_circuit_report){0}', 'cc_circuit_report *': '&(cc_circuit_report){0}',
    'const cc_circuit_measurement *': '&(cc_circuit_measurement){0}',
    'const cc_compile_options *': '&(cc_compile_options){.circuit = "kcomp"}',
    'const cc_compile_result *': '&(cc_compile_result){0}', 'cc_compile_result *': '&(cc_compile_result){0}',
    'const cc_kcomp_chart_options *': '&(cc_kcomp_chart_options){.n_pairs = 1, .pairs = fx.heads, .k = 1}',
    'const cc_kcomp_chart *': '&(cc_kcomp_chart){0}', 'cc_kcomp_chart *': '&(cc_kcomp_chart){0}',
    'const cc_comp_scores_options *': '&(cc_comp_scores_options){.top = 1}', 'cc_comp_scores_options *': '&(cc_comp_scores_options){0}',
    'const cc_comp_scores *': '&(cc_comp_scores){0}', 'cc_comp_scores *': '&(cc_comp_scores){0}',
    'const cc_discover_report_options *': '&(cc_discover_report_options){.top = 1, .baseline_samples = 2}',
    'cc_discover_report_options *': '&(cc_discover_report_options){0}',
    'const cc_discover_report *': '&(cc_discover_report){0}', 'cc_discover_report *': '&(cc_discover_report){0}',
    'const cc_atlas_report_options *': '&(cc_atlas_report_options){.top = 1}',
    'cc_atlas_report_options *': '&(cc_atlas_report_options){0}',
    'const cc_atlas_report *': '&(cc_atlas_report){0}', 'cc_atlas_report *': '&(cc_atlas_report){0}',
    'const cc_repeat_input *': '&(cc_repeat_input){0, 1, 1}',
    'const cc_repeat_report *': '&(cc_repeat_report){0}', 'cc_repeat_report *': '&(cc_repeat_report){0}',
    'const cc_heads_options *': '&(cc_heads_options){.input = {0, 1, 1}, .top = 1}',
    'const cc_heads_report *': '&(cc_heads_report){0}', 'cc_heads_report *': '&(cc_heads_report){0}',
    'const cc_ablate_options *': '&(cc_ablate_options){.input = {0, 1, 1}, .n_heads = 1, .heads = fx.heads, .mode = CC_ABLATE_ZERO}',
    'const cc_ablate_report *': '&(cc_ablate_report){0}', 'cc_ablate_report *': '&(cc_ablate_report){0}',
    'const cc_pattern_options *': '&(cc_pattern_options){.input = {0, 1, 1}, .head = {0, 0}}',
    'const cc_pattern_report *': '&(cc_pattern_report){0}', 'cc_pattern_report *': '&(cc_pattern_report){0}',
    'const cc_dla *': '&(cc_dla){0}', 'const cc_logit_lens *': '&(cc_logit_lens){0}',
    'const cc_next_tokens *': '&(cc_next_tokens){0}',
    'const cc_prompt_pattern *': '&(cc_prompt_pattern){0}', 'cc_prompt_pattern *': '&(cc_prompt_pattern){0}',
    'const cc_prompt_patterns *': '&(cc_prompt_patterns){0}', 'cc_prompt_patterns *': '&(cc_prompt_patterns){0}',
    'const cc_patch_sweep_options *': '&(cc_patch_sweep_options){.input = {0, 1, 1}}',
    'const cc_patch_sweep_report *': '&(cc_patch_sweep_report){0}', 'cc_patch_sweep_report *': '&(cc_patch_sweep_report){0}',
    'const cc_st_entry *': '&(cc_st_entry){"t", CC_DT_F32, 1, {1}}',
    'const cc_st_meta *': '&(cc_st_meta){"k", "v"}',
    'const cc_atlas_entry *': '&(cc_atlas_entry){0}',
    'const cc_blas_inputs *': '&fx.blas_inputs', 'const cc_blas_library *': '&(cc_blas_library){0}',
    'const cc_cpu_features *': '&(cc_cpu_features){0}', 'const cc_blas_cache_entry *': '&(cc_blas_cache_entry){0}',
    'cc_out *': '&(cc_out){0}',
    'const cc_eap_graph *': '&fx.eap_graph', 'cc_eap_graph *': '&(cc_eap_graph){0}',
    'const cc_eap_node *': '&(cc_eap_node){CC_EAP_INPUT, -1, -1, 0}',
    'unsigned char *': 'fx.bytes',
    'const cc_eap_pairs *': '&fx.eap_pairs', 'cc_eap_pairs *': '&(cc_eap_pairs){0}',
    'const unsigned char *const *': '(const unsigned char *const[]){fx.bytes}',
    'const cc_eap_faith_options *': '&(cc_eap_faith_options){.sizes = (const long[]){1}, .n_sizes = 1}',
    'const cc_eap_run_options *': '&(cc_eap_run_options){0}', 'cc_eap_run_result *': '&(cc_eap_run_result){0}',
    'const cc_eap_run_result *': '&(cc_eap_run_result){0}',
    'const cc_prompt_pair_source *': '&(cc_prompt_pair_source){.clean_tokens = "1 2", .corrupt_tokens = "1 3", .metric = CC_METRIC_LOSS}',
    'const cc_prompt_pair *': '&(cc_prompt_pair){0}', 'cc_prompt_pair *': '&(cc_prompt_pair){0}',
    'const cc_path_patch_options *': '&(cc_path_patch_options){.receivers = fx.heads, .n_receivers = 1, .to = CC_HOOK_K}',
    'const cc_path_patch_report *': '&(cc_path_patch_report){0}', 'cc_path_patch_report *': '&(cc_path_patch_report){0}',
    'const cc_attr_report *': '&(cc_attr_report){0}', 'cc_attr_report *': '&(cc_attr_report){0}',
    'const cc_attr_sweep *': '&(cc_attr_sweep){0}',
    'cc_eap_curve *': '&(cc_eap_curve){0}', 'cc_pair_metric *': '&(cc_pair_metric){0}',
    'cc_rng *': '&(cc_rng){1}', 'cc_sha256 *': '&fx.sha',
    'cc_error *': '&err',
    # outputs: storage
    'const char **': '&(const char *){NULL}',
    'cc_atlas **': '&(cc_atlas *){NULL}',
    'cc_hook_kind *': '&(cc_hook_kind){0}',
    'uint64_t *': '(uint64_t[CC_HOOK_COUNT]){0}', 'const uint64_t *': '(uint64_t[CC_HOOK_COUNT]){0}',
    'cc_cache_format *': '&(cc_cache_format){0}',
    'const json_t *': 'fx.json', 'json_t *': 'fx.json',
    'cc_atlas_entry *': '&(cc_atlas_entry){0}',
    'cc_blas_cache_entry *': '&(cc_blas_cache_entry){0}',
    'cc_blas_decision *': '&(cc_blas_decision){0}',
    'cc_blas_library *': '&(cc_blas_library){0}',
    'cc_cpu_features *': '&(cc_cpu_features){0}',
    'cc_circuit_measurement *': '&(cc_circuit_measurement){0}',
    'cc_discover_result *': '&(cc_discover_result){0}',
    'cc_dla *': '&(cc_dla){0}',
    'cc_fm_svd *': '&(cc_fm_svd){0}',
    'cc_head_composition *': '&(cc_head_composition){0}',
    'cc_head_scores *': '&(cc_head_scores){0}',
    'cc_logit_lens *': '&(cc_logit_lens){0}',
    'cc_next_tokens *': '&(cc_next_tokens){0}',
    'cc_patch_result *': '&(cc_patch_result){0}',
    'cc_patch_sweep *': '&(cc_patch_sweep){0}',
    'cc_path_result *': '&(cc_path_result){0}',
    'cc_repeat_stats *': '&(cc_repeat_stats){0}',
    'cc_ablation *': '&(cc_ablation){0}',
    'cc_token_stats *': '&(cc_token_stats){0}', 'cc_token_ablation *': '&(cc_token_ablation){0}',
    'cc_token_ids *': '&(cc_token_ids){0}',
    'cc_topk_result *': '&(cc_topk_result){0}',
    'cc_validation *': '&(cc_validation){0}', 'const cc_validation *': '&(cc_validation){0}',
}

# Parameters the API lets be NULL, with the reason (FUNC/NAME; "*/err" for all).
MAY_BE_NULL = {
    '*/err': 'every function accepts a NULL err: cc_fail then drops the message (error.h)',
    'cc_model_open/config_path': 'NULL: config.json beside the weights',
    'cc_model_load/config_path': 'NULL: config.json beside the weights',
    'cc_hook_parse/cfg': 'NULL: parse only, no layer check',
    'cc_head_parse/cfg': 'NULL: parse only, no range check',
    'cc_head_list_parse/cfg': 'NULL: the syntax only',
    'cc_forward_resume/logprob': 'NULL skips the unembedding',
    'cc_grad_metric_logprobs/position': 'NULL: the last position of every row',
    'cc_circuit_compile/plan_text': 'optional explanation',
    'cc_circuit_compile_ex/plan': 'optional plan',
    'cc_circuit_compile_ex/plan_text': 'optional explanation',
    'cc_circuit_compile_exact/cache': 'optional: no prefixes kept between calls',
    'cc_circuit_measure/c': 'optional: names the circuit in errors',
    'cc_composition_baseline/scores': 'optional per-sample scores',
    '*/progress': 'every progress callback is optional (progress.h)',
    'cc_st_writer_open/metadata': 'optional list of n_meta pairs',
    'cc_data_find/env_var': 'NULL: no override variable',
    'cc_out_check/direct': 'optional: whether the path would be written directly',
    'cc_cleanup_block/old': 'optional: the mask before blocking (as sigprocmask)',
    'cc_circuit_parse/label': 'NULL: messages say "<circuit>"',
    'cc_st_parse/label': 'NULL: messages say "<buffer>"',
    'cc_config_validate/label': 'NULL: messages say "<config>"',
    'cc_synth_write/opt': 'NULL: the defaults (float32, no prefix, tied unembedding)',
    'cc_chart_circuit/rows_label': 'NULL: "rows"',
    'cc_chart_circuit/cols_label': 'NULL: "columns"',
    'cc_chart_bars/ylabel': 'NULL: no axis label',
    'cc_plot_set_str/value': 'NULL: the empty string',
    'cc_html_write/subtitle': 'NULL: no line under the title',
    'cc_eap_pairs_load/tok': 'NULL: the file holds token ids only',
    'cc_eap_evaluate/clean': 'optional: the clean metric',
    'cc_eap_evaluate/corrupt': 'optional: the corrupted metric',
    'cc_pair_metric_value/clean': 'read by kl only',
    'cc_pair_metric_grad/clean': 'read by kl only',
    '*/ctx': 'a callback context is the caller\'s, passed through untouched',
    '*/progress_ctx': 'a callback context is the caller\'s, passed through untouched',
}

# Sizes that must be at least 1, with a value below it to try (FUNC/NAME). The
# generator cannot tell a size from any other int, so these are listed.
BAD_SIZES = {
    'cc_fm_create/l': '-1', 'cc_fm_create/m': '0', 'cc_fm_create/r': '-1',
    'cc_eap_scores_add/T': '0', 'cc_eap_scores_add/D': '0', 'cc_eap_sender_deltas/T': '0',
    'cc_eap_pairs_repeat/n': '0', 'cc_eap_pairs_repeat/k': '1',
    'cc_eap_pairs_ioi/n': '0', 'cc_eap_pairs_greater_than/n': '0',
}

# What a function without an error channel returns for a bad argument, by
# result type (README.md, "Errors and arguments"); C expressions over the result `r`.
RESULT_SENTINEL = {
    'void': None,
    'bool': '!r',
    'int': 'r == -1', 'long': 'r == -1', 'long long': 'r == -1', 'int32_t': 'r == -1',
    'size_t': 'r == 0', 'uint64_t': 'r == 0', 'uint32_t': 'r == 0',
    'double': 'isnan(r)', 'float': 'isnan(r)',
    'char *': 'r == NULL', 'float *': 'r == NULL', 'FILE *': 'r == NULL', 'json_t *': 'r == NULL',
    'const cc_st_tensor *': 'r == NULL', 'const cc_st_meta *': 'r == NULL',
    'const cc_config *': 'r == NULL', 'const cc_weights *': 'r == NULL', 'cc_dtype': 'r == CC_DT_COUNT',
    'cc_blas_verdict': 'r == CC_VERDICT_UNKNOWN',
    'cc_act_shape': 'r.ndim == 0 && r.numel == 0',
    'cc_row_target': 'r.target_rank == -1 && isnan(r.target_logprob)',
}
# const char *: NULL for a NULL argument, "?" for an out-of-range enum.
NAME_SENTINEL = '"?"'
# Functions whose result range includes the usual sentinel.
SENTINEL_OVERRIDE = {
    'cc_score_offset': 'r == 1',  # offsets are <= 0
}

# ---------------------------------------------------------------- parsing


def strip_c(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    text = re.sub(r'^\s*#[^\n]*', ' ', text, flags=re.M)
    return re.sub(r'__attribute__\s*\(\(.*?\)\)', ' ', text)


def norm_type(t):
    t = ' '.join(t.split())
    t = re.sub(r'\s*\*\s*', ' *', t).replace('* *', '**')
    return t.replace('* const', '*const').strip()


def parse_param(p):
    p = ' '.join(p.split())
    m = re.match(r'(.*?)(\w+)\s*(\[\w*\])?$', p)
    if not m:
        raise SystemExit(f'gen_api_args: cannot parse parameter "{p}"')
    ty = m.group(1)
    if m.group(3):
        ty += '*'
    return norm_type(ty), m.group(2)


def parse(headers):
    funcs, enums, structs = [], {}, {}
    for h in headers:
        t = strip_c(open(h).read())
        for m in re.finditer(r'typedef\s+enum\s*\w*\s*\{(.*?)\}\s*(\w+)\s*;', t, flags=re.S):
            # The API's enums count up from 0 (none skips a value).
            names = [e.partition('=')[0].strip() for e in m.group(1).split(',') if e.strip()]
            # A trailing CC_X_COUNT / CC_N_X counts the others: it is out of range too.
            top = names[-1] if re.search(r'_COUNT$|_N_[A-Z]+$', names[-1]) else f'{names[-1]} + 1'
            enums[m.group(2)] = {'first': names[0], 'end': top}
        for m in re.finditer(r'typedef\s+struct\s*\w*\s*\{(.*?)\}\s*(\w+)\s*;', t, flags=re.S):
            fields = []
            for decl in m.group(1).split(';'):
                decl = ' '.join(decl.split())
                fm = re.match(r'^(?:const\s+)?(\w+)\s+(\w+)$', decl)
                if fm:
                    fields.append((fm.group(1), fm.group(2)))
            structs[m.group(2)] = fields
        for m in re.finditer(r'(?:^|(?<=[;{}]))\s*([A-Za-z_][\w\s\*]*?[\s\*])(cc_\w+)\s*\(([^()]*)\)\s*;', t):
            ret = norm_type(m.group(1))
            if ret.startswith('typedef') or ret.startswith('struct'):
                continue
            ps = m.group(3).strip()
            params = [] if ps in ('', 'void') else [parse_param(p) for p in ps.split(',')]
            funcs.append({'ret': ret, 'name': m.group(2), 'params': params, 'header': os.path.basename(h)})
    return funcs, enums, structs


# ---------------------------------------------------------------- generation


def value_of(f, ty, enums):
    if ty in enums:
        return f'({ty}){enums[ty]["first"]}'
    if ty not in VALUES:
        raise SystemExit(f'gen_api_args: {f["name"]} ({f["header"]}) takes a parameter of type "{ty}", which '
                         f'tests/gen_api_args.py has no valid value for: add it to VALUES')
    return VALUES[ty]


def may_be_null(f, name):
    return f'{f["name"]}/{name}' in MAY_BE_NULL or f'*/{name}' in MAY_BE_NULL


# Structs the library fills itself: their enum fields are its own state, not
# arguments (a tensor's dtype is read from the file and checked there; a
# config's block shape by cc_config_load, or cc_config_validate for one a
# caller builds, whose own test checks every enum field).
LIBRARY_OWNED = {'cc_model', 'cc_st_tensor', 'cc_config'}


def enum_fields(ty, enums, structs, prefix=''):
    """(path, enum type) of the enum fields of struct TY and of the structs it holds by value."""
    out = []
    if ty in LIBRARY_OWNED:
        return out
    for fty, fname in structs.get(ty, []):
        if fty in enums:
            out.append((prefix + fname, fty))
        elif fty in structs:
            out += enum_fields(fty, enums, structs, prefix + fname + '.')
    return out


def cases(f, enums, structs):
    """(label, arguments, the bad argument's name, 'null', 'enum' or 'size', setup statement) per bad call of F."""
    base = [value_of(f, ty, enums) for ty, _ in f['params']]
    for i, (ty, name) in enumerate(f['params']):
        if ty.endswith('*') or ty.endswith('_fn'):
            if not may_be_null(f, name):
                args = list(base)
                args[i] = 'NULL'
                yield f'{name} = NULL', args, name, 'null', None
        if f'{f["name"]}/{name}' in BAD_SIZES:
            args = list(base)
            args[i] = BAD_SIZES[f'{f["name"]}/{name}']
            yield f'{name} = {args[i]}', args, name, 'size', None
        if ty in enums:
            for bad in ('-1', enums[ty]['end']):
                args = list(base)
                args[i] = f'({ty})({bad})'
                yield f'{name} = {bad}', args, name, 'enum', None
        bare = ty[len('const '):-2] if ty.startswith('const ') and ty.endswith(' *') else ty
        if bare in structs and (ty == bare or ty.startswith('const ')):
            sep = '.' if ty == bare else '->'
            for path, ety in enum_fields(bare, enums, structs):
                for bad in ('-1', enums[ety]['end']):
                    args = list(base)
                    args[i] = f'bad_{i}'
                    setup = (f'{bare} bad_{i} = {base[i] if ty == bare else "*" + base[i]}; '
                             f'bad_{i}.{path} = ({ety})({bad});')
                    if ty != bare:
                        args[i] = f'&bad_{i}'
                    yield f'{name}{sep}{path} = {bad}', args, f'{name}{sep}{path}', 'enum', setup


def check_result(f, kind):
    ret = f['ret']
    has_err = any(ty == 'cc_error *' for ty, _ in f['params'])
    if has_err:
        return ('r == NULL' if ret.endswith('*') else 'r == -1'), True
    if f['name'] in SENTINEL_OVERRIDE:
        return SENTINEL_OVERRIDE[f['name']], False
    if ret == 'const char *':
        return (f'r != NULL && strcmp(r, {NAME_SENTINEL}) == 0' if kind == 'enum' else 'r == NULL'), False
    if ret not in RESULT_SENTINEL:
        raise SystemExit(f'gen_api_args: {f["name"]} ({f["header"]}) returns "{ret}" without a cc_error: '
                         f'add its bad-argument sentinel to RESULT_SENTINEL (and document it)')
    return RESULT_SENTINEL[ret], False


def c_string(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def generate(funcs, enums, structs, out):
    body, n = [], 0
    for f in funcs:
        for label, args, what, kind, setup in cases(f, enums, structs):
            cond, has_err = check_result(f, kind)
            call = f'{f["name"]}({", ".join(args)})'
            lines = [f'    case {n}: {{ /* {f["name"]}: {label} */']
            lines.append(f'        what = {c_string(f["name"] + ": " + label)};')
            if setup:
                lines.append(f'        {setup}')
            if f['ret'] == 'void':
                lines.append(f'        {call};')
            else:
                lines.append(f'        {f["ret"]} r = {call};')
                lines.append(f'        ck_assert_msg({cond}, "%s: wrong result for a bad argument", what);')
            if has_err:
                tail = ' is NULL' if kind == 'null' else ' is '
                needle = f'{f["name"]}: argument {what}{tail}'
                # An array's elements are checked one by one: "parts[i].kind".
                alt = f'{f["name"]}: argument {what.replace("->", "[i].", 1)}{tail}'
                lines.append(f'        expect_message(what, &err, {c_string(needle)}, {c_string(alt)});')
            lines.append('        break;')
            lines.append('    }')
            body += lines
            n += 1
    with open(out, 'w') as o:
        o.write(PROLOGUE)
        o.write(f'#define N_CASES {n}\n\nstatic void run_case(int i)\n{{\n    cc_error err = {{0}};\n'
                '    const char *what = "";\n    switch (i) {\n')
        o.write('\n'.join(body))
        o.write('\n    default: ck_abort_msg("no case %d", i);\n    }\n    (void)what;\n}\n')
        o.write(EPILOGUE)
    return n


PROLOGUE = r'''/* Generated by tests/gen_api_args.py from the public headers (include/circuitc): do not edit. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/act_cache.h"
#include "circuitc/atlas.h"
#include "circuitc/atlas_report.h"
#include "circuitc/attribution.h"
#include "circuitc/backward.h"
#include "circuitc/blas_kernel.h"
#include "circuitc/charts.h"
#include "circuitc/circuit.h"
#include "circuitc/circuit_report.h"
#include "circuitc/comp_scores.h"
#include "circuitc/runtime_report.h"
#include "circuitc/prompt_json.h"
#include "circuitc/prompt_pair.h"
#include "circuitc/cleanup.h"
#include "circuitc/composition.h"
#include "circuitc/datadir.h"
#include "circuitc/discover.h"
#include "circuitc/dla.h"
#include "circuitc/eap.h"
#include "circuitc/eap_graph.h"
#include "circuitc/eap_run.h"
#include "circuitc/experiments.h"
#include "circuitc/factored.h"
#include "circuitc/forward.h"
#include "circuitc/fsio.h"
#include "circuitc/head_circuits.h"
#include "circuitc/heads.h"
#include "circuitc/html.h"
#include "circuitc/measure.h"
#include "circuitc/model.h"
#include "circuitc/pair_metric.h"
#include "circuitc/patching.h"
#include "circuitc/plot.h"
#include "circuitc/predictions.h"
#include "circuitc/process.h"
#include "circuitc/prompts.h"
#include "circuitc/rng.h"
#include "circuitc/safetensors.h"
#include "circuitc/sha256.h"
#include "circuitc/synth.h"
#include "circuitc/tokenizer.h"
#include "circuitc/topk.h"
#include "circuitc/utf8.h"
#include "circuitc/validate.h"
#include "testutil.h"

/* Valid arguments, made once (an unchecked fixture: every case runs in its own
 * forked child, so a case that consumes one leaves the next its own copy). */
static struct {
    cc_model *model;
    cc_st_file *st;  /* the model's weights file */
    cc_circuit *circuit;
    cc_tokenizer *tok;
    cc_atlas *atlas;
    cc_plot *plot;
    cc_st_writer *writer;
    FILE *file;
    sigset_t signal_mask; /* the mask the test runs with (cc_cleanup_unblock restores it) */
    cc_fm fm;
    cc_fwd_result fwd;
    cc_prompt_batch batch;
    cc_measure_options measure;
    cc_validate_options validate;
    cc_discover_options discover;
    cc_circuit_report_options circuit_report;
    cc_blas_inputs blas_inputs;
    cc_sha256 sha;
    cc_eap_graph eap_graph;
    cc_eap_pairs eap_pairs;
    cc_head heads[4];
    cc_part parts[64];
    const char *strings[64];
    const double *double_rows[64];
    char chars[4096];
    float floats[1 << 16];
    double doubles[1 << 16];
    int ints[4096];
    int32_t ids[4096];
    long longs[64];
    uint8_t bytes[4096];
    json_t *json;
    char *dir;
} fx;

static int stub_progress(void *ctx, long done, long total) { return (void)ctx, (void)done, (void)total, 0; }
static int stub_next(void *ctx) { (void)ctx; return -1; }
static int stub_unit(void *ctx, const cc_atlas_entry *e, int n, cc_error *err) { (void)ctx, (void)e, (void)n, (void)err; return 0; }
static int stub_line(void *ctx, const char *line, size_t len, const char *label, cc_error *err)
{
    (void)ctx, (void)line, (void)len, (void)label, (void)err;
    return 0;
}

/* The message names the argument; the code says it is a bad argument. */
static void expect_message(const char *what, const cc_error *err, const char *needle, const char *alt)
{
    ck_assert_msg(strstr(err->msg, needle) || strstr(err->msg, alt), "%s: expected \"%s\" in the error, got: \"%s\"",
                  what, needle, err->msg);
    ck_assert_msg(err->code == CC_E_ARG, "%s: error code %s, expected arg", what, cc_error_code_name(err->code));
}

static void ok(int rc, const cc_error *err)
{
    if (rc != 0) {
        fprintf(stderr, "api_args fixture: %s\n", err->msg);
        abort();
    }
}

static void setup(void)
{
    cc_error err = {0};
    ok(cc_model_load(tu_fixture_model(), NULL, true, &fx.model, &err), &err);
    ok(cc_st_open(cc_model_weights_file(fx.model), &fx.st, &err), &err);
    ok(cc_circuit_open("kcomp", &fx.circuit, &err), &err);
    char *vocab = tu_byte_vocab("{\"ab\": 256}"); /* the byte tokens and "ab", the one merge */
    static const char merges[] = "#version: 0.2\na b\n";
    ok(cc_tokenizer_from_buffers(vocab, strlen(vocab), merges, sizeof merges - 1, &fx.tok, &err), &err);
    free(vocab);
    ok(cc_atlas_new(fx.model, fx.circuit, &(cc_atlas_options){0}, &fx.atlas, &err), &err);
    ok(cc_head_ov(fx.model, (cc_head){0, 0}, &fx.fm, &err), &err);
    fx.dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/chart.png", fx.dir);
    ok(cc_plot_begin("repeat", path, 400, 300, &fx.plot, &err), &err);
    snprintf(path, sizeof path, "%s/w.safetensors", fx.dir);
    cc_st_entry entry = {"t", CC_DT_F32, 1, {1}};
    ok(cc_st_writer_open(path, &entry, 1, NULL, 0, &fx.writer, &err), &err);
    sigprocmask(SIG_SETMASK, NULL, &fx.signal_mask);
    fx.file = tmpfile();
    if (!fx.file) abort();
    int tokens[4] = {1, 2, 3, 4};
    cc_fwd_opts opts = {.logprobs = true};
    ok(cc_forward(fx.model, tokens, 1, 4, &opts, &fx.fwd, &err), &err);
    ok(cc_prompt_batch_load(&(cc_prompt_source){.tokens = "1 2 3"}, fx.model, &fx.batch, &err), &err);
    cc_measure_defaults(&fx.measure);
    cc_validate_defaults(&fx.validate);
    fx.discover = (cc_discover_options){.circuit = fx.circuit, .top = 1, .baseline_samples = 2};
    cc_circuit_report_defaults(&fx.circuit_report);
    static cc_blas_library lib;
    static cc_cpu_features cpu;
    fx.blas_inputs = (cc_blas_inputs){.lib = &lib, .cpu = &cpu};
    cc_sha256_init(&fx.sha);
    ok(cc_eap_graph_build(cc_model_config(fx.model), &fx.eap_graph, &err), &err);
    ok(cc_eap_pairs_repeat(fx.model, 1, 2, 0, &fx.eap_pairs, &err), &err);
    for (int i = 0; i < 64; i++) {
        fx.strings[i] = "x";
        fx.double_rows[i] = fx.doubles;
        fx.parts[i] = (cc_part){CC_PART_W_E, -1, -1};
    }
    for (int i = 0; i < 4096; i++) fx.ints[i] = fx.ids[i] = 1;
    strcpy(fx.chars, "x");
    fx.json = json_object();
}

static void teardown(void)
{
    cc_plot_end(fx.plot);
    cc_st_writer_abort(fx.writer);
    fclose(fx.file);
    cc_prompt_batch_free(&fx.batch);
    cc_eap_graph_free(&fx.eap_graph);
    cc_eap_pairs_free(&fx.eap_pairs);
    cc_fwd_result_free(&fx.fwd);
    cc_fm_free(&fx.fm);
    cc_atlas_free(fx.atlas);
    cc_tokenizer_free(fx.tok);
    cc_circuit_free(fx.circuit);
    cc_model_free(fx.model);
    cc_st_close(fx.st);
    json_decref(fx.json);
    tu_rmtree(fx.dir);
    free(fx.dir);
}

'''

EPILOGUE = r'''
START_TEST(test_bad_argument)
{
    run_case(_i);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_args");
    TCase *tc = tcase_create("bad_arguments");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_bad_argument, 0, N_CASES);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
'''


def main():
    if len(sys.argv) < 3:
        raise SystemExit('usage: gen_api_args.py HEADER... OUT.c')
    funcs, enums, structs = parse(sorted(sys.argv[1:-1]))
    if not funcs:
        raise SystemExit('gen_api_args: no cc_* prototype found in the headers')
    generate(funcs, enums, structs, sys.argv[-1])


if __name__ == '__main__':
    main()
