// Holds a compute lane for a test: from construction until release(), the lane runs a step of this
// worker that waits, so no other worker of the lane steps. A test queues requests meanwhile and
// knows that none has started; on release they all start together.
#pragma once

#include <latch>
#include <memory>

#include "core/compute_lane.h"

namespace xervo::testing {

class LaneHold final : ComputeLane::Worker {
 public:
  explicit LaneHold(std::shared_ptr<ComputeLane> lane) : lane_(std::move(lane)) {
    lane_->attach(this);  // attaching counts as a notify: the lane steps this worker soon
    entered_.wait();
  }
  ~LaneHold() { release(); }
  LaneHold(const LaneHold&) = delete;
  LaneHold& operator=(const LaneHold&) = delete;

  void release() {
    if (released_) return;
    released_ = true;
    go_.count_down();
    lane_->detach(this);
  }

 private:
  bool step() override {
    if (!first_) return false;
    first_ = false;
    entered_.count_down();
    go_.wait();
    return false;
  }

  std::shared_ptr<ComputeLane> lane_;
  std::latch entered_{1};
  std::latch go_{1};
  bool first_ = true;  // lane thread only
  bool released_ = false;
};

}  // namespace xervo::testing
