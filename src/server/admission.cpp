#include "server/admission.h"

namespace xervo::server {

ModelAdmission::Ticket::~Ticket() {
  std::lock_guard lock(owner_.mu_);
  --owner_.admitted_[model_];
}

std::shared_ptr<ModelAdmission::Ticket> ModelAdmission::try_admit(const std::string& model, int limit) {
  {
    std::lock_guard lock(mu_);
    auto& n = admitted_[model];
    if (limit > 0 && n >= limit) return nullptr;
    ++n;
  }
  return std::make_shared<Ticket>(*this, model);
}

std::map<std::string, int64_t> ModelAdmission::depths() const {
  std::lock_guard lock(mu_);
  return admitted_;
}

}  // namespace xervo::server
