// A small persistent thread pool. parallel_for splits [0, n) into chunks of at
// least `grain` items and runs fn(begin, end) on the pool's threads and the
// caller's. Nested calls (from inside a chunk) run serially on the caller.
// Why our own pool and not OpenMP: torch and TensorFlow each bring their own
// OpenMP/threadpool runtime into the process; a third libgomp fights them.
#pragma once
#include <cstdint>
#include <functional>

namespace tc {

int num_threads();             // threads used by parallel_for (TWINCORE_NUM_THREADS or cores)
void set_num_threads(int n);   // >= 1

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace tc
