#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace tc {
namespace {

thread_local bool in_parallel = false;

// One parallel region: the caller's body and its chunks. It lives on the caller's stack;
// the caller returns only when every chunk has run and no worker holds it any more, so a
// worker that wakes late can never take chunks of the next region with this one's body.
struct Region {
  const std::function<void(int64_t)>* body;
  int64_t chunks, pending;
  std::atomic<int64_t> next{0};
  int refs = 0;                 // workers inside drain (under the pool's mutex)
  std::exception_ptr error;     // the first exception a chunk threw, rethrown by the caller
};

class Pool {
 public:
  explicit Pool(int threads) { resize(threads); }
  ~Pool() { stop_workers(); }

  int size() const { return size_; }

  void resize(int threads) {
    stop_workers();
    size_ = std::max(1, threads);
    stop_ = false;
    for (int i = 1; i < size_; ++i) workers_.emplace_back([this] { work(); });
  }

  void run(int64_t chunks, const std::function<void(int64_t)>& body) {
    std::unique_lock<std::mutex> call_lock(call_mutex_);  // one parallel region at a time
    Region r;
    r.body = &body;
    r.chunks = r.pending = chunks;
    {
      std::lock_guard<std::mutex> g(m_);
      region_ = &r;
      ++generation_;
    }
    cv_.notify_all();
    const int64_t done = drain(r);
    std::unique_lock<std::mutex> g(m_);
    region_ = nullptr;  // every chunk is taken: workers waking from now on find nothing
    r.pending -= done;
    done_cv_.wait(g, [&] { return r.pending == 0 && r.refs == 0; });
    if (r.error) std::rethrow_exception(r.error);
  }

 private:
  // Runs chunks of r until none is left; returns how many this thread ran.
  int64_t drain(Region& r) {
    in_parallel = true;
    int64_t done = 0;
    for (int64_t c; (c = r.next.fetch_add(1)) < r.chunks; ++done) {
      try {
        (*r.body)(c);
      } catch (...) {
        std::lock_guard<std::mutex> g(m_);
        if (!r.error) r.error = std::current_exception();
      }
    }
    in_parallel = false;
    return done;
  }

  void work() {
    uint64_t seen = 0;
    for (;;) {
      Region* r;
      {
        std::unique_lock<std::mutex> g(m_);
        cv_.wait(g, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        r = region_;
        if (!r) continue;
        ++r->refs;
      }
      const int64_t done = drain(*r);
      std::lock_guard<std::mutex> g(m_);
      r->pending -= done;
      if (--r->refs == 0 || r->pending == 0) done_cv_.notify_all();
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> g(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  int size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex call_mutex_, m_;
  std::condition_variable cv_, done_cv_;
  Region* region_ = nullptr;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

int default_threads() {
  if (const char* s = std::getenv("TWINCORE_NUM_THREADS")) {
    int n = std::atoi(s);
    if (n >= 1) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool& pool() {
  // Leaked on purpose: joining threads during interpreter shutdown can deadlock.
  static Pool* p = new Pool(default_threads());
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) { pool().resize(n); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  // Nested: run serially here (the pool is busy with the outer region; waiting on it would deadlock).
  if (in_parallel) {
    fn(0, n);
    return;
  }
  grain = std::max<int64_t>(1, grain);
  int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, int64_t(num_threads()) * 4);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  int64_t step = (n + chunks - 1) / chunks;
  chunks = (n + step - 1) / step;
  pool().run(chunks, [&](int64_t c) { fn(c * step, std::min(n, (c + 1) * step)); });
}

}  // namespace tc
