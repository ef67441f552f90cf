# Builds zstd's library (compression, decompression, dictionary builder) from the sources that
# the crates.io package `zstd-sys` ships, as plain C with one object per source.
# Usage: make -f zstd.mk ZSTD_DIR=/path/to/zstd-sys/zstd/lib CC="meshcc gcc"
CFLAGS ?= -O2 -g -Wall -DZSTD_MULTITHREAD=0 -DZSTD_DISABLE_ASM
SRCS := $(wildcard $(ZSTD_DIR)/common/*.c $(ZSTD_DIR)/compress/*.c \
                   $(ZSTD_DIR)/decompress/*.c $(ZSTD_DIR)/dictBuilder/*.c)
OBJS := $(notdir $(SRCS:.c=.o))
vpath %.c $(ZSTD_DIR)/common $(ZSTD_DIR)/compress $(ZSTD_DIR)/decompress $(ZSTD_DIR)/dictBuilder

libzstd.a: $(OBJS)
	ar rcs $@ $^

%.o: %.c
	$(CC) $(CFLAGS) -I$(ZSTD_DIR) -I$(ZSTD_DIR)/common -MD -c $< -o $@

clean:
	rm -f $(OBJS) $(OBJS:.o=.d) libzstd.a

-include $(OBJS:.o=.d)
