/* test_model_formats.c — models circuitc cannot read get an error that says
 * why and what to do: a family circuitc does not read (OPT),
 * PyTorch weights (pytorch_model.bin) and sharded checkpoints
 * (model.safetensors.index.json), in a folder or named directly; and the
 * checks never refuse a folder that does hold model.safetensors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/model.h"
#include "testutil.h"

/* facebook/opt-125m's config.json (abridged): a family circuitc does not read. */
static const char OPT_CONFIG[] =
    "{\"activation_function\": \"relu\", \"architectures\": [\"OPTForCausalLM\"], \"ffn_dim\": 3072,\n"
    " \"hidden_size\": 768, \"max_position_embeddings\": 2048, \"model_type\": \"opt\",\n"
    " \"num_attention_heads\": 12, \"num_hidden_layers\": 12, \"vocab_size\": 50272}\n";

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
    return p;
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char *p = path_in(dir, name);
    tu_write_file(p, text, strlen(text));
    free(p);
}

static void rename_in(const char *dir, const char *from, const char *to)
{
    char *a = path_in(dir, from), *b = path_in(dir, to);
    ck_assert_int_eq(rename(a, b), 0);
    free(a), free(b);
}

/* Opening PATH fails with a message holding every one of NEEDLES (NULL-terminated). */
static void expect_refused(const char *path, const char *const *needles)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert_int_eq(cc_model_open(path, NULL, &m, &err), -1);
    ck_assert_ptr_null(m);
    for (const char *const *n = needles; *n; n++) tu_assert_contains(err.msg, *n);
}
#define REFUSED(path, ...) expect_refused((path), (const char *const[]){__VA_ARGS__, NULL})

/* A folder holding only config.json with TEXT. */
static char *config_only(const char *text)
{
    char *dir = tu_tmpdir();
    write_text(dir, "config.json", text);
    return dir;
}

START_TEST(unsupported_family_names_the_model_type_and_the_supported_ones)
{
    char *dir = config_only(OPT_CONFIG);
    char *config = path_in(dir, "config.json");
    REFUSED(dir, config, "model_type \"opt\" is not supported", "gpt2, gpt_neo, gpt_neox, llama",
            "TransformerLens", "docs/architectures.md");
    free(config);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(model_type_must_be_a_string)
{
    char *dir = config_only("{\"model_type\": 2, \"n_layer\": 1, \"n_head\": 1, \"n_embd\": 4, \"vocab_size\": 8, "
                            "\"n_positions\": 4}");
    REFUSED(dir, "\"model_type\" must be a string");
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* A tiny model folder whose model.safetensors is renamed WEIGHTS (and that
 * holds EXTRA with TEXT when EXTRA is not NULL): opening the folder, or its file
 * NAMED directly, is refused with WHAT and the transformers one-liner that
 * writes model.safetensors into that folder. */
static void expect_resave_advice(const char *weights, const char *extra, const char *text, const char *named,
                                 const char *what)
{
    char *dir = tu_tiny_model("1");
    rename_in(dir, "model.safetensors", weights);
    if (extra) write_text(dir, extra, text);
    char *file = path_in(dir, named), *advice = NULL;
    ck_assert_int_ge(asprintf(&advice,
                              "python3 -c \"from transformers import AutoModelForCausalLM as M; "
                              "M.from_pretrained('%s').save_pretrained('%s', safe_serialization=True",
                              dir, dir),
                     0);
    REFUSED(dir, file, what, advice);
    REFUSED(file, file, what, advice);
    free(advice), free(file);
    tu_rmtree(dir);
    free(dir);
}

START_TEST(pytorch_bin_folder_says_how_to_convert)
{
    expect_resave_advice("pytorch_model.bin", NULL, NULL, "pytorch_model.bin",
                         "PyTorch weights (pytorch_model.bin) are not read; circuitc reads safetensors");
}
END_TEST

START_TEST(sharded_checkpoint_says_how_to_merge)
{
    expect_resave_advice("model-00001-of-00001.safetensors", "model.safetensors.index.json",
                         "{\"metadata\": {\"total_size\": 1}, "
                         "\"weight_map\": {\"wte.weight\": \"model-00001-of-00001.safetensors\"}}",
                         "model.safetensors.index.json",
                         "sharded checkpoints (model.safetensors.index.json + shards) are not supported");
}
END_TEST

START_TEST(safetensors_beside_other_formats_is_read)
{
    char *dir = tu_tiny_model("3");
    write_text(dir, "pytorch_model.bin", "not read");
    write_text(dir, "model.safetensors.index.json", "{}");
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_open(dir, NULL, &m, &err) == 0, "%s", err.msg);
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* circuitc ARGV exits 1 with NEEDLE on stderr and nothing on stdout. */
static void expect_cli_refusal(const char *const *argv, const char *needle)
{
    tu_run_result r = tu_run(argv);
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    tu_assert_contains(r.err, needle);
    tu_run_free(&r);
}

START_TEST(cli_refuses_with_nothing_on_stdout)
{
    char *bin_only = tu_tiny_model("4");
    rename_in(bin_only, "model.safetensors", "pytorch_model.bin");
    expect_cli_refusal((const char *const[]){"info", "--model", bin_only, NULL}, "safe_serialization=True");
    char *opt = config_only(OPT_CONFIG);
    expect_cli_refusal((const char *const[]){"kcomp", "L0H0", "L1H0", "--model", opt, NULL}, "\"opt\"");
    tu_rmtree(bin_only), tu_rmtree(opt);
    free(bin_only), free(opt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model_formats");
    TCase *tc = tcase_create("unreadable models");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, unsupported_family_names_the_model_type_and_the_supported_ones);
    tcase_add_test(tc, model_type_must_be_a_string);
    tcase_add_test(tc, pytorch_bin_folder_says_how_to_convert);
    tcase_add_test(tc, sharded_checkpoint_says_how_to_merge);
    tcase_add_test(tc, safetensors_beside_other_formats_is_read);
    tcase_add_test(tc, cli_refuses_with_nothing_on_stdout);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
