#include "server/multipart.h"

#include <algorithm>
#include <cctype>
#include "core/text.h"

namespace xervo::server {
namespace {

Error malformed(const std::string& what) {
  return Error(ErrorCode::invalid_input, "malformed multipart/form-data body: " + what);
}

std::string lower(std::string_view s) { return text::ascii_lower(s); }

using text::trim;

// Header parameters `; key=value; key="quoted \" value"` after the first token, names lowercased.
std::vector<std::pair<std::string, std::string>> parameters(std::string_view header) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = header.find(';');
  while (i != std::string_view::npos && i < header.size()) {
    ++i;
    size_t eq = header.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string key = lower(trim(header.substr(i, eq - i)));
    size_t j = eq + 1;
    while (j < header.size() && (header[j] == ' ' || header[j] == '\t')) ++j;
    std::string value;
    if (j < header.size() && header[j] == '"') {
      for (++j; j < header.size() && header[j] != '"'; ++j) {
        if (header[j] == '\\' && j + 1 < header.size()) ++j;
        value += header[j];
      }
      i = header.find(';', j);
    } else {
      size_t end = header.find(';', j);
      value = std::string(trim(header.substr(j, end == std::string_view::npos ? end : end - j)));
      i = end;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

Result<MultipartPart> parse_part(std::string_view headers, std::string_view data) {
  MultipartPart part;
  part.data = data;
  bool disposition = false;
  while (!headers.empty()) {
    size_t end = headers.find("\r\n");
    std::string_view line = headers.substr(0, end);
    headers = end == std::string_view::npos ? std::string_view{} : headers.substr(end + 2);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return malformed("a part header line has no ':'");
    std::string name = lower(trim(line.substr(0, colon)));
    std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-type") {
      part.content_type = std::string(value);
    } else if (name == "content-disposition") {
      if (lower(trim(value.substr(0, value.find(';')))) != "form-data")
        return malformed("a part's Content-Disposition is not form-data");
      disposition = true;
      for (auto& [key, v] : parameters(value)) {
        if (key == "name") part.name = v;
        if (key == "filename") part.filename = v;
      }
    }
  }
  if (!disposition) return malformed("a part has no Content-Disposition header");
  if (part.name.empty()) return malformed("a part's Content-Disposition has no name");
  return part;
}

}  // namespace

Result<std::string> multipart_boundary(std::string_view content_type) {
  std::string type = lower(trim(content_type.substr(0, content_type.find(';'))));
  if (type != "multipart/form-data")
    return Error(ErrorCode::invalid_input, "the body must be multipart/form-data (Content-Type is '" +
                                               std::string(content_type.substr(0, 100)) + "')");
  for (auto& [key, value] : parameters(content_type)) {
    if (key != "boundary") continue;
    // RFC 2046: 1 to 70 characters, not ending in a space.
    if (value.empty() || value.size() > 70 || value.back() == ' ')
      return Error(ErrorCode::invalid_input, "the multipart boundary must be 1 to 70 characters");
    return value;
  }
  return Error(ErrorCode::invalid_input, "the multipart/form-data Content-Type has no boundary parameter");
}

Result<std::vector<MultipartPart>> parse_multipart(std::string_view content_type, std::string_view body,
                                                   const MultipartLimits& limits) {
  auto boundary = multipart_boundary(content_type);
  if (!boundary.ok()) return boundary.error();
  const std::string dash = "--" + *boundary;
  const std::string delimiter = "\r\n" + dash;
  // The first delimiter may open the body or follow a preamble.
  size_t pos;
  if (body.starts_with(dash)) {
    pos = dash.size();
  } else {
    size_t found = body.find(delimiter);
    if (found == std::string_view::npos) return malformed("the boundary never appears in the body");
    pos = found + delimiter.size();
  }
  std::vector<MultipartPart> parts;
  while (true) {
    if (body.substr(pos, 2) == "--") return parts;  // the close delimiter; an epilogue is ignored
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") return malformed("a boundary line does not end with CRLF");
    pos += 2;
    if (parts.size() == limits.max_parts)
      return malformed("more than " + std::to_string(limits.max_parts) + " parts");
    size_t header_end = body.find("\r\n\r\n", pos);
    // A part without header fields starts its data right after the boundary line's CRLF.
    std::string_view headers;
    if (body.substr(pos, 2) == "\r\n") {
      header_end = pos;
      pos += 2;
    } else {
      if (header_end == std::string_view::npos || header_end - pos > limits.max_part_header_bytes)
        return malformed(header_end == std::string_view::npos
                             ? "a part's headers never end"
                             : "a part's headers are larger than " +
                                   std::to_string(limits.max_part_header_bytes) + " bytes");
      headers = body.substr(pos, header_end - pos);
      pos = header_end + 4;
    }
    size_t data_end = body.find(delimiter, pos);
    if (data_end == std::string_view::npos) return malformed("a part is never closed by the boundary");
    auto part = parse_part(headers, body.substr(pos, data_end - pos));
    if (!part.ok()) return part.error();
    parts.push_back(std::move(*part));
    pos = data_end + delimiter.size();
  }
}

}  // namespace xervo::server
