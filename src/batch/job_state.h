// A job's progress as the journals record it, and the reports derived from it. results.csv,
// objects.csv, failures.csv and summary.json are never appended to: they are rewritten whole,
// atomically, from the journals and the frozen item list, so they hold exactly one row per item
// however many times the job was killed and resumed (docs/design/batch-journal.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "batch/inputs.h"
#include "batch/job_spec.h"
#include "core/status.h"

namespace orbit::batch {

// Lifecycle of one item: pending → running → succeeded | failed; a failed item runs again on
// the next resume (failed → running); running → pending when a run stops before finishing it.
// A succeeded item is final.
enum class ItemState { kPending, kRunning, kSucceeded, kFailed };
std::string_view ItemStateName(ItemState state);
// Ok, or FailedPrecondition naming both states when `from → to` is not a legal transition.
Status ValidateItemTransition(ItemState from, ItemState to);

// The record that decides an item's result: its first success, else its last failure.
struct RecordLocation {
  std::filesystem::path journal;
  std::uint64_t offset = 0;
  bool ok = false;
};

// Every journal under the job directory folded into one result per item.
struct JobState {
  std::vector<std::optional<RecordLocation>> results;  // by item index
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;
  std::int64_t duplicate_records = 0;  // records for items already succeeded (ignored)
  std::int64_t torn_journals = 0;      // journals ending in a torn record (ignored tail)

  std::int64_t pending() const {
    return static_cast<std::int64_t>(results.size()) - succeeded - failed;
  }
  ItemState state(std::int64_t index) const;
};

// Reads journal/*.log. Records naming an index outside [0, item_count) are DataLoss.
Result<JobState> ReadJobState(const JobLayout& layout, std::int64_t item_count);

// What the last run did, for summary.json.
struct RunStats {
  std::string shard = "0/1";
  std::string started_at;
  double seconds = 0;
  std::int64_t processed = 0;  // items finished (either way) by this run
  std::int64_t failed = 0;
  int workers = 0;
  int batch_size = 0;
  bool stopped = false;  // by the failure threshold
  std::string stop_reason;
};

// Rewrites results.csv, objects.csv (when the job writes objects), failures.csv and
// summary.json from `state`. Each file is replaced atomically.
Status WriteReports(const JobLayout& layout, const JobSpec& spec,
                    const std::vector<WorkItem>& items, const JobState& state, const RunStats& run);

// Quotes a CSV field when it holds a comma, quote or line break (RFC 4180).
std::string CsvField(std::string_view text);

}  // namespace orbit::batch
