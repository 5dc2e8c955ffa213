/* GLib's GNetworkMonitor as a peer for core_bench: the same questions asked of netmon, asked of
 * GLib (libglib2.0-dev). core_bench starts it with GIO_USE_NETWORK_MONITOR=netlink (the netlink
 * backend, not NetworkManager's) in the namespace it measures, and reads its lines on stdout.
 *
 * usage: glib_peer sync     print "sync MS RSS_BEFORE RSS_AFTER TYPE" and exit: MS is the time
 *                           g_network_monitor_get_default() took (it returns after the initial
 *                           route dump, GInitable), RSS_* resident bytes before and after it.
 *        glib_peer listen   print "ready TYPE AVAILABLE", then "changed NS AVAILABLE" for every
 *                           network-changed signal (NS: CLOCK_MONOTONIC nanoseconds, taken in the
 *                           handler), until stdin reaches end of file; then "cpu US" (getrusage,
 *                           user + system microseconds) and exit.
 * Exit status 0, or 2 for bad arguments, 1 when the monitor is not the netlink one. */
#include <gio/gio.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static long long resident_bytes(void) {
  long long size = 0, resident = 0;
  FILE *statm = fopen("/proc/self/statm", "r");
  if (statm == NULL) return -1;
  if (fscanf(statm, "%lld %lld", &size, &resident) != 2) resident = -1;
  fclose(statm);
  return resident * sysconf(_SC_PAGESIZE);
}

static long long monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_changed(GNetworkMonitor *monitor, gboolean available, gpointer data) {
  (void)monitor;
  (void)data;
  printf("changed %lld %d\n", monotonic_ns(), available ? 1 : 0);
  fflush(stdout);
}

static gboolean on_stdin(gint fd, GIOCondition condition, gpointer loop) {
  char buffer[256];
  if ((condition & G_IO_IN) && read(fd, buffer, sizeof buffer) > 0) return G_SOURCE_CONTINUE;
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

static int is_netlink(GNetworkMonitor *monitor) {
  return strcmp(G_OBJECT_TYPE_NAME(monitor), "GNetworkMonitorNetlink") == 0;
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "sync") != 0 && strcmp(argv[1], "listen") != 0)) {
    fprintf(stderr, "usage: glib_peer sync|listen\n");
    return 2;
  }
  /* Everything GLib itself needs before the monitor: the type system and the GIO extension points
   * (not part of the timed initial sync). */
  g_type_ensure(G_TYPE_NETWORK_MONITOR);
  g_io_extension_point_lookup(G_NETWORK_MONITOR_EXTENSION_POINT_NAME);
  if (strcmp(argv[1], "sync") == 0) {
    const long long before = resident_bytes();
    const long long start = monotonic_ns();
    GNetworkMonitor *monitor = g_network_monitor_get_default();
    const long long end = monotonic_ns();
    const long long after = resident_bytes();
    printf("sync %.3f %lld %lld %s\n", (double)(end - start) / 1e6, before, after, G_OBJECT_TYPE_NAME(monitor));
    return is_netlink(monitor) ? 0 : 1;
  }
  GNetworkMonitor *monitor = g_network_monitor_get_default();
  if (!is_netlink(monitor)) {
    fprintf(stderr, "glib_peer: the network monitor is %s, not GNetworkMonitorNetlink\n", G_OBJECT_TYPE_NAME(monitor));
    return 1;
  }
  GMainLoop *loop = g_main_loop_new(NULL, FALSE);
  g_signal_connect(monitor, "network-changed", G_CALLBACK(on_changed), NULL);
  g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, loop);
  printf("ready %s %d\n", G_OBJECT_TYPE_NAME(monitor), g_network_monitor_get_network_available(monitor) ? 1 : 0);
  fflush(stdout);
  g_main_loop_run(loop);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  printf("cpu %lld\n", (long long)usage.ru_utime.tv_sec * 1000000LL + usage.ru_utime.tv_usec +
                           (long long)usage.ru_stime.tv_sec * 1000000LL + usage.ru_stime.tv_usec);
  fflush(stdout);
  return 0;
}
