/* atlas_cli.h — what `circuitc atlas` shares between its single-process run
 * (cmd_atlas.c) and its MPI run (atlas_mpi.c): the sink that hands out units,
 * collects entries, appends them to the partial file and draws progress.
 * Private to src/cli/. */
#ifndef CIRCUITC_CLI_ATLAS_H
#define CIRCUITC_CLI_ATLAS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "circuitc/atlas.h"

typedef struct {
    const cc_atlas *a;
    cc_atlas_entry *all;   /* [n_pairs], canonical order */
    unsigned char *done;   /* [n_pairs] */
    long n_done;           /* pairs done, resumed ones included */
    long n_resumed;
    int next_unit;
    FILE *partial;         /* entries appended as units finish; NULL without --out */
    const char *partial_path;
    double last_sync;      /* when the partial file was last fsynced */
    pthread_mutex_t lock;  /* next and store may be called from several threads */
} atlas_sink;

/* cc_atlas_next_fn: the next unit with a pair not done yet, or -1. */
int atlas_sink_next(void *sink);

/* cc_atlas_unit_fn: records the entries, appends new ones to the partial file. */
int atlas_sink_store(void *sink, const cc_atlas_entry *entries, int count, cc_error *err);

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
