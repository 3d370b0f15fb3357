/* shards.h — a sharded checkpoint (model.safetensors.index.json and the
 * shards its weight_map names), opened as one file. Internal to the library. */
#ifndef CIRCUITC_SHARDS_H
#define CIRCUITC_SHARDS_H

#include "circuitc/model.h"

/* Opens INDEX_PATH's shards (files beside it), checks that every tensor is in
 * the shard the index names and every shard tensor is indexed, and joins them
 * (cc_st_join) into *VIEW. *SHARDS (N of them) must outlive the view. */
int cc_shards_open(const char *index_path, cc_st_file ***shards, size_t *n, cc_st_file **view, cc_error *err);

void cc_shards_close(cc_st_file **shards, size_t n);

#endif
