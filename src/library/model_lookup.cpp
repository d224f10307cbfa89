#include "library/model_lookup.h"

#include "library/files.h"
#include "library/hub_ref.h"

namespace xervo::library {

Result<LibraryModel> get_model(ModelStore& store, std::string_view id) {
  auto row = store.row(id);
  if (!row) return row.error();
  if (!row->has_value())
    return Error(ErrorCode::model_not_found,
                 "no model '" + std::string(id) + "' in the library (see `xervo models list`)");
  return std::move(**row);
}

Result<LibraryModel> find_model(ModelStore& store, std::string_view model_id) {
  std::string_view id = model_id;
  if (id.starts_with("library:")) id.remove_prefix(8);
  if (!id.starts_with("hf:")) return get_model(store, id);
  auto ref = parse_hub_ref(id);
  if (!ref) return ref.error();
  auto rows = store.with_index([&](ModelIndex& index) { return index.find_by_repo(ref->repo); });
  if (!rows) return rows.error();
  std::vector<HubFileEntry> files;
  std::vector<const LibraryModel*> candidates;
  for (const auto& m : *rows) {
    if (m.state != LibraryModelState::ready) continue;
    if (lowercase(m.hub_repo) != lowercase(ref->repo)) continue;
    if (!ref->revision.empty() && m.hub_revision != ref->revision) continue;
    files.push_back(HubFileEntry{m.hub_file, m.size_bytes, m.sha256});
    candidates.push_back(&m);
  }
  auto picked = pick_model_file(*ref, files);
  if (picked)
    for (auto* m : candidates)
      if (m->hub_file == picked->path) return *m;
  return Error(ErrorCode::model_not_found, std::string(model_id) +
                                               " is not in the library yet: run `xervo models pull " +
                                               std::string(model_id) + "`");
}

}  // namespace xervo::library
