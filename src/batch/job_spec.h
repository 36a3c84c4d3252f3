// The job directory: what a batch job is (its spec), which items it covers (the frozen item
// list) and where every file lives. The spec is written once when the job is created; a later
// `orbit batch run` on the same directory resumes only when the model and the result-shaping
// options are the same.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "batch/inputs.h"
#include "batch/shard.h"
#include "core/status.h"

namespace orbit::batch {

// Which per-item outputs a job writes. results.csv and summary.json are always written.
struct OutputSelection {
  bool masks = true;      // masks/<name>.png, 16-bit instance labels
  bool overlays = false;  // overlays/<name>.png
  bool objects = true;    // objects.csv, one row per object

  std::string ToString() const;  // "masks,objects"
  bool operator==(const OutputSelection&) const = default;
};
// "masks,overlays,objects" (any subset, comma separated, at least one).
Result<OutputSelection> ParseOutputSelection(const std::string& text);

// "1%", "0.5 %" or a fraction "0.01"; must lie in [0, 1].
Result<double> ParseErrorThreshold(const std::string& text);

// The per-run knobs a job was created with (job.json "run"). None of them changes any item's
// result, so a resume may change them; `orbit batch run` takes the stored value for a knob it is
// not given and says which given ones differ.
struct RunSettings {
  int workers = 2;
  int batch_size = 8;
  int max_retries = 2;
  double error_threshold = 0.01;  // a fraction

  bool operator==(const RunSettings&) const = default;
};

// "" when `now` equals `stored`, else one phrase naming each changed knob with its stored value:
// "--workers 4 (job.json: 2), --error-threshold 5% (job.json: 1%)".
std::string DescribeRunSettingChanges(const RunSettings& stored, const RunSettings& now);

// Everything that decides a job's results. Throughput knobs (workers, batch size) and the
// failure policy (retries, threshold) are per run and may change between runs.
struct JobSpec {
  std::string model_source;  // --model as given
  std::string model_path;    // absolute model.onnx
  std::string recipe_path;   // absolute orbit.yaml ("" = defaults)
  std::string model_name;
  std::string model_sha256;         // SHA-256 over model.onnx bytes then orbit.yaml bytes
  std::vector<std::string> inputs;  // --input arguments, made absolute
  OutputSelection outputs;
  std::int64_t item_count = 0;
  std::string items_sha256;  // of items.jsonl
  std::string created_at;    // ISO-8601 UTC
  // The knobs of the run that created the job; absent in jobs created before they were stored.
  // Not part of the job's identity (CheckSameJob ignores them).
  std::optional<RunSettings> run;

  nlohmann::json ToJson() const;
  static Result<JobSpec> FromJson(const nlohmann::json& json);
};

// Ok when `requested` may continue the job `stored` describes, else FailedPrecondition naming
// the first difference and what to do about it.
Status CheckSameJob(const JobSpec& stored, const JobSpec& requested);

// Paths inside one job directory.
struct JobLayout {
  std::filesystem::path root;

  std::filesystem::path spec() const { return root / "job.json"; }
  std::filesystem::path items() const { return root / "items.jsonl"; }
  std::filesystem::path journal_dir() const { return root / "journal"; }
  std::filesystem::path journal(const ShardRef& shard) const {
    return journal_dir() / (shard.FileStem() + ".log");
  }
  std::filesystem::path shard_lock(const ShardRef& shard) const {
    return journal_dir() / (shard.FileStem() + ".lock");
  }
  std::filesystem::path job_lock() const { return root / ".lock"; }
  std::filesystem::path masks() const { return root / "masks"; }
  std::filesystem::path overlays() const { return root / "overlays"; }
  std::filesystem::path results_csv() const { return root / "results.csv"; }
  std::filesystem::path objects_csv() const { return root / "objects.csv"; }
  std::filesystem::path failures_csv() const { return root / "failures.csv"; }
  std::filesystem::path summary() const { return root / "summary.json"; }
  std::filesystem::path slurm() const { return root / "slurm.json"; }
  std::filesystem::path logs() const { return root / "logs"; }
};

// items.jsonl: one JSON object per line, line number = item index.
std::string SerializeItems(const std::vector<WorkItem>& items);
Result<std::vector<WorkItem>> ReadItems(const std::filesystem::path& path);

Result<JobSpec> ReadJobSpec(const std::filesystem::path& path);

std::string UtcNowIso8601();

}  // namespace orbit::batch
