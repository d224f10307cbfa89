// Per-model admission: at most `limit` requests may be admitted to one model at once (running in
// the engine or waiting for a slot). Beyond it the server answers 503 with Retry-After at once
// instead of letting a queue grow without bound. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace xervo::server {

class ModelAdmission {
 public:
  // Held while a request runs on a model; releases its place when the last copy goes.
  class Ticket {
   public:
    Ticket(ModelAdmission& owner, std::string model) : owner_(owner), model_(std::move(model)) {}
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

   private:
    ModelAdmission& owner_;
    std::string model_;
  };

  // A ticket, or null when `model` already has `limit` admitted requests (limit <= 0: unlimited).
  std::shared_ptr<Ticket> try_admit(const std::string& model, int limit);
  // Admitted requests per model right now (models seen so far, including zeros).
  std::map<std::string, int64_t> depths() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, int64_t> admitted_;  // GUARDED_BY(mu_)
};

}  // namespace xervo::server
