#include "telemetry/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace orbit {
namespace {

std::optional<std::string> ReadProcFile(const char* path) {
  // /proc files report size 0, so read to EOF rather than by size.
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return std::nullopt;
  return contents.str();
}

// The fields of /proc/self/stat after "pid (comm)", so fields[0] is field 3 (state) of proc(5).
// comm may hold spaces and parentheses, hence the search for the last ')'.
std::optional<std::vector<std::string>> ReadStatFields() {
  const std::optional<std::string> stat = ReadProcFile("/proc/self/stat");
  if (!stat) return std::nullopt;
  const std::size_t comm_end = stat->rfind(')');
  if (comm_end == std::string::npos) return std::nullopt;
  std::istringstream rest(stat->substr(comm_end + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(std::move(field));
  return fields;
}

// proc(5) field number (1-based) as a number, from ReadStatFields' output.
std::optional<double> StatField(const std::vector<std::string>& fields, std::size_t number) {
  const std::size_t index = number - 3;
  if (index >= fields.size()) return std::nullopt;
  try {
    return std::stod(fields[index]);
  } catch (const std::exception&) {  // std::invalid_argument, std::out_of_range
    return std::nullopt;
  }
}

double ClockTicksPerSecond() {
  const long ticks = sysconf(_SC_CLK_TCK);
  return ticks > 0 ? static_cast<double>(ticks) : 100.0;
}

std::vector<CallbackSample> OneSample(std::optional<double> value) {
  if (!value) return {};
  return {CallbackSample{{}, *value}};
}

std::optional<double> CpuSeconds() {
  const auto fields = ReadStatFields();
  if (!fields) return std::nullopt;
  const std::optional<double> user_ticks = StatField(*fields, 14);    // utime
  const std::optional<double> system_ticks = StatField(*fields, 15);  // stime
  if (!user_ticks || !system_ticks) return std::nullopt;
  return (*user_ticks + *system_ticks) / ClockTicksPerSecond();
}

// /proc/self/statm field (0: total program size, 1: resident set), in bytes.
std::optional<double> StatmBytes(std::size_t index) {
  const std::optional<std::string> statm = ReadProcFile("/proc/self/statm");
  if (!statm) return std::nullopt;
  std::istringstream fields(*statm);
  double pages = 0;
  for (std::size_t i = 0; i <= index; ++i) {
    if (!(fields >> pages)) return std::nullopt;
  }
  const long page_size = sysconf(_SC_PAGESIZE);
  if (page_size <= 0) return std::nullopt;
  return pages * static_cast<double>(page_size);
}

std::optional<double> OpenFds() {
  std::error_code error;
  std::filesystem::directory_iterator it("/proc/self/fd", error);
  if (error) return std::nullopt;
  double count = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) return std::nullopt;
    ++count;
  }
  return count;
}

std::optional<double> MaxFds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  return static_cast<double>(limit.rlim_cur);
}

// Boot time ("btime" in /proc/stat) plus the process' start in ticks after boot (field 22).
std::optional<double> StartTimeSeconds() {
  const std::optional<std::string> stat = ReadProcFile("/proc/stat");
  const auto fields = ReadStatFields();
  if (!stat || !fields) return std::nullopt;
  const std::optional<double> start_ticks = StatField(*fields, 22);
  if (!start_ticks) return std::nullopt;
  std::istringstream lines(*stat);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("btime ")) continue;
    try {
      return std::stod(line.substr(6)) + *start_ticks / ClockTicksPerSecond();
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

Status RegisterProcessMetrics(MetricRegistry& registry) {
  if (!CpuSeconds() || !StatmBytes(1)) {
    return UnavailableError("process metrics: cannot read /proc/self/stat and /proc/self/statm");
  }
  // The start time never changes: read it once.
  const std::optional<double> start_time = StartTimeSeconds();

  ORBIT_RETURN_IF_ERROR(registry.AddCallback(MetricType::kCounter, "process_cpu_seconds_total",
                                             "Total user and system CPU time spent in seconds.", {},
                                             [] { return OneSample(CpuSeconds()); }));
  ORBIT_RETURN_IF_ERROR(registry.AddCallback(MetricType::kGauge, "process_resident_memory_bytes",
                                             "Resident memory size in bytes.", {},
                                             [] { return OneSample(StatmBytes(1)); }));
  ORBIT_RETURN_IF_ERROR(registry.AddCallback(MetricType::kGauge, "process_virtual_memory_bytes",
                                             "Virtual memory size in bytes.", {},
                                             [] { return OneSample(StatmBytes(0)); }));
  ORBIT_RETURN_IF_ERROR(registry.AddCallback(MetricType::kGauge, "process_open_fds",
                                             "Number of open file descriptors.", {},
                                             [] { return OneSample(OpenFds()); }));
  ORBIT_RETURN_IF_ERROR(registry.AddCallback(MetricType::kGauge, "process_max_fds",
                                             "Maximum number of open file descriptors.", {},
                                             [] { return OneSample(MaxFds()); }));
  ORBIT_RETURN_IF_ERROR(
      registry.AddCallback(MetricType::kGauge, "process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.", {},
                           [start_time] { return OneSample(start_time); }));
  return Status::Ok();
}

}  // namespace orbit
