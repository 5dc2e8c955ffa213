// Test-only: a syscall fault shim, loaded with LD_PRELOAD. It fails a seeded fraction of the
// socket calls netmon, libmnl and Boost.Asio make — recvmsg, recvmmsg, recv, sendto, send,
// sendmsg, accept, accept4, write, writev — with an errno the kernel really returns for that call
// and socket family, without making the call (a failed receive leaves the data queued, a failed
// send sends nothing, a failed accept leaves the connection in the backlog).
//
// Why LD_PRELOAD and not seccomp's SECCOMP_RET_ERRNO: a BPF filter has no state and no randomness,
// so it can neither fail a seeded 1% of calls nor count what it failed, and it cannot be paused;
// and it would fail calls on every descriptor, where the shim asks the socket's family first.
// The price: only calls that go through libc's exported symbols are seen (not glibc-internal
// ones such as stdio's writes, nor raw syscall(2)) — netmon's, libmnl's and Asio's all do.
// LD_PRELOAD also conflicts with the sanitizer runtimes (they must come first in the link map),
// so the tests that use it run in the plain gcc build only.
//
// Configuration (environment, read once at load):
//   NETMON_FAULT_RATE     probability per call, 0..1 (default 0.01)
//   NETMON_FAULT_SEED     seed of the per-call decision (default 1): call n fails when a hash of
//                         (seed, n) falls under the rate, so a run is reproducible call for call
//   NETMON_FAULT_CALLS    comma-separated calls to fail (default: all of the above)
//   NETMON_FAULT_DOMAINS  comma-separated socket families: netlink, inet (IPv4 and IPv6), unix
//                         (default: netlink,inet). Other descriptors are never failed.
//   NETMON_FAULT_ERRNO    fail with this errno (a name such as ENOMEM) instead of the defaults
//   NETMON_FAULT_PAUSE_FILE  while this file exists nothing is failed (checked on each call)
//   NETMON_FAULT_ARM_FILE    while this file exists, the next matching call fails (whatever the
//                            rate) and the file is removed: a single fault at a chosen moment
//   NETMON_FAULT_REPORT   at exit, write one line per injected (call, family, errno):
//                         "recvmsg netlink ENOMEM 12"
// The shim removes LD_PRELOAD from the environment at load, so the programs this process starts
// (ip, sh) run without faults; a test passes it on explicitly where it wants them.
//
// In-process API (for a test linked against nothing of this: look it up with dlsym):
//   void netmon_fault_pause(int paused);
//   unsigned long netmon_fault_injected(const char* call, const char* family);  // NULL = any
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

enum Call { kRecvmsg, kRecvmmsg, kRecv, kSendto, kSend, kSendmsg, kAccept, kAccept4, kWrite, kWritev, kCalls };
static const char* const kCallNames[kCalls] = {"recvmsg", "recvmmsg", "recv",   "sendto", "send",
                                                "sendmsg", "accept",   "accept4", "write", "writev"};
enum Family { kNetlink, kInet, kUnix, kFamilies };
static const char* const kFamilyNames[kFamilies] = {"netlink", "inet", "unix"};

// Errnos each call really returns on each family (socket(7), netlink(7), tcp(7), accept(2)).
// EINTR and EAGAIN are left out: they are not failures (retry / nothing pending), and netmon
// rightly does not count them.
static const int kReceiveNetlink[] = {ENOBUFS, ENOMEM};
static const int kReceiveInet[] = {ECONNRESET, ETIMEDOUT};
static const int kReceiveUnix[] = {ECONNRESET, ENOMEM};
static const int kSendNetlink[] = {ENOBUFS, ENOMEM};
static const int kSendInet[] = {EPIPE, ECONNRESET, ENOBUFS};
static const int kSendUnix[] = {EPIPE, ENOBUFS};
static const int kAcceptAny[] = {EMFILE, ENFILE, ENOBUFS, ENOMEM};

#define kMaxErrno 256
static struct {
  int loaded;
  double rate;
  uint64_t seed;
  unsigned calls;    // bit per Call
  unsigned domains;  // bit per Family
  int forced_errno;
  char pause_file[512];
  char arm_file[512];
  char report[512];
} config;

static atomic_uint_fast64_t call_counter;
static atomic_int paused;
static atomic_ulong injected[kCalls][kFamilies][kMaxErrno];

static uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

static int errnoFromName(const char* name) {
  for (int e = 1; e < kMaxErrno; ++e) {
    const char* known = strerrorname_np(e);
    if (known && strcmp(known, name) == 0) return e;
  }
  return 0;
}

static unsigned parseList(const char* text, const char* const* names, int count, unsigned all) {
  if (!text || !*text) return all;
  unsigned bits = 0;
  char buffer[512];
  snprintf(buffer, sizeof buffer, "%s", text);
  for (char* save = NULL, *word = strtok_r(buffer, ",", &save); word; word = strtok_r(NULL, ",", &save)) {
    for (int i = 0; i < count; ++i) {
      if (strcmp(word, names[i]) == 0) bits |= 1u << i;
    }
  }
  return bits;
}

static void writeReport(void) {
  if (!config.report[0]) return;
  FILE* out = fopen(config.report, "w");
  if (!out) return;
  for (int c = 0; c < kCalls; ++c) {
    for (int f = 0; f < kFamilies; ++f) {
      for (int e = 0; e < kMaxErrno; ++e) {
        const unsigned long n = atomic_load(&injected[c][f][e]);
        if (n == 0) continue;
        const char* name = strerrorname_np(e);
        fprintf(out, "%s %s %s %lu\n", kCallNames[c], kFamilyNames[f], name ? name : "?", n);
      }
    }
  }
  fclose(out);
}

__attribute__((constructor)) static void load(void) {
  const char* rate = getenv("NETMON_FAULT_RATE");
  const char* seed = getenv("NETMON_FAULT_SEED");
  config.rate = rate ? strtod(rate, NULL) : 0.01;
  config.seed = seed ? strtoull(seed, NULL, 0) : 1;
  config.calls = parseList(getenv("NETMON_FAULT_CALLS"), kCallNames, kCalls, (1u << kCalls) - 1);
  config.domains = parseList(getenv("NETMON_FAULT_DOMAINS"), kFamilyNames, kFamilies,
                             (1u << kNetlink) | (1u << kInet));
  const char* forced = getenv("NETMON_FAULT_ERRNO");
  config.forced_errno = forced ? errnoFromName(forced) : 0;
  const char* pause_file = getenv("NETMON_FAULT_PAUSE_FILE");
  const char* arm_file = getenv("NETMON_FAULT_ARM_FILE");
  const char* report = getenv("NETMON_FAULT_REPORT");
  snprintf(config.pause_file, sizeof config.pause_file, "%s", pause_file ? pause_file : "");
  snprintf(config.arm_file, sizeof config.arm_file, "%s", arm_file ? arm_file : "");
  snprintf(config.report, sizeof config.report, "%s", report ? report : "");
  unsetenv("LD_PRELOAD");
  config.loaded = 1;
}

__attribute__((destructor)) static void unload(void) { writeReport(); }

void netmon_fault_pause(int pause) { atomic_store(&paused, pause != 0); }

unsigned long netmon_fault_injected(const char* call, const char* family) {
  unsigned long total = 0;
  for (int c = 0; c < kCalls; ++c) {
    if (call && strcmp(call, kCallNames[c]) != 0) continue;
    for (int f = 0; f < kFamilies; ++f) {
      if (family && strcmp(family, kFamilyNames[f]) != 0) continue;
      for (int e = 0; e < kMaxErrno; ++e) total += atomic_load(&injected[c][f][e]);
    }
  }
  return total;
}

static int familyOf(int fd) {
  int domain = 0;
  socklen_t length = sizeof domain;
  const int saved = errno;
  const int got = getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length);
  errno = saved;
  if (got != 0) return -1;  // not a socket
  switch (domain) {
    case AF_NETLINK: return kNetlink;
    case AF_INET:
    case AF_INET6: return kInet;
    case AF_UNIX: return kUnix;
    default: return -1;
  }
}

static int pick(const int* errnos, size_t count, uint64_t hash) { return errnos[(hash >> 40) % count]; }

// The errno to fail this call with, or 0 to let it through.
static int decide(enum Call call, int fd) {
  if (!config.loaded || !(config.calls & (1u << call)) || atomic_load(&paused)) return 0;
  const int family = familyOf(fd);
  if (family < 0 || !(config.domains & (1u << family))) return 0;
  if (config.pause_file[0] && access(config.pause_file, F_OK) == 0) return 0;
  const uint64_t hash = splitmix64(config.seed ^ splitmix64(atomic_fetch_add(&call_counter, 1)));
  int fail = (double)(hash >> 11) * 0x1.0p-53 < config.rate;
  if (!fail && config.arm_file[0] && unlink(config.arm_file) == 0) fail = 1;
  if (!fail) return 0;
  int error = config.forced_errno;
  if (!error) {
    const int receive = call == kRecvmsg || call == kRecvmmsg || call == kRecv;
    const int accepting = call == kAccept || call == kAccept4;
    if (accepting) {
      error = pick(kAcceptAny, sizeof kAcceptAny / sizeof *kAcceptAny, hash);
    } else if (family == kNetlink) {
      error = receive ? pick(kReceiveNetlink, 2, hash) : pick(kSendNetlink, 2, hash);
    } else if (family == kInet) {
      error = receive ? pick(kReceiveInet, 2, hash) : pick(kSendInet, 3, hash);
    } else {
      error = receive ? pick(kReceiveUnix, 2, hash) : pick(kSendUnix, 2, hash);
    }
  }
  if (error > 0 && error < kMaxErrno) atomic_fetch_add(&injected[call][family][error], 1);
  return error;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

#define INTERCEPT(call, type, name, fd, args, params)                 \
  type name params {                                                  \
    static __typeof__(&name) real;                                    \
    if (!real) real = REAL(name);                                     \
    const int error = decide(call, fd);                               \
    if (error) {                                                      \
      errno = error;                                                  \
      return -1;                                                      \
    }                                                                 \
    return real args;                                                 \
  }

INTERCEPT(kRecvmsg, ssize_t, recvmsg, fd, (fd, message, flags), (int fd, struct msghdr* message, int flags))
INTERCEPT(kRecvmmsg, int, recvmmsg, fd, (fd, messages, count, flags, timeout),
          (int fd, struct mmsghdr* messages, unsigned int count, int flags, struct timespec* timeout))
INTERCEPT(kRecv, ssize_t, recv, fd, (fd, buffer, length, flags), (int fd, void* buffer, size_t length, int flags))
INTERCEPT(kSendto, ssize_t, sendto, fd, (fd, buffer, length, flags, to, to_length),
          (int fd, const void* buffer, size_t length, int flags, const struct sockaddr* to, socklen_t to_length))
INTERCEPT(kSend, ssize_t, send, fd, (fd, buffer, length, flags), (int fd, const void* buffer, size_t length, int flags))
INTERCEPT(kSendmsg, ssize_t, sendmsg, fd, (fd, message, flags), (int fd, const struct msghdr* message, int flags))
INTERCEPT(kAccept, int, accept, fd, (fd, address, length), (int fd, struct sockaddr* address, socklen_t* length))
INTERCEPT(kAccept4, int, accept4, fd, (fd, address, length, flags),
          (int fd, struct sockaddr* address, socklen_t* length, int flags))
INTERCEPT(kWrite, ssize_t, write, fd, (fd, buffer, length), (int fd, const void* buffer, size_t length))
INTERCEPT(kWritev, ssize_t, writev, fd, (fd, iov, count), (int fd, const struct iovec* iov, int count))
