# Builds Lua's core library from the sources that the crates.io package `lua-src` ships.
# Usage: make -f lua.mk LUA_DIR=/path/to/lua-5.4.x CC="meshcc gcc"
CFLAGS ?= -O2 -g -Wall -Wextra -DLUA_USE_LINUX
SRCS := $(notdir $(wildcard $(LUA_DIR)/*.c))
OBJS := $(SRCS:.c=.o)

liblua.a: $(OBJS)
	ar rcs $@ $^

%.o: $(LUA_DIR)/%.c
	$(CC) $(CFLAGS) -MD -c $< -o $@

clean:
	rm -f $(OBJS) $(OBJS:.o=.d) liblua.a

-include $(OBJS:.o=.d)
