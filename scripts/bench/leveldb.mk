# Builds LevelDB's library (C++) from the sources that the crates.io package `leveldb-sys`
# ships (deps/leveldb-1.x), one object per source; tests, benchmarks, tools and the Windows
# port are left out. No port_config.h: leveldb finds it absent through __has_include.
# Usage: make -f leveldb.mk LEVELDB_DIR=/path/to/leveldb-1.22 CXX="meshcc g++"
CXXFLAGS ?= -O2 -g -Wall -std=c++11
DEFS := -DLEVELDB_PLATFORM_POSIX=1 -DLEVELDB_IS_BIG_ENDIAN=0
EXCLUDE := %_test.cc %_bench.cc %testharness.cc %testutil.cc %env_windows.cc \
           %leveldbutil.cc %db_bench.cc %dumpfile.cc
SRCS := $(filter-out $(EXCLUDE), $(wildcard $(LEVELDB_DIR)/db/*.cc $(LEVELDB_DIR)/table/*.cc \
                     $(LEVELDB_DIR)/util/*.cc $(LEVELDB_DIR)/helpers/memenv/*.cc))
OBJS := $(notdir $(SRCS:.cc=.o))
vpath %.cc $(LEVELDB_DIR)/db $(LEVELDB_DIR)/table $(LEVELDB_DIR)/util $(LEVELDB_DIR)/helpers/memenv

libleveldb.a: $(OBJS)
	ar rcs $@ $^

%.o: %.cc
	$(CXX) $(CXXFLAGS) $(DEFS) -I$(LEVELDB_DIR) -I$(LEVELDB_DIR)/include -MD -c $< -o $@

clean:
	rm -f $(OBJS) $(OBJS:.o=.d) libleveldb.a

-include $(OBJS:.o=.d)
