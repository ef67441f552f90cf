/* Warnings, one of them inside a macro from a system-style header: icecc's -E shipping loses
   the "in a macro from a system header" suppression and fails -Werror builds. */
#include "sysmacro/noisy.h"
int f(int a) {
    int unused;
    NOISY_COMPARE(a);
    return a;
}
