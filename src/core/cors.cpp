// CORS: response headers and preflight answers.
#include "core/cors.h"

#include "core/response_writer.h"
#include "core/field_syntax.h"

namespace tiercel {

namespace {

void append_joined(std::string& out, std::string_view name, const std::vector<std::string>& items) {
  out.append(name).append(": ");
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out.append(", ");
    out.append(items[i]);
  }
  out.append("\r\n");
}

// Request headers a browser never asks permission for (Fetch's CORS-safelisted request-headers).
constexpr std::string_view kSafelisted[] = {"accept", "accept-language", "content-language", "content-type"};

}  // namespace

const std::string_view* find_header(const std::vector<http1::Header>& headers, std::string_view name) noexcept {
  for (auto& h : headers) {
    if (ascii_iequal(h.name, name)) return &h.value;
  }
  return nullptr;
}

int CorsPolicy::match(std::string_view origin) const noexcept {
  if (any_origin) return kAnyOrigin;
  for (size_t i = 0; i < origins.size(); ++i) {
    if (origins[i] == origin) return static_cast<int>(i);
  }
  return kNoOrigin;
}

void CorsPolicy::append_response_lines(std::string& out, int m, std::string_view own) const {
  std::string lines;
  if (m == kAnyOrigin) {
    lines.append("Access-Control-Allow-Origin: *\r\n");
  } else {
    lines.append("Vary: Origin\r\n");
    if (m >= 0) {
      lines.append("Access-Control-Allow-Origin: ").append(origins[static_cast<size_t>(m)]).append("\r\n");
      if (credentials) lines.append("Access-Control-Allow-Credentials: true\r\n");
    }
  }
  if (m != kNoOrigin && !expose_headers.empty()) append_joined(lines, "Access-Control-Expose-Headers", expose_headers);
  append_absent(out, own, lines);
}

int CorsPolicy::preflight(const http1::RequestHead& head, std::string_view allow_methods, std::string& lines,
                          std::string& message) const {
  const std::string_view* origin = find_header(head.headers, "origin");
  const std::string_view* method = find_header(head.headers, "access-control-request-method");
  int m = origin ? match(*origin) : kNoOrigin;
  if (!any_origin) lines.append("Vary: Origin\r\n");
  if (m == kNoOrigin) {
    message = "Disallowed CORS origin";
    return 400;
  }
  bool method_ok = method && !each_list_item(allow_methods, [&](std::string_view allowed) { return allowed != *method; });
  if (!method_ok) {
    message = "Disallowed CORS method";
    return 400;
  }
  const std::string_view* requested = find_header(head.headers, "access-control-request-headers");
  if (requested && !any_header) {
    bool headers_ok = each_list_item(*requested, [&](std::string_view name) {
      for (auto safe : kSafelisted)
        if (ascii_iequal(name, safe)) return true;
      for (auto& allowed : allow_headers)
        if (ascii_iequal(name, allowed)) return true;
      return false;
    });
    if (!headers_ok) {
      message = "Disallowed CORS headers";
      return 400;
    }
  }
  if (m == kAnyOrigin) {
    lines.append("Access-Control-Allow-Origin: *\r\n");
  } else {
    lines.append("Access-Control-Allow-Origin: ").append(origins[static_cast<size_t>(m)]).append("\r\n");
    if (credentials) lines.append("Access-Control-Allow-Credentials: true\r\n");
  }
  lines.append("Access-Control-Allow-Methods: ").append(allow_methods).append("\r\n");
  if (any_header) {
    if (requested && !requested->empty()) lines.append("Access-Control-Allow-Headers: ").append(*requested).append("\r\n");
  } else if (!allow_headers.empty()) {
    append_joined(lines, "Access-Control-Allow-Headers", allow_headers);
  }
  lines.append("Access-Control-Max-Age: ").append(std::to_string(max_age)).append("\r\n");
  return 204;
}

}  // namespace tiercel
