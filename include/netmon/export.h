#pragma once
// Symbol visibility: the library is built with hidden visibility; NETMON_EXPORT marks its API.
#if defined(NETMON_BUILDING_LIBRARY)
#define NETMON_EXPORT [[gnu::visibility("default")]]
#else
#define NETMON_EXPORT
#endif
