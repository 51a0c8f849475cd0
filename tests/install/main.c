/* main.c: a program outside the volt tree that uses the installed library.
 * Prints the version of the libvolt it runs with; fails if that differs from
 * the version of the headers it was compiled with. */
#if defined(__has_include)
#if __has_include(<volt/volt.h>)
#include <volt/volt.h>
#else
#include <volt/core.h>
#endif
#else
#include <volt/volt.h>
#endif

#include <stdio.h>
#include <string.h>

int main(void) {
    const char *v = volt_version();
    printf("%s\n", v);
    return strcmp(v, VOLT_VERSION_STRING) == 0 ? 0 : 1;
}
