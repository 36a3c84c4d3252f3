#include "registry/tracking.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <random>

#include "registry/names.h"
#include "registry/run_filter.h"

namespace orbit::registry {
namespace {

using store::Rows;
using store::Sql;
using store::Value;

std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

RunStatus StatusFromColumn(const std::string& text) {
  if (text == "finished") return RunStatus::kFinished;
  if (text == "failed") return RunStatus::kFailed;
  if (text == "killed") return RunStatus::kKilled;
  return RunStatus::kRunning;
}

std::string StatusColumn(RunStatus status) {
  std::string name(RunStatusName(status));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string RandomRunId() {
  std::random_device device;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 4; ++i) {
    std::uint32_t bits = device();
    for (int j = 0; j < 8; ++j, bits >>= 4) id += kHex[bits & 0xf];
  }
  return id;
}

Status ValidateRunId(std::string_view run_id) {
  if (run_id.empty() || run_id.size() > 64) {
    return InvalidArgumentError("run id '" + std::string(run_id) + "' must be 1 to 64 characters");
  }
  for (const char c : run_id) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_') {
      return InvalidArgumentError("run id '" + std::string(run_id) +
                                  "' may only contain letters, digits, '-' and '_'");
    }
  }
  return Status::Ok();
}

Status ValidateArtifactPath(std::string_view path) {
  const std::string p(path);
  if (p.empty() || p.size() > 1024 || p.front() == '/' || p.back() == '/' ||
      p.find('\\') != std::string::npos || p.find('\0') != std::string::npos) {
    return InvalidArgumentError("artifact path '" + p +
                                "' must be a relative '/'-separated path of 1 to 1024 bytes");
  }
  std::size_t start = 0;
  while (start <= p.size()) {
    const std::size_t end = std::min(p.find('/', start), p.size());
    const std::string part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return InvalidArgumentError("artifact path '" + p + "' has an empty, '.' or '..' component");
    }
    start = end + 1;
  }
  return Status::Ok();
}

Result<Experiment> ExperimentFromRow(const store::Row& row) {
  return Experiment{row[0].AsInt64(), row[1].AsText(), row[2].AsText(), row[3].AsInt64()};
}

// The id of the named experiment, created when missing (race-free: ON CONFLICT DO NOTHING).
Result<std::int64_t> EnsureExperiment(Sql& sql, std::string_view name, std::int64_t now_ms) {
  ORBIT_ASSIGN_OR_RETURN(std::int64_t inserted,
                         sql.Execute("INSERT INTO experiments (name, created_at_ms) VALUES (?, ?) "
                                     "ON CONFLICT (name) DO NOTHING",
                                     {name, now_ms}));
  (void)inserted;
  ORBIT_ASSIGN_OR_RETURN(Rows rows, sql.Query("SELECT id FROM experiments WHERE name = ?", {name}));
  if (rows.empty()) return InternalError("experiment " + Quoted(name) + " vanished");
  return rows[0][0].AsInt64();
}

Status InsertParam(Sql& sql, std::string_view run_id, std::string_view key,
                   std::string_view value) {
  ORBIT_ASSIGN_OR_RETURN(std::int64_t n,
                         sql.Execute("INSERT INTO run_params (run_id, key, value) VALUES (?, ?, ?) "
                                     "ON CONFLICT (run_id, key) DO NOTHING",
                                     {run_id, key, value}));
  if (n == 1) return Status::Ok();
  ORBIT_ASSIGN_OR_RETURN(
      Rows rows,
      sql.Query("SELECT value FROM run_params WHERE run_id = ? AND key = ?", {run_id, key}));
  if (!rows.empty() && rows[0][0].AsText() != value) {
    return InvalidArgumentError("param " + Quoted(key) + " of run " + Quoted(run_id) +
                                " is already " + Quoted(rows[0][0].AsText()) +
                                "; params cannot be changed (tried " + Quoted(value) + ")");
  }
  return Status::Ok();
}

Status UpsertTag(Sql& sql, std::string_view run_id, std::string_view key, std::string_view value) {
  return sql
      .Execute(
          "INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?) "
          "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
          {run_id, key, value})
      .status();
}

Status ValidateMetric(const Metric& metric) {
  ORBIT_RETURN_IF_ERROR(ValidateKey("metric", metric.key));
  if (!std::isfinite(metric.value)) {
    return InvalidArgumentError("metric " + Quoted(metric.key) + ": value must be finite");
  }
  return Status::Ok();
}

Status InsertMetric(Sql& sql, std::string_view run_id, const Metric& metric, std::int64_t now_ms) {
  return sql
      .Execute(
          "INSERT INTO run_metrics (run_id, key, value, step, timestamp_ms) "
          "VALUES (?, ?, ?, ?, ?)",
          {run_id, metric.key, metric.value, metric.step,
           metric.timestamp_ms != 0 ? metric.timestamp_ms : now_ms})
      .status();
}

// Fills params, tags and latest metrics of `run`.
Status LoadRunData(Sql& sql, Run& run) {
  ORBIT_ASSIGN_OR_RETURN(Rows params,
                         sql.Query("SELECT key, value FROM run_params WHERE run_id = ?", {run.id}));
  for (const auto& row : params.rows) run.params[row[0].AsText()] = row[1].AsText();
  ORBIT_ASSIGN_OR_RETURN(Rows tags,
                         sql.Query("SELECT key, value FROM run_tags WHERE run_id = ?", {run.id}));
  for (const auto& row : tags.rows) run.tags[row[0].AsText()] = row[1].AsText();
  ORBIT_ASSIGN_OR_RETURN(Rows metrics,
                         sql.Query("SELECT key, value, step, timestamp_ms FROM run_metrics "
                                   "WHERE run_id = ? ORDER BY key, step, timestamp_ms, value",
                                   {run.id}));
  for (const auto& row : metrics.rows) {  // ascending: the last one per key is the latest
    run.latest_metrics[row[0].AsText()] =
        Metric{row[0].AsText(), row[1].AsDouble(), row[2].AsInt64(), row[3].AsInt64()};
  }
  return Status::Ok();
}

Run RunFromRow(const store::Row& row) {
  Run run;
  run.id = row[0].AsText();
  run.experiment_id = row[1].AsInt64();
  run.name = row[2].AsText();
  run.status = StatusFromColumn(row[3].AsText());
  run.user = row[4].AsText();
  run.start_time_ms = row[5].AsInt64();
  if (!row[6].is_null()) run.end_time_ms = row[6].AsInt64();
  return run;
}

constexpr const char* kRunColumns =
    "SELECT id, experiment_id, name, status, user_name, start_time_ms, end_time_ms FROM runs ";

}  // namespace

std::string_view RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kRunning:
      return "RUNNING";
    case RunStatus::kFinished:
      return "FINISHED";
    case RunStatus::kFailed:
      return "FAILED";
    case RunStatus::kKilled:
      return "KILLED";
  }
  return "RUNNING";
}

Result<RunStatus> ParseRunStatus(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (RunStatus s :
       {RunStatus::kRunning, RunStatus::kFinished, RunStatus::kFailed, RunStatus::kKilled}) {
    if (upper == RunStatusName(s)) return s;
  }
  return InvalidArgumentError("unknown run status " + Quoted(name) +
                              " (expected RUNNING, FINISHED, FAILED or KILLED)");
}

Status ValidateRunTransition(std::string_view run_id, RunStatus from, RunStatus to) {
  if (from == RunStatus::kRunning && to != RunStatus::kRunning) return Status::Ok();
  return FailedPreconditionError("run " + Quoted(run_id) + " cannot go from " +
                                 std::string(RunStatusName(from)) + " to " +
                                 std::string(RunStatusName(to)) +
                                 " (only a RUNNING run can end, as FINISHED, FAILED or KILLED)");
}

std::int64_t NowMs(const store::Clock& clock) {
  const auto now = clock ? clock() : std::chrono::system_clock::now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
}

Result<RunStatus> ReadRunStatus(Sql& sql, std::string_view run_id) {
  ORBIT_ASSIGN_OR_RETURN(Rows rows, sql.Query("SELECT status FROM runs WHERE id = ?", {run_id}));
  if (rows.empty()) return NotFoundError("run " + Quoted(run_id) + " does not exist");
  return StatusFromColumn(rows[0][0].AsText());
}

Tracking::Tracking(store::Database& db, store::ArtifactStore& artifacts, store::Clock clock)
    : db_(db), artifacts_(artifacts), clock_(std::move(clock)) {}

std::int64_t Tracking::NowMs() const { return registry::NowMs(clock_); }

Result<Experiment> Tracking::CreateExperiment(std::string_view name, std::string_view description) {
  ORBIT_RETURN_IF_ERROR(ValidateExperimentName(name));
  auto rows = db_.Query(
      "INSERT INTO experiments (name, description, created_at_ms) VALUES (?, ?, ?) "
      "RETURNING id, name, description, created_at_ms",
      {name, description, NowMs()});
  if (!rows.ok()) {
    if (rows.status().code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError("experiment " + Quoted(name) + " already exists");
    }
    return rows.status();
  }
  return ExperimentFromRow((*rows)[0]);
}

Result<Experiment> Tracking::GetExperiment(std::string_view name) {
  ORBIT_ASSIGN_OR_RETURN(
      Rows rows,
      db_.Query("SELECT id, name, description, created_at_ms FROM experiments WHERE name = ?",
                {name}));
  if (rows.empty()) return NotFoundError("experiment " + Quoted(name) + " does not exist");
  return ExperimentFromRow(rows[0]);
}

Result<std::vector<Experiment>> Tracking::ListExperiments() {
  ORBIT_ASSIGN_OR_RETURN(
      Rows rows,
      db_.Query("SELECT id, name, description, created_at_ms FROM experiments ORDER BY name"));
  std::vector<Experiment> out;
  for (const auto& row : rows.rows) out.push_back(*ExperimentFromRow(row));
  return out;
}

Result<Run> Tracking::CreateRun(const NewRun& request) {
  ORBIT_RETURN_IF_ERROR(ValidateExperimentName(request.experiment));
  const std::string run_id = request.run_id.empty() ? RandomRunId() : request.run_id;
  ORBIT_RETURN_IF_ERROR(ValidateRunId(run_id));
  for (const auto& [key, value] : request.tags) ORBIT_RETURN_IF_ERROR(ValidateKey("tag", key));
  const std::int64_t now = NowMs();
  Status status = db_.InTransaction([&](Sql& sql) -> Status {
    ORBIT_ASSIGN_OR_RETURN(std::int64_t experiment_id,
                           EnsureExperiment(sql, request.experiment, now));
    ORBIT_RETURN_IF_ERROR(
        sql.Execute("INSERT INTO runs (id, experiment_id, name, status, user_name, "
                    "start_time_ms) VALUES (?, ?, ?, 'running', ?, ?)",
                    {run_id, experiment_id, request.name, request.user, now})
            .status());
    for (const auto& [key, value] : request.tags) {
      ORBIT_RETURN_IF_ERROR(UpsertTag(sql, run_id, key, value));
    }
    return Status::Ok();
  });
  if (status.code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError("run " + Quoted(run_id) + " already exists");
  }
  ORBIT_RETURN_IF_ERROR(status);
  return GetRun(run_id);
}

Result<Run> Tracking::GetRun(std::string_view run_id) {
  Run run;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction(
      [&](Sql& sql) -> Status {
        ORBIT_ASSIGN_OR_RETURN(Rows rows,
                               sql.Query(std::string(kRunColumns) + "WHERE id = ?", {run_id}));
        if (rows.empty()) return NotFoundError("run " + Quoted(run_id) + " does not exist");
        run = RunFromRow(rows[0]);
        return LoadRunData(sql, run);
      },
      store::TransactionMode::kReadOnly));
  return run;
}

Status Tracking::EndRun(std::string_view run_id, RunStatus status) {
  const std::int64_t now = NowMs();
  return db_.InTransaction([&](Sql& sql) -> Status {
    // The conditional UPDATE is the check and the move in one statement, so two concurrent
    // EndRun calls cannot both succeed on either back end.
    ORBIT_ASSIGN_OR_RETURN(RunStatus current, ReadRunStatus(sql, run_id));
    ORBIT_RETURN_IF_ERROR(ValidateRunTransition(run_id, current, status));
    ORBIT_ASSIGN_OR_RETURN(std::int64_t changed,
                           sql.Execute("UPDATE runs SET status = ?, end_time_ms = ? "
                                       "WHERE id = ? AND status = 'running'",
                                       {StatusColumn(status), now, run_id}));
    if (changed == 0) {
      ORBIT_ASSIGN_OR_RETURN(RunStatus now_status, ReadRunStatus(sql, run_id));
      return ValidateRunTransition(run_id, now_status, status);
    }
    return Status::Ok();
  });
}

Status Tracking::LogParam(std::string_view run_id, std::string_view key, std::string_view value) {
  RunBatch batch;
  batch.params.emplace_back(key, value);
  return LogBatch(run_id, batch);
}

Status Tracking::SetTag(std::string_view run_id, std::string_view key, std::string_view value) {
  RunBatch batch;
  batch.tags.emplace_back(key, value);
  return LogBatch(run_id, batch);
}

Status Tracking::DeleteTag(std::string_view run_id, std::string_view key) {
  return db_.InTransaction([&](Sql& sql) -> Status {
    ORBIT_ASSIGN_OR_RETURN(RunStatus status, ReadRunStatus(sql, run_id));
    (void)status;
    ORBIT_ASSIGN_OR_RETURN(
        std::int64_t n,
        sql.Execute("DELETE FROM run_tags WHERE run_id = ? AND key = ?", {run_id, key}));
    if (n == 0) {
      return NotFoundError("run " + Quoted(run_id) + " has no tag " + Quoted(key));
    }
    return Status::Ok();
  });
}

Status Tracking::LogMetric(std::string_view run_id, const Metric& metric) {
  RunBatch batch;
  batch.metrics.push_back(metric);
  return LogBatch(run_id, batch);
}

Status Tracking::LogBatch(std::string_view run_id, const RunBatch& batch) {
  for (const auto& [key, value] : batch.params) ORBIT_RETURN_IF_ERROR(ValidateKey("param", key));
  for (const auto& [key, value] : batch.tags) ORBIT_RETURN_IF_ERROR(ValidateKey("tag", key));
  for (const Metric& metric : batch.metrics) ORBIT_RETURN_IF_ERROR(ValidateMetric(metric));
  const std::int64_t now = NowMs();
  return db_.InTransaction([&](Sql& sql) -> Status {
    ORBIT_ASSIGN_OR_RETURN(RunStatus status, ReadRunStatus(sql, run_id));
    (void)status;
    for (const auto& [key, value] : batch.params) {
      ORBIT_RETURN_IF_ERROR(InsertParam(sql, run_id, key, value));
    }
    for (const auto& [key, value] : batch.tags) {
      ORBIT_RETURN_IF_ERROR(UpsertTag(sql, run_id, key, value));
    }
    for (const Metric& metric : batch.metrics) {
      ORBIT_RETURN_IF_ERROR(InsertMetric(sql, run_id, metric, now));
    }
    return Status::Ok();
  });
}

Status Tracking::LogArtifact(std::string_view run_id, std::string_view path,
                             std::string_view blob_sha256) {
  ORBIT_RETURN_IF_ERROR(ValidateArtifactPath(path));
  auto blob = artifacts_.Stat(blob_sha256);
  if (!blob.ok()) {
    return blob.status().WithContext("artifact " + Quoted(path) + " of run " + Quoted(run_id));
  }
  const std::int64_t now = NowMs();
  return db_.InTransaction([&](Sql& sql) -> Status {
    ORBIT_ASSIGN_OR_RETURN(RunStatus status, ReadRunStatus(sql, run_id));
    (void)status;
    ORBIT_RETURN_IF_ERROR(
        sql.Execute("INSERT INTO blobs (sha256, size_bytes, created_at_ms) "
                    "VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                    {blob->sha256, static_cast<std::int64_t>(blob->size_bytes), now})
            .status());
    ORBIT_ASSIGN_OR_RETURN(
        std::int64_t n,
        sql.Execute("INSERT INTO run_artifacts (run_id, path, blob_sha256) VALUES (?, ?, ?) "
                    "ON CONFLICT (run_id, path) DO NOTHING",
                    {run_id, path, blob->sha256}));
    if (n == 1) return Status::Ok();
    ORBIT_ASSIGN_OR_RETURN(
        Rows rows, sql.Query("SELECT blob_sha256 FROM run_artifacts WHERE run_id = ? AND path = ?",
                             {run_id, path}));
    if (!rows.empty() && rows[0][0].AsText() != blob->sha256) {
      return AlreadyExistsError("artifact " + Quoted(path) + " of run " + Quoted(run_id) +
                                " is already blob " + rows[0][0].AsText());
    }
    return Status::Ok();
  });
}

Result<std::vector<RunArtifact>> Tracking::ListArtifacts(std::string_view run_id) {
  std::vector<RunArtifact> out;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction(
      [&](Sql& sql) -> Status {
        ORBIT_ASSIGN_OR_RETURN(RunStatus status, ReadRunStatus(sql, run_id));
        (void)status;
        ORBIT_ASSIGN_OR_RETURN(
            Rows rows, sql.Query("SELECT path, blob_sha256 FROM run_artifacts WHERE run_id = ? "
                                 "ORDER BY path",
                                 {run_id}));
        out.clear();
        for (const auto& row : rows.rows) out.push_back({row[0].AsText(), row[1].AsText()});
        return Status::Ok();
      },
      store::TransactionMode::kReadOnly));
  return out;
}

Result<std::vector<Metric>> Tracking::MetricHistory(std::string_view run_id, std::string_view key) {
  std::vector<Metric> out;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction(
      [&](Sql& sql) -> Status {
        ORBIT_ASSIGN_OR_RETURN(RunStatus status, ReadRunStatus(sql, run_id));
        (void)status;
        ORBIT_ASSIGN_OR_RETURN(Rows rows,
                               sql.Query("SELECT value, step, timestamp_ms FROM run_metrics "
                                         "WHERE run_id = ? AND key = ? ORDER BY step, timestamp_ms",
                                         {run_id, key}));
        out.clear();
        for (const auto& row : rows.rows) {
          out.push_back({std::string(key), row[0].AsDouble(), row[1].AsInt64(), row[2].AsInt64()});
        }
        return Status::Ok();
      },
      store::TransactionMode::kReadOnly));
  return out;
}

Result<RunPage> Tracking::SearchRuns(const RunSearch& search) {
  ORBIT_ASSIGN_OR_RETURN(RunQuery query, ParseRunQuery(search.filter));
  std::int64_t offset = 0;
  if (!search.page_token.empty()) {
    const auto& token = search.page_token;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), offset);
    if (ec != std::errc() || end != token.data() + token.size() || offset < 0) {
      return InvalidArgumentError("invalid page token " + Quoted(token));
    }
  }
  if (search.max_results < 1) {
    return InvalidArgumentError("max_results must be at least 1, got " +
                                std::to_string(search.max_results));
  }
  // A `limit` in the filter caps the whole result; max_results is the page size.
  std::int64_t limit = search.max_results;
  if (query.limit) limit = std::min(limit, *query.limit - offset);
  RunPage page;
  if (limit <= 0) return page;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction(
      [&](Sql& sql) -> Status {
        page = RunPage{};
        std::vector<std::int64_t> experiment_ids;
        for (const std::string& name : search.experiments) {
          ORBIT_ASSIGN_OR_RETURN(Rows rows,
                                 sql.Query("SELECT id FROM experiments WHERE name = ?", {name}));
          if (rows.empty()) return NotFoundError("experiment " + Quoted(name) + " does not exist");
          experiment_ids.push_back(rows[0][0].AsInt64());
        }
        // One row more than asked tells whether there is a next page.
        const SqlQuery statement =
            BuildRunSearchSql(query, sql.dialect(), experiment_ids, offset, limit + 1);
        ORBIT_ASSIGN_OR_RETURN(Rows rows, sql.Query(statement.sql, statement.params));
        for (std::size_t i = 0; i < rows.size(); ++i) {
          if (static_cast<std::int64_t>(i) == limit) {
            if (!query.limit || offset + limit < *query.limit) {
              page.next_page_token = std::to_string(offset + limit);
            }
            break;
          }
          Run run = RunFromRow(rows[i]);
          ORBIT_RETURN_IF_ERROR(LoadRunData(sql, run));
          page.runs.push_back(std::move(run));
        }
        return Status::Ok();
      },
      store::TransactionMode::kReadOnly));
  return page;
}

}  // namespace orbit::registry
