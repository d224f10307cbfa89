// Pulling a model from the Hugging Face Hub: plan the files of a ref, reserve the model's id and
// record it as `downloading`, fetch every part in parallel under the model's lock file (threads
// and processes download a file once), then commit it. Progress is reported on the calling
// thread as the workers post it; a failure marks the row failed and says what was kept.
#pragma once

#include <filesystem>
#include <stop_token>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "library/file_lock.h"
#include "library/hub_client.h"
#include "library/model_store.h"
#include "library/pull_plan.h"

namespace xervo::library {

class Puller {
 public:
  Puller(ModelStore& store, HubClient& hub) : store_(store), hub_(hub) {}

  Result<LibraryModel> pull(std::string_view ref, const PullProgressCallback& progress, std::stop_token stop);

 private:
  // The model a plan downloads into: its id, folder and part files, and its lock.
  struct Target {
    std::string id, publisher, name;
    std::filesystem::path dir;
    std::vector<std::filesystem::path> files;  // final names, part 1 first
    std::string ref_text;                      // for messages: what to pull again
  };
  // The id (an earlier pull's, else a free one) and the `downloading` row, under the commit
  // lock; a ready model of the same bytes is the answer instead.
  using Reserved = std::variant<Target, LibraryModel>;
  Result<Reserved> reserve(const PullPlan& plan, std::stop_token stop);
  Result<void> download(const PullPlan& plan, const Target& target, const PullProgressCallback& progress,
                        std::stop_token stop);
  Result<LibraryModel> commit(const PullPlan& plan, const Target& target);
  // Marks the row failed with `error` and what is kept to resume; returns the error to report.
  Error fail(const Target& target, const Error& error);

  ModelStore& store_;
  HubClient& hub_;
};

}  // namespace xervo::library
