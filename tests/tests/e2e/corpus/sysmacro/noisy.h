#pragma GCC system_header
#define NOISY_COMPARE(x) ((void)((unsigned)(x) < 0))
