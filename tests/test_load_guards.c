/* test_load_guards.c — what loading guarantees beyond the layout:
 *  - parts: cc_model_need fills exactly the parts asked for, byte for byte as
 *    the whole-model load + processing does (bundled model, tiny F16/BF16/
 *    prefixed/untied variants, a GPT-2-small-shaped model, and a fixture of
 *    every other family, read a layer at a time);
 *  - non-finite weights are refused naming the tensor and the first bad index,
 *    by the library and by every data-reading command (--allow-nonfinite
 *    overrides);
 *  - a weights file truncated while mapped gives a clear error, not SIGBUS;
 *  - info --checksum hashes what it reports. */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "circuitc/model.h"
#include "circuitc/sha256.h"
#include "circuitc/synth.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

/* ---- helpers ------------------------------------------------------------------ */

static char *bundled_copy(void)
{
    char *dir = tu_tmpdir(), src[4096], dst[4096];
    const char *root = getenv("CIRCUITC_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "CIRCUITC_SOURCE_ROOT is not set (run through meson test)");
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/golden/models/induction-3l4h/%s", root, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        size_t len;
        uint8_t *data = tu_read_file(src, &len);
        tu_write_file(dst, data, len);
        free(data);
    }
    return dir;
}

static char *synth_model(const char *preset, const cc_synth_options *o)
{
    char *dir = tu_tmpdir();
    cc_config c;
    cc_error err;
    ck_assert_int_eq(cc_synth_preset(preset, &c, &err), 0);
    ck_assert_msg(cc_synth_write(&c, 3, o, dir, &err) == 0, "%s", err.msg);
    return dir;
}

static void remove_model(char *dir)
{
    tu_rmtree(dir);
    free(dir);
}

static cc_model *open_model(const char *dir)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_open(dir, NULL, &m, &err) == 0, "%s", err.msg);
    return m;
}

/* Asserts that N floats at A + OFF and B + OFF are the same bits. */
static void same_bits(const float *a, const float *b, size_t off, size_t n, const char *what, cc_part p)
{
    ck_assert_msg(a && b, "%s of part %d L%dH%d: array missing", what, (int)p.kind, p.layer, p.head);
    ck_assert_msg(memcmp(a + off, b + off, n * sizeof *a) == 0, "%s of part %d L%dH%d differs from the whole-model path",
                  what, (int)p.kind, p.layer, p.head);
}

/* Compares every array region of part P (no wildcards) between LAZY and WHOLE. */
static void part_matches(const cc_model *lazy, const cc_model *whole, cc_part p)
{
    const cc_config *c = &whole->cfg;
    size_t H = (size_t)c->n_heads, d = (size_t)c->d_model, dh = (size_t)c->d_head, M = (size_t)c->d_mlp,
           V = (size_t)c->d_vocab, hi = (size_t)p.layer * H + (size_t)p.head, l = (size_t)p.layer;
    const cc_weights *a = &lazy->w, *b = &whole->w;
    ck_assert(cc_model_has(lazy, p));
    switch (p.kind) {
    case CC_PART_W_E: same_bits(a->W_E, b->W_E, 0, V * d, "W_E", p); break;
    case CC_PART_W_POS: same_bits(a->W_pos, b->W_pos, 0, (size_t)c->n_ctx * d, "W_pos", p); break;
    case CC_PART_W_U:
        same_bits(a->W_U, b->W_U, 0, d * V, "W_U", p);
        same_bits(a->b_U, b->b_U, 0, V, "b_U", p);
        break;
    case CC_PART_Q:
    case CC_PART_K:
    case CC_PART_V: {
        int i = p.kind - CC_PART_Q;
        const float *Wa[] = {a->W_Q, a->W_K, a->W_V}, *Wb[] = {b->W_Q, b->W_K, b->W_V};
        const float *Ba[] = {a->b_Q, a->b_K, a->b_V}, *Bb[] = {b->b_Q, b->b_K, b->b_V};
        static const char *const names[][2] = {{"W_Q", "b_Q"}, {"W_K", "b_K"}, {"W_V", "b_V"}};
        same_bits(Wa[i], Wb[i], hi * d * dh, d * dh, names[i][0], p);
        same_bits(Ba[i], Bb[i], hi * dh, dh, names[i][1], p);
        break;
    }
    case CC_PART_O: same_bits(a->W_O, b->W_O, hi * dh * d, dh * d, "W_O", p); break;
    case CC_PART_IN:
        same_bits(a->W_in, b->W_in, l * d * M, d * M, "W_in", p);
        same_bits(a->b_in, b->b_in, l * M, M, "b_in", p);
        if (c->gated) same_bits(a->W_gate, b->W_gate, l * d * M, d * M, "W_gate", p);
        break;
    case CC_PART_OUT:
        same_bits(a->W_out, b->W_out, l * M * d, M * d, "W_out", p);
        same_bits(a->b_out, b->b_out, l * d, d, "b_out", p);
        break;
    default: ck_abort_msg("unknown part %d", (int)p.kind);
    }
}

/* Every part the model has (no W_pos with rotary positions, no MLP in an
 * attention-only model), without wildcards: *N of them (caller frees). */
static cc_part *every_part(const cc_config *c, int *n)
{
    cc_part *p = malloc((3 + 4 * (size_t)c->n_layers * c->n_heads + 2 * (size_t)c->n_layers) * sizeof *p);
    int k = 0;
    for (cc_part_kind kind = CC_PART_W_E; kind <= CC_PART_W_U; kind++)
        if (kind != CC_PART_W_POS || c->pos != CC_POS_ROTARY) p[k++] = (cc_part){kind, 0, 0};
    for (int l = 0; l < c->n_layers; l++) {
        for (int h = 0; h < c->n_heads; h++)
            for (cc_part_kind kind = CC_PART_Q; kind <= CC_PART_O; kind++) p[k++] = (cc_part){kind, l, h};
        if (c->attn_only) continue;
        p[k++] = (cc_part){CC_PART_IN, l, 0};
        p[k++] = (cc_part){CC_PART_OUT, l, 0};
    }
    *n = k;
    return p;
}

/* For each part alone in a fresh model: the same bits as WHOLE, and nothing
 * of another kind read. */
static void each_part_alone_matches(const char *dir, const cc_model *whole, bool process)
{
    int n;
    cc_part *parts = every_part(&whole->cfg, &n);
    cc_error err;
    for (int i = 0; i < n; i++) {
        cc_model *m = open_model(dir);
        ck_assert_msg(cc_model_need(m, &parts[i], 1, process, &err) == 0, "%s", err.msg);
        part_matches(m, whole, parts[i]);
        ck_assert_int_eq(m->processed, process);
        ck_assert(!m->loaded);
        /* nothing else was read: arrays of other kinds are not even allocated */
        ck_assert(parts[i].kind == CC_PART_W_E || m->w.W_E == NULL);
        ck_assert(parts[i].kind == CC_PART_W_U || m->w.W_U == NULL);
        ck_assert(parts[i].kind == CC_PART_IN || m->w.W_in == NULL);
        ck_assert(m->w.ln1_w == NULL && m->w.b_O == NULL);
        if (parts[i].kind == CC_PART_Q) /* another head of the layer stays unread */
            ck_assert(!cc_model_has(m, (cc_part){CC_PART_Q, parts[i].layer, (parts[i].head + 1) % whole->cfg.n_heads}) ||
                      whole->cfg.n_heads == 1);
        cc_model_free(m);
    }
    free(parts);
}

/* All parts at once (wildcards) against the whole-model path. */
static void all_parts_match(const char *dir, bool process)
{
    cc_model *whole = NULL, *lazy = open_model(dir);
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, process, &whole, &err) == 0, "%s", err.msg);
    cc_part all[CC_N_PARTS];
    for (int k = 0; k < CC_N_PARTS; k++) all[k] = (cc_part){(cc_part_kind)k, -1, -1};
    ck_assert_msg(cc_model_need(lazy, all, CC_N_PARTS, process, &err) == 0, "%s", err.msg);
    int n;
    cc_part *parts = every_part(&whole->cfg, &n);
    for (int i = 0; i < n; i++) part_matches(lazy, whole, parts[i]);
    free(parts);
    cc_model_free(lazy);
    cc_model_free(whole);
}

/* ---- parts --------------------------------------------------------------------- */

START_TEST(each_part_matches_whole_load_bundled)
{
    char *dir = bundled_copy();
    for (int process = 0; process < 2; process++) {
        cc_model *whole = NULL;
        cc_error err;
        ck_assert_msg(cc_model_load(dir, NULL, process, &whole, &err) == 0, "%s", err.msg);
        each_part_alone_matches(dir, whole, process);
        cc_model_free(whole);
        all_parts_match(dir, process);
    }
    remove_model(dir);
}
END_TEST

START_TEST(parts_match_whole_load_for_every_layout)
{
    const cc_synth_options variants[] = {{.dtype = CC_DT_F16, .prefix = true},
                                         {.dtype = CC_DT_BF16, .lm_head = true},
                                         {.dtype = CC_DT_F32, .lm_head = true, .prefix = true}};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        char *dir = synth_model("tiny", &variants[v]);
        all_parts_match(dir, true);
        all_parts_match(dir, false);
        remove_model(dir);
    }
}
END_TEST

/* The other families are read a layer's attention or MLP at a time: each
 * part alone, and all of them, give the whole-model path's bits, processed
 * (LayerNorm and RMSNorm folds, shortformer, GQA, GPT-NeoX's fused QKV) or
 * not, and another layer stays unread. */
START_TEST(parts_match_whole_load_for_every_family)
{
    const char *root = getenv("CIRCUITC_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "CIRCUITC_SOURCE_ROOT is not set (run through meson test)");
    static const char *const fixtures[] = {"gpt-neo-tiny", "pythia-tiny", "llama-tiny", "attn-only-2l"};
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/golden/models/%s", root, fixtures[f]);
        for (int process = 0; process < 2; process++) {
            cc_model *whole = NULL;
            cc_error err;
            ck_assert_msg(cc_model_load(dir, NULL, process, &whole, &err) == 0, "%s: %s", fixtures[f], err.msg);
            int n;
            cc_part *parts = every_part(&whole->cfg, &n);
            for (int i = 0; i < n; i++) {
                cc_model *m = open_model(dir);
                ck_assert_msg(cc_model_need(m, &parts[i], 1, process, &err) == 0, "%s: %s", fixtures[f], err.msg);
                part_matches(m, whole, parts[i]);
                ck_assert(!m->loaded);
                if (parts[i].kind > CC_PART_W_U) {
                    cc_part other = parts[i];
                    other.layer = (other.layer + 1) % whole->cfg.n_layers;
                    ck_assert_msg(!cc_model_has(m, other), "%s: part %d of layer %d read with layer %d's",
                                  fixtures[f], (int)other.kind, other.layer, parts[i].layer);
                }
                cc_model_free(m);
            }
            free(parts);
            cc_model_free(whole);
            all_parts_match(dir, process);
        }
    }
}
END_TEST

/* The parts the GPT-2-small-shaped kcomp L4H11 -> L5H5 reads, plus one of
 * every other kind, on the synthetic gpt2-small preset (~500 MB, removed after). */
START_TEST(parts_match_whole_load_gpt2_small)
{
    char *dir = synth_model("gpt2-small", NULL);
    cc_model *whole = NULL, *lazy = open_model(dir);
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, true, &whole, &err) == 0, "%s", err.msg);
    const cc_part parts[] = {{CC_PART_W_E, 0, 0}, {CC_PART_Q, 5, 5},   {CC_PART_K, 5, 5},    {CC_PART_V, 4, 11},
                             {CC_PART_O, 4, 11},  {CC_PART_W_U, 0, 0}, {CC_PART_W_POS, 0, 0}, {CC_PART_IN, 11, 0},
                             {CC_PART_OUT, 0, 0}, {CC_PART_V, 0, 0},   {CC_PART_O, 11, 11}};
    int n = (int)(sizeof parts / sizeof parts[0]);
    ck_assert_msg(cc_model_need(lazy, parts, n, true, &err) == 0, "%s", err.msg);
    for (int i = 0; i < n; i++) part_matches(lazy, whole, parts[i]);
    ck_assert(!cc_model_has(lazy, (cc_part){CC_PART_Q, 4, 11}));
    cc_model_free(lazy);
    cc_model_free(whole);
    remove_model(dir);
}
END_TEST

START_TEST(mixing_processing_modes_is_refused)
{
    char *dir = bundled_copy();
    cc_model *m = open_model(dir);
    cc_error err;
    cc_part q = {CC_PART_Q, 0, 0};
    ck_assert_int_eq(cc_model_need(m, &q, 1, true, &err), 0);
    ck_assert_int_eq(cc_model_need(m, &q, 1, false, &err), -1);
    tu_assert_contains(err.msg, "with processing");
    ck_assert_int_eq(cc_model_load_weights(m, &err), -1);
    tu_assert_contains(err.msg, "part by part");
    cc_model_free(m);
    remove_model(dir);
}
END_TEST

/* ---- non-finite weights ------------------------------------------------------------ */

/* Overwrites element FLAT of tensor NAME in DIR/model.safetensors with BYTES. */
static void poke(const char *dir, const char *name, uint64_t flat, const void *bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cc_st_file *f = NULL;
    cc_error err;
    ck_assert_msg(cc_st_open(path, &f, &err) == 0, "%s", err.msg);
    const cc_st_tensor *t = cc_st_find(f, name);
    ck_assert_msg(t != NULL, "no tensor %s", name);
    size_t esize = cc_dtype_size(t->dtype);
    uint64_t off = 8 + cc_st_header_len(f) + t->begin + flat * esize;
    cc_st_close(f);
    FILE *fp = fopen(path, "r+b");
    ck_assert(fp != NULL);
    ck_assert(fseek(fp, (long)off, SEEK_SET) == 0 && fwrite(bytes, esize, 1, fp) == 1);
    fclose(fp);
}

static const float NAN32 = NAN;

START_TEST(nonfinite_weight_is_refused_naming_tensor_and_index)
{
    char *dir = bundled_copy();
    /* h.1.attn.c_attn.weight is [128, 384]: flat 1000 = [2, 232], column 8 of head 3's K */
    poke(dir, "h.1.attn.c_attn.weight", 1000, &NAN32);
    cc_model *m = NULL;
    cc_error err;
    ck_assert_int_eq(cc_model_load(dir, NULL, true, &m, &err), -1);
    tu_assert_contains(err.msg, "\"h.1.attn.c_attn.weight\" holds NaN at flat index 1000 = [2, 232]");
    tu_assert_contains(err.msg, "--allow-nonfinite");
    /* part by part: any part reading that tensor is refused, the same way ... */
    m = open_model(dir);
    cc_part q = {CC_PART_Q, 1, 3}, e = {CC_PART_W_E, 0, 0};
    ck_assert_int_eq(cc_model_need(m, &q, 1, true, &err), -1);
    tu_assert_contains(err.msg, "flat index 1000 = [2, 232]");
    /* ... one that does not read it loads */
    ck_assert_msg(cc_model_need(m, &e, 1, true, &err) == 0, "%s", err.msg);
    cc_model_free(m);
    /* allowed for inspection: the NaN is there */
    m = open_model(dir);
    m->allow_nonfinite = true;
    ck_assert_msg(cc_model_load_weights(m, &err) == 0, "%s", err.msg);
    ck_assert(isnan(m->w.W_K[((size_t)(1 * 4 + 3) * 128 + 2) * 32 + 8]));
    cc_model_free(m);
    remove_model(dir);
}
END_TEST

START_TEST(infinite_half_precision_weight_is_refused)
{
    cc_synth_options o = {.dtype = CC_DT_BF16};
    char *dir = synth_model("tiny", &o);
    const uint16_t minus_inf = 0xff80; /* bfloat16 -Inf */
    poke(dir, "wpe.weight", 17, &minus_inf);
    cc_model *m = open_model(dir);
    cc_error err;
    cc_part pos = {CC_PART_W_POS, 0, 0};
    ck_assert_int_eq(cc_model_need(m, &pos, 1, false, &err), -1);
    tu_assert_contains(err.msg, "\"wpe.weight\" holds -Inf at flat index 17 = [1, 1]");
    cc_model_free(m);
    remove_model(dir);
}
END_TEST

/* An untied unembedding is read transposed a band of rows at a time: a NaN
 * in a later band is still found, and named by its index in the file. */
START_TEST(nonfinite_in_a_transposed_unembedding_is_found_band_by_band)
{
    char *dir = tu_tmpdir();
    cc_config c;
    cc_error err;
    ck_assert_int_eq(cc_synth_preset("tiny", &c, &err), 0);
    c.d_vocab = 200, c.bos_token_id = 199; /* lm_head.weight [200, 16]: four bands */
    cc_synth_options o = {.dtype = CC_DT_F32, .lm_head = true};
    ck_assert_msg(cc_synth_write(&c, 3, &o, dir, &err) == 0, "%s", err.msg);
    poke(dir, "lm_head.weight", 150 * 16 + 2, &NAN32);
    poke(dir, "lm_head.weight", 130 * 16 + 5, &NAN32);
    cc_model *m = NULL;
    ck_assert_int_eq(cc_model_load(dir, NULL, true, &m, &err), -1);
    tu_assert_contains(err.msg, "\"lm_head.weight\" holds NaN at flat index 2085 = [130, 5]");
    /* allowed for inspection: the first one noted, both in place, transposed */
    m = open_model(dir);
    m->allow_nonfinite = true;
    ck_assert_msg(cc_model_load_weights(m, &err) == 0, "%s", err.msg);
    tu_assert_contains(m->nonfinite_note.msg, "flat index 2085 = [130, 5]");
    ck_assert(isnan(m->w.W_U[5 * 200 + 130]) && isnan(m->w.W_U[2 * 200 + 150]));
    ck_assert(!isnan(m->w.W_U[5 * 200 + 131]) && !isnan(m->w.W_U[130]));
    cc_model_free(m);
    remove_model(dir);
}
END_TEST

/* Runs circuitc ARGS (with --model DIR appended) and checks it refused the NaN: exit 1,
 * nothing on stdout, the tensor and index on stderr. */
static void cli_refuses(const char *dir, const char *const *args)
{
    const char *argv[24];
    int n = 0;
    while (args[n]) argv[n] = args[n], n++;
    argv[n++] = "--model";
    argv[n++] = dir;
    argv[n] = NULL;
    tu_run_result r = tu_run(argv);
    ck_assert_msg(r.status == 1, "%s: exit %d (stderr: %s)", args[0], r.status, r.err);
    ck_assert_msg(r.out[0] == '\0', "%s printed on stdout: %s", args[0], r.out);
    char *said = tu_error_text(r.err); /* some ARGS have --json */
    tu_assert_contains(said, "\"h.0.attn.c_attn.weight\" holds NaN at flat index 5 = [0, 5]");
    free(said);
    tu_run_free(&r);
}

START_TEST(every_data_reading_command_refuses_nonfinite)
{
    char *dir = bundled_copy();
    poke(dir, "h.0.attn.c_attn.weight", 5, &NAN32); /* read by every command below */
    const char *const cmds[][12] = {
        {"kcomp", "L0H0", "L1H0", NULL},
        {"ov", "L0H0", "--json", NULL},
        {"compile", "kcomp", "--bind", "prev=L0H0", "--bind", "ind=L1H0", NULL},
        {"kcomp-chart", "L0H0:L1H0", NULL},
        {"comp-scores", "--json", NULL},
        {"validate", "L0H0", "L1H0", NULL},
        {"repeat", "--json", "--batch", "2", "--seq-len", "5", NULL},
        {"heads", "--batch", "2", "--seq-len", "5", NULL},
        {"pattern", "L0H0", "--seq-len", "5", NULL},
        {"patch", "mlp_out", "--seq-len", "5", NULL},
        {"ablate", "L0H0", "--batch", "2", "--seq-len", "5", NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) cli_refuses(dir, cmds[i]);
    /* info reads no tensor data */
    const char *info[] = {"info", "--model", dir, NULL};
    tu_run_result r = tu_run(info);
    ck_assert_int_eq(r.status, 0);
    tu_run_free(&r);
    remove_model(dir);
}
END_TEST

START_TEST(allow_nonfinite_loads_for_inspection)
{
    char *dir = bundled_copy();
    poke(dir, "h.0.attn.c_attn.weight", 5, &NAN32);
    /* L0H1's QK circuit reads the tensor holding the NaN (checked whole) but not the NaN itself */
    const char *qk[] = {"compile", "qk", "--bind", "head=L0H1", "--json", "--model", dir, NULL, NULL};
    tu_run_result r = tu_run(qk);
    ck_assert_int_eq(r.status, 1);
    tu_run_free(&r);
    qk[7] = "--allow-nonfinite";
    r = tu_run(qk);
    ck_assert_msg(r.status == 0, "%s", r.err);
    json_t *j = tu_parse_json(r.out);
    ck_assert(isfinite(json_real_value(json_object_get(j, "norm"))));
    json_decref(j);
    tu_run_free(&r);
    /* repeat --json with the NaN let in never prints NaN as a number, and says where it is */
    const char *rep[] = {"repeat", "--json", "--batch", "2", "--seq-len", "5", "--allow-nonfinite", "--model", dir, NULL};
    r = tu_run(rep);
    ck_assert_msg(strstr(r.out, "NaN") == NULL && strstr(r.out, "nan") == NULL, "NaN printed: %s", r.out);
    if (r.status == 0) json_decref(tu_parse_json(r.out));
    else ck_assert_msg(r.out[0] == '\0', "exit %d with output", r.status);
    /* either way, stderr says where the NaN is */
    tu_assert_contains(r.err, "warning: ");
    tu_assert_contains(r.err, "\"h.0.attn.c_attn.weight\" holds NaN at flat index 5 = [0, 5]");
    tu_run_free(&r);
    remove_model(dir);
}
END_TEST

/* Runs circuitc ARGV and checks it refused: exit 1, nothing on stdout, NEEDLE on stderr. */
static void cli_refuses_with(const char *const *argv, const char *needle)
{
    tu_run_result r = tu_run(argv);
    ck_assert_msg(r.status == 1, "%s: exit %d (stderr: %s)", argv[0], r.status, r.err);
    ck_assert_msg(r.out[0] == '\0', "%s printed on stdout: %s", argv[0], r.out);
    tu_assert_contains(r.err, needle);
    tu_run_free(&r);
}

/* A finite but absurd weight (1e20 in W_E, which processing spreads over W_U)
 * once gave loss 0.0000 and every top token at probability 1.000: now the
 * logits are refused, in full and in resumed (patching) passes; an overflow to
 * +Inf in the residual stream is refused naming the hook. */
START_TEST(absurd_activations_are_refused)
{
    char *dir = bundled_copy();
    const float big = 1e20f, huge = 3e38f;
    poke(dir, "wte.weight", 4, &big); /* wte[0, 4] */
    const char *run[] = {"run", "--tokens", "1,2,3", "--model", dir, NULL, NULL};
    cli_refuses_with(run, "logits: ");
    cli_refuses_with(run, "beyond +-2^24 = 16777216 for a logit");
    const char *patch[] = {"patch", "mlp_out", "--seq-len", "5", "--model", dir, NULL};
    cli_refuses_with(patch, "logits: ");
    const char *logit_diff[] = {"patch", "resid_pre", "--clean-tokens", "511,10,20,30", "--corrupt-tokens",
                                "511,10,20,40", "--answer", "#20", "--wrong", "#99", "--model", dir, NULL};
    cli_refuses_with(logit_diff, "logits: "); /* the metric's two logits (cc_logits_cols) */
    run[5] = "--allow-nonfinite"; /* computed as it is, with a warning */
    tu_run_result r = tu_run(run);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.err, "warning: --allow-nonfinite: activations and logits are not checked");
    tu_run_free(&r);
    poke(dir, "wte.weight", 5 * 128 + 4, &huge); /* wte[5, 4] + wpe[1, 4] overflows */
    poke(dir, "wpe.weight", 1 * 128 + 4, &huge);
    const char *overflow[] = {"run", "--tokens", "2,5,3", "--no-processing", "--model", dir, NULL};
    cli_refuses_with(overflow, "blocks.0.hook_resid_pre: +Inf at [batch 0, position 1, 4]");
    remove_model(dir);
}
END_TEST

/* ---- truncated while mapped ---------------------------------------------------------- */

START_TEST(truncated_while_mapped_is_an_error_not_sigbus)
{
    char *dir = bundled_copy(), path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t len;
    uint8_t *orig = tu_read_file(path, &len); /* put back after each cut */
    cc_error err;
    for (int whole = 0; whole < 2; whole++) {
        cc_model *m = open_model(dir);
        ck_assert_int_eq(truncate(path, (off_t)(len / 3)), 0);
        cc_part u = {CC_PART_W_U, 0, 0};
        int rc = whole ? cc_model_load_weights(m, &err) : cc_model_need(m, &u, 1, true, &err);
        ck_assert_int_eq(rc, -1);
        tu_assert_contains(err.msg, path);
        tu_assert_contains(err.msg, "changed or was truncated while being read");
        cc_model_free(m);
        tu_write_file(path, orig, len);
    }
    free(orig);
    remove_model(dir);
}
END_TEST

START_TEST(checksum_hashes_the_reported_file)
{
    char *dir = bundled_copy(), path[4096], hex[65];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cc_error err;
    cc_model *m = open_model(dir);
    ck_assert_int_eq(cc_model_sha256(m, hex, &err), 0);
    char want[65];
    ck_assert_int_eq(cc_sha256_file(path, want, &err), 0);
    ck_assert_str_eq(hex, want);
    /* the file grows after opening: the reported size no longer holds */
    FILE *fp = fopen(path, "ab");
    fputs("extra", fp);
    fclose(fp);
    ck_assert_int_eq(cc_model_sha256(m, hex, &err), -1);
    tu_assert_contains(err.msg, "changed or was truncated");
    cc_model_free(m);
    remove_model(dir);
}
END_TEST

/* The guard is the library's only signal handler: a SIGBUS that is not a guarded
 * copy's (here raised by another thread while one hashes the file, copy after
 * copy) reaches the program's own handler, which is back in place afterwards. */
static volatile sig_atomic_t program_sigbus_count;
static void program_sigbus(int sig) { (void)sig; program_sigbus_count++; }

typedef struct {
    cc_model *m;
    atomic_int started, done;
} hashing_job;

static void *hash_repeatedly(void *arg)
{
    hashing_job *job = arg;
    char hex[65];
    cc_error err;
    atomic_store(&job->started, 1);
    for (int i = 0; i < 300; i++) ck_assert_int_eq(cc_model_sha256(job->m, hex, &err), 0);
    atomic_store(&job->done, 1);
    return NULL;
}

START_TEST(sigbus_elsewhere_reaches_the_program_handler_during_guarded_reads)
{
    char *dir = bundled_copy();
    struct sigaction mine = {.sa_handler = program_sigbus}, now;
    sigemptyset(&mine.sa_mask);
    ck_assert_int_eq(sigaction(SIGBUS, &mine, NULL), 0);
    hashing_job job = {.m = open_model(dir)};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, hash_repeatedly, &job), 0);
    while (!atomic_load(&job.started)) sched_yield();
    int raised = 0;
    while (!atomic_load(&job.done)) {
        raise(SIGBUS); /* this thread copies nothing: not the guard's to handle */
        raised++;
    }
    pthread_join(t, NULL);
    ck_assert_int_eq(program_sigbus_count, raised);
    ck_assert_int_eq(sigaction(SIGBUS, NULL, &now), 0);
    ck_assert_ptr_eq((void *)now.sa_handler, (void *)program_sigbus);
    cc_model_free(job.m);
    remove_model(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("load_guards");
    TCase *parts = tcase_create("parts");
    tcase_set_timeout(parts, 600);
    tcase_add_test(parts, each_part_matches_whole_load_bundled);
    tcase_add_test(parts, parts_match_whole_load_for_every_layout);
    tcase_add_test(parts, parts_match_whole_load_for_every_family);
    tcase_add_test(parts, parts_match_whole_load_gpt2_small);
    tcase_add_test(parts, mixing_processing_modes_is_refused);
    suite_add_tcase(s, parts);
    TCase *nonfinite = tcase_create("nonfinite");
    tcase_set_timeout(nonfinite, 300);
    tcase_add_test(nonfinite, nonfinite_weight_is_refused_naming_tensor_and_index);
    tcase_add_test(nonfinite, infinite_half_precision_weight_is_refused);
    tcase_add_test(nonfinite, nonfinite_in_a_transposed_unembedding_is_found_band_by_band);
    tcase_add_test(nonfinite, every_data_reading_command_refuses_nonfinite);
    tcase_add_test(nonfinite, allow_nonfinite_loads_for_inspection);
    tcase_add_test(nonfinite, absurd_activations_are_refused);
    suite_add_tcase(s, nonfinite);
    TCase *faults = tcase_create("faults");
    tcase_set_timeout(faults, 120);
    tcase_add_test(faults, truncated_while_mapped_is_an_error_not_sigbus);
    tcase_add_test(faults, checksum_hashes_the_reported_file);
    tcase_add_test(faults, sigbus_elsewhere_reaches_the_program_handler_during_guarded_reads);
    suite_add_tcase(s, faults);
    return tu_run_suite(s);
}
