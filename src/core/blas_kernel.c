/* blas_kernel.c — CPU features, what the loaded OpenBLAS reports, and the pure
 * decision of which kernel circuitc's GEMMs should run on (docs/blas.md). */
#include "circuitc/blas_kernel.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#ifdef CC_HAVE_OPENBLAS_CORENAME
#include <cblas.h>
#endif

#include "core/args.h"

/* ------------------------------------------------------------ CPU */

#if defined(__x86_64__) || defined(__i386__)
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect_x86(cc_cpu_features *f)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned max_leaf = a;
    memcpy(f->vendor, &b, 4), memcpy(f->vendor + 4, &d, 4), memcpy(f->vendor + 8, &c, 4);
    __get_cpuid(1, &a, &b, &c, &d);
    unsigned base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    f->family = base_family + (base_family == 0xf ? (a >> 20) & 0xff : 0);
    f->model = base_model | ((base_family == 0x6 || base_family == 0xf) ? ((a >> 16) & 0xf) << 4 : 0);
    f->stepping = a & 0xf;
    bool osxsave = c & (1u << 27), fma = c & (1u << 12), avx = c & (1u << 28);
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    bool os_ymm = (xcr0 & 0x6) == 0x6;            /* SSE and AVX state */
    bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    f->avx = avx && os_ymm;
    f->fma = fma && os_ymm;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        unsigned max_sub = a;
        f->avx2 = os_ymm && (b & (1u << 5));
        f->avx512f = os_zmm && (b & (1u << 16));
        f->avx512dq = os_zmm && (b & (1u << 17));
        f->avx512bw = os_zmm && (b & (1u << 30));
        f->avx512vl = os_zmm && (b & (1u << 31));
        if (max_sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f->avx512_bf16 = os_zmm && (a & (1u << 5));
        }
    }
    __get_cpuid(0x80000000, &a, &b, &c, &d);
    if (a >= 0x80000004) {
        unsigned w[12]; /* brand[] is not aligned for unsigned: copy */
        for (unsigned leaf = 0; leaf < 3; leaf++)
            __get_cpuid(0x80000002 + leaf, &w[4 * leaf], &w[4 * leaf + 1], &w[4 * leaf + 2], &w[4 * leaf + 3]);
        memcpy(f->brand, w, 48);
        f->brand[48] = '\0';
        size_t lead = strspn(f->brand, " "), len = strlen(f->brand + lead);
        memmove(f->brand, f->brand + lead, len + 1);
        while (len > 0 && f->brand[len - 1] == ' ') f->brand[--len] = '\0';
    }
}
#endif

void cc_cpu_detect(cc_cpu_features *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
#if defined(__x86_64__) || defined(__i386__)
    detect_x86(out);
#endif
}

void cc_cpu_feature_list(const cc_cpu_features *cpu, char *out, size_t size)
{
    if (!cpu || !out) return;
    const struct {
        bool on;
        const char *name;
    } f[] = {{cpu->avx, "avx"},           {cpu->avx2, "avx2"},         {cpu->fma, "fma"},
             {cpu->avx512f, "avx512f"},   {cpu->avx512bw, "avx512bw"}, {cpu->avx512vl, "avx512vl"},
             {cpu->avx512dq, "avx512dq"}, {cpu->avx512_bf16, "avx512_bf16"}};
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].on && used < size) used += (size_t)snprintf(out + used, size - used, "%s%s", used ? " " : "", f[i].name);
}

/* ------------------------------------------------------------ the BLAS in use */

void cc_blas_library_query(cc_blas_library *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
#ifdef CC_HAVE_OPENBLAS_CORENAME
    out->openblas = true;
    snprintf(out->config, sizeof out->config, "%s", openblas_get_config());
    snprintf(out->core, sizeof out->core, "%s", openblas_get_corename());
    out->threads = openblas_get_num_threads();
    /* Match the word, not a prefix of another option. */
    for (const char *p = out->config; (p = strstr(p, "DYNAMIC_ARCH")) != NULL; p += 12)
        if ((p == out->config || p[-1] == ' ') && (p[12] == ' ' || p[12] == '\0')) out->dynamic_arch = true;
    Dl_info info;
    if (dladdr((void *)openblas_get_corename, &info) && info.dli_fname)
        snprintf(out->library, sizeof out->library, "%s", info.dli_fname);
#else
    snprintf(out->config, sizeof out->config, "a CBLAS other than OpenBLAS (its kernel cannot be inspected)");
#endif
}

/* ------------------------------------------------------------ core names */

/* OpenBLAS' x86-64 core names (driver/others/dynamic.c), generic ones marked. */
static const struct {
    const char *name;
    bool generic;
} CORES[] = {
    {"Unknown", true},      {"Katmai", true},     {"Coppermine", true},  {"Northwood", true},
    {"Prescott", true},     {"Banias", true},     {"Atom", true},        {"Core2", true},
    {"Penryn", true},       {"Dunnington", true}, {"Nehalem", true},     {"Athlon", true},
    {"Opteron", true},      {"Opteron_SSE3", true}, {"Barcelona", true}, {"Nano", true},
    {"Bobcat", true},       {"Sandybridge", false}, {"Bulldozer", false}, {"Piledriver", false},
    {"Steamroller", false}, {"Excavator", false}, {"Haswell", false},    {"Zen", false},
    {"SkylakeX", false},    {"Cooperlake", false}, {"SapphireRapids", false},
};
enum { N_CORES = sizeof CORES / sizeof CORES[0] };

const char *cc_blas_core_canonical(const char *name)
{
    for (int i = 1; name && i < N_CORES; i++) /* "Unknown" is a report, never a request */
        if (strcasecmp(name, CORES[i].name) == 0) return CORES[i].name;
    return NULL;
}

bool cc_blas_core_is_generic(const char *core)
{
    CC_ARG_NOT_NULL(core, NULL, false);
    for (int i = 0; i < N_CORES; i++)
        if (strcasecmp(core, CORES[i].name) == 0) return CORES[i].generic;
    return false; /* a core this table does not know is newer than it, hence not generic */
}

const char *cc_blas_core_names(void)
{
    static char list[512];
    if (!list[0])
        for (int i = 1; i < N_CORES; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i > 1 ? ", " : "", CORES[i].name);
    return list;
}

/* ------------------------------------------------------------ decision */

static const struct {
    const char *core;
    const char *needs;
} CANDIDATES[CC_BLAS_N_CANDIDATES] = {
    [CC_BLAS_COOPERLAKE] = {"Cooperlake", "AVX-512 with AVX512_BF16"},
    [CC_BLAS_SKYLAKEX] = {"SkylakeX", "AVX-512"},
    [CC_BLAS_HASWELL] = {"Haswell", "AVX2 and FMA"},
};

const char *cc_blas_candidate_core(cc_blas_candidate c)
{
    CC_ARG_ENUM(c, CC_BLAS_N_CANDIDATES, NULL, "?");
    return CANDIDATES[c].core;
}

/* AMD's family-25 CPUs with AVX-512 (Zen 4) execute 512-bit instructions on
 * 256-bit units. There OpenBLAS' Haswell kernel ran circuitc's GEMMs (one
 * thread per core) 2-15% faster than the AVX-512 kernels the library picks
 * itself (docs/blas.md, "On AMD CPUs with AVX-512"), so they are not
 * candidates and the library's choice of one of them is replaced. */
static bool avx512_half_width(const cc_cpu_features *f)
{
    return strcmp(f->vendor, "AuthenticAMD") == 0 && f->family == 25 && f->avx512f;
}

/* How a reason names the kernel auto replaced: "the generic Prescott", or
 * "Cooperlake, whose AVX-512 ..." (avx512_half_width). */
static void replaced_core(char *buf, size_t size, const char *core)
{
    if (cc_blas_core_is_generic(core)) snprintf(buf, size, "the generic %s", core);
    else snprintf(buf, size, "%s, whose AVX-512 this AMD CPU runs at half width", core);
}

static bool cpu_runs(const cc_cpu_features *f, cc_blas_candidate c)
{
    bool avx512 = f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx2 && f->fma &&
                  !avx512_half_width(f);
    switch (c) {
    case CC_BLAS_COOPERLAKE: return avx512 && f->avx512_bf16;
    case CC_BLAS_SKYLAKEX: return avx512;
    default: return f->avx2 && f->fma;
    }
}

const char *cc_blas_chosen_by_name(cc_blas_chosen_by b)
{
    CC_ARG_ENUM(b, CC_CHOSEN_BY_KEEP + 1, NULL, "?");
    switch (b) {
    case CC_CHOSEN_BY_AUTO: return "auto_chosen";
    case CC_CHOSEN_BY_USER_ENV: return "user_env";
    case CC_CHOSEN_BY_REQUEST: return "request";
    case CC_CHOSEN_BY_KEEP: return "keep";
    default: return "auto_kept";
    }
}

/* The marker circuitc's planner sets with OPENBLAS_CORETYPE: "auto,CORE,LIBCORE,fresh|cached"
 * or "request,CORE,LIBCORE". */
typedef struct {
    bool valid, automatic;
    char core[64], library_core[64], verified[16];
} marker;

static marker parse_marker(const char *s, const char *coretype)
{
    marker m = {0};
    char how[16] = "";
    if (!s || !coretype ||
        sscanf(s, "%15[^,],%63[^,],%63[^,],%15s", how, m.core, m.library_core, m.verified) < 3)
        return m;
    m.automatic = strcmp(how, "auto") == 0;
    /* Ours only if OPENBLAS_CORETYPE still holds what circuitc put there. */
    m.valid = (m.automatic || strcmp(how, "request") == 0) && strcasecmp(coretype, m.core) == 0;
    return m;
}

static void keep(cc_blas_decision *out, const cc_blas_inputs *in, cc_blas_chosen_by by, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void keep(cc_blas_decision *out, const cc_blas_inputs *in, cc_blas_chosen_by by, const char *fmt, ...)
{
    out->action = CC_BLAS_KEEP;
    out->chosen_by = by;
    out->core = in->lib->core;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
}

/* In the process the planner switched: the marker says what it decided. */
static void decide_after_switch(const cc_blas_inputs *in, const marker *m, cc_blas_decision *out)
{
    snprintf(out->library_core, sizeof out->library_core, "%s", m->library_core);
    bool switched = strcasecmp(in->lib->core, m->core) == 0;
    if (!m->automatic && !switched) {
        out->action = CC_BLAS_REFUSE;
        snprintf(out->reason, sizeof out->reason,
                 "CIRCUITC_BLAS_CORE=%s: the OpenBLAS in use (%s) has no %s kernel and runs %s instead; unset "
                 "CIRCUITC_BLAS_CORE, or set it to auto, keep or a core this library has",
                 m->core, in->lib->config, m->core, in->lib->core);
        return;
    }
    if (!m->automatic) {
        keep(out, in, CC_CHOSEN_BY_REQUEST, "CIRCUITC_BLAS_CORE=%s (forced; not self-checked); the library's own choice was %s",
             m->core, m->library_core);
        return;
    }
    if (!switched) {
        keep(out, in, CC_CHOSEN_BY_LIBRARY, "auto: kept %s because OpenBLAS did not switch to %s", in->lib->core, m->core);
        return;
    }
    out->verified = strcmp(m->verified, "fresh") == 0 ? "fresh" : "cached";
    const char *needs = "";
    for (int c = 0; c < CC_BLAS_N_CANDIDATES; c++)
        if (strcasecmp(CANDIDATES[c].core, m->core) == 0) needs = CANDIDATES[c].needs;
    char was[160];
    replaced_core(was, sizeof was, m->library_core);
    keep(out, in, CC_CHOSEN_BY_AUTO, "auto: %s chosen for this CPU's %s (the library's own choice was %s); its "
         "self-check passed%s", in->lib->core, needs, was, out->verified[0] == 'f' ? " just now" : " earlier (cached verdict)");
}

void cc_blas_decide(const cc_blas_inputs *in, cc_blas_decision *out)
{
    if (!in || !out) return;
    memset(out, 0, sizeof *out);
    const cc_blas_library *lib = in->lib;
    snprintf(out->library_core, sizeof out->library_core, "%s", lib->core);
    const char *request = in->request && in->request[0] ? in->request : "auto";
    bool automatic = strcmp(request, "auto") == 0, keep_request = strcmp(request, "keep") == 0;
    const char *name = automatic || keep_request ? NULL : cc_blas_core_canonical(request);
    if (!automatic && !keep_request && !name) {
        out->action = CC_BLAS_REFUSE;
        snprintf(out->reason, sizeof out->reason,
                 "CIRCUITC_BLAS_CORE=\"%s\" is not an OpenBLAS core: set it to auto (the default), keep, or one of %s",
                 request, cc_blas_core_names());
        return;
    }
    marker m = parse_marker(in->marker, in->coretype);
    if (m.valid) {
        decide_after_switch(in, &m, out);
        return;
    }
    if (in->coretype) {
        keep(out, in, CC_CHOSEN_BY_USER_ENV, "OPENBLAS_CORETYPE=%s was set by the user or environment; circuitc never "
             "overrides it%s%s%s", in->coretype, automatic ? "" : " (CIRCUITC_BLAS_CORE=", automatic ? "" : request,
             automatic ? "" : " ignored)");
        out->library_core[0] = '\0'; /* the library never chose by itself */
        return;
    }
    if (keep_request) {
        keep(out, in, CC_CHOSEN_BY_KEEP, "CIRCUITC_BLAS_CORE=keep: the library's own choice");
        return;
    }
    if (!lib->openblas || !lib->dynamic_arch) {
        const char *why = !lib->openblas ? "the BLAS in use is not OpenBLAS"
                                         : "this OpenBLAS is built for one core (no DYNAMIC_ARCH)";
        if (name) {
            out->action = CC_BLAS_REFUSE;
            snprintf(out->reason, sizeof out->reason,
                     "CIRCUITC_BLAS_CORE=%s cannot be honoured: %s (%s); unset it or set it to keep", name, why,
                     lib->config);
        } else {
            keep(out, in, CC_CHOSEN_BY_LIBRARY, "auto: kept %s because %s", lib->core[0] ? lib->core : "its kernel", why);
        }
        return;
    }
    if (name) {
        if (strcasecmp(lib->core, name) == 0) {
            keep(out, in, CC_CHOSEN_BY_REQUEST, "CIRCUITC_BLAS_CORE=%s, which is also the library's own choice", name);
            return;
        }
        out->action = CC_BLAS_SWITCH;
        out->chosen_by = CC_CHOSEN_BY_REQUEST;
        out->core = name;
        snprintf(out->marker, sizeof out->marker, "request,%s,%s", name, lib->core);
        snprintf(out->reason, sizeof out->reason, "CIRCUITC_BLAS_CORE=%s", name);
        return;
    }
    bool generic = cc_blas_core_is_generic(lib->core);
    bool half_width = avx512_half_width(in->cpu) &&
                      (strcasecmp(lib->core, "SkylakeX") == 0 || strcasecmp(lib->core, "Cooperlake") == 0);
    if (!generic && !half_width) {
        keep(out, in, CC_CHOSEN_BY_LIBRARY, "auto: kept %s, the library's own choice, because it is not a generic kernel",
             lib->core);
        return;
    }
    char instead[160];
    replaced_core(instead, sizeof instead, lib->core);
    bool any = false;
    char failed[128] = "";
    for (int c = 0; c < CC_BLAS_N_CANDIDATES; c++) {
        if (!cpu_runs(in->cpu, c)) continue;
        any = true;
        if (in->verdict[c] == CC_VERDICT_FAIL) {
            snprintf(failed + strlen(failed), sizeof failed - strlen(failed), "%s%s", failed[0] ? ", " : "",
                     CANDIDATES[c].core);
            continue;
        }
        out->core = CANDIDATES[c].core;
        out->chosen_by = CC_CHOSEN_BY_AUTO;
        if (in->verdict[c] == CC_VERDICT_UNKNOWN) {
            out->action = CC_BLAS_VERIFY;
            out->candidate = c;
            snprintf(out->reason, sizeof out->reason, "auto: %s is a candidate for this CPU's %s; self-check needed",
                     CANDIDATES[c].core, CANDIDATES[c].needs);
            return;
        }
        out->action = CC_BLAS_SWITCH;
        snprintf(out->marker, sizeof out->marker, "auto,%s,%s,%s", CANDIDATES[c].core, lib->core,
                 in->fresh[c] ? "fresh" : "cached");
        snprintf(out->reason, sizeof out->reason, "auto: %s for this CPU's %s instead of %s", CANDIDATES[c].core,
                 CANDIDATES[c].needs, instead);
        return;
    }
    if (!any)
        keep(out, in, CC_CHOSEN_BY_LIBRARY, "auto: kept %s because this CPU has neither AVX-512 nor AVX2 with FMA",
             lib->core);
    else
        keep(out, in, CC_CHOSEN_BY_LIBRARY, "auto: kept %s because every faster kernel failed its self-check (%s)",
             lib->core, failed);
}
