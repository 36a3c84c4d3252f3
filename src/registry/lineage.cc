#include "registry/lineage.h"

#include <ctime>

namespace orbit::registry {
namespace {

std::string FormatTimeMs(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%SZ", &utc);
  return text;
}

}  // namespace

Result<std::vector<LineageEntry>> Lineage(ModelRegistry& registry, std::string_view name,
                                          std::int64_t version) {
  std::vector<LineageEntry> chain;
  std::optional<std::int64_t> next = version;
  // A parent always has a smaller number (it existed before the child was allocated), so the
  // walk ends; the bound guards against a hand-edited database.
  while (next && chain.size() <= static_cast<std::size_t>(version)) {
    ORBIT_ASSIGN_OR_RETURN(ModelVersion v, registry.GetVersion(name, *next));
    LineageEntry entry;
    if (v.run_id) {
      ORBIT_ASSIGN_OR_RETURN(store::Rows rows,
                             registry.database().Query(
                                 "SELECT r.id, e.name, r.name, r.user_name, r.status FROM runs r "
                                 "JOIN experiments e ON e.id = r.experiment_id WHERE r.id = ?",
                                 {*v.run_id}));
      if (!rows.empty()) {
        ORBIT_ASSIGN_OR_RETURN(RunStatus status, ParseRunStatus(rows[0][4].AsText()));
        entry.run = LineageRun{rows[0][0].AsText(), rows[0][1].AsText(), rows[0][2].AsText(),
                               rows[0][3].AsText(), status};
      }
    }
    next = v.parent_version;
    entry.version = std::move(v);
    chain.push_back(std::move(entry));
  }
  return chain;
}

std::string RenderLineage(const std::vector<LineageEntry>& chain) {
  std::string out;
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const ModelVersion& v = chain[i].version;
    out += std::string(i == 0 ? "" : "  ↑ fine-tuned from\n") +
           VersionName(v.model_name, v.version) + "  created " + FormatTimeMs(v.created_at_ms) +
           (v.creator.empty() ? "" : " by " + v.creator) + "\n";
    out += "    blob      sha256:" + v.blob_sha256 + "\n";
    if (!v.code_version.empty()) out += "    code      " + v.code_version + "\n";
    if (chain[i].run) {
      const LineageRun& run = *chain[i].run;
      out += "    run       " + run.id + " (experiment '" + run.experiment + "'" +
             (run.name.empty() ? "" : ", run '" + run.name + "'") + ", " +
             std::string(RunStatusName(run.status)) + (run.user.empty() ? "" : ", by " + run.user) +
             ")\n";
    } else if (v.run_id) {
      out += "    run       " + *v.run_id + "\n";
    }
    for (const DatasetRef& d : v.datasets) {
      out += "    data set  " + d.uri + " sha256:" + d.sha256 + "\n";
    }
  }
  return out;
}

}  // namespace orbit::registry
