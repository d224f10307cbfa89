// A bounded parser for multipart/form-data request bodies (RFC 7578), as file uploads send them
// (POST /v1/files). Parts are views into the body: the body must outlive them. Hostile input (no
// boundary, a part never closed, too many parts, oversized part headers) is an invalid_input error
// that says what is wrong. Stateless; safe from any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"

namespace xervo::server {

struct MultipartPart {
  std::string name;                     // Content-Disposition name="..."
  std::optional<std::string> filename;  // Content-Disposition filename="..." (a file part)
  std::string content_type;             // the part's Content-Type, "" when absent
  std::string_view data;                // the part's bytes, inside the parsed body
};

struct MultipartLimits {
  size_t max_parts = 16;                // more parts: invalid_input
  size_t max_part_header_bytes = 8192;  // the header block of one part
};

// The boundary parameter of a "multipart/form-data; boundary=..." Content-Type (quoted or not).
Result<std::string> multipart_boundary(std::string_view content_type);

// Splits `body` into its parts, in order.
Result<std::vector<MultipartPart>> parse_multipart(std::string_view content_type, std::string_view body,
                                                   const MultipartLimits& limits = {});

}  // namespace xervo::server
