// Seams where tests make the library fail as a killed process, a full disk or another file system
// would. Nothing is installed in the product: crash_point() returns at once and the system-call
// seams are the plain system calls. Install hooks before the work they observe starts.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string_view>

namespace xervo::library::faults {

// A named step of a multi-step operation ("import.placed"); see docs/library.md for the list.
void crash_point(std::string_view name);
// pwrite(2) as downloads call it.
ssize_t pwrite(int fd, const void* data, size_t size, off_t offset);
// link(2) as imports call it to hard-link a source into the library.
int link(const char* from, const char* to);

struct Hooks {
  std::function<void(std::string_view name)> crash_point;
  std::function<ssize_t(int fd, const void* data, size_t size, off_t offset)> pwrite;
  std::function<int(const char* from, const char* to)> link;
};
// Replaces the hooks (tests only) and returns the previous ones.
Hooks install(Hooks hooks);

}  // namespace xervo::library::faults
