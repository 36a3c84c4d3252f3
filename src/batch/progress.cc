#include "batch/progress.h"

#include <cmath>
#include <cstdio>

namespace orbit::batch {

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<long long>(std::llround(seconds));
  char buf[48];
  if (total >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lld h %02lld min", total / 3600, (total % 3600) / 60);
  } else if (total >= 60) {
    std::snprintf(buf, sizeof(buf), "%lld min %02lld s", total / 60, total % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld s", total);
  }
  return buf;
}

std::string FormatProgress(const ProgressSnapshot& s, bool with_bar) {
  const double fraction =
      s.total > 0 ? static_cast<double>(s.done) / static_cast<double>(s.total) : 1.0;
  const double rate = s.seconds > 0 ? static_cast<double>(s.done_this_run) / s.seconds : 0.0;
  const double eta =
      rate > 0 ? static_cast<double>(s.total - s.done) / rate : (s.done >= s.total ? 0.0 : -1.0);
  std::string line;
  if (with_bar) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    line = "[" + std::string(static_cast<std::size_t>(filled), '#') +
           std::string(static_cast<std::size_t>(kWidth - filled), ' ') + "] ";
  }
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%lld/%lld %.1f%% | %.1f items/s | ETA %s | %lld failed",
                static_cast<long long>(s.done), static_cast<long long>(s.total), 100.0 * fraction,
                rate, FormatDuration(eta).c_str(), static_cast<long long>(s.failed));
  return line + buf;
}

void ProgressPrinter::Update(const ProgressSnapshot& snapshot) {
  if (terminal_) {
    out_ << "\r" << FormatProgress(snapshot, true) << "\033[K" << std::flush;
    printed_ = true;
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (printed_ && now - last_ < interval_) return;
  last_ = now;
  printed_ = true;
  out_ << "progress: " << FormatProgress(snapshot, false) << std::endl;
}

void ProgressPrinter::Finish(const ProgressSnapshot& snapshot) {
  if (terminal_) {
    out_ << "\r" << FormatProgress(snapshot, true) << "\033[K\n" << std::flush;
  } else {
    out_ << "progress: " << FormatProgress(snapshot, false) << std::endl;
  }
}

}  // namespace orbit::batch
