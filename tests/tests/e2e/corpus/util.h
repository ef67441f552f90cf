#ifndef UTIL_H
#define UTIL_H
#ifndef VERSION_STRING
#define VERSION_STRING "dev"
#endif
static inline int util_twice(int x) { return 2 * x; }
#endif
