// WorkPool: a few threads for request work that blocks (image decode + tiled segmentation,
// model load/unload), so it never runs on the HTTP io threads. Bounded: when `max_pending` jobs
// wait, TrySubmit refuses at once and the caller answers 503.
//
// Thread safety: TrySubmit from any thread; jobs run on the pool's threads; the destructor runs
// every accepted job, then joins.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace orbit::serving {

class WorkPool {
 public:
  WorkPool(int threads, std::size_t max_pending);
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // False (and `job` not run) when the pool is full or shutting down.
  bool TrySubmit(std::function<void()> job);

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::size_t max_pending_;
  std::vector<std::thread> threads_;
};

}  // namespace orbit::serving
