// The web dashboard's built files (ui/, built by Vite at build time), embedded in the binary: the
// build generates dashboard_assets.cpp with their bytes (ui/dashboard.cmake). Without node/npm the
// build still succeeds: there are no assets, and dashboard_missing_reason() says why.
// Immutable data; safe from any thread.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace xervo::server {

struct DashboardAsset {
  std::string_view path;          // "/index.html", "/assets/index-3f2a.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  const unsigned char* data;
  size_t size;
  const unsigned char* gzip_data;  // the same bytes gzipped (text files), else null
  size_t gzip_size;
};

// Every built file; empty when the dashboard was not built.
std::span<const DashboardAsset> dashboard_assets();
// Why there are no assets ("node was not found when xervo was built ..."); empty when built.
std::string_view dashboard_missing_reason();

}  // namespace xervo::server
