/* circuitc/blas_kernel.h — choosing the OpenBLAS kernel ("core") circuitc's GEMMs
 * run on (docs/blas.md).
 *
 * A DYNAMIC_ARCH OpenBLAS picks its kernel from cpuid when it is loaded and
 * falls back to a generic SSE kernel on CPUs it does not know, 3-6x slower on
 * AVX2/AVX-512 machines. OPENBLAS_CORETYPE overrides the choice, but only if it
 * is set before the library is loaded, so the CLI's launcher has a planner
 * decide in a child process and sets the variable before it loads OpenBLAS
 * (unless the user set it). libcircuitc itself
 * never re-executes and never sets the variable: a program or a binding sets it
 * before OpenBLAS is loaded (docs/blas.md). This module holds the pieces that do not
 * depend on the process: CPU features, what the loaded OpenBLAS reports, the
 * pure decision, the self-check of a kernel and the cache of its verdicts. */
#ifndef CIRCUITC_BLAS_KERNEL_H
#define CIRCUITC_BLAS_KERNEL_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ CPU */

typedef struct {
    char vendor[13];   /* "GenuineIntel", "AuthenticAMD"; "" off x86 */
    char brand[49];    /* cpuid brand string, trimmed */
    unsigned family, model, stepping; /* display values (extended fields folded in) */
    /* Usable features: the CPU has them and the OS saves their registers (XCR0). */
    bool avx, avx2, fma, avx512f, avx512bw, avx512vl, avx512dq, avx512_bf16;
} cc_cpu_features;

void cc_cpu_detect(cc_cpu_features *out);

/* Space-separated names of the usable features above ("avx avx2 fma ..."). */
void cc_cpu_feature_list(const cc_cpu_features *cpu, char *out, size_t size);

/* ------------------------------------------------------------ the BLAS in use */

typedef struct {
    bool openblas;      /* the linked BLAS answers openblas_get_corename() */
    bool dynamic_arch;  /* ... and was built with DYNAMIC_ARCH (its kernel can be chosen) */
    char config[256];   /* openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Haswell MAX_THREADS=64" */
    char library[512];  /* file the BLAS symbols come from ("" if unknown) */
    char core[64];      /* openblas_get_corename(): the kernel in use ("" if not OpenBLAS) */
    int threads;        /* openblas_get_num_threads(), 0 if unknown */
} cc_blas_library;

void cc_blas_library_query(cc_blas_library *out);

/* ------------------------------------------------------------ core names */

/* Canonical spelling of an x86-64 OpenBLAS core name, matched case-insensitively
 * ("skylakex" -> "SkylakeX"); NULL if OpenBLAS has no such core. */
const char *cc_blas_core_canonical(const char *name);

/* True for the kernels that use no AVX (SSE2/SSE3 generic kernels: Prescott,
 * Core2, Nehalem, Atom, Opteron, ... and "Unknown"): the ones auto replaces. */
bool cc_blas_core_is_generic(const char *core);

/* Comma-separated list of every known core name (for error messages). */
const char *cc_blas_core_names(void);

/* ------------------------------------------------------------ decision */

/* The candidates auto tries, best first; each needs the features named. */
typedef enum {
    CC_BLAS_COOPERLAKE = 0, /* AVX-512 F/BW/VL/DQ + AVX512_BF16 */
    CC_BLAS_SKYLAKEX,       /* AVX-512 F/BW/VL/DQ */
    CC_BLAS_HASWELL,        /* AVX2 + FMA */
    CC_BLAS_N_CANDIDATES
} cc_blas_candidate;

const char *cc_blas_candidate_core(cc_blas_candidate c);

typedef enum { CC_VERDICT_UNKNOWN = 0, CC_VERDICT_PASS, CC_VERDICT_FAIL } cc_blas_verdict;

typedef struct {
    const char *request;          /* CIRCUITC_BLAS_CORE: NULL/"" or "auto", "keep", or a core name */
    const char *coretype;         /* OPENBLAS_CORETYPE, NULL when unset */
    const char *marker;           /* CIRCUITC_BLAS_SELECTED (set by circuitc's planner with the kernel), or NULL */
    const cc_blas_library *lib;
    const cc_cpu_features *cpu;
    cc_blas_verdict verdict[CC_BLAS_N_CANDIDATES]; /* cached or fresh self-check results */
    bool fresh[CC_BLAS_N_CANDIDATES];              /* verdict[c] was measured by this process */
} cc_blas_inputs;

typedef enum {
    CC_BLAS_KEEP,    /* run on the kernel the library has now */
    CC_BLAS_VERIFY,  /* self-check `core` (candidate `candidate`), record the verdict, decide again */
    CC_BLAS_SWITCH,  /* load OpenBLAS with OPENBLAS_CORETYPE=core, CIRCUITC_BLAS_SELECTED=marker */
    CC_BLAS_REFUSE,  /* bad request: `reason` is the error message */
} cc_blas_action;

/* How the kernel in use was chosen (info's blas.chosen_by). */
typedef enum {
    CC_CHOSEN_BY_LIBRARY,      /* auto kept what the library picked (see reason) */
    CC_CHOSEN_BY_AUTO,         /* auto chose and verified it */
    CC_CHOSEN_BY_USER_ENV,     /* OPENBLAS_CORETYPE set by the user or environment */
    CC_CHOSEN_BY_REQUEST,      /* CIRCUITC_BLAS_CORE=NAME */
    CC_CHOSEN_BY_KEEP,         /* CIRCUITC_BLAS_CORE=keep */
} cc_blas_chosen_by;

/* "auto_kept", "auto_chosen", "user_env", "request", "keep" */
const char *cc_blas_chosen_by_name(cc_blas_chosen_by b);

typedef struct {
    cc_blas_action action;
    cc_blas_chosen_by chosen_by;
    cc_blas_candidate candidate;  /* CC_BLAS_VERIFY */
    const char *core;             /* VERIFY / SWITCH: the kernel; KEEP: the one in use */
    char library_core[64];        /* the kernel the library picked by itself ("" when not known) */
    const char *verified;         /* "fresh", "cached" or NULL (not self-checked) */
    char marker[160];             /* SWITCH: value for CIRCUITC_BLAS_SELECTED */
    char reason[1024];            /* one sentence for people */
} cc_blas_decision;

/* The whole policy, without side effects (docs/blas.md, "How it decides"). */
void cc_blas_decide(const cc_blas_inputs *in, cc_blas_decision *out);

/* ------------------------------------------------------------ self-check */

/* Runs sgemm and dgemm at the shapes and transpositions circuitc uses (odd
 * sizes, leading dimensions wider than the matrix, beta 0 and 1) with the BLAS
 * kernel this process loaded, and compares every entry with a float64 (sgemm)
 * or long double (dgemm) reference within the rounding-error bound
 * gamma_k * sum_p |a_ip b_pj|. Returns true when all agree; otherwise SUMMARY
 * names the first failing case. */
bool cc_blas_self_check(char *summary, size_t size);

/* ------------------------------------------------------------ verdict cache */

/* The cache file for CORE's verdict on this CPU and library under DIR
 * ($XDG_CACHE_HOME/circuitc): one small file per (CPU model, library, core). */
typedef struct {
    char path[1024];
    char key[1024];   /* the identity the file must repeat to count */
} cc_blas_cache_entry;

/* Fills E; returns false if no cache directory is known (no XDG_CACHE_HOME or HOME). */
bool cc_blas_cache_entry_for(const cc_cpu_features *cpu, const cc_blas_library *lib, const char *core,
                             cc_blas_cache_entry *e);

/* The recorded verdict, CC_VERDICT_UNKNOWN when absent, unreadable or for another key. */
cc_blas_verdict cc_blas_cache_read(const cc_blas_cache_entry *e);

/* Records V atomically (temporary file + rename); failures are ignored (the
 * check simply runs again next time). */
void cc_blas_cache_write(const cc_blas_cache_entry *e, cc_blas_verdict v, const char *detail);

#ifdef __cplusplus
}
#endif

#endif
