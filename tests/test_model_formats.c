/* test_model_formats.c — models circuitc cannot read get an error that says
 * why and what to do: a family circuitc does not read (OPT),
 * PyTorch weights (pytorch_model.bin), in a folder or named directly; sharded
 * checkpoints (model.safetensors.index.json) load exactly as one file, and
 * hostile indexes are refused; the checks never refuse a folder that does
 * hold model.safetensors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <jansson.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdint.h>

#include "circuitc/model.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

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

/* Writes tensors [lo, hi) of F (file order) into DIR/NAME. */
static void write_shard(const cc_st_file *f, size_t lo, size_t hi, const char *dir, const char *name)
{
    cc_st_entry *e = calloc(hi - lo + 1, sizeof *e);
    for (size_t i = lo; i < hi; i++) {
        const cc_st_tensor *t = cc_st_tensor_at(f, i);
        e[i - lo] = (cc_st_entry){t->name, t->dtype, t->ndim, {0}};
        memcpy(e[i - lo].shape, t->shape, sizeof t->shape);
    }
    char *path = path_in(dir, name);
    cc_st_writer *w = NULL;
    cc_error err;
    ck_assert_msg(cc_st_writer_open(path, e, hi - lo, NULL, 0, &w, &err) == 0, "%s", err.msg);
    for (size_t i = lo; i < hi; i++) {
        const cc_st_tensor *t = cc_st_tensor_at(f, i);
        ck_assert_int_eq(cc_st_writer_put(w, t->data, t->end - t->begin, &err), 0);
    }
    ck_assert_int_eq(cc_st_writer_finish(w, &err), 0);
    free(path), free(e);
}

/* A copy of the tiny model SEED in a new folder as a two-shard checkpoint,
 * the first shard holding tensors [0, SPLIT) of the file; the index maps
 * every tensor to its shard, then EDIT (may be NULL) changes the index text. */
static char *sharded_copy(const char *seed, size_t split, void (*edit)(char *index))
{
    char *one = tu_tiny_model(seed), *dir = tu_tmpdir(), *file = path_in(one, "model.safetensors");
    char *config = path_in(one, "config.json"), *config_to = path_in(dir, "config.json");
    size_t len;
    uint8_t *text = tu_read_file(config, &len);
    tu_write_file(config_to, text, len);
    cc_st_file *f = NULL;
    cc_error err;
    ck_assert_int_eq(cc_st_open(file, &f, &err), 0);
    write_shard(f, 0, split, dir, "model-00001-of-00002.safetensors");
    write_shard(f, split, cc_st_n_tensors(f), dir, "model-00002-of-00002.safetensors");
    size_t cap = 64 * cc_st_n_tensors(f) + 256, o = 0;
    char *index = malloc(cap);
    o += (size_t)snprintf(index + o, cap - o, "{\"metadata\": {}, \"weight_map\": {");
    for (size_t i = 0; i < cc_st_n_tensors(f); i++)
        o += (size_t)snprintf(index + o, cap - o, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"", i ? ", " : "",
                              cc_st_tensor_at(f, i)->name, i < split ? 1 : 2);
    snprintf(index + o, cap - o, "}}");
    if (edit) edit(index);
    write_text(dir, "model.safetensors.index.json", index);
    cc_st_close(f);
    tu_rmtree(one);
    free(one), free(file), free(config), free(config_to), free(text), free(index);
    return dir;
}

START_TEST(sharded_checkpoint_loads_bit_identical_to_one_file)
{
    char *one = tu_tiny_model("5"), *sharded = sharded_copy("5", 7, NULL);
    char *index = path_in(sharded, "model.safetensors.index.json");
    cc_model *a = NULL, *b = NULL, *c = NULL;
    cc_error err;
    ck_assert_msg(cc_model_load(one, NULL, true, &a, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_model_load(sharded, NULL, true, &b, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_model_load(index, NULL, true, &c, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(b->n_shards, 2);
    const cc_config *k = &a->cfg;
    size_t n_qkv = (size_t)k->n_layers * k->n_heads * k->d_model * k->d_head;
    ck_assert_mem_eq(a->w.W_E, b->w.W_E, (size_t)k->d_vocab * k->d_model * sizeof(float));
    ck_assert_mem_eq(a->w.W_Q, b->w.W_Q, n_qkv * sizeof(float));
    ck_assert_mem_eq(a->w.W_V, c->w.W_V, n_qkv * sizeof(float));
    ck_assert_mem_eq(a->w.W_out, b->w.W_out, (size_t)k->n_layers * k->d_mlp * k->d_model * sizeof(float));
    ck_assert_mem_eq(a->w.W_U, c->w.W_U, (size_t)k->d_vocab * k->d_model * sizeof(float));
    char ha[65], hb[65];
    ck_assert_int_eq(cc_model_sha256(a, ha, &err), 0);
    ck_assert_int_eq(cc_model_sha256(b, hb, &err), 0);
    ck_assert_str_ne(ha, hb); /* the shards are other files than the one file */
    cc_model_free(a), cc_model_free(b), cc_model_free(c);
    tu_rmtree(one), tu_rmtree(sharded);
    free(one), free(sharded), free(index);
}
END_TEST

/* ---- memory while loading ------------------------------------------------------- */

/* This process's peak resident set since the last reset, in bytes (VmHWM). */
static size_t peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    size_t kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %zu kB", &kib) == 1) break;
    fclose(f);
    return kib * 1024;
}

static void reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs("5", f), 0); /* "5" resets VmHWM to the current resident set */
    ck_assert_int_eq(fclose(f), 0);
}

/* Appends float32 tensor NAME [ROWS, COLS] (ROWS 0: [COLS]) at data offset *OFF to HEADER. */
static void add_f32_tensor(char **header, size_t *off, const char *name, int rows, int cols)
{
    size_t n = (size_t)(rows ? rows : 1) * (size_t)cols * sizeof(float);
    char shape[32], *next = NULL;
    if (rows) snprintf(shape, sizeof shape, "[%d,%d]", rows, cols);
    else snprintf(shape, sizeof shape, "[%d]", cols);
    ck_assert_int_ge(asprintf(&next, "%s%s\"%s\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                              *header, *off ? "," : "{", name, shape, *off, *off + n), 0);
    free(*header);
    *header = next;
    *off += n;
}

/* A Llama-family folder of L layers of float32 zeros, made of many tensors
 * well under 8 MiB each, as small models' are. *DATA_BYTES: the tensors' size. */
static char *many_small_tensors_model(int L, size_t *data_bytes)
{
    static const struct { const char *name; int rows, cols; } per_layer[] = {
        {"self_attn.q_proj.weight", 256, 256}, {"self_attn.k_proj.weight", 256, 256},
        {"self_attn.v_proj.weight", 256, 256}, {"self_attn.o_proj.weight", 256, 256},
        {"mlp.gate_proj.weight", 512, 256},    {"mlp.up_proj.weight", 512, 256},
        {"mlp.down_proj.weight", 256, 512},    {"input_layernorm.weight", 0, 256},
        {"post_attention_layernorm.weight", 0, 256},
    };
    char *header = strdup(""), name[96];
    size_t off = 0;
    add_f32_tensor(&header, &off, "model.embed_tokens.weight", 512, 256);
    add_f32_tensor(&header, &off, "lm_head.weight", 512, 256);
    add_f32_tensor(&header, &off, "model.norm.weight", 0, 256);
    for (int l = 0; l < L; l++)
        for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++) {
            snprintf(name, sizeof name, "model.layers.%d.%s", l, per_layer[i].name);
            add_f32_tensor(&header, &off, name, per_layer[i].rows, per_layer[i].cols);
        }
    char *dir = tu_tmpdir(), *config = NULL, *weights = path_in(dir, "model.safetensors");
    ck_assert_int_ge(asprintf(&config, "{\"model_type\": \"llama\", \"hidden_size\": 256, \"intermediate_size\": 512, "
                                       "\"num_attention_heads\": 4, \"num_key_value_heads\": 4, \"num_hidden_layers\": %d, "
                                       "\"vocab_size\": 512, \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-6, "
                                       "\"tie_word_embeddings\": false}",
                              L), 0);
    write_text(dir, "config.json", config);
    size_t hlen = strlen(header) + 1;
    FILE *f = fopen(weights, "wb");
    ck_assert_ptr_nonnull(f);
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    static const float zeros[4096];
    ck_assert_int_eq(fwrite(len, 1, 8, f), 8);
    ck_assert_int_eq(fprintf(f, "%s}", header), (int)hlen);
    for (size_t done = 0; done < off; done += sizeof zeros)
        ck_assert_int_eq(fwrite(zeros, 1, off - done < sizeof zeros ? off - done : sizeof zeros, f) > 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    free(header), free(config), free(weights);
    *data_bytes = off;
    return dir;
}

/* A model of many small tensors: the file's pages are let go as each tensor is
 * copied, so loading peaks near the float32 weights alone, not weights + file.
 * (Before, pages were dropped only per 8 MiB of one tensor: a SmolLM-135M-shaped
 * model peaked at 1.1 GB instead of 0.7.) */
START_TEST(loading_lets_go_of_the_files_pages_as_it_copies)
{
#if defined(__SANITIZE_ADDRESS__)
    /* ASan's quarantine keeps every freed temporary resident: peaks mean nothing there */
    return;
#endif
    size_t bytes = 0;
    char *dir = many_small_tensors_model(24, &bytes);
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_open(dir, NULL, &m, &err) == 0, "%s", err.msg);
    reset_peak_rss();
    size_t before = peak_rss();
    ck_assert_msg(cc_model_load_weights(m, &err) == 0, "%s", err.msg);
    size_t grew = peak_rss() - before;
    /* the copies are the file's size (no grouped-query repeats, untied); what may
       come on top: one tensor's temporary and the 8 MiB being read */
    ck_assert_msg(grew < bytes + (16u << 20), "loading %.1f MB of tensors raised the peak by %.1f MB",
                  bytes / 1e6, grew / 1e6);
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Index edits that break it: each must be refused naming the index. */
static void shard_outside_folder(char *index)
{
    char *p = strstr(index, "model-00002");
    memcpy(p, "../el", 5); /* "../el-00002-of-00002.safetensors" */
}

static void tensor_in_wrong_shard(char *index)
{
    /* the first tensor, in shard 1, said to be in shard 2 */
    char *p = strstr(index, "model-00001");
    p[10] = '2';
}

static void tensor_missing_from_index(char *index)
{
    /* drop the first entry: shard 1 then holds a tensor the index does not place */
    char *first = strstr(index, "\"weight_map\": {") + strlen("\"weight_map\": {");
    char *comma = strstr(first, ", ");
    memmove(first, comma + 2, strlen(comma + 2) + 1);
}

START_TEST(hostile_shard_indexes_are_refused)
{
    static const struct {
        void (*edit)(char *);
        const char *needle;
    } cases[] = {
        {shard_outside_folder, "must name a .safetensors file beside the index"},
        {tensor_in_wrong_shard, "which does not hold it"},
        {tensor_missing_from_index, "which the index does not place there"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = sharded_copy("6", 5, cases[i].edit);
        REFUSED(dir, "model.safetensors.index.json", cases[i].needle);
        tu_rmtree(dir);
        free(dir);
    }
    char *dir = sharded_copy("6", 5, NULL);
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": 3}");
    REFUSED(dir, "missing object \"weight_map\"");
    tu_rmtree(dir);
    free(dir);
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

/* A folder linking every file of fixture FIXTURE but config.json, whose KEY is set to VALUE (JSON text). */
static char *fixture_with(const char *fixture, const char *key, const char *value)
{
    char src[4096], *dir = tu_tmpdir();
    snprintf(src, sizeof src, "%s/golden/models/%s", getenv("CIRCUITC_SOURCE_ROOT"), fixture);
    DIR *d = opendir(src);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "config.json") == 0) continue;
        char from[8192], *to = path_in(dir, e->d_name);
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        ck_assert_int_eq(symlink(from, to), 0);
        free(to);
    }
    closedir(d);
    char config_path[8192];
    snprintf(config_path, sizeof config_path, "%s/config.json", src);
    json_t *config = json_load_file(config_path, 0, NULL), *v = json_loads(value, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(config);
    ck_assert_ptr_nonnull(v);
    json_object_set_new(config, key, v);
    char *text = json_dumps(config, 0);
    write_text(dir, "config.json", text);
    free(text), json_decref(config);
    return dir;
}

/* Config keys for features circuitc does not implement: refused naming the key
 * when switched on, accepted at the value that keeps them off. */
START_TEST(unimplemented_features_are_refused_by_name)
{
    ck_assert_msg(getenv("CIRCUITC_SOURCE_ROOT") != NULL, "CIRCUITC_SOURCE_ROOT is not set");
    static const struct {
        const char *fixture, *key, *on, *off;
    } cases[] = {
        {"llama-tiny", "rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8.0}", "null"},
        {"llama-tiny", "mlp_bias", "true", "false"},
        {"llama-tiny", "use_sliding_window", "true", "false"},
        {"llama-tiny", "qk_layernorm", "true", "false"},
        {"attn-only-2l", "use_qk_norm", "true", "false"},
        {"attn-only-2l", "post_embedding_ln", "true", "false"},
        {"attn-only-2l", "attn_scores_soft_cap", "50.0", "-1.0"},
        {"attn-only-2l", "output_logits_soft_cap", "30.0", "-1.0"},
        {"attn-only-2l", "num_experts", "8", "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *on = fixture_with(cases[i].fixture, cases[i].key, cases[i].on);
        char *off = fixture_with(cases[i].fixture, cases[i].key, cases[i].off);
        char quoted[96];
        snprintf(quoted, sizeof quoted, "\"%s\"", cases[i].key);
        REFUSED(on, "config.json", quoted, "not implement");
        cc_model *m = NULL;
        cc_error err;
        ck_assert_msg(cc_model_open(off, NULL, &m, &err) == 0, "%s %s = %s: %s", cases[i].fixture, cases[i].key,
                      cases[i].off, err.msg);
        cc_model_free(m);
        tu_rmtree(on), tu_rmtree(off);
        free(on), free(off);
    }
}
END_TEST

/* circuitc info on each family fixture: its family, block order and the
 * hooks it offers (a parallel block has no resid_mid; rotary adds rot_q). */
START_TEST(info_describes_every_family)
{
    const char *root = getenv("CIRCUITC_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "CIRCUITC_SOURCE_ROOT is not set (run the tests through meson test)");
    static const struct {
        const char *fixture, *family, *block, *has_hook, *lacks_hook;
    } cases[] = {
        {"gpt2-odd", "gpt2", "sequential", "hook_pos_embed", "blocks.{l}.attn.hook_rot_q"},
        {"gpt-neo-tiny", "gpt_neo", "sequential", "hook_pos_embed", "blocks.{l}.mlp.hook_pre_linear"},
        {"pythia-tiny", "gpt_neox", "parallel", "blocks.{l}.attn.hook_rot_q", "blocks.{l}.hook_resid_mid"},
        {"llama-tiny", "llama", "sequential", "blocks.{l}.mlp.hook_pre_linear", "hook_pos_embed"},
        {"attn-only-2l", "transformer_lens", "attention-only", "hook_pos_embed", "blocks.{l}.mlp.hook_pre"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/golden/models/%s", root, cases[i].fixture);
        tu_run_result r = tu_run((const char *const[]){"info", "--model", dir, "--json", NULL});
        ck_assert_msg(r.status == 0, "%s: %s", cases[i].fixture, r.err);
        json_t *j = json_loads(r.out, 0, NULL), *a = json_object_get(j, "architecture");
        ck_assert_str_eq(json_string_value(json_object_get(a, "family")), cases[i].family);
        ck_assert_str_eq(json_string_value(json_object_get(a, "block")), cases[i].block);
        bool has = false, lacks = true;
        size_t k;
        json_t *h;
        json_array_foreach(json_object_get(j, "hooks"), k, h) {
            has |= strcmp(json_string_value(h), cases[i].has_hook) == 0;
            lacks &= strcmp(json_string_value(h), cases[i].lacks_hook) != 0;
        }
        ck_assert_msg(has && lacks, "%s: hooks: has %s %d, lacks %s %d", cases[i].fixture, cases[i].has_hook, has,
                      cases[i].lacks_hook, lacks);
        json_decref(j);
        tu_run_free(&r);
    }
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
    tcase_add_test(tc, sharded_checkpoint_loads_bit_identical_to_one_file);
    tcase_add_test(tc, loading_lets_go_of_the_files_pages_as_it_copies);
    tcase_add_test(tc, hostile_shard_indexes_are_refused);
    tcase_add_test(tc, info_describes_every_family);
    tcase_add_test(tc, unimplemented_features_are_refused_by_name);
    tcase_add_test(tc, safetensors_beside_other_formats_is_read);
    tcase_add_test(tc, cli_refuses_with_nothing_on_stdout);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
