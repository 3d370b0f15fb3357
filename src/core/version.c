/* version.c — the library's version at run time (include/circuitc/version.h). */
#include "circuitc/version.h"

const char *cc_version(void) { return CIRCUITC_VERSION_STRING; }
