/* atlas_mpi.c — `mpirun -np N circuitc atlas ...`: rank 0 hands out work units
 * on request (dynamic distribution: a unit whose pairs go to the exact pass
 * costs far more than a bounded one) and collects every entry into its sink,
 * which writes the one file; it also runs units on a thread of its own. Every
 * other rank loads the model, prepares the same atlas and runs what it is
 * given. Built only when Open MPI is found (atlas_cli.h). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atlas_cli.h"

enum { TAG_RESULT = 1, TAG_UNIT = 2 };

/* A worker's message to rank 0: the entries of its last unit (count 0 on the
 * first request) and its CPU seconds so far. Ranks run the same binary, so
 * the entries travel as bytes. */
typedef struct {
    int count;
    double cpu_seconds;
    cc_atlas_entry entries[CC_ATLAS_BLOCK];
} result_msg;

int atlas_mpi_init(int *rank, int *size, cc_error *err)
{
    int provided;
    /* only the main thread calls MPI; rank 0's computing thread never does */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return cc_fail(err, "MPI_Init_thread failed");
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return 0;
}

void atlas_mpi_abort(void) { MPI_Abort(MPI_COMM_WORLD, 1); }
void atlas_mpi_finish(void) { MPI_Finalize(); }

static double process_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    atlas_sink *sink;
    int rc;
    cc_error err;
} local_job;

static void *run_local(void *p)
{
    local_job *j = p;
    j->rc = cc_atlas_run(j->sink->a, 1, atlas_sink_next, atlas_sink_store, j->sink, &j->err);
    return NULL;
}

/* Waits for REQ without spinning a core (Open MPI's blocking calls poll). */
static void wait_gently(MPI_Request *req, MPI_Status *st)
{
    int flag = 0;
    for (;;) {
        MPI_Test(req, &flag, st);
        if (flag) return;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

static int serve(atlas_sink *sink, int size, double *cpu_others, long *pairs_by_rank, cc_error *err)
{
    local_job job = {.sink = sink};
    pthread_t tid;
    if (pthread_create(&tid, NULL, run_local, &job) != 0) return cc_fail(err, "cannot start rank 0's worker thread");
    result_msg msg;
    int active = size - 1, rc = 0;
    double *cpu = calloc((size_t)size, sizeof *cpu);
    while (active > 0) {
        MPI_Request req;
        MPI_Status st;
        MPI_Irecv(&msg, (int)sizeof msg, MPI_BYTE, MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &req);
        wait_gently(&req, &st);
        if (cpu) cpu[st.MPI_SOURCE] = msg.cpu_seconds;
        pairs_by_rank[st.MPI_SOURCE] += msg.count;
        if (rc == 0 && msg.count > 0) rc = atlas_sink_store(sink, msg.entries, msg.count, err);
        int unit = rc == 0 ? atlas_sink_next(sink) : -1;
        MPI_Send(&unit, 1, MPI_INT, st.MPI_SOURCE, TAG_UNIT, MPI_COMM_WORLD);
        if (unit < 0) active--;
    }
    pthread_join(tid, NULL);
    pairs_by_rank[0] = sink->n_done - sink->n_resumed;
    for (int r = 1; r < size; r++) pairs_by_rank[0] -= pairs_by_rank[r];
    for (int r = 1; cpu && r < size; r++) *cpu_others += cpu[r];
    free(cpu);
    if (rc == 0 && job.rc != 0) {
        *err = job.err;
        rc = -1;
    }
    return rc;
}

/* A worker rank runs its units through cc_atlas_run on its main thread (one
 * thread: the only one calling MPI), asking rank 0 for each next unit and
 * sending the previous unit's entries with the request. */
typedef struct {
    result_msg msg;
} worker;

static int worker_next(void *ctx)
{
    worker *w = ctx;
    w->msg.cpu_seconds = process_cpu();
    MPI_Send(&w->msg, (int)sizeof w->msg, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
    w->msg.count = 0;
    int unit;
    MPI_Request req;
    MPI_Irecv(&unit, 1, MPI_INT, 0, TAG_UNIT, MPI_COMM_WORLD, &req);
    wait_gently(&req, MPI_STATUS_IGNORE);
    return unit;
}

static int worker_store(void *ctx, const cc_atlas_entry *entries, int count, cc_error *err)
{
    (void)err;
    worker *w = ctx;
    memcpy(w->msg.entries, entries, (size_t)count * sizeof *entries);
    w->msg.count = count;
    return 0;
}

int atlas_mpi_run(atlas_sink *sink, int rank, int size, double *cpu_others, long *pairs_by_rank, cc_error *err)
{
    *cpu_others = 0;
    if (rank == 0) return serve(sink, size, cpu_others, pairs_by_rank, err);
    worker w = {0};
    return cc_atlas_run(sink->a, 1, worker_next, worker_store, &w, err);
}
