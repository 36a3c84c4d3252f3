#include "batch/local_executor.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "batch/bounded_queue.h"
#include "batch/journal.h"
#include "batch/progress.h"
#include "core/file.h"
#include "core/sha256.h"
#include "scheduler/scheduler.h"
#include "vision/image_io.h"
#include "vision/overlay.h"

namespace orbit::batch {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// An flock(2) held for the life of the object; released by the kernel if the process dies.
class FileLock {
 public:
  static Result<std::unique_ptr<FileLock>> Acquire(const fs::path& path, bool exclusive,
                                                   const std::string& what) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return UnavailableError("cannot open lock '" + path.string() + "': " + std::strerror(errno));
    }
    if (::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
      ::close(fd);
      return FailedPreconditionError(what + " is already running (lock '" + path.string() +
                                     "' is held by another process)");
    }
    return std::unique_ptr<FileLock>(new FileLock(fd));
  }
  ~FileLock() { ::close(fd_); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  const int fd_;
};

std::string TempSuffix(const ShardRef& shard) { return ".tmp-" + shard.FileStem(); }

// Writes `bytes` to `path` through a temporary name owned by `shard` (so concurrent shards never
// delete each other's): file fsync, rename, directory fsync — durable before the journal record.
Status WriteOutputAtomic(const fs::path& path, std::string_view bytes, const ShardRef& shard) {
  return WriteFileAtomic(path, bytes, TempSuffix(shard));
}

std::string ObjectsCsv(const vision::Segmentation& seg) {
  std::ostringstream out;
  out.precision(6);
  for (const auto& o : seg.objects) {
    out << o.label << ',' << o.area << ',' << o.perimeter << ',' << o.centroid_x << ','
        << o.centroid_y << ',' << o.bbox_x << ',' << o.bbox_y << ',' << o.bbox_width << ','
        << o.bbox_height << ',' << o.eccentricity << ',' << o.mean_intensity << '\n';
  }
  return out.str();
}

// The work of one input file: the pending items (pages) it holds.
struct FileWork {
  fs::path path;
  std::vector<const WorkItem*> items;
};

// A page ready for the model, or an item that already failed (error set).
struct DecodedItem {
  const WorkItem* item = nullptr;
  cv::Mat page;
  std::string input_sha256;
  int attempts = 0;  // decode attempts spent
  std::string error;
  Clock::time_point started;
};

struct SegmentedItem {
  DecodedItem decoded;
  vision::Segmentation segmentation;
};

}  // namespace

Status ValidateRunOptions(const RunOptions& o) {
  if (o.workers < 1 || o.workers > 256) {
    return InvalidArgumentError("--workers " + std::to_string(o.workers) +
                                " must lie between 1 and 256");
  }
  if (o.batch_size < 1 || o.batch_size > 1024) {
    return InvalidArgumentError("--batch-size " + std::to_string(o.batch_size) +
                                " must lie between 1 and 1024");
  }
  if (o.max_retries < 0 || o.max_retries > 100) {
    return InvalidArgumentError("--max-retries " + std::to_string(o.max_retries) +
                                " must lie between 0 and 100");
  }
  if (!(o.error_threshold >= 0 && o.error_threshold <= 1)) {
    return InvalidArgumentError("--error-threshold must lie between 0% and 100%");
  }
  return Status::Ok();
}

bool IsJobRunning(const JobLayout& layout) {
  const int fd = ::open(layout.job_lock().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  ::close(fd);
  return held;
}

void RemoveTemporaryFiles(const JobLayout& layout, const ShardRef& shard) {
  const std::string own = TempSuffix(shard);
  std::error_code ec;
  for (const fs::path& dir : {layout.masks(), layout.overlays()}) {
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (!name.starts_with(".")) continue;
      const bool mine =
          shard.is_whole_job() ? name.find(".tmp-") != std::string::npos : name.ends_with(own);
      if (mine) fs::remove(entry.path(), ec);
    }
  }
  if (!shard.is_whole_job()) return;
  for (const auto& entry : fs::directory_iterator(layout.root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".") && name.find(".tmp") != std::string::npos) {
      fs::remove(entry.path(), ec);
    }
  }
}

Result<RunOutcome> RunShard(PreparedJob& job, const RunOptions& options) {
  ORBIT_RETURN_IF_ERROR(ValidateRunOptions(options));
  const JobLayout& layout = job.layout;
  const ShardRef shard = options.shard;
  const std::string job_name = "batch job '" + layout.root.string() + "'";
  ORBIT_ASSIGN_OR_RETURN(auto job_lock,
                         FileLock::Acquire(layout.job_lock(), shard.is_whole_job(), job_name));
  ORBIT_ASSIGN_OR_RETURN(
      auto shard_lock,
      FileLock::Acquire(layout.shard_lock(shard), true, job_name + " shard " + shard.ToString()));
  std::error_code ec;
  for (const fs::path& dir : {layout.journal_dir(), layout.logs()}) fs::create_directories(dir, ec);
  if (job.spec.outputs.masks) fs::create_directories(layout.masks(), ec);
  if (job.spec.outputs.overlays) fs::create_directories(layout.overlays(), ec);
  // The output directories' own entries must be on disk before any record names a file in them.
  ORBIT_RETURN_IF_ERROR(SyncDirectory(layout.root));
  RemoveTemporaryFiles(layout, shard);

  RunOutcome outcome;
  outcome.started_at = UtcNowIso8601();
  const auto started = Clock::now();

  // What is already done, across every shard's journal (a job may be resumed with another K).
  // Opening our own journal first cuts a torn tail off it.
  JournalScanSummary own_summary;
  ORBIT_ASSIGN_OR_RETURN(auto journal,
                         JournalWriter::Open(layout.journal(shard), nullptr, &own_summary));
  if (own_summary.torn()) {
    spdlog::warn("journal '{}': ignored a torn record at byte {} (from a killed run)",
                 layout.journal(shard).string(), own_summary.valid_bytes);
  }
  ORBIT_ASSIGN_OR_RETURN(JobState state, ReadJobState(layout, job.spec.item_count));

  std::vector<FileWork> files;
  std::map<fs::path, std::size_t> file_index;
  for (const WorkItem& item : job.items) {
    if (!shard.Owns(item.index)) continue;
    ++outcome.shard_items;
    if (state.state(item.index) == ItemState::kSucceeded) {
      ++outcome.done_before;
      continue;
    }
    auto [it, inserted] = file_index.try_emplace(item.path, files.size());
    if (inserted) files.push_back(FileWork{item.path, {}});
    files[it->second].items.push_back(&item);
  }
  const std::int64_t allowed_failures = static_cast<std::int64_t>(
      std::floor(options.error_threshold * static_cast<double>(outcome.shard_items)));

  // The model behind a dynamic batcher: segment workers submit one image each and the scheduler
  // groups them into batches of up to batch_size.
  std::shared_ptr<const runtime::Engine> engine(std::move(job.model.engine));
  const int segment_threads = std::max(options.workers, options.batch_size);
  scheduler::SchedulerOptions sched_options;
  sched_options.max_batch_size = options.batch_size;
  sched_options.max_queue_delay = std::chrono::milliseconds(5);
  sched_options.max_queue_size = 2 * segment_threads + options.batch_size;
  auto sched = scheduler::ModelScheduler::Create(job.spec.model_name, "batch", engine,
                                                 sched_options, nullptr);
  if (!sched.ok() && options.batch_size > 1) {
    spdlog::warn("model cannot batch ({}); running one image per call", sched.status().message());
    sched_options.max_batch_size = 1;
    sched = scheduler::ModelScheduler::Create(job.spec.model_name, "batch", engine, sched_options,
                                              nullptr);
  }
  if (!sched.ok()) return sched.status();
  scheduler::ModelScheduler& model_scheduler = **sched;
  const vision::InferFn infer = [&model_scheduler](Tensor input) -> Result<Tensor> {
    std::promise<Result<std::vector<Tensor>>> promise;
    auto future = promise.get_future();
    scheduler::InferenceRequest request;
    request.inputs.push_back(std::move(input));
    model_scheduler.Submit(std::move(request), [&promise](Result<std::vector<Tensor>> r) {
      promise.set_value(std::move(r));
    });
    ORBIT_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, future.get());
    if (outputs.empty()) return InternalError("model returned no outputs");
    return std::move(outputs.front());
  };
  const vision::SegmentationPipeline& pipeline = *job.model.pipeline;

  const int attempts_allowed = options.max_retries + 1;
  const int io_threads = std::max(1, options.workers);
  BoundedQueue<DecodedItem> decoded_queue(static_cast<std::size_t>(2 * segment_threads));
  BoundedQueue<SegmentedItem> segmented_queue(static_cast<std::size_t>(2 * io_threads));
  std::atomic<std::size_t> next_file{0};
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> processed{0};
  std::atomic<std::int64_t> failed{0};
  std::atomic<int> decoders_left{io_threads};
  std::atomic<int> segmenters_left{segment_threads};
  std::mutex stop_mu;
  std::string stop_reason;  // guarded by stop_mu
  Status fatal;             // guarded by stop_mu: a journal failure ends the run

  const auto finish_item = [&](const WorkItem& item, ItemRecord record) {
    const bool item_failed = !record.ok;
    Status appended = journal->Append(record);
    if (!appended.ok()) {
      std::lock_guard<std::mutex> lock(stop_mu);
      if (fatal.ok()) fatal = appended;
      stop = true;
      return;
    }
    processed.fetch_add(1);
    if (!item_failed) return;
    spdlog::warn("item '{}' failed after {} attempt(s): {}", item.Id(), record.attempts,
                 record.error);
    const std::int64_t failures = failed.fetch_add(1) + 1;
    if (failures > allowed_failures && !stop.exchange(true)) {
      std::ostringstream reason;
      reason << failures << " of the shard's " << outcome.shard_items
             << " items failed, more than the --error-threshold of "
             << 100.0 * options.error_threshold << "% (" << allowed_failures
             << " items); see failures.csv";
      std::lock_guard<std::mutex> lock(stop_mu);
      stop_reason = reason.str();
    }
  };

  // One file at a time per decode thread: read and hash the file once, then decode only its
  // pending pages, one page at a time, each pushed before the next is decoded — a long stack
  // costs its encoded bytes plus the pages in flight, never every page decoded at once.
  const auto decode_loop = [&] {
    for (;;) {
      const std::size_t f = next_file.fetch_add(1);
      if (f >= files.size() || stop) break;
      const FileWork& work = files[f];
      const auto t0 = Clock::now();
      std::string error;
      std::string sha;
      std::string bytes;
      std::unique_ptr<vision::PageDecoder> decoder;
      int attempts = 0;
      for (; attempts < attempts_allowed && !stop; ++attempts) {
        auto read = ReadFileBytes(work.path, vision::DecodeLimits{}.max_file_bytes);
        if (!read.ok()) {
          error = read.status().message();
          if (read.status().code() == StatusCode::kNotFound) {
            error = "input '" + work.path.string() + "' does not exist";
          }
          continue;
        }
        bytes = std::move(read).value();
        sha = Sha256Hex(bytes);
        auto opened = vision::PageDecoder::Open(
            std::as_bytes(std::span(bytes.data(), bytes.size())), work.path.string());
        if (!opened.ok()) {
          error = opened.status().message();
          continue;
        }
        decoder = std::move(opened).value();
        error.clear();
        ++attempts;
        break;
      }
      for (const WorkItem* item : work.items) {
        if (stop) break;
        DecodedItem d;
        d.item = item;
        d.input_sha256 = sha;
        d.attempts = attempts;
        d.started = item == work.items.front() ? t0 : Clock::now();
        if (!error.empty()) {
          d.error = error;
        } else if (item->page >= decoder->page_count()) {
          d.error = "input '" + work.path.string() + "' has " +
                    std::to_string(decoder->page_count()) + " page(s), no page " +
                    std::to_string(item->page);
        } else {
          // A page that does not decode fails alone; the file's other pages still run.
          auto page = decoder->DecodePage(item->page);
          if (page.ok()) {
            d.page = std::move(page).value();
          } else {
            d.error = page.status().message();
          }
        }
        if (!decoded_queue.Push(std::move(d))) break;
      }
    }
    if (decoders_left.fetch_sub(1) == 1) decoded_queue.Close();
  };

  const auto segment_loop = [&] {
    while (auto d = decoded_queue.Pop()) {
      if (stop) continue;
      SegmentedItem s;
      if (d->error.empty()) {
        // A decoded page is retried here on its own; the decode attempts are not spent again.
        int attempts = 0;
        std::string error;
        for (; attempts < attempts_allowed && !stop; ++attempts) {
          auto seg = pipeline.Run(d->page, infer);
          if (seg.ok()) {
            s.segmentation = std::move(seg).value();
            error.clear();
            ++attempts;
            break;
          }
          error = "input '" + d->item->Id() + "': " + seg.status().message();
        }
        d->attempts = std::max(d->attempts, attempts);
        d->error = error;
      }
      s.decoded = std::move(*d);
      if (!segmented_queue.Push(std::move(s))) break;
    }
    if (segmenters_left.fetch_sub(1) == 1) segmented_queue.Close();
  };

  const auto write_loop = [&] {
    while (auto s = segmented_queue.Pop()) {
      if (stop) continue;
      const WorkItem& item = *s->decoded.item;
      ItemRecord record;
      record.index = item.index;
      record.input_sha256 = s->decoded.input_sha256;
      record.attempts = std::max(1, s->decoded.attempts);
      if (!s->decoded.error.empty()) {
        record.ok = false;
        record.error = s->decoded.error;
      } else {
        const vision::Segmentation& seg = s->segmentation;
        Status written;
        for (int attempt = 0; attempt < attempts_allowed; ++attempt) {
          written = Status::Ok();
          if (job.spec.outputs.masks) {
            auto labels16 = vision::LabelsTo16Bit(seg.labels);
            auto png = labels16.ok() ? vision::EncodePng(*labels16)
                                     : Result<std::string>(labels16.status());
            if (!png.ok()) {
              written = png.status();
              break;  // deterministic: retrying cannot help
            }
            record.mask = "masks/" + item.name + ".png";
            record.mask_bytes = static_cast<std::int64_t>(png->size());
            record.mask_sha256 = Sha256Hex(*png);
            written = WriteOutputAtomic(layout.root / record.mask, *png, shard);
          }
          if (written.ok() && job.spec.outputs.overlays) {
            auto png = vision::EncodePng(vision::RenderOverlay(s->decoded.page, seg.labels));
            if (!png.ok()) {
              written = png.status();
              break;
            }
            record.overlay = "overlays/" + item.name + ".png";
            record.overlay_bytes = static_cast<std::int64_t>(png->size());
            record.overlay_sha256 = Sha256Hex(*png);
            written = WriteOutputAtomic(layout.root / record.overlay, *png, shard);
          }
          if (written.ok()) break;
        }
        if (written.ok()) {
          record.ok = true;
          record.width = seg.summary.width;
          record.height = seg.summary.height;
          record.object_count = seg.summary.object_count;
          record.confluence_percent = seg.summary.confluence_percent;
          record.mean_object_area = seg.summary.mean_object_area;
          if (job.spec.outputs.objects) record.objects_csv = ObjectsCsv(seg);
        } else {
          record = ItemRecord{.index = item.index,
                              .ok = false,
                              .attempts = record.attempts,
                              .error = "input '" + item.Id() + "': " + written.message(),
                              .input_sha256 = record.input_sha256};
        }
      }
      record.seconds = std::chrono::duration<double>(Clock::now() - s->decoded.started).count();
      finish_item(item, std::move(record));
    }
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < io_threads; ++i) threads.emplace_back(decode_loop);
  for (int i = 0; i < segment_threads; ++i) threads.emplace_back(segment_loop);
  for (int i = 0; i < io_threads; ++i) threads.emplace_back(write_loop);

  const auto snapshot = [&] {
    ProgressSnapshot s;
    s.total = outcome.shard_items;
    s.done_this_run = processed.load();
    s.done = outcome.done_before + s.done_this_run;
    s.failed = failed.load();
    s.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return s;
  };
  {
    std::optional<ProgressPrinter> printer;
    if (options.progress != nullptr) {
      printer.emplace(*options.progress, options.progress_terminal, options.progress_interval);
    }
    std::atomic<bool> all_done{false};
    std::thread reporter([&] {
      while (!all_done) {
        if (printer) printer->Update(snapshot());
        for (int i = 0; i < 10 && !all_done; ++i) {
          std::this_thread::sleep_for(
              std::chrono::milliseconds(options.progress_terminal ? 20 : 50));
        }
      }
    });
    for (auto& t : threads) t.join();
    all_done = true;
    reporter.join();
    if (printer) printer->Finish(snapshot());
  }
  (void)model_scheduler.Shutdown(std::chrono::milliseconds(0));

  outcome.processed = processed.load();
  outcome.failed = failed.load();
  outcome.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::lock_guard<std::mutex> lock(stop_mu);
  if (!fatal.ok()) return fatal;
  if (stop) {
    outcome.stopped = true;
    outcome.stop_reason = stop_reason;
  }
  return outcome;
}

}  // namespace orbit::batch
