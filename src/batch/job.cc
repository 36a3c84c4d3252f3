#include "batch/job.h"

#include <charconv>

#include "core/file.h"
#include "core/sha256.h"
#include "repository/model_repository.h"

namespace orbit::batch {
namespace fs = std::filesystem;

namespace {

std::string NormalizeInputArg(const std::string& arg) {
  std::error_code ec;
  fs::path abs = fs::absolute(arg, ec);
  if (ec) return arg;
  return abs.lexically_normal().string();
}

Result<repository::ModelPackage> ResolveRepositoryModel(const std::string& model,
                                                        const std::string& root,
                                                        const runtime::EngineOptions& engine) {
  std::string name = model;
  std::optional<std::int64_t> version;
  if (const auto colon = model.rfind(':'); colon != std::string::npos) {
    name = model.substr(0, colon);
    std::int64_t v = 0;
    const std::string text = model.substr(colon + 1);
    const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (err != std::errc() || end != text.data() + text.size() || v < 1) {
      return InvalidArgumentError("--model '" + model +
                                  "': the version after ':' must be a positive number");
    }
    version = v;
  }
  ORBIT_ASSIGN_OR_RETURN(auto models, repository::ScanRepository(root));
  const auto it = models.find(name);
  if (it == models.end() || it->second.versions.empty()) {
    return NotFoundError("model repository '" + root + "' has no model '" + name + "'");
  }
  const auto& on_disk = it->second;
  const std::int64_t chosen = version.value_or(on_disk.versions.back());
  if (std::find(on_disk.versions.begin(), on_disk.versions.end(), chosen) ==
      on_disk.versions.end()) {
    return NotFoundError("model repository '" + root + "': model '" + name + "' has no version " +
                         std::to_string(chosen));
  }
  const fs::path onnx = on_disk.directory / std::to_string(chosen) / "model.onnx";
  const fs::path recipe = on_disk.has_recipe ? on_disk.directory / "orbit.yaml" : fs::path();
  return repository::LoadModelPackageFiles(onnx, recipe, engine);
}

Result<JobSpec> SpecFor(const JobRequest& request, const repository::ModelPackage& model,
                        const std::vector<std::string>& inputs, const OutputSelection& outputs) {
  JobSpec spec;
  spec.model_source = request.model_repository.empty()
                          ? request.model
                          : request.model + " in " + request.model_repository;
  spec.model_path = fs::absolute(model.model_path).lexically_normal().string();
  spec.recipe_path = model.recipe_path.empty()
                         ? std::string()
                         : fs::absolute(model.recipe_path).lexically_normal().string();
  spec.model_name = model.recipe().name;
  ORBIT_ASSIGN_OR_RETURN(spec.model_sha256, ModelContentHash(model));
  for (const auto& arg : inputs) spec.inputs.push_back(NormalizeInputArg(arg));
  spec.outputs = outputs;
  spec.run = request.run;
  return spec;
}

// An output directory may become a job when it is new, empty, or holds only what an interrupted
// job creation leaves (the item list, temporary files).
Status CheckUsableForNewJob(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::Ok();
  if (!fs::is_directory(dir, ec)) {
    return FailedPreconditionError("--output '" + dir.string() + "' is not a directory");
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == "items.jsonl" || name.starts_with(".")) continue;
    return FailedPreconditionError("--output '" + dir.string() +
                                   "' is not empty and holds no orbit batch job (no job.json); "
                                   "use a new or empty directory");
  }
  return Status::Ok();
}

}  // namespace

Result<repository::ModelPackage> ResolveModel(const std::string& model,
                                              const std::string& model_repository,
                                              const runtime::EngineOptions& engine) {
  if (model.starts_with("models:/")) {
    return UnimplementedError(
        "--model '" + model +
        "': registry URIs need the model registry, which Orbit does not have yet; pass a model "
        "package directory, a model.onnx file, or --model-repository DIR --model NAME[:VERSION]");
  }
  if (model.empty()) return InvalidArgumentError("--model is required to create a job");
  if (!model_repository.empty()) return ResolveRepositoryModel(model, model_repository, engine);
  return repository::LoadModelPackage(model, engine);
}

Result<std::string> ModelContentHash(const repository::ModelPackage& model) {
  ORBIT_ASSIGN_OR_RETURN(std::string onnx, Sha256File(model.model_path));
  std::string recipe;
  if (!model.recipe_path.empty()) {
    ORBIT_ASSIGN_OR_RETURN(recipe, Sha256File(model.recipe_path));
  }
  return Sha256Hex(onnx + recipe);
}

Result<ExistingJob> OpenExistingJob(const fs::path& dir) {
  ExistingJob job;
  job.layout.root = dir;
  std::error_code ec;
  if (!fs::exists(job.layout.spec(), ec)) {
    return NotFoundError("'" + dir.string() +
                         "' is not an orbit batch job directory (no job.json)");
  }
  ORBIT_ASSIGN_OR_RETURN(job.spec, ReadJobSpec(job.layout.spec()));
  ORBIT_ASSIGN_OR_RETURN(std::string items_bytes, ReadFileBytes(job.layout.items()));
  if (Sha256Hex(items_bytes) != job.spec.items_sha256) {
    return DataLossError("job '" + dir.string() +
                         "': items.jsonl does not match the hash in job.json (was it edited?)");
  }
  ORBIT_ASSIGN_OR_RETURN(job.items, ReadItems(job.layout.items()));
  if (static_cast<std::int64_t>(job.items.size()) != job.spec.item_count) {
    return DataLossError("job '" + dir.string() + "': items.jsonl has " +
                         std::to_string(job.items.size()) + " items, job.json says " +
                         std::to_string(job.spec.item_count));
  }
  return job;
}

Result<PreparedJob> PrepareJob(const JobRequest& request) {
  PreparedJob job;
  job.layout.root = request.output_dir;
  std::error_code ec;
  if (fs::exists(job.layout.spec(), ec)) {
    ORBIT_ASSIGN_OR_RETURN(ExistingJob existing, OpenExistingJob(request.output_dir));
    job.resumed = true;
    job.items = std::move(existing.items);
    JobRequest effective = request;
    if (effective.model.empty()) {
      // Resume with the stored model files (Slurm tasks, `orbit batch run --output DIR`).
      ORBIT_ASSIGN_OR_RETURN(
          job.model, repository::LoadModelPackageFiles(existing.spec.model_path,
                                                       existing.spec.recipe_path, request.engine));
      effective.model = existing.spec.model_source;
    } else {
      ORBIT_ASSIGN_OR_RETURN(job.model,
                             ResolveModel(request.model, request.model_repository, request.engine));
    }
    const std::vector<std::string> inputs =
        request.inputs.empty() ? existing.spec.inputs : request.inputs;
    const OutputSelection outputs = request.outputs.value_or(existing.spec.outputs);
    ORBIT_ASSIGN_OR_RETURN(JobSpec requested, SpecFor(effective, job.model, inputs, outputs));
    Status same = CheckSameJob(existing.spec, requested);
    if (!same.ok())
      return same.WithContext("cannot resume job '" + request.output_dir.string() + "'");
    job.spec = std::move(existing.spec);
    return job;
  }

  if (request.inputs.empty()) return InvalidArgumentError("--input is required to create a job");
  ORBIT_RETURN_IF_ERROR(CheckUsableForNewJob(request.output_dir));
  ORBIT_ASSIGN_OR_RETURN(job.model,
                         ResolveModel(request.model, request.model_repository, request.engine));
  ORBIT_ASSIGN_OR_RETURN(job.spec, SpecFor(request, job.model, request.inputs,
                                           request.outputs.value_or(OutputSelection{})));
  ORBIT_ASSIGN_OR_RETURN(std::vector<fs::path> files, ExpandInputs(request.inputs));
  job.items = ExpandItems(files);
  const std::string items_bytes = SerializeItems(job.items);
  job.spec.item_count = static_cast<std::int64_t>(job.items.size());
  job.spec.items_sha256 = Sha256Hex(items_bytes);
  job.spec.created_at = UtcNowIso8601();
  fs::create_directories(job.layout.root, ec);
  if (ec) {
    return UnavailableError("cannot create '" + job.layout.root.string() + "': " + ec.message());
  }
  // The item list first, the spec last: job.json existing means the job is fully created, and a
  // creation killed before it leaves only what CheckUsableForNewJob accepts.
  ORBIT_RETURN_IF_ERROR(WriteFileAtomic(job.layout.items(), items_bytes));
  ORBIT_RETURN_IF_ERROR(WriteFileAtomic(job.layout.spec(), job.spec.ToJson().dump(2) + "\n"));
  for (const fs::path& dir : {job.layout.journal_dir(), job.layout.logs()}) {
    fs::create_directories(dir, ec);
    if (ec) return UnavailableError("cannot create '" + dir.string() + "': " + ec.message());
  }
  return job;
}

}  // namespace orbit::batch
