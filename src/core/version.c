/* version.c: the library's version string and numbers. */
#include "volt/core.h"

const char *volt_version(void) { return VOLT_VERSION_STRING; }
