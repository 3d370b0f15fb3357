/* circuitc/datadir.h — where circuitc's data is at run time: the built-in
 * circuits (circuits/), the chart templates (plots/), the bundled fixture
 * model (models/induction-3l4h) and, when it was fetched, GPT-2's tokenizer
 * (gpt2-tokenizer/).
 *
 * The data directory is $CIRCUITC_DATA when set, else found from the file
 * the library's code was loaded from: libcircuitc.so's folder and
 * <libdir -> datadir>/circuitc ("../share/circuitc" for libdir lib), or, for a
 * program linked with libcircuitc.a (circuitc itself), the executable's folder
 * and <bindir -> datadir>/circuitc. Installed, that is <prefix>/share/circuitc
 * wherever the prefix was moved to, whichever program loads the library (a
 * Python process, a program of one's own). When that folder does not exist,
 * the installed prefix's <datadir>/circuitc as configured at build time. In
 * the build tree it is build/share/circuitc, which meson fills with links to
 * the source tree, so build/src/circuitc and the test programs find it the
 * same way. No path of the source tree is compiled in. */
#ifndef CIRCUITC_DATADIR_H
#define CIRCUITC_DATADIR_H

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The data directory (it must exist). *OUT: caller frees. Fails naming the
 * folder looked for and CIRCUITC_DATA. */
int cc_data_dir(char **out, cc_error *err);

/* Locates one item of the data: $ENV_VAR's value when ENV_VAR is not NULL and
 * the variable is set and non-empty (a user override, returned as given; the
 * caller reports if it does not exist), else <data dir>/NAME, which must exist.
 * *OUT: caller frees. */
int cc_data_find(const char *env_var, const char *name, char **out, cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
