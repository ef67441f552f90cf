int forced(void) { return FORCED_BY_INCLUDE; }
