#include "serving/model_manager.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "core/file.h"
#include "repository/model_package.h"

namespace orbit::serving {
namespace fs = std::filesystem;
using repository::ModelState;

Result<ModelControlMode> ParseModelControlMode(std::string_view text) {
  if (text == "none") return ModelControlMode::kNone;
  if (text == "poll") return ModelControlMode::kPoll;
  if (text == "explicit") return ModelControlMode::kExplicit;
  return InvalidArgumentError("--model-control '" + std::string(text) +
                              "' is not one of none, poll, explicit");
}

Result<ModelServingConfig> ParseServingConfig(std::string_view yaml_text, std::string_view source) {
  ModelServingConfig config;
  const std::string where(source);
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    const YAML::Node serving = root["serving"];
    if (!serving) return config;
    if (!serving.IsMap()) return InvalidArgumentError(where + ": 'serving' must be a mapping");
    static const std::set<std::string> kKeys = {
        "version_policy",     "max_batch_size",     "preferred_batch_sizes",
        "max_queue_delay_us", "max_queue_size",     "instance_count",
        "timeout_ms",         "adaptive_batch_size"};
    for (const auto& item : serving) {
      const std::string key = item.first.as<std::string>();
      if (kKeys.count(key) == 0) {
        return InvalidArgumentError(where + ": unknown key 'serving." + key + "' (line " +
                                    std::to_string(item.first.Mark().line + 1) + ")");
      }
    }
    if (serving["version_policy"]) {
      ORBIT_ASSIGN_OR_RETURN(
          config.version_policy,
          repository::ParseVersionPolicy(serving["version_policy"].as<std::string>()));
    }
    auto& s = config.scheduler;
    if (serving["max_batch_size"]) s.max_batch_size = serving["max_batch_size"].as<std::int64_t>();
    if (serving["preferred_batch_sizes"]) {
      s.preferred_batch_sizes = serving["preferred_batch_sizes"].as<std::vector<std::int64_t>>();
    }
    if (serving["max_queue_delay_us"]) {
      s.max_queue_delay =
          std::chrono::microseconds(serving["max_queue_delay_us"].as<std::int64_t>());
    }
    if (serving["max_queue_size"]) s.max_queue_size = serving["max_queue_size"].as<std::int64_t>();
    if (serving["instance_count"]) s.instance_count = serving["instance_count"].as<int>();
    if (serving["adaptive_batch_size"]) {
      s.adaptive_batch_size = serving["adaptive_batch_size"].as<bool>();
    }
    if (serving["timeout_ms"]) {
      s.default_timeout = std::chrono::milliseconds(serving["timeout_ms"].as<std::int64_t>());
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(where + ": serving: " + e.what());
  }
  if (Status s = scheduler::ValidateSchedulerOptions("serving", config.scheduler); !s.ok()) {
    return s.WithContext(where);
  }
  return config;
}

namespace {

// The serving section of DIR/<model>/orbit.yaml; defaults when the file is absent.
Result<ModelServingConfig> ReadServingConfig(const fs::path& model_dir) {
  const fs::path recipe_path = model_dir / "orbit.yaml";
  if (!fs::exists(recipe_path)) return ModelServingConfig{};
  ORBIT_ASSIGN_OR_RETURN(const std::string text, ReadFileBytes(recipe_path, 1 << 20));
  return ParseServingConfig(text, recipe_path.string());
}

}  // namespace

ModelManager::ModelManager(Options options) : options_(std::move(options)) {
  reaper_ = std::thread([this] { ReaperLoop(); });
}

ModelManager::~ModelManager() { Shutdown(); }

Result<std::unique_ptr<ModelManager>> ModelManager::Create(Options options) {
  ORBIT_ASSIGN_OR_RETURN(const auto on_disk, repository::ScanRepository(options.repository));
  std::unique_ptr<ModelManager> manager(new ModelManager(std::move(options)));
  std::vector<std::string> to_load;
  const auto& startup = manager->options_.startup_models;
  const bool all = manager->options_.mode != ModelControlMode::kExplicit ||
                   std::find(startup.begin(), startup.end(), "*") != startup.end();
  for (const auto& [name, model] : on_disk) {
    {
      std::lock_guard lock(manager->mu_);
      manager->models_[name];  // listed in the index as UNAVAILABLE until loaded
    }
    if (all) to_load.push_back(name);
  }
  if (!all) {
    for (const auto& name : startup) {
      if (on_disk.count(name) == 0) {
        return NotFoundError("--load-model '" + name + "': no such model in '" +
                             manager->options_.repository.string() + "'");
      }
      to_load.push_back(name);
    }
  }
  for (const auto& name : to_load) {
    if (Status s = manager->LoadModel(name); !s.ok()) {
      spdlog::error("{}", s.message());  // reported in the index; the server still starts
    }
  }
  return manager;
}

Status ModelManager::SetState(ModelEntry& entry, ModelState to, const std::string& model) {
  if (entry.state == to) return Status::Ok();
  if (Status s = repository::ValidateTransition(entry.state, to); !s.ok()) {
    return s.WithContext("model '" + model + "'");
  }
  entry.state = to;
  return Status::Ok();
}

Status ModelManager::LoadModel(const std::string& model) {
  std::lock_guard load_lock(load_mu_);
  return LoadLocked(model);
}

Status ModelManager::LoadLocked(const std::string& model) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path dir = options_.repository / model;
  auto report = [&](Status status) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (options_.on_load) options_.on_load(model, status.ok(), seconds);
    return status;
  };
  ORBIT_ASSIGN_OR_RETURN(const auto on_disk, repository::ScanRepository(options_.repository));
  const auto found = on_disk.find(model);
  if (found == on_disk.end()) {
    return report(NotFoundError("model '" + model + "' is not in the repository '" +
                                options_.repository.string() + "'"));
  }
  bool was_ready = false;
  {
    std::lock_guard lock(mu_);
    ModelEntry& entry = models_[model];
    was_ready = entry.state == ModelState::kReady;
    if (!was_ready) ORBIT_RETURN_IF_ERROR(SetState(entry, ModelState::kLoading, model));
  }
  auto fail = [&](Status status) {
    std::lock_guard lock(mu_);
    ModelEntry& entry = models_[model];
    entry.reason = status.message();
    if (!was_ready) (void)SetState(entry, ModelState::kUnavailable, model);
    return report(status);
  };

  const fs::path recipe_path = dir / "orbit.yaml";
  auto read_config = ReadServingConfig(dir);
  if (!read_config.ok()) return fail(read_config.status());
  const ModelServingConfig config = std::move(*read_config);
  const std::vector<std::int64_t> selected =
      repository::SelectVersions(found->second.versions, config.version_policy);
  if (selected.empty()) {
    return fail(NotFoundError(
        "model '" + model + "' has no version that policy " + config.version_policy.ToString() +
        " selects (on disk: " + std::to_string(found->second.versions.size()) + " versions)"));
  }

  std::map<std::int64_t, std::shared_ptr<LoadedVersion>> loaded;
  {
    std::lock_guard lock(mu_);
    loaded = models_[model].versions;  // keep versions that stay selected
  }
  for (auto it = loaded.begin(); it != loaded.end();) {
    it = std::binary_search(selected.begin(), selected.end(), it->first) ? std::next(it)
                                                                         : loaded.erase(it);
  }
  for (const std::int64_t v : selected) {
    if (loaded.count(v) > 0) continue;
    const fs::path model_path = dir / std::to_string(v) / "model.onnx";
    auto package = repository::LoadModelPackageFiles(
        model_path, fs::exists(recipe_path) ? recipe_path : fs::path(), options_.engine);
    if (!package.ok()) return fail(package.status());
    auto version = std::make_shared<LoadedVersion>();
    version->model = model;
    version->version = v;
    version->config = config;
    version->engine = std::shared_ptr<const runtime::Engine>(std::move(package->engine));
    version->pipeline = std::move(package->pipeline);
    if (options_.make_listener) version->listener = options_.make_listener(model, v);
    auto scheduler = scheduler::ModelScheduler::Create(model, std::to_string(v), version->engine,
                                                       config.scheduler, version->listener.get());
    if (!scheduler.ok()) return fail(scheduler.status());
    version->scheduler = std::move(*scheduler);
    loaded[v] = std::move(version);
    spdlog::info("model '{}' version {} loaded from {}", model, v, model_path.string());
  }

  std::vector<std::shared_ptr<LoadedVersion>> retired;
  {
    std::lock_guard lock(mu_);
    ModelEntry& entry = models_[model];
    for (auto& [v, old] : entry.versions) {
      if (loaded.count(v) == 0 || loaded[v] != old) retired.push_back(old);
    }
    entry.versions = std::move(loaded);
    entry.reason.clear();
    ORBIT_RETURN_IF_ERROR(SetState(entry, ModelState::kReady, model));
  }
  for (auto& old : retired) Retire(std::move(old));
  return report(Status::Ok());
}

Status ModelManager::UnloadModel(const std::string& model) {
  std::lock_guard load_lock(load_mu_);
  std::vector<std::shared_ptr<LoadedVersion>> retired;
  {
    std::lock_guard lock(mu_);
    auto it = models_.find(model);
    if (it == models_.end() || it->second.state != ModelState::kReady) {
      return NotFoundError("model '" + model + "' is not loaded");
    }
    ORBIT_RETURN_IF_ERROR(SetState(it->second, ModelState::kUnloading, model));
    for (auto& [v, version] : it->second.versions) retired.push_back(version);
    it->second.versions.clear();
    // Requests already accepted drain in the reaper; new ones see UNAVAILABLE from here on.
    ORBIT_RETURN_IF_ERROR(SetState(it->second, ModelState::kUnavailable, model));
    it->second.reason = "unloaded";
  }
  for (auto& old : retired) Retire(std::move(old));
  if (options_.on_unload) options_.on_unload(model);
  spdlog::info("model '{}' unloaded", model);
  return Status::Ok();
}

Status ModelManager::Poll() {
  std::lock_guard load_lock(load_mu_);
  ORBIT_ASSIGN_OR_RETURN(const auto on_disk, repository::ScanRepository(options_.repository));
  std::vector<std::string> gone, present;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, entry] : models_) {
      if (on_disk.count(name) == 0) gone.push_back(name);
    }
  }
  for (const auto& [name, model] : on_disk) present.push_back(name);
  Status first_error;
  for (const auto& name : present) {
    // Reload only what changed: a new model, or a different selected version set.
    bool changed = true;
    {
      std::lock_guard lock(mu_);
      auto it = models_.find(name);
      if (it != models_.end() && it->second.state == ModelState::kReady) {
        // An unreadable config counts as a change: the reload reports why.
        const auto config = ReadServingConfig(options_.repository / name);
        std::vector<std::int64_t> loaded;
        for (const auto& [v, version] : it->second.versions) loaded.push_back(v);
        changed = !config.ok() || loaded != repository::SelectVersions(on_disk.at(name).versions,
                                                                       config->version_policy);
      } else if (it != models_.end() && !it->second.reason.empty()) {
        changed = true;  // retry a failed load
      }
    }
    if (!changed) continue;
    if (Status s = LoadLocked(name); !s.ok() && first_error.ok()) first_error = s;
  }
  for (const auto& name : gone) {
    std::vector<std::shared_ptr<LoadedVersion>> retired;
    {
      std::lock_guard lock(mu_);
      auto it = models_.find(name);
      for (auto& [v, version] : it->second.versions) retired.push_back(version);
      models_.erase(it);
    }
    for (auto& old : retired) Retire(std::move(old));
    spdlog::info("model '{}' removed from the repository: unloaded", name);
  }
  return first_error;
}

Result<std::shared_ptr<LoadedVersion>> ModelManager::Find(
    const std::string& model, std::optional<std::int64_t> version) const {
  std::lock_guard lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return NotFoundError("unknown model '" + model + "'");
  const ModelEntry& entry = it->second;
  if (entry.state != ModelState::kReady) {
    return UnavailableError("model '" + model + "' is not ready (" +
                            std::string(repository::ModelStateName(entry.state)) +
                            (entry.reason.empty() ? "" : ": " + entry.reason) + ")");
  }
  if (!version) return entry.versions.rbegin()->second;
  auto v = entry.versions.find(*version);
  if (v == entry.versions.end()) {
    return NotFoundError("model '" + model + "' has no version " + std::to_string(*version) +
                         " loaded");
  }
  return v->second;
}

std::vector<VersionStatus> ModelManager::Index() const {
  std::lock_guard lock(mu_);
  std::vector<VersionStatus> out;
  for (const auto& [name, entry] : models_) {
    if (entry.versions.empty()) {
      out.push_back({name, 0, entry.state, entry.reason});
      continue;
    }
    for (const auto& [v, version] : entry.versions) out.push_back({name, v, entry.state, ""});
  }
  return out;
}

bool ModelManager::IsReady() const {
  std::lock_guard lock(mu_);
  if (options_.mode == ModelControlMode::kExplicit) {
    for (const auto& [name, entry] : models_) {
      if (entry.state == ModelState::kLoading || entry.state == ModelState::kUnloading) {
        return false;
      }
    }
    return true;
  }
  for (const auto& [name, entry] : models_) {
    if (entry.state != ModelState::kReady) return false;
  }
  return !models_.empty();
}

void ModelManager::Retire(std::shared_ptr<LoadedVersion> version) {
  {
    std::lock_guard lock(mu_);
    retiring_.push_back(std::move(version));
  }
  reaper_cv_.notify_all();
}

void ModelManager::ReaperLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    // A retired version is drained once no request holds it (use_count 1: only this list), so
    // a request that found it just before it was retired still gets to Submit.
    auto ready = std::find_if(retiring_.begin(), retiring_.end(),
                              [](const auto& v) { return v.use_count() == 1; });
    if (ready != retiring_.end()) {
      std::shared_ptr<LoadedVersion> version = std::move(*ready);
      retiring_.erase(ready);
      lock.unlock();
      if (Status s = version->scheduler->Shutdown(options_.drain_timeout); !s.ok()) {
        spdlog::warn("model '{}' version {}: {}", version->model, version->version, s.message());
      }
      version.reset();
      lock.lock();
      continue;
    }
    if (stopping_ && retiring_.empty()) return;
    reaper_cv_.wait_for(lock, std::chrono::milliseconds(5));
  }
}

void ModelManager::Shutdown() {
  std::vector<std::shared_ptr<LoadedVersion>> all;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !reaper_.joinable()) return;
    for (auto& [name, entry] : models_) {
      for (auto& [v, version] : entry.versions) all.push_back(version);
      entry.versions.clear();
      if (entry.state == ModelState::kReady) {
        (void)SetState(entry, ModelState::kUnloading, name);
        (void)SetState(entry, ModelState::kUnavailable, name);
      }
    }
    stopping_ = true;
  }
  for (auto& version : all) Retire(std::move(version));
  if (reaper_.joinable()) reaper_.join();
}

}  // namespace orbit::serving
