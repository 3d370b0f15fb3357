/* shards.c — opening a sharded checkpoint (shards.h). */
#include "shards.h"

#include "model/safetensors_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/fsio.h"
#include "core/json_error.h"

/* The most shards one index may name (real checkpoints have a few dozen). */
#define MAX_SHARDS 4096

void cc_shards_close(cc_st_file **shards, size_t n)
{
    for (size_t i = 0; i < n; i++) cc_st_close(shards[i]);
    free(shards);
}

/* A shard is named by a plain file name beside the index: no directories. */
static bool plain_shard_name(const char *s)
{
    size_t n = strlen(s), k = strlen(".safetensors");
    return n > k && !strchr(s, '/') && s[0] != '.' && strcmp(s + n - k, ".safetensors") == 0;
}

/* The distinct shard names of weight_map W, in first-seen order, into NAMES. */
static int shard_names(json_t *w, const char *path, const char ***names, size_t *n, cc_error *err)
{
    const char *key;
    json_t *v;
    *names = calloc(json_object_size(w) + 1, sizeof **names);
    *n = 0;
    if (!*names) return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory", path);
    json_object_foreach(w, key, v) {
        const char *s = json_string_value(v);
        if (!s || !plain_shard_name(s))
            return cc_fail_code(err, CC_E_FORMAT, "%s: weight_map[\"%s\"] must name a .safetensors file beside the index (no "
                                "directories), got %s", path, key, s ? s : "a non-string");
        size_t i = 0;
        while (i < *n && strcmp((*names)[i], s) != 0) i++;
        if (i == *n) {
            if (*n == MAX_SHARDS) return cc_fail_code(err, CC_E_FORMAT, "%s: more than %d shards", path, MAX_SHARDS);
            (*names)[(*n)++] = s;
        }
    }
    return 0;
}

/* Opens shard NAME beside the index in DIR into *OUT. */
static int open_shard(const char *dir, const char *name, cc_st_file **out, cc_error *err)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    int rc = cc_st_open(p, out, err);
    free(p);
    return rc;
}

/* Every tensor of weight_map W is in its shard, and every shard tensor is in W. */
static int check_map(json_t *w, const char *path, cc_st_file **shards, const char **names, size_t n, cc_error *err)
{
    const char *key;
    json_t *v;
    size_t listed = 0;
    json_object_foreach(w, key, v) {
        size_t i = 0;
        while (strcmp(names[i], json_string_value(v)) != 0) i++;
        if (!cc_st_find(shards[i], key))
            return cc_fail_code(err, CC_E_FORMAT, "%s: weight_map puts \"%s\" in %s, which does not hold it; the index and the shards do "
                                "not belong together", path, key, names[i]);
        listed++;
    }
    size_t held = 0;
    for (size_t i = 0; i < n; i++) held += shards[i]->n_tensors;
    if (held != listed) {
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < shards[i]->n_tensors; k++) {
                json_t *where = json_object_get(w, shards[i]->tensors[k].name);
                if (!where || strcmp(json_string_value(where), names[i]) != 0)
                    return cc_fail_code(err, CC_E_FORMAT, "%s: shard %s holds \"%s\", which the index does not place there", path,
                                   names[i], shards[i]->tensors[k].name);
            }
    }
    return 0;
}

int cc_shards_open(const char *index_path, cc_st_file ***shards, size_t *n, cc_st_file **view, cc_error *err)
{
    *shards = NULL, *n = 0, *view = NULL;
    FILE *fp = cc_fopen_regular(index_path, "sharded checkpoint index", err);
    if (!fp) return -1;
    json_error_t jerr;
    json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    fclose(fp);
    if (!root) return cc_fail_json(err, index_path, &jerr);
    const char **names = NULL;
    size_t n_names = 0;
    json_t *w = json_object_get(root, "weight_map");
    int rc = -1;
    if (!json_is_object(w)) {
        cc_fail_code(err, CC_E_FORMAT, "%s: missing object \"weight_map\" (tensor name -> shard file)", index_path);
        goto out;
    }
    if (shard_names(w, index_path, &names, &n_names, err) != 0) goto out;
    char *dir = strdup(index_path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (!dir || !(*shards = calloc(n_names + 1, sizeof **shards))) {
        free(dir);
        cc_fail_code(err, CC_E_NOMEM, "out of memory");
        goto out;
    }
    if (slash) *slash = '\0';
    for (size_t i = 0; i < n_names; i++, (*n)++)
        if (open_shard(slash ? dir : ".", names[i], &(*shards)[i], err) != 0) break;
    free(dir);
    if (*n == n_names && check_map(w, index_path, *shards, names, n_names, err) == 0 &&
        cc_st_join(*shards, n_names, index_path, view, err) == 0)
        rc = 0;
out:
    if (rc != 0) {
        cc_shards_close(*shards, *n);
        *shards = NULL, *n = 0;
    }
    free(names);
    json_decref(root);
    return rc;
}
