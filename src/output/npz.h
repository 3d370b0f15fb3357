/* output/npz.h — numpy's .npz: a zip archive of NAME.npy files, stored
 * (uncompressed), written under the output-path rule (circuitc/fsio.h).
 * Private to the library. */
#ifndef CIRCUITC_OUTPUT_NPZ_H
#define CIRCUITC_OUTPUT_NPZ_H

#include <stdbool.h>
#include <stddef.h>

#include "circuitc/error.h"

/* One float32 (or float64) array, row-major, of shape dim[0..ndim). */
typedef struct {
    const char *name; /* the key numpy.load gives it (".npy" is appended in the archive) */
    int ndim;
    const int *dim;
    const void *data; /* float, or double when f64 */
    bool f64;
} cci_npz_array;

/* Writes the N arrays to PATH. The archive is plain zip (no zip64), so the
 * whole file must stay under 4 GiB: a larger one is refused before anything
 * is written. */
int cci_npz_write(const char *path, const cci_npz_array *arrays, size_t n, cc_error *err);

/* Writes the N arrays to PATH in the format its extension names (.safetensors
 * or .npz, cc_cache_format_of), under the output-path rule. */
int cci_arrays_write(const char *path, const cci_npz_array *arrays, size_t n, cc_error *err);

#endif
