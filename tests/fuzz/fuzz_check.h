#pragma once
// What a fuzz target does when a property it checks does not hold: print which one and abort, so
// libFuzzer reports the input as a crash and saves it (crash-<sha1>). Never compiled out: these
// are the target's assertions, not the library's.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, what)                                                        \
  do {                                                                                     \
    if (!(condition)) {                                                                    \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s) at %s:%d\n", what, #condition, \
                   __FILE__, __LINE__);                                                    \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
