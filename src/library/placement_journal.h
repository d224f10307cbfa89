// Intent records for placing files into model folders. One is written (and fsynced) before a file
// is renamed into the library and removed once the index row for it is committed, so a process
// killed in between leaves a note that says how to undo the step: a user's file goes back where it
// came from, a copy the library made is deleted, a download goes back to its .incomplete name.
// Files live in XERVO_HOME/tmp as place.<pid>.<n>.journal. Stateless functions.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "xervo/error.h"

namespace xervo::library {

enum class UndoAction {
  restore,  // rename `to` back to `from` (a user's file, a download)
  discard,  // delete `to` (a copy or link the library made; the source is untouched)
};

struct Placement {
  std::filesystem::path from, to;  // `to` is the canonical file in a model folder
  UndoAction undo = UndoAction::discard;
  std::string id, sha256;  // the row that makes the placement final
  // The placed file (begin() reads them from `from`): a file at `to` that is not this one was not
  // placed by this step and is never touched.
  uint64_t device = 0, inode = 0;
};

class PlacementJournal {
 public:
  // Records `placement` durably in `staging_dir` before the caller moves anything.
  static Result<PlacementJournal> begin(const std::filesystem::path& staging_dir, Placement placement);
  // The row is committed: the journal goes.
  void finish();
  // The step failed in this process after the file was placed: undo it, then drop the journal.
  Result<void> undo();
  // The file was never placed (the move itself failed): drop the journal, touch no file.
  void abandon();
  const Placement& placement() const { return placement_; }

 private:
  Placement placement_;
  std::filesystem::path file_;
};

// Undoes `p` when its file is at `to`: see UndoAction. A user's file that cannot go back (its old
// name is taken by another file) stays where it is, and the error says where.
Result<void> undo_placement(const Placement& p);

// For every journal in `staging_dir` of a process that is gone: when `committed(p)` (the index has
// the row) the placement is finished, else undone. Returns one line per journal that could not be
// settled (kept for the next try); the caller logs them.
std::vector<std::string> recover_placements(const std::filesystem::path& staging_dir,
                                            const std::function<bool(const Placement&)>& committed);

}  // namespace xervo::library
