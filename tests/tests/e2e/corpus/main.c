#include <stdio.h>
#include <string.h>
#include "util.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
static int quiet_unused;
#pragma GCC diagnostic pop
#define LOCATE() printf("%s:%d %d\n", __FILE__, __LINE__, __COUNTER__)
#if __has_include(<stdatomic.h>)
#include <stdatomic.h>
#define HAS_ATOMIC 1
#else
#define HAS_ATOMIC 0
#endif
int main(int argc, char **argv) {
    LOCATE();
    LOCATE();
    printf("%d %d %s\n", util_twice(argc), HAS_ATOMIC, VERSION_STRING);
    return (int)strlen(argv[0]) > 1000;
}
