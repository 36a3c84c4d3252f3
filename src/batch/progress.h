// Progress of a running job for people: a redrawn bar with rate and ETA on a terminal, plain
// periodic lines otherwise (logs, Slurm output files).
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace orbit::batch {

struct ProgressSnapshot {
  std::int64_t done = 0;   // finished items, including those finished by earlier runs
  std::int64_t total = 0;  // items this process is responsible for
  std::int64_t failed = 0;
  std::int64_t done_this_run = 0;
  double seconds = 0;  // since this run started
};

// One line: "[#####     ] 120/400 30.0% | 45.1 items/s | ETA 6 s | 2 failed".
std::string FormatProgress(const ProgressSnapshot& s, bool with_bar);
// "1 h 02 min", "3 min 05 s", "41 s"; "?" when unknown.
std::string FormatDuration(double seconds);

// Writes snapshots to `out`: on a terminal every call redraws one line (\r); otherwise a line is
// written only when `interval` has passed since the last one. Not thread-safe: one reporter thread.
class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool terminal, std::chrono::duration<double> interval)
      : out_(out), terminal_(terminal), interval_(interval) {}
  void Update(const ProgressSnapshot& snapshot);
  void Finish(const ProgressSnapshot& snapshot);  // final line, always printed

 private:
  std::ostream& out_;
  const bool terminal_;
  const std::chrono::duration<double> interval_;
  std::chrono::steady_clock::time_point last_{};
  bool printed_ = false;
};

}  // namespace orbit::batch
