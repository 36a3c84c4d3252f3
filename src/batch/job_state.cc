#include "batch/job_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "batch/journal.h"
#include "core/file.h"
#include "core/sha256.h"

namespace orbit::batch {
namespace fs = std::filesystem;

namespace {

// A file written in pieces under a temporary name and renamed into place when complete, in the
// order of WriteFileAtomic: file fsync, rename, directory fsync.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path path)
      : path_(std::move(path)),
        tmp_(path_.parent_path() / ("." + path_.filename().string() + ".tmp-report")) {
    file_ = std::fopen(tmp_.c_str(), "wb");
  }
  ~AtomicFile() {
    if (file_ != nullptr) {
      std::fclose(file_);
      ::unlink(tmp_.c_str());
    }
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void Write(std::string_view text) {
    if (file_ != nullptr && std::fwrite(text.data(), 1, text.size(), file_) != text.size()) {
      failed_ = true;
    }
  }
  Status Commit() {
    if (file_ == nullptr) {
      return UnavailableError("cannot write '" + path_.string() + "': " + std::strerror(errno));
    }
    const bool flushed = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (failed_ || !flushed || !closed || ::rename(tmp_.c_str(), path_.c_str()) != 0) {
      ::unlink(tmp_.c_str());
      return UnavailableError("cannot write '" + path_.string() + "': " + std::strerror(errno));
    }
    return SyncDirectory(path_.parent_path());  // the rename itself survives a power loss
  }

 private:
  fs::path path_;
  fs::path tmp_;
  std::FILE* file_ = nullptr;
  bool failed_ = false;
};

std::string Number(double v) {
  std::ostringstream out;
  out.precision(6);
  out << v;
  return out.str();
}

}  // namespace

std::string_view ItemStateName(ItemState state) {
  switch (state) {
    case ItemState::kPending:
      return "pending";
    case ItemState::kRunning:
      return "running";
    case ItemState::kSucceeded:
      return "succeeded";
    case ItemState::kFailed:
      return "failed";
  }
  return "unknown";
}

Status ValidateItemTransition(ItemState from, ItemState to) {
  using S = ItemState;
  const bool legal =
      (from == S::kPending && to == S::kRunning) ||
      (from == S::kRunning && (to == S::kSucceeded || to == S::kFailed || to == S::kPending)) ||
      (from == S::kFailed && to == S::kRunning);
  if (legal) return Status::Ok();
  return FailedPreconditionError("batch item cannot go from " + std::string(ItemStateName(from)) +
                                 " to " + std::string(ItemStateName(to)));
}

ItemState JobState::state(std::int64_t index) const {
  const auto& r = results.at(static_cast<std::size_t>(index));
  if (!r) return ItemState::kPending;
  return r->ok ? ItemState::kSucceeded : ItemState::kFailed;
}

Result<JobState> ReadJobState(const JobLayout& layout, std::int64_t item_count) {
  JobState state;
  state.results.resize(static_cast<std::size_t>(item_count));
  std::vector<fs::path> journals;
  std::error_code ec;
  if (fs::is_directory(layout.journal_dir(), ec)) {
    for (const auto& entry : fs::directory_iterator(layout.journal_dir(), ec)) {
      if (entry.path().extension() == ".log") journals.push_back(entry.path());
    }
  }
  std::sort(journals.begin(), journals.end());
  Status bad_index;
  for (const fs::path& journal : journals) {
    ORBIT_ASSIGN_OR_RETURN(
        JournalScanSummary summary,
        ScanJournal(journal, [&](const ItemRecord& record, std::uint64_t offset) {
          if (record.index < 0 || record.index >= item_count) {
            bad_index =
                DataLossError("journal '" + journal.string() + "' names item " +
                              std::to_string(record.index) + " of " + std::to_string(item_count));
            return;
          }
          auto& slot = state.results[static_cast<std::size_t>(record.index)];
          const ItemState from = !slot      ? ItemState::kPending
                                 : slot->ok ? ItemState::kSucceeded
                                            : ItemState::kFailed;
          // Each record is the end of one run of the item; replaying it is running → result.
          if (!ValidateItemTransition(from, ItemState::kRunning).ok()) {
            ++state.duplicate_records;  // already succeeded: the first success stands
            return;
          }
          slot = RecordLocation{journal, offset, record.ok};
        }));
    if (summary.torn()) ++state.torn_journals;
  }
  ORBIT_RETURN_IF_ERROR(bad_index);
  for (const auto& r : state.results) {
    if (r) ++(r->ok ? state.succeeded : state.failed);
  }
  return state;
}

std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

Status WriteReports(const JobLayout& layout, const JobSpec& spec,
                    const std::vector<WorkItem>& items, const JobState& state,
                    const RunStats& run) {
  AtomicFile results(layout.results_csv());
  AtomicFile failures(layout.failures_csv());
  std::optional<AtomicFile> objects;
  if (spec.outputs.objects) objects.emplace(layout.objects_csv());
  results.Write(
      "item,path,page,status,attempts,mask,overlay,width,height,object_count,"
      "confluence_percent,mean_object_area,input_sha256,mask_sha256\n");
  failures.Write("item,path,page,attempts,reason\n");
  if (objects) {
    objects->Write(
        "item,path,page,label,area,perimeter,centroid_x,centroid_y,bbox_x,bbox_y,bbox_width,"
        "bbox_height,eccentricity,mean_intensity\n");
  }
  std::string inputs_digest_text;
  std::int64_t object_rows = 0;
  for (const WorkItem& item : items) {
    const auto& location = state.results[static_cast<std::size_t>(item.index)];
    const std::string prefix = CsvField(item.name) + "," + CsvField(item.path.string()) + "," +
                               std::to_string(item.page) + ",";
    if (!location) {
      results.Write(prefix + "pending,0,,,,,,,,,\n");
      continue;
    }
    ORBIT_ASSIGN_OR_RETURN(ItemRecord record, ReadRecordAt(location->journal, location->offset));
    inputs_digest_text += std::to_string(item.index) + " " + record.input_sha256 + "\n";
    if (!record.ok) {
      results.Write(prefix + "failed," + std::to_string(record.attempts) + ",,,,,,,," +
                    record.input_sha256 + ",\n");
      failures.Write(prefix + std::to_string(record.attempts) + "," + CsvField(record.error) +
                     "\n");
      continue;
    }
    results.Write(prefix + "ok," + std::to_string(record.attempts) + "," + CsvField(record.mask) +
                  "," + CsvField(record.overlay) + "," + std::to_string(record.width) + "," +
                  std::to_string(record.height) + "," + std::to_string(record.object_count) + "," +
                  Number(record.confluence_percent) + "," + Number(record.mean_object_area) + "," +
                  record.input_sha256 + "," + record.mask_sha256 + "\n");
    if (objects) {
      std::istringstream rows(record.objects_csv);
      for (std::string row; std::getline(rows, row);) {
        if (row.empty()) continue;
        objects->Write(prefix + row + "\n");
        ++object_rows;
      }
    }
  }
  const bool complete = state.pending() == 0;
  nlohmann::json summary = {
      {"format", "orbit-batch-summary/1"},
      {"state", run.stopped ? "stopped" : (complete ? "complete" : "incomplete")},
      {"items",
       {{"total", static_cast<std::int64_t>(items.size())},
        {"succeeded", state.succeeded},
        {"failed", state.failed},
        {"pending", state.pending()},
        {"objects", object_rows}}},
      {"model",
       {{"name", spec.model_name},
        {"source", spec.model_source},
        {"path", spec.model_path},
        {"recipe", spec.recipe_path},
        {"sha256", spec.model_sha256}}},
      {"inputs",
       {{"arguments", spec.inputs},
        {"item_list_sha256", spec.items_sha256},
        // SHA-256 over "index input_sha256" lines of finished items; per-item hashes are in
        // results.csv.
        {"content_sha256", Sha256Hex(inputs_digest_text)}}},
      {"outputs", spec.outputs.ToString()},
      {"created_at", spec.created_at},
      {"last_run",
       {{"shard", run.shard},
        {"started_at", run.started_at},
        {"seconds", run.seconds},
        {"items_processed", run.processed},
        {"items_failed", run.failed},
        {"items_per_second",
         run.seconds > 0 ? static_cast<double>(run.processed) / run.seconds : 0.0},
        {"workers", run.workers},
        {"batch_size", run.batch_size}}},
      {"journal",
       {{"duplicate_records", state.duplicate_records}, {"torn_journals", state.torn_journals}}}};
  if (run.stopped) summary["stop_reason"] = run.stop_reason;
  ORBIT_RETURN_IF_ERROR(results.Commit());
  ORBIT_RETURN_IF_ERROR(failures.Commit());
  if (objects) ORBIT_RETURN_IF_ERROR(objects->Commit());
  return WriteFileAtomic(layout.summary(), summary.dump(2) + "\n");
}

}  // namespace orbit::batch
