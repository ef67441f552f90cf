#include "wrapped.h"
int value(void) { return WRAPPED + INNER; }
