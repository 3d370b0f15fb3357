/* test_blas_kernel.c — BLAS kernel selection (docs/blas.md): the decision over
 * every request, environment, library, CPU and verdict combination; the
 * self-check on the linked BLAS; the verdict cache; and `circuitc info --json`
 * end to end under CIRCUITC_BLAS_CORE=keep/auto/NAME and a user-set
 * OPENBLAS_CORETYPE. End-to-end expectations follow from what the host's
 * library and CPU report, so the suite passes on any machine. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "circuitc/blas_kernel.h"
#include "testutil.h"

/* ------------------------------------------------------------ decision */

typedef enum { CPU_NONE, CPU_AVX, CPU_AVX2_NO_FMA, CPU_AVX2, CPU_AVX512_NO_DQ, CPU_AVX512, CPU_AVX512_BF16, N_CPUS } cpu_kind;

static cc_cpu_features cpu_of(cpu_kind k)
{
    cc_cpu_features f = {.vendor = "GenuineIntel", .brand = "test CPU"};
    f.avx = k >= CPU_AVX;
    f.avx2 = k >= CPU_AVX2_NO_FMA;
    f.fma = k >= CPU_AVX2;
    f.avx512f = f.avx512bw = f.avx512vl = k >= CPU_AVX512_NO_DQ;
    f.avx512dq = k >= CPU_AVX512;
    f.avx512_bf16 = k >= CPU_AVX512_BF16;
    return f;
}

/* The candidate auto must try first on each CPU kind (-1: none). */
static int best_candidate(cpu_kind k)
{
    return k == CPU_AVX512_BF16 ? CC_BLAS_COOPERLAKE : k == CPU_AVX512 ? CC_BLAS_SKYLAKEX
                                                       : k >= CPU_AVX2 ? CC_BLAS_HASWELL : -1;
}

static cc_blas_library lib_with(const char *core, bool openblas, bool dynamic)
{
    cc_blas_library lib = {.openblas = openblas, .dynamic_arch = dynamic, .threads = 2};
    snprintf(lib.core, sizeof lib.core, "%s", openblas ? core : "");
    snprintf(lib.config, sizeof lib.config, "OpenBLAS 0.3.21 %s%s MAX_THREADS=64", dynamic ? "DYNAMIC_ARCH " : "", core);
    return lib;
}

static const char *GENERIC[] = {"Prescott", "Katmai", "Core2", "Penryn", "Nehalem", "Atom", "Opteron", "Barcelona",
                                "Bobcat", "Nano", "Unknown", "Dunnington", "Opteron_SSE3", "Athlon"};
static const char *NOT_GENERIC[] = {"Sandybridge", "Haswell", "Zen", "SkylakeX", "Cooperlake", "Bulldozer",
                                    "Excavator", "NeoverseN1", "SomeFutureCore"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static cc_blas_decision decide(const char *request, const char *coretype, const char *marker,
                               const cc_blas_library *lib, cpu_kind k)
{
    cc_cpu_features cpu = cpu_of(k);
    cc_blas_inputs in = {.request = request, .coretype = coretype, .marker = marker, .lib = lib, .cpu = &cpu};
    cc_blas_decision d;
    cc_blas_decide(&in, &d);
    return d;
}

START_TEST(core_names)
{
    ck_assert_str_eq(cc_blas_core_canonical("skylakex"), "SkylakeX");
    ck_assert_str_eq(cc_blas_core_canonical("HASWELL"), "Haswell");
    ck_assert_ptr_null(cc_blas_core_canonical("Unknown"));
    ck_assert_ptr_null(cc_blas_core_canonical("Skylake"));
    ck_assert_ptr_null(cc_blas_core_canonical(""));
    for (size_t i = 0; i < N(GENERIC); i++) ck_assert_msg(cc_blas_core_is_generic(GENERIC[i]), "%s", GENERIC[i]);
    for (size_t i = 0; i < N(NOT_GENERIC); i++)
        ck_assert_msg(!cc_blas_core_is_generic(NOT_GENERIC[i]), "%s", NOT_GENERIC[i]);
    tu_assert_contains(cc_blas_core_names(), "Cooperlake");
}
END_TEST

START_TEST(bad_request_is_refused_everywhere)
{
    const char *bad[] = {"Skylake", "fast", "Unknown", "KEEP ", "autox"};
    cc_blas_library lib = lib_with("Prescott", true, true);
    for (size_t i = 0; i < N(bad); i++) {
        cc_blas_decision d = decide(bad[i], NULL, NULL, &lib, CPU_AVX512);
        ck_assert_int_eq(d.action, CC_BLAS_REFUSE);
        tu_assert_contains(d.reason, bad[i]);
        tu_assert_contains(d.reason, "auto (the default), keep");
        d = decide(bad[i], "Haswell", NULL, &lib, CPU_AVX512); /* even when the user pinned a core */
        ck_assert_int_eq(d.action, CC_BLAS_REFUSE);
    }
}
END_TEST

/* A user-set OPENBLAS_CORETYPE wins over everything, whatever else holds. */
START_TEST(user_coretype_is_never_overridden)
{
    const char *requests[] = {NULL, "", "auto", "keep", "Haswell", "prescott"};
    for (size_t r = 0; r < N(requests); r++)
        for (int k = 0; k < N_CPUS; k++)
            for (size_t g = 0; g < N(GENERIC); g++) {
                cc_blas_library lib = lib_with(GENERIC[g], true, true);
                /* a marker for another core is not ours: still the user's */
                cc_blas_decision d = decide(requests[r], GENERIC[g], r % 2 ? "auto,SkylakeX,Prescott,fresh" : NULL,
                                            &lib, k);
                ck_assert_int_eq(d.action, CC_BLAS_KEEP);
                ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_USER_ENV);
                ck_assert_str_eq(d.core, GENERIC[g]);
                tu_assert_contains(d.reason, "OPENBLAS_CORETYPE=");
            }
    cc_blas_library lib = lib_with("Prescott", true, true);
    tu_assert_contains(decide("Haswell", "Prescott", NULL, &lib, CPU_AVX512).reason, "CIRCUITC_BLAS_CORE=Haswell ignored");
}
END_TEST

START_TEST(keep_touches_nothing)
{
    for (int k = 0; k < N_CPUS; k++)
        for (int dyn = 0; dyn < 2; dyn++)
            for (size_t g = 0; g < N(GENERIC); g++) {
                cc_blas_library lib = lib_with(GENERIC[g], true, dyn);
                cc_blas_decision d = decide("keep", NULL, NULL, &lib, k);
                ck_assert_int_eq(d.action, CC_BLAS_KEEP);
                ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_KEEP);
                ck_assert_str_eq(d.core, GENERIC[g]);
            }
}
END_TEST

START_TEST(fixed_libraries_keep_or_refuse)
{
    cc_blas_library fixed = lib_with("Prescott", true, false), other = lib_with("", false, false);
    const cc_blas_library *libs[] = {&fixed, &other};
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < N_CPUS; k++) {
            cc_blas_decision d = decide(NULL, NULL, NULL, libs[l], k);
            ck_assert_int_eq(d.action, CC_BLAS_KEEP);
            ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_LIBRARY);
            tu_assert_contains(d.reason, l == 0 ? "no DYNAMIC_ARCH" : "not OpenBLAS");
            d = decide("Haswell", NULL, NULL, libs[l], k);
            ck_assert_int_eq(d.action, CC_BLAS_REFUSE);
            tu_assert_contains(d.reason, "CIRCUITC_BLAS_CORE=Haswell cannot be honoured");
        }
}
END_TEST

/* NAME switches to NAME (spelt as OpenBLAS spells it) on any CPU, without a check. */
START_TEST(request_forces_the_name)
{
    const char *names[] = {"haswell", "SkylakeX", "prescott", "Zen"};
    for (size_t i = 0; i < N(names); i++)
        for (int k = 0; k < N_CPUS; k++) {
            cc_blas_library lib = lib_with("Core2", true, true);
            cc_blas_decision d = decide(names[i], NULL, NULL, &lib, k);
            const char *canonical = cc_blas_core_canonical(names[i]);
            ck_assert_int_eq(d.action, CC_BLAS_SWITCH);
            ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_REQUEST);
            ck_assert_str_eq(d.core, canonical);
            char marker[64];
            snprintf(marker, sizeof marker, "request,%s,Core2", canonical);
            ck_assert_str_eq(d.marker, marker);
            lib = lib_with(canonical, true, true); /* already on it */
            d = decide(names[i], NULL, NULL, &lib, k);
            ck_assert_int_eq(d.action, CC_BLAS_KEEP);
            ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_REQUEST);
        }
}
END_TEST

START_TEST(auto_keeps_non_generic_cores)
{
    const char *requests[] = {NULL, "", "auto"};
    for (size_t r = 0; r < N(requests); r++)
        for (size_t c = 0; c < N(NOT_GENERIC); c++)
            for (int k = 0; k < N_CPUS; k++) {
                cc_blas_library lib = lib_with(NOT_GENERIC[c], true, true);
                cc_blas_decision d = decide(requests[r], NULL, NULL, &lib, k);
                ck_assert_int_eq(d.action, CC_BLAS_KEEP);
                ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_LIBRARY);
                ck_assert_str_eq(d.core, NOT_GENERIC[c]);
                tu_assert_contains(d.reason, "not a generic kernel");
            }
}
END_TEST

/* On a generic core: every CPU x every combination of the three verdicts. */
START_TEST(auto_walks_the_candidates)
{
    for (size_t g = 0; g < N(GENERIC); g++)
        for (int k = 0; k < N_CPUS; k++)
            for (int combo = 0; combo < 27 * 2; combo++) {
                cc_blas_library lib = lib_with(GENERIC[g], true, true);
                cc_cpu_features cpu = cpu_of(k);
                cc_blas_inputs in = {.lib = &lib, .cpu = &cpu};
                for (int c = 0, x = combo / 2; c < CC_BLAS_N_CANDIDATES; c++, x /= 3) {
                    in.verdict[c] = (cc_blas_verdict)(x % 3);
                    in.fresh[c] = combo % 2;
                }
                cc_blas_decision d;
                cc_blas_decide(&in, &d);
                int want = best_candidate(k);
                while (want >= 0 && want < CC_BLAS_N_CANDIDATES && in.verdict[want] == CC_VERDICT_FAIL) want++;
                if (best_candidate(k) < 0) {
                    ck_assert_int_eq(d.action, CC_BLAS_KEEP);
                    tu_assert_contains(d.reason, "neither AVX-512 nor AVX2 with FMA");
                } else if (want == CC_BLAS_N_CANDIDATES) {
                    ck_assert_int_eq(d.action, CC_BLAS_KEEP);
                    ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_LIBRARY);
                    tu_assert_contains(d.reason, "failed its self-check");
                } else if (in.verdict[want] == CC_VERDICT_UNKNOWN) {
                    ck_assert_int_eq(d.action, CC_BLAS_VERIFY);
                    ck_assert_int_eq(d.candidate, want);
                    ck_assert_str_eq(d.core, cc_blas_candidate_core(want));
                } else {
                    ck_assert_int_eq(d.action, CC_BLAS_SWITCH);
                    ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_AUTO);
                    ck_assert_str_eq(d.core, cc_blas_candidate_core(want));
                    char marker[96];
                    snprintf(marker, sizeof marker, "auto,%s,%s,%s", d.core, GENERIC[g], combo % 2 ? "fresh" : "cached");
                    ck_assert_str_eq(d.marker, marker);
                }
                if (d.action == CC_BLAS_KEEP) ck_assert_str_eq(d.core, GENERIC[g]);
            }
}
END_TEST

/* AMD family 25 with AVX-512 (Zen 4): Haswell replaces the library's AVX-512
 * kernel and is the only candidate from a generic one; other AMD families and
 * Intel keep an AVX-512 kernel. */
START_TEST(amd_half_width_avx512_prefers_haswell)
{
    cc_cpu_features zen4 = cpu_of(CPU_AVX512_BF16), zen5 = zen4, intel = zen4;
    snprintf(zen4.vendor, sizeof zen4.vendor, "AuthenticAMD");
    zen4.family = 25;
    zen5 = zen4, zen5.family = 26;
    const char *libs[] = {"Cooperlake", "SkylakeX", "Prescott"};
    for (size_t i = 0; i < N(libs); i++)
        for (int v = 0; v < 3; v++) {
            cc_blas_library lib = lib_with(libs[i], true, true);
            cc_blas_inputs in = {.lib = &lib, .cpu = &zen4};
            in.verdict[CC_BLAS_HASWELL] = (cc_blas_verdict)v;
            cc_blas_decision d;
            cc_blas_decide(&in, &d);
            if (v == CC_VERDICT_UNKNOWN) {
                ck_assert_int_eq(d.action, CC_BLAS_VERIFY);
                ck_assert_int_eq(d.candidate, CC_BLAS_HASWELL);
            } else if (v == CC_VERDICT_PASS) {
                ck_assert_int_eq(d.action, CC_BLAS_SWITCH);
                ck_assert_str_eq(d.core, "Haswell");
                char marker[96];
                snprintf(marker, sizeof marker, "auto,Haswell,%s,cached", libs[i]);
                ck_assert_str_eq(d.marker, marker);
                if (i < 2) tu_assert_contains(d.reason, "half width");
            } else {
                ck_assert_int_eq(d.action, CC_BLAS_KEEP);
                ck_assert_str_eq(d.core, libs[i]);
                tu_assert_contains(d.reason, "failed its self-check (Haswell)");
            }
        }
    /* after the switch, the reason names the replaced kernel */
    cc_blas_library now = lib_with("Haswell", true, true);
    cc_blas_inputs in = {.coretype = "Haswell", .marker = "auto,Haswell,Cooperlake,fresh", .lib = &now, .cpu = &zen4};
    cc_blas_decision d;
    cc_blas_decide(&in, &d);
    ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_AUTO);
    tu_assert_contains(d.reason, "Cooperlake, whose AVX-512 this AMD CPU runs at half width");
    const cc_cpu_features *keepers[] = {&zen5, &intel};
    for (size_t k = 0; k < N(keepers); k++) {
        cc_blas_library lib = lib_with("Cooperlake", true, true);
        cc_blas_inputs kin = {.lib = &lib, .cpu = keepers[k]};
        cc_blas_decide(&kin, &d);
        ck_assert_int_eq(d.action, CC_BLAS_KEEP);
        tu_assert_contains(d.reason, "not a generic kernel");
    }
}
END_TEST

/* The CLI's loop (decide, verify, decide again) ends within the number of candidates. */
START_TEST(verify_loop_terminates)
{
    for (int k = 0; k < N_CPUS; k++)
        for (int fail_mask = 0; fail_mask < 8; fail_mask++) {
            cc_blas_library lib = lib_with("Prescott", true, true);
            cc_cpu_features cpu = cpu_of(k);
            cc_blas_inputs in = {.lib = &lib, .cpu = &cpu};
            cc_blas_decision d;
            int rounds = 0;
            for (cc_blas_decide(&in, &d); d.action == CC_BLAS_VERIFY; cc_blas_decide(&in, &d)) {
                ck_assert_int_eq(in.verdict[d.candidate], CC_VERDICT_UNKNOWN);
                in.verdict[d.candidate] = fail_mask & (1 << d.candidate) ? CC_VERDICT_FAIL : CC_VERDICT_PASS;
                in.fresh[d.candidate] = true;
                ck_assert_int_le(++rounds, CC_BLAS_N_CANDIDATES);
            }
            ck_assert(d.action == CC_BLAS_KEEP || d.action == CC_BLAS_SWITCH);
            if (d.action == CC_BLAS_SWITCH) tu_assert_contains(d.marker, ",fresh");
        }
}
END_TEST

/* In the process the launcher switched, the marker (and only a marker matching OPENBLAS_CORETYPE) decides. */
START_TEST(marker_after_switch)
{
    cc_blas_library now = lib_with("SkylakeX", true, true), stayed = lib_with("Prescott", true, true);
    cc_blas_decision d = decide(NULL, "SkylakeX", "auto,SkylakeX,Core2,fresh", &now, CPU_AVX512);
    ck_assert_int_eq(d.action, CC_BLAS_KEEP);
    ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_AUTO);
    ck_assert_str_eq(d.verified, "fresh");
    ck_assert_str_eq(d.library_core, "Core2");
    tu_assert_contains(d.reason, "passed just now");
    d = decide(NULL, "skylakex", "auto,SkylakeX,Core2,cached", &now, CPU_AVX512);
    ck_assert_str_eq(d.verified, "cached");
    d = decide(NULL, "SkylakeX", "auto,SkylakeX,Core2,fresh", &stayed, CPU_AVX512);
    ck_assert_int_eq(d.action, CC_BLAS_KEEP);
    ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_LIBRARY);
    tu_assert_contains(d.reason, "did not switch");
    d = decide("SkylakeX", "SkylakeX", "request,SkylakeX,Core2", &now, CPU_NONE);
    ck_assert_int_eq(d.action, CC_BLAS_KEEP);
    ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_REQUEST);
    ck_assert_ptr_null(d.verified);
    d = decide("SkylakeX", "SkylakeX", "request,SkylakeX,Core2", &stayed, CPU_NONE);
    ck_assert_int_eq(d.action, CC_BLAS_REFUSE);
    tu_assert_contains(d.reason, "has no SkylakeX kernel and runs Prescott instead");
    /* no OPENBLAS_CORETYPE: a stale marker is ignored and auto decides afresh */
    d = decide(NULL, NULL, "auto,SkylakeX,Core2,fresh", &stayed, CPU_AVX512);
    ck_assert_int_eq(d.action, CC_BLAS_VERIFY);
    d = decide(NULL, "Haswell", "garbage", &stayed, CPU_AVX512);
    ck_assert_int_eq(d.chosen_by, CC_CHOSEN_BY_USER_ENV);
}
END_TEST

/* ------------------------------------------------------------ self-check and cache */

START_TEST(self_check_passes_on_the_linked_blas)
{
    char summary[512];
    ck_assert_msg(cc_blas_self_check(summary, sizeof summary), "%s", summary);
    tu_assert_contains(summary, "within their rounding bounds");
}
END_TEST

START_TEST(verdict_cache)
{
    char *dir = tu_tmpdir();
    setenv("XDG_CACHE_HOME", dir, 1);
    cc_cpu_features cpu = cpu_of(CPU_AVX512);
    cc_blas_library lib = lib_with("Prescott", true, true);
    cc_blas_cache_entry e, other;
    ck_assert(cc_blas_cache_entry_for(&cpu, &lib, "SkylakeX", &e));
    ck_assert(cc_blas_cache_entry_for(&cpu, &lib, "Haswell", &other));
    ck_assert_str_ne(e.path, other.path);
    ck_assert_int_eq(strncmp(e.path, dir, strlen(dir)), 0);
    ck_assert_int_eq(cc_blas_cache_read(&e), CC_VERDICT_UNKNOWN);
    cc_blas_cache_write(&e, CC_VERDICT_PASS, "ok");
    ck_assert_int_eq(cc_blas_cache_read(&e), CC_VERDICT_PASS);
    ck_assert_int_eq(cc_blas_cache_read(&other), CC_VERDICT_UNKNOWN);
    cc_blas_cache_write(&e, CC_VERDICT_FAIL, "crashed");
    ck_assert_int_eq(cc_blas_cache_read(&e), CC_VERDICT_FAIL);
    /* a file for another key at the same path (a hash collision, an edit) does not count */
    tu_write_file(e.path, "cpu=someone else\npass: ok\n", 26);
    ck_assert_int_eq(cc_blas_cache_read(&e), CC_VERDICT_UNKNOWN);
    /* another CPU model gets another entry */
    cc_blas_cache_entry moved;
    cpu.model++;
    ck_assert(cc_blas_cache_entry_for(&cpu, &lib, "SkylakeX", &moved));
    ck_assert_str_ne(moved.path, e.path);
    /* an unwritable cache folder: nothing breaks, nothing is remembered */
    char ro[1024];
    snprintf(ro, sizeof ro, "%s/ro", dir);
    ck_assert_int_eq(mkdir(ro, 0500), 0);
    setenv("XDG_CACHE_HOME", ro, 1);
    ck_assert(cc_blas_cache_entry_for(&cpu, &lib, "SkylakeX", &e));
    cc_blas_cache_write(&e, CC_VERDICT_PASS, "ok");
    if (geteuid() != 0) ck_assert_int_eq(cc_blas_cache_read(&e), CC_VERDICT_UNKNOWN);
    /* the XDG spec ignores relative paths: fall back to $HOME/.cache */
    setenv("XDG_CACHE_HOME", "relative", 1);
    setenv("HOME", dir, 1);
    ck_assert(cc_blas_cache_entry_for(&cpu, &lib, "SkylakeX", &e));
    tu_assert_contains(e.path, "/.cache/circuitc/blas-");
    unsetenv("HOME");
    unsetenv("XDG_CACHE_HOME");
    ck_assert(!cc_blas_cache_entry_for(&cpu, &lib, "SkylakeX", &e));
    chmod(ro, 0700);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ------------------------------------------------------------ circuitc info end to end */

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

static char *cache_home;

/* A clean selection environment: fresh cache, nothing pinned, no hooks. */
static void clean_env(void)
{
    cache_home = tu_tmpdir();
    setenv("XDG_CACHE_HOME", cache_home, 1);
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("CIRCUITC_BLAS_CORE");
    unsetenv("CIRCUITC_BLAS_SELECTED");
    unsetenv("CIRCUITC_BLAS_TEST_LIBRARY_CORE");
    unsetenv("CIRCUITC_BLAS_TEST_FAULT");
}

static void remove_cache(void)
{
    tu_rmtree(cache_home);
    free(cache_home);
    cache_home = NULL;
}

/* `circuitc info --json`'s blas object (decref the returned root). */
static json_t *info_blas(json_t **root)
{
    tu_run_result r = RUN("info", "--json");
    ck_assert_msg(r.status == 0, "info failed: %s", r.err);
    ck_assert_str_eq(r.err, "");
    *root = tu_parse_json(r.out);
    tu_run_free(&r);
    json_t *b = json_object_get(*root, "blas");
    ck_assert_msg(json_is_object(b), "no blas object");
    return b;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

static bool has_feature(json_t *blas, const char *name)
{
    json_t *f = json_object_get(json_object_get(blas, "cpu"), "features");
    for (size_t i = 0; i < json_array_size(f); i++)
        if (strcmp(json_string_value(json_array_get(f, i)), name) == 0) return true;
    return false;
}

/* An AMD family-25 CPU with AVX-512 (Zen 4), where auto prefers Haswell. */
static bool half_width_avx512(json_t *blas)
{
    json_t *cpu = json_object_get(blas, "cpu");
    return strcmp(str(cpu, "vendor"), "AuthenticAMD") == 0 &&
           json_integer_value(json_object_get(cpu, "family")) == 25 && has_feature(blas, "avx512f");
}

/* The candidate this CPU (as reported) should get first, or NULL. */
static const char *expected_first(json_t *blas)
{
    bool avx512 = has_feature(blas, "avx512f") && has_feature(blas, "avx512bw") && has_feature(blas, "avx512vl") &&
                  has_feature(blas, "avx512dq") && has_feature(blas, "avx2") && has_feature(blas, "fma") &&
                  !half_width_avx512(blas);
    if (avx512) return has_feature(blas, "avx512_bf16") ? "Cooperlake" : "SkylakeX";
    return has_feature(blas, "avx2") && has_feature(blas, "fma") ? "Haswell" : NULL;
}

/* `circuitc info OPTION` fails with STATUS, saying NEEDLE on stderr and nothing on stdout. */
static void expect_info_failure(const char *option, int status, const char *needle)
{
    tu_run_result r = RUN("info", option);
    ck_assert_int_eq(r.status, status);
    ck_assert_str_eq(r.out, "");
    char *said = tu_error_text(r.err); /* OPTION may be --json */
    tu_assert_contains(said, needle);
    free(said);
    tu_run_free(&r);
}

static bool dynamic_openblas(json_t *blas) { return strstr(str(blas, "library"), "DYNAMIC_ARCH") != NULL; }

START_TEST(info_keep_reports_the_library_choice)
{
    json_t *root, *b = info_blas((setenv("CIRCUITC_BLAS_CORE", "keep", 1), &root));
    ck_assert_str_eq(str(b, "chosen_by"), "keep");
    ck_assert(json_is_null(json_object_get(b, "verified")));
    if (json_is_string(json_object_get(b, "core"))) ck_assert_str_eq(str(b, "core"), str(b, "library_core"));
    ck_assert_int_ge(json_integer_value(json_object_get(b, "threads")), 0);
    json_decref(root);
    /* and it writes nothing to the cache */
    char path[1024];
    snprintf(path, sizeof path, "%s/circuitc", cache_home);
    struct stat st;
    ck_assert_int_ne(stat(path, &st), 0);
}
END_TEST

START_TEST(info_user_coretype_wins)
{
    setenv("OPENBLAS_CORETYPE", "Prescott", 1);
    setenv("CIRCUITC_BLAS_CORE", "Haswell", 1);
    json_t *root, *b = info_blas(&root);
    ck_assert_str_eq(str(b, "chosen_by"), "user_env");
    tu_assert_contains(str(b, "reason"), "OPENBLAS_CORETYPE=Prescott");
    if (dynamic_openblas(b)) ck_assert_str_eq(str(b, "core"), "Prescott");
    json_decref(root);
}
END_TEST

START_TEST(info_request_forces_a_name)
{
    json_t *root, *b = info_blas((setenv("CIRCUITC_BLAS_CORE", "keep", 1), &root));
    bool dynamic = dynamic_openblas(b);
    json_decref(root);
    setenv("CIRCUITC_BLAS_CORE", "prescott", 1); /* Prescott runs on every x86-64 */
    if (!dynamic) {
        expect_info_failure("--json", 1, "CIRCUITC_BLAS_CORE=Prescott cannot be honoured");
        return;
    }
    b = info_blas(&root);
    ck_assert_str_eq(str(b, "core"), "Prescott");
    ck_assert_str_eq(str(b, "chosen_by"), "request");
    tu_assert_contains(str(b, "reason"), "CIRCUITC_BLAS_CORE=Prescott");
    json_decref(root);
}
END_TEST

START_TEST(info_bad_request_fails_clearly)
{
    setenv("CIRCUITC_BLAS_CORE", "Skylake", 1);
    expect_info_failure("--json", 1, "CIRCUITC_BLAS_CORE=\"Skylake\" is not an OpenBLAS core: set it to auto "
                                     "(the default), keep, or one of Katmai");
}
END_TEST

/* auto as the library picked it: kept unless generic, and then only for a verified candidate. */
START_TEST(info_auto_is_consistent)
{
    json_t *root, *b = info_blas(&root);
    const char *by = str(b, "chosen_by");
    if (strcmp(by, "auto_chosen") == 0) {
        ck_assert(cc_blas_core_is_generic(str(b, "library_core")) || half_width_avx512(b));
        ck_assert(strcmp(str(b, "verified"), "fresh") == 0);
    } else {
        ck_assert_str_eq(by, "auto_kept");
        if (dynamic_openblas(b) && expected_first(b)) ck_assert(!cc_blas_core_is_generic(str(b, "core")));
    }
    json_decref(root);
}
END_TEST

/* auto from a generic core (pretended, as this machine's library may know its CPU):
 * verified fresh, then from the cache; a crashing candidate falls to the next. */
START_TEST(info_auto_from_generic_core)
{
    setenv("CIRCUITC_BLAS_TEST_LIBRARY_CORE", "Prescott", 1);
    json_t *root, *b = info_blas(&root);
    const char *want = expected_first(b);
    if (!dynamic_openblas(b) || !want) {
        ck_assert_str_eq(str(b, "chosen_by"), "auto_kept");
        json_decref(root);
        return;
    }
    ck_assert_str_eq(str(b, "chosen_by"), "auto_chosen");
    ck_assert_str_eq(str(b, "core"), want);
    ck_assert_str_eq(str(b, "library_core"), "Prescott");
    ck_assert_str_eq(str(b, "verified"), "fresh");
    json_decref(root);
    b = info_blas(&root);
    ck_assert_str_eq(str(b, "core"), want);
    ck_assert_str_eq(str(b, "verified"), "cached");
    json_decref(root);
    /* fresh cache, first candidate dies of SIGILL in its self-check */
    remove_cache();
    cache_home = tu_tmpdir();
    setenv("XDG_CACHE_HOME", cache_home, 1);
    setenv("CIRCUITC_BLAS_TEST_FAULT", want, 1);
    b = info_blas(&root);
    const char *next = strcmp(want, "Cooperlake") == 0 ? "SkylakeX" : strcmp(want, "SkylakeX") == 0 ? "Haswell" : NULL;
    if (next) {
        ck_assert_str_eq(str(b, "chosen_by"), "auto_chosen");
        ck_assert_str_eq(str(b, "core"), next);
    } else {
        ck_assert_str_eq(str(b, "chosen_by"), "auto_kept");
        tu_assert_contains(str(b, "reason"), "failed its self-check");
    }
    json_decref(root);
    /* the crash verdict is cached: without the fault the same choice stands */
    unsetenv("CIRCUITC_BLAS_TEST_FAULT");
    b = info_blas(&root);
    ck_assert_str_eq(str(b, "core"), next ? next : "Prescott");
    json_decref(root);
}
END_TEST

/* An unwritable cache folder costs a re-check, nothing more. */
START_TEST(info_auto_without_cache)
{
    setenv("XDG_CACHE_HOME", "/proc/circuitc-cannot-write-here", 1);
    setenv("CIRCUITC_BLAS_TEST_LIBRARY_CORE", "Prescott", 1);
    for (int run = 0; run < 2; run++) {
        json_t *root, *b = info_blas(&root);
        if (strcmp(str(b, "chosen_by"), "auto_chosen") == 0) ck_assert_str_eq(str(b, "verified"), "fresh");
        json_decref(root);
    }
}
END_TEST

/* A run that switches kernels keeps argv, stdout and the exit status. */
START_TEST(switch_preserves_argv_and_status)
{
    setenv("CIRCUITC_BLAS_CORE", "Prescott", 1);
    expect_info_failure("--bogus-option", 2, "unknown option --bogus-option");
    tu_run_result r = RUN("info", "--no-processing");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "none (--no-processing)");
    tu_run_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("blas_kernel");
    TCase *tc = tcase_create("decision");
    tcase_add_test(tc, core_names);
    tcase_add_test(tc, bad_request_is_refused_everywhere);
    tcase_add_test(tc, user_coretype_is_never_overridden);
    tcase_add_test(tc, keep_touches_nothing);
    tcase_add_test(tc, fixed_libraries_keep_or_refuse);
    tcase_add_test(tc, request_forces_the_name);
    tcase_add_test(tc, auto_keeps_non_generic_cores);
    tcase_add_test(tc, auto_walks_the_candidates);
    tcase_add_test(tc, amd_half_width_avx512_prefers_haswell);
    tcase_add_test(tc, verify_loop_terminates);
    tcase_add_test(tc, marker_after_switch);
    suite_add_tcase(s, tc);
    tc = tcase_create("check_and_cache");
    tcase_add_test(tc, self_check_passes_on_the_linked_blas);
    tcase_add_test(tc, verdict_cache);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    tc = tcase_create("info");
    tcase_add_checked_fixture(tc, clean_env, remove_cache);
    tcase_add_test(tc, info_keep_reports_the_library_choice);
    tcase_add_test(tc, info_user_coretype_wins);
    tcase_add_test(tc, info_request_forces_a_name);
    tcase_add_test(tc, info_bad_request_fails_clearly);
    tcase_add_test(tc, info_auto_is_consistent);
    tcase_add_test(tc, info_auto_from_generic_core);
    tcase_add_test(tc, info_auto_without_cache);
    tcase_add_test(tc, switch_preserves_argv_and_status);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
