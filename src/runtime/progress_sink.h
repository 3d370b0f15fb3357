/* progress_sink.h — the process-wide progress sink that
 * cc_experiments_set_progress sets (experiments.c), for the other parts of
 * the library that report to it (path patching, loading weights). Internal. */
#ifndef CC_RUNTIME_PROGRESS_SINK_H
#define CC_RUNTIME_PROGRESS_SINK_H

/* DONE of TOTAL to the sink, if one is set. */
void cc_progress_report(long done, long total);

#endif
