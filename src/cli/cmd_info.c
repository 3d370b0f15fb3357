/* cmd_info.c — `circuitc info`: what a model file holds, without loading its weights. */
#include <stdio.h>
#include <string.h>

#include "blas_select.h"
#include "cli.h"
#include "options.h"

/* The BLAS library, kernel, threads and how the kernel was chosen (docs/blas.md). */
static json_t *describe_blas(const cli_blas_state *s)
{
    const cc_blas_decision *d = &s->decision;
    char features[160];
    cc_cpu_feature_list(&s->cpu, features, sizeof features);
    json_t *feature_list = json_array();
    for (char *save = NULL, *f = strtok_r(features, " ", &save); f; f = strtok_r(NULL, " ", &save))
        json_array_append_new(feature_list, json_string(f));
    return json_pack("{s:s, s:s?, s:s?, s:i, s:s, s:s, s:s?, s:s?, s:{s:s, s:s, s:i, s:i, s:i, s:o}}", "library",
                     s->lib.config, "library_file", s->lib.library[0] ? s->lib.library : NULL, "core",
                     s->lib.core[0] ? s->lib.core : NULL, "threads", s->lib.threads, "chosen_by",
                     cc_blas_chosen_by_name(d->chosen_by), "reason", d->reason, "library_core",
                     d->library_core[0] ? d->library_core : NULL, "verified", d->verified, "cpu", "vendor",
                     s->cpu.vendor, "brand", s->cpu.brand, "family", (int)s->cpu.family, "model", (int)s->cpu.model,
                     "stepping", (int)s->cpu.stepping, "features", feature_list);
}

static void print_blas_human(json_t *b)
{
    json_t *core = json_object_get(b, "core"), *file = json_object_get(b, "library_file");
    printf("blas         %s%s%s\n", json_string_value(json_object_get(b, "library")), json_is_string(file) ? ", " : "",
           json_is_string(file) ? json_string_value(file) : "");
    printf("blas core    %s, %lld threads: %s\n", json_is_string(core) ? json_string_value(core) : "(unknown)",
           (long long)json_integer_value(json_object_get(b, "threads")),
           json_string_value(json_object_get(b, "reason")));
}

#define STR(o, k) json_string_value(json_object_get((o), (k)))

/* The architecture lines: family, norm and positions, attention, block and MLP. */
static void print_architecture(json_t *a, double eps)
{
    json_t *rot = json_object_get(a, "rotary"), *att = json_object_get(a, "attention"), *mlp = json_object_get(a, "mlp");
    printf("family       %s\n", STR(a, "family"));
    printf("norm         %s, eps %g%s; positions %s", STR(a, "norm"), eps,
           json_is_true(json_object_get(a, "norm_folded")) ? " (folded before export)" : "", STR(a, "positions"));
    if (json_is_object(rot))
        printf(" (%lld dims, base %g, pairs %s)", (long long)json_integer_value(json_object_get(rot, "dim")),
               json_real_value(json_object_get(rot, "base")), STR(rot, "pairs"));
    long long kv = json_integer_value(json_object_get(att, "kv_heads")), h = json_integer_value(json_object_get(att, "heads"));
    printf("\nattention    %lld heads", h);
    if (kv != h) printf(", %lld key/value heads (grouped)", kv);
    if (strcmp(STR(att, "scale"), "none") == 0) printf(", scores unscaled");
    else printf(", scores scaled by %s", STR(att, "scale"));
    json_t *local = json_object_get(att, "local_layers");
    if (json_array_size(local)) {
        printf(", window %lld in layers", (long long)json_integer_value(json_object_get(att, "window")));
        for (size_t i = 0; i < json_array_size(local); i++)
            printf("%s%lld", i ? "," : " ", (long long)json_integer_value(json_array_get(local, i)));
    }
    printf("\nblock        %s", STR(a, "block"));
    if (json_is_object(mlp)) printf("; MLP %s, %s", STR(mlp, "kind"), STR(mlp, "act"));
    printf("\n");
}

static void print_human(json_t *j)
{
    json_t *c = json_object_get(j, "config");
    printf("model        %s\n", cli_run()->model);
    printf("weights      %s (%s, %lld bytes, %lld tensors%s%s)\n",
           json_string_value(json_object_get(j, "weights_file")), json_string_value(json_object_get(j, "dtype")),
           (long long)json_integer_value(json_object_get(j, "file_bytes")),
           (long long)json_integer_value(json_object_get(j, "n_tensors")),
           *json_string_value(json_object_get(j, "tensor_prefix")) ? ", names prefixed \"transformer.\"" : "",
           json_is_true(json_object_get(j, "tied_unembedding")) ? ", unembedding tied to the embedding"
                                                                 : ", unembedding stored");
    printf("config       %s\n", json_string_value(json_object_get(j, "config_file")));
    printf("shape        %lld layers x %lld heads, d_model %lld, d_head %lld, d_mlp %lld, vocab %lld, n_ctx %lld\n",
           (long long)json_integer_value(json_object_get(c, "n_layers")),
           (long long)json_integer_value(json_object_get(c, "n_heads")),
           (long long)json_integer_value(json_object_get(c, "d_model")),
           (long long)json_integer_value(json_object_get(c, "d_head")),
           (long long)json_integer_value(json_object_get(c, "d_mlp")),
           (long long)json_integer_value(json_object_get(c, "d_vocab")),
           (long long)json_integer_value(json_object_get(c, "n_ctx")));
    print_architecture(json_object_get(j, "architecture"), json_real_value(json_object_get(c, "ln_eps")));
    printf("BOS token    %lld\n", (long long)json_integer_value(json_object_get(c, "bos_token_id")));
    json_t *hooks = json_object_get(j, "hooks");
    printf("hooks        %zu:", json_array_size(hooks));
    for (size_t i = 0; i < json_array_size(hooks); i++)
        printf("%s%s", i ? ", " : " ", json_string_value(json_array_get(hooks, i)));
    printf("\n");
    printf("parameters   %lld\n", (long long)json_integer_value(json_object_get(j, "n_params")));
    json_t *steps = cli_processing_steps(cli_run()->processed);
    printf("processing   ");
    if (json_array_size(steps) == 0) printf("none (--no-processing)");
    for (size_t i = 0; i < json_array_size(steps); i++)
        printf("%s%s", i ? ", " : "", json_string_value(json_array_get(steps, i)));
    printf("\n");
    json_decref(steps);
    json_t *sha = json_object_get(j, "sha256");
    printf("sha256       %s\n", json_is_string(sha) ? json_string_value(sha) : "(not computed; pass --checksum)");
    print_blas_human(json_object_get(j, "blas"));
}

static int run(const cli_args *a)
{
    cli_common common = a->common;
    bool checksum = a->v[O_CHECKSUM].on;
    cc_error err;
    cc_model *m = NULL;
    if (cli_open_model(&common, &m, &err) != 0) return cli_fail(&err);
    char sha[65];
    if (checksum && cc_model_sha256(m, sha, &err) != 0) {
        cc_model_free(m);
        return cli_fail(&err);
    }
    json_t *j = cc_model_info_json(m, checksum ? sha : NULL);
    cc_model_free(m);
    cli_run_processed(!common.no_processing); /* what the analyses apply */
    json_object_set_new(j, "blas", cli_blas_selection() ? describe_blas(cli_blas_selection()) : json_null());
    if (common.json) return cli_print_result(j);
    print_human(j);
    json_decref(j);
    return CLI_OK;
}

const cli_command cli_cmd_info = {
    .name = "info",
    .synopsis = "",
    .summary = "describe a model: config, parameter count, processing, checksum",
    .description =
        "Describes a model without loading its weights (the file is mmapped and only its\n"
        "header is read): family and block shape (docs/architectures.md), config, parameter count,\n"
        "dtype, tensor layout, and the weight processing the analyses apply; and the BLAS kernel\n"
        "circuitc runs on and why\n"
        "(CIRCUITC_BLAS_CORE=auto|keep|NAME, docs/blas.md).\n",
    .examples = "info\n"
                "info --model golden/models/induction-3l4h --checksum --json\n",
    /* no weights are loaded: --allow-nonfinite and --quiet would do nothing here */
    .options = (const opt_id[]){O_CHECKSUM, O_MODEL, O_CONFIG, O_NO_PROCESSING, O_JSON, O_NONE},
    .run = run,
};
