#include "batch/job_spec.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include "core/file.h"

namespace orbit::batch {
namespace fs = std::filesystem;

std::string OutputSelection::ToString() const {
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!out.empty()) out += ",";
    out += name;
  };
  add(masks, "masks");
  add(overlays, "overlays");
  add(objects, "objects");
  return out;
}

Result<OutputSelection> ParseOutputSelection(const std::string& text) {
  OutputSelection sel{false, false, false};
  std::stringstream list(text);
  bool any = false;
  for (std::string item; std::getline(list, item, ',');) {
    if (item == "masks") {
      sel.masks = true;
    } else if (item == "overlays") {
      sel.overlays = true;
    } else if (item == "objects") {
      sel.objects = true;
    } else {
      return InvalidArgumentError("--outputs '" + text + "': '" + item +
                                  "' is not one of masks, overlays, objects");
    }
    any = true;
  }
  if (!any) return InvalidArgumentError("--outputs needs at least one of masks, overlays, objects");
  return sel;
}

Result<double> ParseErrorThreshold(const std::string& text) {
  std::string number = text;
  bool percent = false;
  while (!number.empty() && number.back() == ' ') number.pop_back();
  if (!number.empty() && number.back() == '%') {
    percent = true;
    number.pop_back();
  }
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (number.empty() || end != number.c_str() + number.size()) {
    return InvalidArgumentError("--error-threshold '" + text +
                                "' is not a percentage (\"1%\") or a fraction (\"0.01\")");
  }
  const double fraction = percent ? value / 100.0 : value;
  if (!(fraction >= 0.0 && fraction <= 1.0)) {
    return InvalidArgumentError("--error-threshold '" + text + "' must lie between 0% and 100%");
  }
  return fraction;
}

std::string DescribeRunSettingChanges(const RunSettings& stored, const RunSettings& now) {
  std::string out;
  auto add = [&](const std::string& flag, const std::string& was, const std::string& is) {
    if (was == is) return;
    if (!out.empty()) out += ", ";
    out += flag + " " + is + " (job.json: " + was + ")";
  };
  auto percent = [](double fraction) {
    std::ostringstream text;
    text << 100.0 * fraction << "%";
    return text.str();
  };
  add("--workers", std::to_string(stored.workers), std::to_string(now.workers));
  add("--batch-size", std::to_string(stored.batch_size), std::to_string(now.batch_size));
  add("--max-retries", std::to_string(stored.max_retries), std::to_string(now.max_retries));
  if (stored.error_threshold != now.error_threshold) {
    add("--error-threshold", percent(stored.error_threshold), percent(now.error_threshold));
  }
  return out;
}

nlohmann::json JobSpec::ToJson() const {
  nlohmann::json json = {{"format", "orbit-batch-job/1"},
                         {"model",
                          {{"source", model_source},
                           {"path", model_path},
                           {"recipe", recipe_path},
                           {"name", model_name},
                           {"sha256", model_sha256}}},
                         {"inputs", inputs},
                         {"outputs", outputs.ToString()},
                         {"item_count", item_count},
                         {"items_sha256", items_sha256},
                         {"created_at", created_at}};
  if (run) {
    json["run"] = {{"workers", run->workers},
                   {"batch_size", run->batch_size},
                   {"max_retries", run->max_retries},
                   {"error_threshold", run->error_threshold}};
  }
  return json;
}

Result<JobSpec> JobSpec::FromJson(const nlohmann::json& json) {
  try {
    if (json.value("format", "") != "orbit-batch-job/1") {
      return InvalidArgumentError("not an orbit batch job spec (format '" +
                                  json.value("format", "") + "')");
    }
    JobSpec spec;
    const auto& model = json.at("model");
    spec.model_source = model.at("source").get<std::string>();
    spec.model_path = model.at("path").get<std::string>();
    spec.recipe_path = model.at("recipe").get<std::string>();
    spec.model_name = model.at("name").get<std::string>();
    spec.model_sha256 = model.at("sha256").get<std::string>();
    spec.inputs = json.at("inputs").get<std::vector<std::string>>();
    ORBIT_ASSIGN_OR_RETURN(spec.outputs,
                           ParseOutputSelection(json.at("outputs").get<std::string>()));
    spec.item_count = json.at("item_count").get<std::int64_t>();
    spec.items_sha256 = json.at("items_sha256").get<std::string>();
    spec.created_at = json.value("created_at", "");
    if (json.contains("run")) {
      const auto& run = json.at("run");
      spec.run = RunSettings{.workers = run.at("workers").get<int>(),
                             .batch_size = run.at("batch_size").get<int>(),
                             .max_retries = run.at("max_retries").get<int>(),
                             .error_threshold = run.at("error_threshold").get<double>()};
    }
    return spec;
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgumentError(std::string("job spec: ") + e.what());
  }
}

Status CheckSameJob(const JobSpec& stored, const JobSpec& requested) {
  const std::string hint =
      "; resume with the original --model/--input/--outputs or use a new --output directory";
  if (stored.model_sha256 != requested.model_sha256) {
    return FailedPreconditionError("the job was started with model '" + stored.model_source +
                                   "' (sha256 " + stored.model_sha256.substr(0, 12) +
                                   ") but --model '" + requested.model_source + "' has sha256 " +
                                   requested.model_sha256.substr(0, 12) + hint);
  }
  if (stored.inputs != requested.inputs) {
    std::string was, now;
    for (const auto& s : stored.inputs) was += (was.empty() ? "" : " ") + s;
    for (const auto& s : requested.inputs) now += (now.empty() ? "" : " ") + s;
    return FailedPreconditionError("the job was started with --input " + was +
                                   " but this run has --input " + now + hint);
  }
  if (!(stored.outputs == requested.outputs)) {
    return FailedPreconditionError("the job was started with --outputs " +
                                   stored.outputs.ToString() + " but this run has --outputs " +
                                   requested.outputs.ToString() + hint);
  }
  return Status::Ok();
}

std::string SerializeItems(const std::vector<WorkItem>& items) {
  std::string out;
  for (const WorkItem& item : items) {
    out += nlohmann::json{{"path", item.path.string()},
                          {"page", item.page},
                          {"pages", item.page_count},
                          {"name", item.name}}
               .dump();
    out += "\n";
  }
  return out;
}

Result<std::vector<WorkItem>> ReadItems(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("item list '" + path.string() + "' cannot be read");
  std::vector<WorkItem> items;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      const auto json = nlohmann::json::parse(line);
      WorkItem item;
      item.index = static_cast<std::int64_t>(items.size());
      item.path = json.at("path").get<std::string>();
      item.page = json.at("page").get<int>();
      item.page_count = json.at("pages").get<int>();
      item.name = json.at("name").get<std::string>();
      items.push_back(std::move(item));
    } catch (const nlohmann::json::exception& e) {
      return DataLossError("item list '" + path.string() + "' line " +
                           std::to_string(items.size() + 1) + ": " + e.what());
    }
  }
  return items;
}

Result<JobSpec> ReadJobSpec(const fs::path& path) {
  ORBIT_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path, 1 << 24));
  nlohmann::json json = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return DataLossError("job spec '" + path.string() + "' is not JSON");
  auto spec = JobSpec::FromJson(json);
  if (!spec.ok()) return spec.status().WithContext("job spec '" + path.string() + "'");
  return spec;
}

std::string UtcNowIso8601() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace orbit::batch
