// `orbit batch run | status | merge`: resumable, exactly-once batch inference over many images,
// on this machine or as a Slurm array job. Flag parsing and printing only; the work is in
// src/batch/ (docs/batch.md is the user guide).
#include <unistd.h>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "batch/job.h"
#include "batch/job_state.h"
#include "batch/local_executor.h"
#include "batch/progress.h"
#include "batch/slurm_executor.h"
#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "core/file.h"

namespace orbit::cli {
namespace {
namespace fs = std::filesystem;

struct BatchRunFlags {
  std::string model;
  std::string model_repository;
  std::vector<std::string> inputs;
  std::string output;
  int workers = 2;
  int batch_size = 8;
  int max_retries = 2;
  std::string error_threshold = "1%";
  std::string outputs;  // "" = default (new job) or as stored (resume)
  std::string executor = "local";
  int shards = 4;
  std::string partition;
  std::string shard = "0/1";
  double progress_interval = 10;
  EngineFlags engine;
  // Which run knobs were given on the command line; on a resume the others take the values in
  // job.json instead of the defaults.
  bool workers_given = false;
  bool batch_size_given = false;
  bool max_retries_given = false;
  bool error_threshold_given = false;
};

// On a resume: knobs not given take the job's stored values; returns the line that names the
// given ones that differ from job.json ("" when none do or the job predates stored knobs).
std::string ApplyStoredRunSettings(const BatchRunFlags& flags, const batch::JobSpec& spec,
                                   batch::RunOptions& run, std::string& error_threshold_text) {
  if (!spec.run) return "";
  const batch::RunSettings& stored = *spec.run;
  if (!flags.workers_given) run.workers = stored.workers;
  if (!flags.batch_size_given) run.batch_size = stored.batch_size;
  if (!flags.max_retries_given) run.max_retries = stored.max_retries;
  if (!flags.error_threshold_given) {
    run.error_threshold = stored.error_threshold;
    std::ostringstream text;
    text << std::setprecision(12) << stored.error_threshold;
    error_threshold_text = text.str();
  }
  const std::string changes = batch::DescribeRunSettingChanges(
      stored, batch::RunSettings{.workers = run.workers,
                                 .batch_size = run.batch_size,
                                 .max_retries = run.max_retries,
                                 .error_threshold = run.error_threshold});
  if (changes.empty()) return "";
  return "options changed from the job's stored spec: " + changes +
         " (they do not change results; options not given keep the stored values)";
}

int Fail(const Status& status, int code = kExitUsage) {
  std::cerr << "error: " << status.message() << "\n";
  return code;
}

std::string SelfExecutable() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("orbit") : self.string();
}

int RunBatchRun(const BatchRunFlags& flags) {
  auto engine = ToEngineOptions(flags.engine);
  if (!engine.ok()) return Fail(engine.status());
  auto threshold = batch::ParseErrorThreshold(flags.error_threshold);
  if (!threshold.ok()) return Fail(threshold.status());
  auto shard = batch::ParseShard(flags.shard);
  if (!shard.ok()) return Fail(shard.status());
  batch::JobRequest request;
  request.model = flags.model;
  request.model_repository = flags.model_repository;
  request.inputs = flags.inputs;
  request.output_dir = fs::absolute(flags.output).lexically_normal();
  request.engine = *engine;
  if (!flags.outputs.empty()) {
    auto outputs = batch::ParseOutputSelection(flags.outputs);
    if (!outputs.ok()) return Fail(outputs.status());
    request.outputs = *outputs;
  }
  batch::RunOptions run;
  run.shard = *shard;
  run.workers = flags.workers;
  run.batch_size = flags.batch_size;
  run.max_retries = flags.max_retries;
  run.error_threshold = *threshold;
  run.progress = &std::cerr;
  run.progress_terminal = ::isatty(STDERR_FILENO) == 1;
  run.progress_interval = std::chrono::duration<double>(flags.progress_interval);
  if (Status s = batch::ValidateRunOptions(run); !s.ok()) return Fail(s);
  request.run = batch::RunSettings{.workers = run.workers,
                                   .batch_size = run.batch_size,
                                   .max_retries = run.max_retries,
                                   .error_threshold = run.error_threshold};
  if (flags.executor == "slurm" && !shard->is_whole_job()) {
    return Fail(
        InvalidArgumentError("--shard is for the tasks of a Slurm job, not with "
                             "--executor slurm"));
  }

  auto job = batch::PrepareJob(request);
  if (!job.ok()) return Fail(job.status());
  std::cerr << (job->resumed ? "resuming" : "created") << " job " << job->layout.root.string()
            << ": " << job->spec.item_count << " items, model " << job->spec.model_name
            << " (sha256 " << job->spec.model_sha256.substr(0, 12) << ")\n";
  std::string error_threshold_text = flags.error_threshold;
  if (job->resumed) {
    const std::string changed = ApplyStoredRunSettings(flags, job->spec, run, error_threshold_text);
    if (!changed.empty()) std::cerr << changed << "\n";
  }

  if (flags.executor == "slurm") {
    batch::SlurmOptions slurm;
    slurm.shards = flags.shards;
    slurm.partition = flags.partition;
    slurm.orbit_binary = SelfExecutable();
    slurm.run = run;
    slurm.error_threshold_text = error_threshold_text;
    auto submitted = batch::SubmitToSlurm(job->layout, slurm);
    if (!submitted.ok()) return Fail(submitted.status(), kExitSomeFailed);
    std::cout << "submitted Slurm array job " << submitted->array_job_id << " (" << slurm.shards
              << " shards) and merge job " << submitted->merge_job_id << "\n"
              << "follow it with: orbit batch status " << job->layout.root.string() << "\n";
    return kExitOk;
  }

  auto outcome = batch::RunShard(*job, run);
  if (!outcome.ok()) return Fail(outcome.status(), kExitSomeFailed);
  if (shard->is_whole_job()) {
    auto state = batch::ReadJobState(job->layout, job->spec.item_count);
    if (!state.ok()) return Fail(state.status(), kExitSomeFailed);
    batch::RunStats stats;
    stats.shard = shard->ToString();
    stats.started_at = outcome->started_at;
    stats.seconds = outcome->seconds;
    stats.processed = outcome->processed;
    stats.failed = outcome->failed;
    stats.workers = run.workers;
    stats.batch_size = run.batch_size;
    stats.stopped = outcome->stopped;
    stats.stop_reason = outcome->stop_reason;
    if (Status s = batch::WriteReports(job->layout, job->spec, job->items, *state, stats);
        !s.ok()) {
      return Fail(s, kExitSomeFailed);
    }
    std::cout << state->succeeded << " succeeded, " << state->failed << " failed, "
              << state->pending() << " pending; " << outcome->processed << " items in "
              << batch::FormatDuration(outcome->seconds) << " ("
              << (outcome->seconds > 0 ? static_cast<double>(outcome->processed) / outcome->seconds
                                       : 0.0)
              << " items/s); results in " << job->layout.root.string() << "\n";
  } else {
    std::cout << "shard " << shard->ToString() << ": " << outcome->processed - outcome->failed
              << " succeeded, " << outcome->failed << " failed in this run\n";
  }
  if (outcome->stopped) {
    std::cerr << "error: job stopped: " << outcome->stop_reason << "\n";
    return kExitSomeFailed;
  }
  return kExitOk;
}

int RunBatchStatus(const std::string& dir, bool json_output) {
  auto job = batch::OpenExistingJob(dir);
  if (!job.ok()) return Fail(job.status());
  auto state = batch::ReadJobState(job->layout, job->spec.item_count);
  if (!state.ok()) return Fail(state.status(), kExitSomeFailed);
  nlohmann::json report = {{"job", fs::absolute(dir).lexically_normal().string()},
                           {"model", job->spec.model_name},
                           {"items",
                            {{"total", job->spec.item_count},
                             {"succeeded", state->succeeded},
                             {"failed", state->failed},
                             {"pending", state->pending()}}}};
  bool running = batch::IsJobRunning(job->layout);
  std::string summary_state;
  if (auto bytes = ReadFileBytes(job->layout.summary(), 1 << 24); bytes.ok()) {
    const auto summary = nlohmann::json::parse(*bytes, nullptr, false);
    if (!summary.is_discarded()) summary_state = summary.value("state", "");
  }
  std::error_code ec;
  if (fs::exists(job->layout.slurm(), ec)) {
    auto submission = batch::ReadSlurmSubmission(job->layout);
    if (!submission.ok()) return Fail(submission.status(), kExitSomeFailed);
    nlohmann::json slurm = submission->ToJson();
    auto queue = batch::QuerySlurmQueue(*submission);
    if (queue.ok()) {
      std::map<std::string, int> tasks;
      std::string merge_state = "finished";
      for (const auto& [id, s] : *queue) {
        if (id == submission->merge_job_id) {
          merge_state = s;
        } else {
          ++tasks[s];
        }
      }
      slurm["tasks_in_queue"] = tasks;
      slurm["merge_job_state"] = merge_state;
      if (!queue->empty()) running = true;
    } else {
      slurm["error"] = queue.status().message();
    }
    report["slurm"] = slurm;
  }
  std::string state_name;
  if (running) {
    state_name = "running";
  } else if (state->pending() == 0 && summary_state == "complete") {
    state_name = "complete";
  } else if (summary_state == "stopped") {
    state_name = "stopped";
  } else {
    state_name = "incomplete";
  }
  report["state"] = state_name;
  if (json_output) {
    std::cout << report.dump(2) << "\n";
    return kExitOk;
  }
  const double total = static_cast<double>(std::max<std::int64_t>(1, job->spec.item_count));
  std::cout << "job " << report["job"].get<std::string>() << " (model " << job->spec.model_name
            << "): " << state_name << "\n"
            << "  items: " << job->spec.item_count << " total, " << state->succeeded
            << " succeeded, " << state->failed << " failed, " << state->pending() << " pending ("
            << 100.0 * static_cast<double>(state->succeeded + state->failed) / total << "% done)\n";
  if (report.contains("slurm")) {
    const auto& s = report["slurm"];
    std::cout << "  slurm: array job " << s["array_job_id"].get<std::string>() << " ("
              << s["shards"].get<int>() << " shards), merge job "
              << s["merge_job_id"].get<std::string>();
    if (s.contains("error")) {
      std::cout << "; squeue: " << s["error"].get<std::string>() << "\n";
    } else {
      std::cout << "; tasks in queue:";
      if (s["tasks_in_queue"].empty()) std::cout << " none";
      for (const auto& [k, v] : s["tasks_in_queue"].items()) std::cout << " " << v << " " << k;
      std::cout << "; merge " << s["merge_job_state"].get<std::string>() << "\n";
    }
  }
  return kExitOk;
}

int RunBatchMerge(const std::string& dir) {
  auto job = batch::OpenExistingJob(dir);
  if (!job.ok()) return Fail(job.status());
  if (batch::IsJobRunning(job->layout)) {
    return Fail(FailedPreconditionError("job '" + dir + "' still has running shards"),
                kExitSomeFailed);
  }
  batch::RemoveTemporaryFiles(job->layout, batch::ShardRef{});
  auto state = batch::ReadJobState(job->layout, job->spec.item_count);
  if (!state.ok()) return Fail(state.status(), kExitSomeFailed);
  batch::RunStats stats;
  stats.shard = "merge";
  stats.started_at = batch::UtcNowIso8601();
  if (Status s = batch::WriteReports(job->layout, job->spec, job->items, *state, stats); !s.ok()) {
    return Fail(s, kExitSomeFailed);
  }
  std::cout << "merged " << dir << ": " << state->succeeded << " succeeded, " << state->failed
            << " failed, " << state->pending() << " pending\n";
  return state->pending() == 0 ? kExitOk : kExitSomeFailed;
}

}  // namespace

CommandFn RegisterBatch(CLI::App& app) {
  app.require_subcommand(1);
  auto flags = std::make_shared<BatchRunFlags>();
  CLI::App* run = app.add_subcommand(
      "run", "Run (or resume) a batch job: every input's label mask and a row in results.csv");
  run->add_option("--model", flags->model,
                  "Model package directory, model.onnx file, or NAME[:VERSION] with "
                  "--model-repository (optional when resuming)");
  run->add_option("--model-repository", flags->model_repository,
                  "Model repository directory to look --model NAME[:VERSION] up in");
  run->add_option("--input", flags->inputs,
                  "Glob pattern (recursive with **), directory, list file or image; repeatable "
                  "(optional when resuming)")
      ->take_all();
  run->add_option("--output", flags->output, "Job directory (created, or resumed)")->required();
  CLI::Option* workers =
      run->add_option("--workers", flags->workers, "Decode and write threads (resume: as stored)")
          ->capture_default_str();
  CLI::Option* batch_size = run->add_option("--batch-size", flags->batch_size,
                                            "Images per model call (resume: as stored)")
                                ->capture_default_str();
  CLI::Option* max_retries = run->add_option("--max-retries", flags->max_retries,
                                             "Extra attempts per failing item (resume: as stored)")
                                 ->capture_default_str();
  CLI::Option* error_threshold =
      run->add_option("--error-threshold", flags->error_threshold,
                      "Stop once failed items exceed this share of the job (\"1%\" or \"0.01\"; "
                      "resume: as stored)")
          ->capture_default_str();
  run->add_option("--outputs", flags->outputs,
                  "Per-item outputs: any of masks,overlays,objects (default masks,objects)");
  run->add_option("--executor", flags->executor, "local or slurm")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  run->add_option("--shards", flags->shards, "Slurm array tasks (with --executor slurm)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  run->add_option("--partition", flags->partition, "Slurm partition (default: the cluster's)");
  run->add_option("--shard", flags->shard,
                  "Run only shard INDEX/COUNT of an existing job (what Slurm tasks run)")
      ->capture_default_str();
  run->add_option("--progress-interval", flags->progress_interval,
                  "Seconds between progress lines when stderr is not a terminal")
      ->capture_default_str();
  AddEngineFlags(*run, flags->engine);

  auto status_dir = std::make_shared<std::string>();
  auto status_json = std::make_shared<bool>(false);
  CLI::App* status = app.add_subcommand("status", "Progress of a running or stopped job");
  status->add_option("dir", *status_dir, "Job directory")->required();
  status->add_flag("--json", *status_json, "Machine-readable report");

  auto merge_dir = std::make_shared<std::string>();
  CLI::App* merge = app.add_subcommand(
      "merge", "Rewrite a job's reports from its journals (the last step of a Slurm job)");
  merge->add_option("dir", *merge_dir, "Job directory")->required();

  return [run, status, merge, flags, status_dir, status_json, merge_dir, workers, batch_size,
          max_retries, error_threshold] {
    if (run->parsed()) {
      flags->workers_given = workers->count() > 0;
      flags->batch_size_given = batch_size->count() > 0;
      flags->max_retries_given = max_retries->count() > 0;
      flags->error_threshold_given = error_threshold->count() > 0;
      return RunBatchRun(*flags);
    }
    if (status->parsed()) return RunBatchStatus(*status_dir, *status_json);
    if (merge->parsed()) return RunBatchMerge(*merge_dir);
    return kExitUsage;
  };
}

}  // namespace orbit::cli
