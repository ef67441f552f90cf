#define WRAPPED 1
#include_next <wrapped.h>
