// Turning `--input` arguments into the job's work items: files from directories, recursive glob
// patterns and list files, then one item per page of a multi-page TIFF or per frame of an NPY
// stack (z-stacks and time-lapse series). A numbered file series (`well_t001.png`, ...) needs
// nothing special: each file is an item. The item list is computed once when a job is created and
// frozen in the job directory, so a resume never sees a different list even if the file system
// changed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace orbit::batch {

// One unit of work: one page (or frame) of one input file. Identity = (path, page).
struct WorkItem {
  std::int64_t index = 0;  // position in the job's frozen item list
  std::filesystem::path path;
  int page = 0;
  int page_count = 1;  // pages in the file (1 for single-image files)
  // Output file stem, unique in the job: "<stem>", "<stem>_p0003" (TIFF page) or "<stem>_t0003"
  // (NPY frame), with "-2", "-3", ... appended when two inputs share a stem.
  std::string name;

  std::string Id() const;  // "path#page"
};

// Each argument is a directory (every image file below it, recursively), a glob pattern
// (`*`, `?`, `[...]`; `**` crosses directories), a text file listing one path per line (relative
// paths are relative to the list's directory; blank lines and '#' comments are skipped) or an
// image file. Returns absolute paths, sorted and de-duplicated. A list entry is kept even if the
// file does not exist (it fails as an item, with a reason, instead of vanishing silently);
// a directory or pattern that matches nothing is NotFound.
Result<std::vector<std::filesystem::path>> ExpandInputs(const std::vector<std::string>& args);

// True when `arg` contains a glob metacharacter.
bool IsGlobPattern(const std::string& arg);

// Pages in a TIFF file or frames in an NPY stack (from headers, no pixels decoded); 1 for
// anything else or for a file whose header cannot be read (decoding it later reports the reason).
int CountPages(const std::filesystem::path& path);

// Items in order: every page of every file, with unique output names.
std::vector<WorkItem> ExpandItems(const std::vector<std::filesystem::path>& files);

}  // namespace orbit::batch
