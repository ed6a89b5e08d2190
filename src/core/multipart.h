// multipart/form-data (RFC 7578, framing from RFC 2046 §5.1): a strict parser over a complete body. Part bodies
// are views into the input; malformed input (no boundary, a truncated part, bad part headers) is refused.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tiercel {

struct MultipartPart {
  std::string name;          ///< the form field (Content-Disposition name=)
  std::string filename;      ///< the file name (filename=), when has_filename
  bool has_filename = false;
  std::string content_type;  ///< the part's Content-Type, or "" (text/plain by default for fields)
  std::string_view data;     ///< the part's body: a view into the parsed input
};

struct MultipartLimits {
  size_t max_parts = 1000;
  size_t max_part_header_bytes = 8 * 1024;
};

/// The boundary of a `multipart/form-data; boundary=...` Content-Type; false when there is none or it is invalid.
bool multipart_boundary(std::string_view content_type, std::string& boundary);

/// Parses `body` into `parts`; false with `error` saying what is wrong.
bool parse_multipart(std::string_view body, std::string_view boundary, const MultipartLimits& limits,
                     std::vector<MultipartPart>& parts, std::string& error);

}  // namespace tiercel
