/* atlas_cli.h — what the files of `circuitc atlas` share: the command
 * (cmd_atlas.c), its sink and JSON-lines file (atlas_sink.c), its output
 * (atlas_report.c) and its MPI run (atlas_mpi.c). Private to src/cli/. */
#ifndef CIRCUITC_CLI_ATLAS_H
#define CIRCUITC_CLI_ATLAS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "circuitc/atlas.h"
#include "options.h"

typedef struct {
    const char *circuit, *out;
    bool resume;
    double min_acc;
    int top;
} atlas_opts;

typedef struct {
    const cc_atlas *a;
    cc_atlas_entry *all;   /* [n_pairs], canonical order */
    unsigned char *done;   /* [n_pairs] */
    long n_done;           /* pairs done, resumed ones included */
    long n_resumed;
    int next_unit;
    FILE *partial;         /* entries appended as units finish; NULL without --out, or when OUT is a device or FIFO */
    const char *partial_path;
    double last_sync;      /* when the partial file was last fsynced */
    pthread_mutex_t lock;  /* next and store may be called from several threads */
} atlas_sink;

/* cc_atlas_next_fn: the next unit with a pair not done yet, or -1. */
int atlas_sink_next(void *sink);

/* cc_atlas_unit_fn: records the entries, appends new ones to the partial file. */
int atlas_sink_store(void *sink, const cc_atlas_entry *entries, int count, cc_error *err);

/* The first line of the JSON-lines file: what the entries were computed from.
 * A resumed file must start with exactly this line. Caller frees. */
char *atlas_header_line(const cc_model *m, const cc_circuit *c, const cc_atlas *a, double min_acc, bool processed);

/* Opens the partial file OUT.partial (its path into *PARTIAL_PATH, caller
 * frees): a fresh one holding HEADER and, with RESUME, the entries of a
 * previous run read from OUT.partial or OUT. None (S->partial stays NULL) when
 * OUT is a device or FIFO, which is written once at the end. */
int atlas_open_partial(atlas_sink *s, const char *out, bool resume, const char *header, const cc_config *cfg,
                       char **partial_path, cc_error *err);

/* Closes the partial file and replaces OUT with the complete, ordered file. */
int atlas_finish_file(atlas_sink *s, const char *out, const char *header, cc_error *err);

/* Prints the summary and the --top exact pairs (text or --json) and draws --plot. */
int atlas_report(const atlas_sink *s, const cc_model *m, const atlas_opts *o, const cli_args *a, double wall,
                 double cpu, int ranks, const long *pairs_by_rank);

/* Launched by mpirun with more than one process (Open MPI's environment). */
bool atlas_mpi_launched(void);

#ifdef CC_HAVE_MPI
/* Starts MPI; *RANK and *SIZE of the world. */
int atlas_mpi_init(int *rank, int *size, cc_error *err);
/* Rank 0: hands units to the other ranks and runs units on a thread of its
 * own, all through SINK; *CPU_OTHERS gets the CPU seconds the other ranks
 * used, PAIRS_BY_RANK ([size], zeroed) the pairs each rank computed. Other
 * ranks: run the units they are given (SINK only names the atlas). One
 * computing thread per rank: ranks are the unit of parallelism. */
int atlas_mpi_run(atlas_sink *sink, int rank, int size, double *cpu_others, long *pairs_by_rank, cc_error *err);
/* Fails every rank (an error on one rank). */
void atlas_mpi_abort(void);
void atlas_mpi_finish(void);
#endif

#endif
