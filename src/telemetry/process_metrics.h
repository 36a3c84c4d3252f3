// The standard process_* metrics of Prometheus client libraries, read from /proc/self at each
// collection (Linux only).
#pragma once

#include "core/status.h"
#include "telemetry/metric_registry.h"

namespace orbit {

// Registers, as callback families:
//   process_cpu_seconds_total       counter  user + system CPU time (/proc/self/stat)
//   process_resident_memory_bytes   gauge    resident set size (/proc/self/statm)
//   process_virtual_memory_bytes    gauge    virtual memory size (/proc/self/statm)
//   process_open_fds                gauge    entries in /proc/self/fd
//   process_max_fds                 gauge    RLIMIT_NOFILE soft limit
//   process_start_time_seconds      gauge    start time, seconds since the Unix epoch
// Unavailable if /proc/self cannot be read (not Linux); AlreadyExists if called twice on one
// registry. A reading that fails later yields no sample for that metric rather than a wrong one.
Status RegisterProcessMetrics(MetricRegistry& registry);

}  // namespace orbit
