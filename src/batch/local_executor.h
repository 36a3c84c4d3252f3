// The local executor: runs the items of one shard (the whole job, or one Slurm array task) on
// this machine as a pipeline of stages joined by bounded queues —
//   decode (file read, hash, then one page at a time) → segment (pre-process, batched inference
//   through a ModelScheduler, post-process) → write (encode, atomic rename, fsync'd journal record)
//   —
// so the model is fed from already-decoded images and never waits on disk.
//
// Threading model: RunShard blocks its caller; inside it `decode_threads` readers,
// `segment_threads` workers and `write_threads` writers run until the shard's pending items are
// done or the failure threshold stops the run; the scheduler owns its own worker. Only the
// journal writer and a few atomics are shared between stages.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "batch/job.h"
#include "batch/job_state.h"
#include "batch/shard.h"
#include "core/status.h"

namespace orbit::batch {

// Per-run knobs; none of them changes results, so they may differ between runs of one job.
struct RunOptions {
  ShardRef shard;
  int workers = 2;      // decode and write threads each; segment threads = max(workers, batch)
  int batch_size = 8;   // most images per model call
  int max_retries = 2;  // extra attempts per item before it counts as failed
  double error_threshold = 0.01;     // stop once failures exceed this fraction of the shard's items
  std::ostream* progress = nullptr;  // null: silent
  bool progress_terminal = false;    // redraw a bar instead of printing lines
  std::chrono::duration<double> progress_interval{10.0};
};

// Validates ranges (workers 1..256, batch 1..1024, retries 0..100).
Status ValidateRunOptions(const RunOptions& options);

struct RunOutcome {
  std::int64_t shard_items = 0;  // items the shard owns
  std::int64_t done_before = 0;  // of those, already succeeded before this run
  std::int64_t processed = 0;    // finished by this run (succeeded + failed)
  std::int64_t failed = 0;       // failed in this run (after retries)
  bool stopped = false;          // by the failure threshold
  std::string stop_reason;
  double seconds = 0;
  std::string started_at;
};

// Runs the shard's unfinished items of `job` (items that succeeded in any journal are skipped;
// items that failed before are tried again). Holds the job's locks while it runs: a whole-job run
// excludes every other run of the job; shard runs exclude only the same shard. FailedPrecondition
// when the job or shard is already running.
Result<RunOutcome> RunShard(PreparedJob& job, const RunOptions& options);

// True when some process holds the job's lock (a run or a shard is in progress).
bool IsJobRunning(const JobLayout& layout);

// Deletes the temporary files a killed run leaves behind: in masks/ and overlays/ those of
// `shard` (every shard's when `shard` is the whole job), and partial reports in the job root.
void RemoveTemporaryFiles(const JobLayout& layout, const ShardRef& shard);

}  // namespace orbit::batch
