// ModelManager: the models `orbit serve` is serving — each selected version of each model in the
// repository with its engine, scheduler and segmentation pipeline — and the load / unload / poll
// operations behind `--model-control` and the repository API.
//
// Thread safety: every public method may be called from any thread. One mutex guards the table;
// loading (slow) happens outside it, serialised by a second mutex (lock order: load_mu_, then
// mu_). Requests hold a shared_ptr<LoadedVersion> only while they Submit; a version that is
// replaced or unloaded is "retired": a reaper thread waits until no request holds it, then drains
// its scheduler (every queued and running request completes) and destroys it. So a reload or an
// unload never fails a request that was already accepted.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "repository/model_repository.h"
#include "runtime/engine.h"
#include "scheduler/scheduler.h"
#include "vision/pipeline.h"

namespace orbit::serving {

enum class ModelControlMode { kNone, kPoll, kExplicit };
Result<ModelControlMode> ParseModelControlMode(std::string_view text);

// The `serving:` section of orbit.yaml.
struct ModelServingConfig {
  repository::VersionPolicy version_policy;
  scheduler::SchedulerOptions scheduler;
};
// Parses the `serving:` section of an orbit.yaml (absent: defaults). Unknown keys are errors.
Result<ModelServingConfig> ParseServingConfig(std::string_view yaml_text, std::string_view source);

// One model version ready to serve. Destroyed only by the manager's reaper, after draining.
struct LoadedVersion {
  std::string model;
  std::int64_t version = 0;
  ModelServingConfig config;
  std::shared_ptr<const runtime::Engine> engine;
  std::unique_ptr<vision::SegmentationPipeline> pipeline;
  std::unique_ptr<scheduler::SchedulerListener> listener;  // outlives the scheduler
  std::unique_ptr<scheduler::ModelScheduler> scheduler;
};

// What the repository index reports for one model version.
struct VersionStatus {
  std::string model;
  std::int64_t version = 0;  // 0 when the model failed before any version was known
  repository::ModelState state = repository::ModelState::kUnavailable;
  std::string reason;
};

class ModelManager {
 public:
  struct Options {
    std::filesystem::path repository;
    ModelControlMode mode = ModelControlMode::kNone;
    runtime::EngineOptions engine;
    std::vector<std::string> startup_models;  // explicit mode: loaded at start ("*" = all)
    std::chrono::milliseconds drain_timeout{30000};
    // Makes the metrics listener of a new version's scheduler (may return null).
    std::function<std::unique_ptr<scheduler::SchedulerListener>(const std::string& model,
                                                                std::int64_t version)>
        make_listener;
    // Called after every load attempt (for metrics).
    std::function<void(const std::string& model, bool ok, double seconds)> on_load;
    std::function<void(const std::string& model)> on_unload;
  };

  // Scans the repository and loads the start-up models (all of them unless explicit mode).
  // Models that fail to load are reported in the index, not fatal.
  static Result<std::unique_ptr<ModelManager>> Create(Options options);
  ~ModelManager();

  // Loads (or reloads) every version the model's policy selects; versions no longer selected
  // are retired. NotFound when the model is not in the repository.
  Status LoadModel(const std::string& model);
  // Retires every version of the model. NotFound when it is not loaded.
  Status UnloadModel(const std::string& model);
  // Rescans: loads new models and changed version sets, unloads models gone from disk.
  Status Poll();

  // The newest ready version, or a specific one. NotFound naming what is missing, Unavailable
  // while the model is loading or unloading.
  Result<std::shared_ptr<LoadedVersion>> Find(const std::string& model,
                                              std::optional<std::int64_t> version) const;
  // Every model in the repository and every loaded version with its state.
  std::vector<VersionStatus> Index() const;
  // True when every model that should be loaded is ready (server readiness).
  bool IsReady() const;
  const Options& options() const { return options_; }

  // Retires everything and waits for the reaper to drain it.
  void Shutdown();

 private:
  struct ModelEntry {
    repository::ModelState state = repository::ModelState::kUnavailable;
    std::string reason;
    std::map<std::int64_t, std::shared_ptr<LoadedVersion>> versions;
  };

  explicit ModelManager(Options options);
  Status LoadLocked(const std::string& model);  // load_mu_ held
  Status SetState(ModelEntry& entry, repository::ModelState to, const std::string& model);
  void Retire(std::shared_ptr<LoadedVersion> version);
  void ReaperLoop();

  Options options_;
  std::mutex load_mu_;
  mutable std::mutex mu_;
  std::map<std::string, ModelEntry> models_;              // guarded by mu_
  std::vector<std::shared_ptr<LoadedVersion>> retiring_;  // guarded by mu_
  std::condition_variable reaper_cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread reaper_;
};

}  // namespace orbit::serving
