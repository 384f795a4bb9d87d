#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace tc {
namespace {

thread_local bool in_parallel = false;

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
    {
      std::lock_guard<std::mutex> g(m_);
      body_ = &body;
      chunks_ = chunks;
      next_.store(0);
      pending_ = chunks;
      ++generation_;
    }
    cv_.notify_all();
    drain();
    std::unique_lock<std::mutex> g(m_);
    done_cv_.wait(g, [this] { return pending_ == 0; });
    body_ = nullptr;
  }

 private:
  void drain() {
    in_parallel = true;
    int64_t done = 0;
    for (int64_t c; (c = next_.fetch_add(1)) < chunks_;) {
      (*body_)(c);
      ++done;
    }
    in_parallel = false;
    if (done) {
      std::lock_guard<std::mutex> g(m_);
      pending_ -= done;
      if (pending_ == 0) done_cv_.notify_all();
    }
  }

  void work() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> g(m_);
        cv_.wait(g, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (!body_) continue;
      }
      drain();
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
  const std::function<void(int64_t)>* body_ = nullptr;
  int64_t chunks_ = 0, pending_ = 0;
  std::atomic<int64_t> next_{0};
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
