// The ModelLibrary behind ModelLibrary::open: a facade over the parts of src/library, each in its
// own file: ModelStore (index + commit), import_paths (importer), Puller (pull), HubClient, the
// mapping functions and the requirements contract. Thread-safety: as ModelStore and HubClient.
#pragma once

#include <memory>
#include <mutex>

#include "library/hub_client.h"
#include "library/model_store.h"
#include "xervo/library.h"

namespace xervo::library {

class LibraryImpl final : public ModelLibrary {
 public:
  // Runs recovery (ModelStore::recover) unless the library is read-only.
  LibraryImpl(LibraryOptions options, ModelIndex index);
  ~LibraryImpl() override;

  const LibraryOptions& options() const override { return store_.options(); }
  Result<std::vector<LibraryModel>> search(const LibraryQuery& query) override;
  Result<LibraryModel> get(std::string_view id) override;
  Result<LibraryModel> set_overrides(std::string_view id, const nlohmann::json& overrides) override;
  Result<void> remove(std::string_view id) override;
  Result<std::vector<VerifyOutcome>> verify(std::string_view id) override;
  Result<bool> file_matches_record(const LibraryModel& model) override;
  std::vector<ImportOutcome> import_paths(const std::vector<std::filesystem::path>& paths,
                                          const ImportOptions& options) override;
  Result<LibraryModel> pull(std::string_view ref, const PullProgressCallback& progress,
                            std::stop_token stop) override;
  Result<std::vector<HubModelInfo>> hub_search(std::string_view text, int limit) override;
  Result<std::vector<MappingSyncReport>> map_sync(std::string_view name) override;
  Result<std::vector<MappingStatusEntry>> map_status(std::string_view name) override;
  Result<LibraryModel> find(std::string_view model_id) override;

 private:
  HubClient& hub();

  ModelStore store_;
  std::mutex hub_mutex_;
  std::unique_ptr<HubClient> hub_;  // GUARDED_BY(hub_mutex_), created on first use
};

}  // namespace xervo::library
