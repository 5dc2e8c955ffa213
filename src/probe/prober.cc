#include "probe/prober.h"

#include <curl/curl.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/thread_annotations.h"
#include "probe/classify.h"

namespace netmon::probe {

namespace {

// libcurl's write callback: the body goes through appendBody (classify.h), whose 0 past
// kMaxBodyBytes makes libcurl stop the transfer (CURLE_WRITE_ERROR), so a 100 MiB answer costs
// 64 KiB.
size_t writeBody(char* bytes, size_t size, size_t count, void* user) {
  return appendBody(*static_cast<ProbeResponse*>(user), std::string_view(bytes, size * count));
}

}  // namespace

class Prober::Impl {
 public:
  explicit Impl(ProbeOptions options) : options_(std::move(options)), schedule_(options_) {}

  ~Impl() {
    {
      detail::MutexLock lock(mutex_);
      stop_ = true;
    }
    stopping_.store(true);
    wake_.notify_all();
    if (multi_) curl_multi_wakeup(multi_);
    if (thread_.joinable()) thread_.join();
    if (multi_) curl_multi_cleanup(multi_);
    if (event_fd_ >= 0) close(event_fd_);
  }

  Result<void> start(int namespace_fd) {
    static std::once_flag curl_initialised;
    // Never undone: curl_global_cleanup() is not safe while another part of the process uses curl.
    std::call_once(curl_initialised, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi_ = curl_multi_init();
    if (!multi_) return makeError(ENOMEM, "create probe", "curl_multi_init failed");
    event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd_ < 0) return makeError(errno, "create probe result event");
    std::promise<int> entered;
    auto entered_result = entered.get_future();
    try {
      thread_ = std::thread([this, namespace_fd, &entered] {
        // This thread is the probe's alone and never leaves the namespace: the monitor's sockets
        // and the probe then see the same routes. Threads curl starts (its resolver) inherit it.
        if (namespace_fd >= 0 && setns(namespace_fd, CLONE_NEWNET) < 0) {
          entered.set_value(errno);
          return;
        }
        entered.set_value(0);
        run();
      });
    } catch (const std::system_error& e) {
      return makeError(e.code().value(), "start probe thread");
    }
    if (const int error = entered_result.get(); error != 0) {
      thread_.join();
      return makeError(error, "enter network namespace for the probe");
    }
    return {};
  }

  int fd() const { return event_fd_; }

  void routeChanged(const Verdict& routed) {
    {
      detail::MutexLock lock(mutex_);
      if (have_route_ && routed == route_) return;
      have_route_ = true;
      route_ = routed;
      schedule_.routeChanged(std::chrono::steady_clock::now(), routed.reachability == Reachability::Online);
      ++changes_;
    }
    wake_.notify_all();
  }

  std::vector<ProbeResult> takeResults() {
    uint64_t count = 0;
    (void)!read(event_fd_, &count, sizeof count);
    detail::MutexLock lock(mutex_);
    std::vector<ProbeResult> results;
    results.swap(results_);
    return results;
  }

 private:
  void run() {
    detail::MutexLock lock(mutex_);
    while (!stop_) {
      const auto due = schedule_.due();
      const uint64_t seen = changes_;
      auto woken = [this, seen]() NETMON_NO_THREAD_SAFETY_ANALYSIS { return stop_ || changes_ != seen; };
      if (!due) {
        lock.wait(wake_, woken);
        continue;
      }
      if (std::chrono::steady_clock::now() < *due) {
        lock.waitUntil(wake_, *due, woken);
        continue;
      }
      schedule_.probeStarted();
      const std::string interface = route_.linkName;
      lock.unlock();
      ProbeResult result = perform(interface);
      lock.lock();
      if (stop_) break;
      schedule_.probeFinished(std::chrono::steady_clock::now(), result.outcome);
      results_.push_back(std::move(result));
      const uint64_t one = 1;
      (void)!write(event_fd_, &one, sizeof one);
    }
  }

  // One HTTP GET, bounded by the options' timeouts and kMaxBodyBytes, redirects not followed.
  ProbeResult perform(const std::string& interface) {
    ProbeResult result;
    result.url = options_.url;
    result.interface = interface;
    const auto started = std::chrono::steady_clock::now();
    ProbeResponse response = transfer(interface);
    result.latency = std::chrono::steady_clock::now() - started;
    result.time = std::chrono::system_clock::now();
    result.outcome = classifyProbe(options_, response);
    result.httpStatus = response.answered ? response.status : 0;
    result.redirect = response.answered ? response.redirect : std::string();
    result.error = response.answered ? std::string() : response.error;
    result.bodyBytes = response.body.size();
    return result;
  }

  ProbeResponse transfer(const std::string& interface) {
    ProbeResponse response;
    CURL* easy = curl_easy_init();
    if (!easy) {
      response.error = "curl_easy_init failed";
      return response;
    }
    char error_text[CURL_ERROR_SIZE] = {};
    const std::string bind = "if!" + interface;
    curl_slist* headers = curl_slist_append(nullptr, "Cache-Control: no-cache");
    curl_easy_setopt(easy, CURLOPT_URL, options_.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, long(options_.connectTimeout.count()));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, long(options_.totalTimeout.count()));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, writeBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_text);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "netmon-probe");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    // A fresh connection per probe: a kept-alive one would not test the route as it is now.
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    if (!options_.caFile.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options_.caFile.c_str());
    if (!interface.empty()) curl_easy_setopt(easy, CURLOPT_INTERFACE, bind.c_str());

    CURLcode code = CURLE_ABORTED_BY_CALLBACK;
    curl_multi_add_handle(multi_, easy);
    for (;;) {
      int running = 0;
      if (curl_multi_perform(multi_, &running) != CURLM_OK) break;
      if (running == 0) {
        int left = 0;
        while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
          if (message->msg == CURLMSG_DONE && message->easy_handle == easy) code = message->data.result;
        }
        break;
      }
      if (stopping_.load()) break;
      // Woken early by curl_multi_wakeup() from the destructor.
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    const bool stopped_by_limit = code == CURLE_WRITE_ERROR && response.bodyTruncated;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    char* location = nullptr;
    curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &location);
    response.answered = (code == CURLE_OK || stopped_by_limit) && status > 0;
    response.status = int(status);
    if (location) response.redirect = location;
    response.error = error_text[0] != '\0' ? std::string(error_text) : std::string(curl_easy_strerror(code));
    curl_multi_remove_handle(multi_, easy);
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    return response;
  }

  const ProbeOptions options_;
  CURLM* multi_ = nullptr;  // used by the worker only, except curl_multi_wakeup() (thread-safe)
  int event_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;

  detail::Mutex mutex_;
  std::condition_variable wake_;
  bool stop_ NETMON_GUARDED_BY(mutex_) = false;
  uint64_t changes_ NETMON_GUARDED_BY(mutex_) = 0;
  bool have_route_ NETMON_GUARDED_BY(mutex_) = false;
  Verdict route_ NETMON_GUARDED_BY(mutex_);
  ProbeSchedule schedule_ NETMON_GUARDED_BY(mutex_);
  std::vector<ProbeResult> results_ NETMON_GUARDED_BY(mutex_);
};

Result<std::unique_ptr<Prober>> Prober::create(ProbeOptions options, int namespace_fd) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (auto started = impl->start(namespace_fd); !started) return tl::unexpected(started.error());
  return std::unique_ptr<Prober>(new Prober(std::move(impl)));
}

Prober::Prober(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Prober::~Prober() = default;
int Prober::fd() const { return impl_->fd(); }
void Prober::routeChanged(const Verdict& routed) { impl_->routeChanged(routed); }
std::vector<ProbeResult> Prober::takeResults() { return impl_->takeResults(); }

}  // namespace netmon::probe
