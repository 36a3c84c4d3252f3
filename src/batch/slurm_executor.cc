#include "batch/slurm_executor.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "core/file.h"
#include "core/shell.h"

extern char** environ;

namespace orbit::batch {
namespace fs = std::filesystem;

namespace {

std::string Joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// "123" or "123;cluster" → "123".
Result<std::string> ParseJobId(const std::string& output) {
  std::string id;
  for (char c : output) {
    if (c >= '0' && c <= '9') {
      id += c;
    } else if (!id.empty()) {
      break;
    }
  }
  if (id.empty()) return UnavailableError("sbatch printed no job id: " + output);
  return id;
}

}  // namespace

nlohmann::json SlurmSubmission::ToJson() const {
  return {{"array_job_id", array_job_id},
          {"merge_job_id", merge_job_id},
          {"shards", shards},
          {"partition", partition},
          {"submitted_at", submitted_at}};
}

Result<SlurmSubmission> SlurmSubmission::FromJson(const nlohmann::json& json) {
  try {
    SlurmSubmission s;
    s.array_job_id = json.at("array_job_id").get<std::string>();
    s.merge_job_id = json.at("merge_job_id").get<std::string>();
    s.shards = json.at("shards").get<int>();
    s.partition = json.value("partition", "");
    s.submitted_at = json.value("submitted_at", "");
    return s;
  } catch (const nlohmann::json::exception& e) {
    return DataLossError(std::string("slurm.json: ") + e.what());
  }
}

Result<CommandOutput> RunCommand(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return UnavailableError(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    return UnavailableError("cannot run '" + argv[0] + "': " + std::strerror(rc));
  }
  CommandOutput out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

std::vector<std::string> ArraySbatchArgs(const JobLayout& layout, const SlurmOptions& o) {
  const std::string root = fs::absolute(layout.root).lexically_normal().string();
  std::ostringstream task;
  task << "exec " << ShellQuote(o.orbit_binary) << " batch run --output " << ShellQuote(root)
       << " --shard \"${SLURM_ARRAY_TASK_ID}/" << o.shards << "\" --workers " << o.run.workers
       << " --batch-size " << o.run.batch_size << " --max-retries " << o.run.max_retries
       << " --error-threshold " << ShellQuote(o.error_threshold_text) << " --progress-interval 30";
  std::vector<std::string> args = {"--parsable", "--job-name=orbit-batch",
                                   "--array=0-" + std::to_string(o.shards - 1),
                                   "--output=" + root + "/logs/shard-%a.out", "--chdir=" + root};
  if (!o.partition.empty()) args.push_back("--partition=" + o.partition);
  args.push_back("--wrap=" + task.str());
  return args;
}

std::vector<std::string> MergeSbatchArgs(const JobLayout& layout, const SlurmOptions& o,
                                         const std::string& array_job_id) {
  const std::string root = fs::absolute(layout.root).lexically_normal().string();
  std::vector<std::string> args = {"--parsable", "--job-name=orbit-batch-merge",
                                   "--dependency=afterany:" + array_job_id,
                                   "--output=" + root + "/logs/merge.out", "--chdir=" + root};
  if (!o.partition.empty()) args.push_back("--partition=" + o.partition);
  args.push_back("--wrap=exec " + ShellQuote(o.orbit_binary) + " batch merge " + ShellQuote(root));
  return args;
}

Result<SlurmSubmission> SubmitToSlurm(const JobLayout& layout, const SlurmOptions& options) {
  if (options.shards < 1) return InvalidArgumentError("--shards must be at least 1");
  std::error_code ec;
  fs::create_directories(layout.logs(), ec);
  const auto submit = [](std::vector<std::string> args) -> Result<std::string> {
    args.insert(args.begin(), "sbatch");
    ORBIT_ASSIGN_OR_RETURN(CommandOutput out, RunCommand(args));
    if (out.exit_code != 0) {
      return UnavailableError("sbatch failed (exit " + std::to_string(out.exit_code) +
                              "): " + out.output + "command: " + Joined(args));
    }
    return ParseJobId(out.output);
  };
  SlurmSubmission s;
  ORBIT_ASSIGN_OR_RETURN(s.array_job_id, submit(ArraySbatchArgs(layout, options)));
  ORBIT_ASSIGN_OR_RETURN(s.merge_job_id, submit(MergeSbatchArgs(layout, options, s.array_job_id)));
  s.shards = options.shards;
  s.partition = options.partition;
  s.submitted_at = UtcNowIso8601();
  ORBIT_RETURN_IF_ERROR(WriteFileAtomic(layout.slurm(), s.ToJson().dump(2) + "\n"));
  return s;
}

Result<SlurmSubmission> ReadSlurmSubmission(const JobLayout& layout) {
  ORBIT_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(layout.slurm(), 1 << 20));
  const auto json = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return DataLossError("'" + layout.slurm().string() + "' is not JSON");
  return SlurmSubmission::FromJson(json);
}

Result<std::map<std::string, std::string>> QuerySlurmQueue(const SlurmSubmission& submission) {
  ORBIT_ASSIGN_OR_RETURN(
      CommandOutput out,
      RunCommand({"squeue", "--noheader", "--array", "--jobs",
                  submission.array_job_id + "," + submission.merge_job_id, "--format=%i %T"}));
  std::map<std::string, std::string> states;
  if (out.exit_code != 0) {
    // squeue refuses ids it no longer knows ("Invalid job id specified") once jobs are purged.
    if (out.output.find("Invalid job id") != std::string::npos) return states;
    return UnavailableError("squeue failed (exit " + std::to_string(out.exit_code) +
                            "): " + out.output);
  }
  std::istringstream lines(out.output);
  for (std::string id, state; lines >> id >> state;) states[id] = state;
  return states;
}

}  // namespace orbit::batch
