#include "library/fault_points.h"

#include <unistd.h>

#include <utility>

namespace xervo::library::faults {
namespace {

Hooks& hooks() {
  static Hooks h;
  return h;
}

}  // namespace

void crash_point(std::string_view name) {
  if (hooks().crash_point) hooks().crash_point(name);
}

ssize_t pwrite(int fd, const void* data, size_t size, off_t offset) {
  if (hooks().pwrite) return hooks().pwrite(fd, data, size, offset);
  return ::pwrite(fd, data, size, offset);
}

int link(const char* from, const char* to) {
  if (hooks().link) return hooks().link(from, to);
  return ::link(from, to);
}

Hooks install(Hooks next) { return std::exchange(hooks(), std::move(next)); }

}  // namespace xervo::library::faults
