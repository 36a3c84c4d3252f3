// Creating a batch job directory, or re-opening one to resume it: resolves the model, freezes
// the item list and spec on creation, and on resume refuses a different model or
// result-shaping options with a message that says what differs.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "batch/inputs.h"
#include "batch/job_spec.h"
#include "core/status.h"
#include "repository/model_package.h"
#include "runtime/engine.h"

namespace orbit::batch {

// What `orbit batch run` was asked to do. Empty model/inputs/outputs on an existing job mean
// "as stored".
struct JobRequest {
  std::string model;             // package dir, .onnx file, or NAME[:VERSION] with a repository
  std::string model_repository;  // --model-repository DIR
  std::vector<std::string> inputs;
  std::optional<OutputSelection> outputs;
  std::filesystem::path output_dir;
  runtime::EngineOptions engine;
  RunSettings run;  // stored in job.json when the job is created
};

// A job ready to run: its directory, spec, items and loaded model.
struct PreparedJob {
  JobLayout layout;
  JobSpec spec;
  std::vector<WorkItem> items;
  repository::ModelPackage model;
  bool resumed = false;
};

// Model package for `model` (see JobRequest::model). A "models:/" URI is Unimplemented: the
// model registry does not exist yet.
Result<repository::ModelPackage> ResolveModel(const std::string& model,
                                              const std::string& model_repository,
                                              const runtime::EngineOptions& engine);

// SHA-256 over the hex SHA-256 of model.onnx followed by that of orbit.yaml ("" when none).
Result<std::string> ModelContentHash(const repository::ModelPackage& model);

// Creates the job (when `request.output_dir` holds none) or re-opens it for a resume.
Result<PreparedJob> PrepareJob(const JobRequest& request);

// Spec and item list of an existing job directory, without loading the model (status, merge).
struct ExistingJob {
  JobLayout layout;
  JobSpec spec;
  std::vector<WorkItem> items;
};
Result<ExistingJob> OpenExistingJob(const std::filesystem::path& dir);

}  // namespace orbit::batch
