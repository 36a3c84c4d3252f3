// The Slurm executor: submits a job's shards as one Slurm array job (task i runs
// `orbit batch run --output DIR --shard i/K`) plus a merge job that runs after the whole array
// (`--dependency=afterany`) and writes the same reports as a local run. The job directory must
// be on a file system every node sees. sbatch inherits this process's environment (SLURM_CONF
// included), as Slurm does by default.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "batch/job_spec.h"
#include "batch/local_executor.h"
#include "core/status.h"

namespace orbit::batch {

struct SlurmOptions {
  int shards = 4;
  std::string partition;     // "" = the cluster's default partition
  std::string orbit_binary;  // absolute path of the orbit executable the tasks run
  RunOptions run;            // per-task knobs (workers, batch size, retries, threshold)
  std::string error_threshold_text = "1%";
};

// Recorded in DIR/slurm.json so `orbit batch status` can follow the jobs.
struct SlurmSubmission {
  std::string array_job_id;
  std::string merge_job_id;
  int shards = 0;
  std::string partition;
  std::string submitted_at;

  nlohmann::json ToJson() const;
  static Result<SlurmSubmission> FromJson(const nlohmann::json& json);
};

// The sbatch argument lists (without "sbatch") for the array and, given its id, the merge job.
std::vector<std::string> ArraySbatchArgs(const JobLayout& layout, const SlurmOptions& options);
std::vector<std::string> MergeSbatchArgs(const JobLayout& layout, const SlurmOptions& options,
                                         const std::string& array_job_id);

// Submits both jobs and writes slurm.json. Unavailable (with sbatch's own message) when sbatch is
// missing or refuses.
Result<SlurmSubmission> SubmitToSlurm(const JobLayout& layout, const SlurmOptions& options);

Result<SlurmSubmission> ReadSlurmSubmission(const JobLayout& layout);

// States of the submission's jobs still known to squeue: job id (array tasks as "ID_i") → state
// ("PENDING", "RUNNING", ...). Jobs that have left the queue are absent.
Result<std::map<std::string, std::string>> QuerySlurmQueue(const SlurmSubmission& submission);

// Runs `argv` (no shell) and returns its exit code, stdout and stderr (merged into `output`).
struct CommandOutput {
  int exit_code = -1;
  std::string output;
};
Result<CommandOutput> RunCommand(const std::vector<std::string>& argv);

}  // namespace orbit::batch
