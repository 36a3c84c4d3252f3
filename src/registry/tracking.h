// Experiment tracking: experiments, runs and what a run logs (params, tags, metrics with
// history, artifacts), and run search. The REST API, `orbit runs ...` and the Python client are
// thin layers over Tracking; every check and every error message lives here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "store/artifact_store.h"
#include "store/database.h"

namespace orbit::registry {

// A run's lifecycle: RUNNING → FINISHED | FAILED | KILLED, each terminal. ValidateRunTransition
// is the one place that decides which moves are legal.
enum class RunStatus { kRunning, kFinished, kFailed, kKilled };

std::string_view RunStatusName(RunStatus status);         // "RUNNING", ...
Result<RunStatus> ParseRunStatus(std::string_view name);  // case-insensitive
// FailedPrecondition naming the run when `from` → `to` is not a legal move.
Status ValidateRunTransition(std::string_view run_id, RunStatus from, RunStatus to);

// A named group of runs (one training project, one data set).
struct Experiment {
  std::int64_t id = 0;
  std::string name;
  std::string description;
  std::int64_t created_at_ms = 0;
};

// One logged value of a metric; a metric's history is all of them ordered by step.
struct Metric {
  std::string key;
  double value = 0;
  std::int64_t step = 0;
  std::int64_t timestamp_ms = 0;  // 0 when logging: the tracking clock's now
  bool operator==(const Metric&) const = default;
};

// A run with its params, tags and the latest value of each metric (highest step, then latest).
struct Run {
  std::string id;
  std::int64_t experiment_id = 0;
  std::string name;
  RunStatus status = RunStatus::kRunning;
  std::string user;
  std::int64_t start_time_ms = 0;
  std::optional<std::int64_t> end_time_ms;
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> tags;
  std::map<std::string, Metric> latest_metrics;
};

// A file a run produced, stored as a blob in the artifact store.
struct RunArtifact {
  std::string path;  // relative, '/'-separated, e.g. "model/model.onnx"
  std::string blob_sha256;
  bool operator==(const RunArtifact&) const = default;
};

// What CreateRun needs. `run_id` empty: a random 32-hex-digit id is generated.
struct NewRun {
  std::string experiment;  // name; created when missing
  std::string name;
  std::string user;
  std::string run_id;
  std::map<std::string, std::string> tags;
};

// Many values logged at once, all or nothing.
struct RunBatch {
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<Metric> metrics;
};

// A run search: `filter` in the language of run_filter.h (conditions, order by, limit).
struct RunSearch {
  std::vector<std::string> experiments;  // names; empty = all experiments
  std::string filter;
  std::int64_t max_results = 100;  // a `limit` in the filter wins when smaller
  std::string page_token;          // from the previous page's next_page_token
};

struct RunPage {
  std::vector<Run> runs;
  std::string next_page_token;  // empty on the last page
};

// Thread-safe (as the Database is); holds no state of its own besides the injected clock.
class Tracking {
 public:
  // `clock` defaults to the system clock; times are stored as ms since the epoch.
  Tracking(store::Database& db, store::ArtifactStore& artifacts, store::Clock clock = {});

  Result<Experiment> CreateExperiment(std::string_view name, std::string_view description = "");
  Result<Experiment> GetExperiment(std::string_view name);
  Result<std::vector<Experiment>> ListExperiments();

  // Starts a run (RUNNING, start time now) in the named experiment, creating it when missing.
  Result<Run> CreateRun(const NewRun& request);
  Result<Run> GetRun(std::string_view run_id);
  // Moves a RUNNING run to a terminal status and records its end time.
  Status EndRun(std::string_view run_id, RunStatus status);

  // Params are immutable: logging the same value again is Ok, a different one InvalidArgument.
  Status LogParam(std::string_view run_id, std::string_view key, std::string_view value);
  Status SetTag(std::string_view run_id, std::string_view key, std::string_view value);
  Status DeleteTag(std::string_view run_id, std::string_view key);
  Status LogMetric(std::string_view run_id, const Metric& metric);
  // One transaction: a single bad entry (bad key, conflicting param, non-finite value) logs
  // nothing.
  Status LogBatch(std::string_view run_id, const RunBatch& batch);
  // Records that the run produced `path` with content `blob_sha256`, which must already be in the
  // artifact store. The same path again must name the same blob (AlreadyExists otherwise).
  Status LogArtifact(std::string_view run_id, std::string_view path, std::string_view blob_sha256);
  Result<std::vector<RunArtifact>> ListArtifacts(std::string_view run_id);
  // Every logged value of one metric, by step then timestamp.
  Result<std::vector<Metric>> MetricHistory(std::string_view run_id, std::string_view key);

  Result<RunPage> SearchRuns(const RunSearch& search);

 private:
  std::int64_t NowMs() const;

  store::Database& db_;
  store::ArtifactStore& artifacts_;
  store::Clock clock_;
};

// Milliseconds since the epoch of `clock()` (the system clock when empty).
std::int64_t NowMs(const store::Clock& clock);

// Inside a transaction: the run's status, NotFound "run 'ID' does not exist" when absent.
Result<RunStatus> ReadRunStatus(store::Sql& sql, std::string_view run_id);

}  // namespace orbit::registry
