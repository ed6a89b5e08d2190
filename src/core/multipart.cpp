// multipart/form-data.
#include "core/multipart.h"

#include "core/response_writer.h"
#include "core/text.h"

namespace tiercel {

namespace {



/// RFC 2046 bchars: the characters a boundary may hold (1 to 70 of them, not ending in a space).
bool boundary_char(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

/// A parameter value: a token, or a quoted-string with \-escapes. `rest` advances past it.
bool param_value(std::string_view& rest, std::string& out) {
  out.clear();
  rest = trim_ows(rest);
  if (!rest.empty() && rest.front() == '"') {
    for (size_t i = 1; i < rest.size(); ++i) {
      char c = rest[i];
      if (c == '\\' && i + 1 < rest.size()) {
        out.push_back(rest[++i]);
      } else if (c == '"') {
        rest.remove_prefix(i + 1);
        return true;
      } else {
        out.push_back(c);
      }
    }
    return false;  // unterminated
  }
  size_t end = rest.find(';');
  out = std::string(trim_ows(rest.substr(0, end)));
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  return true;
}

/// Calls f(name, value) for each `; name=value` parameter after the first item of a header value.
template <class F>
bool each_param(std::string_view value, F&& f) {
  size_t semi = value.find(';');
  if (semi == std::string_view::npos) return true;
  std::string_view rest = value.substr(semi + 1);
  while (!trim_ows(rest).empty()) {
    rest = trim_ows(rest);
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos) return false;
    std::string_view name = trim_ows(rest.substr(0, eq));
    rest.remove_prefix(eq + 1);
    std::string v;
    if (!param_value(rest, v)) return false;
    f(name, v);
    rest = trim_ows(rest);
    if (!rest.empty()) {
      if (rest.front() != ';') return false;
      rest.remove_prefix(1);
    }
  }
  return true;
}

}  // namespace

bool multipart_boundary(std::string_view content_type, std::string& boundary) {
  std::string_view type = trim_ows(content_type.substr(0, content_type.find(';')));
  if (!ascii_iequal(type, "multipart/form-data")) return false;
  boundary.clear();
  bool ok = each_param(content_type, [&](std::string_view name, const std::string& v) {
    if (ascii_iequal(name, "boundary")) boundary = v;
  });
  if (!ok || boundary.empty() || boundary.size() > 70 || boundary.back() == ' ') return false;
  for (char c : boundary) {
    if (!boundary_char(c)) return false;
  }
  return true;
}

bool parse_multipart(std::string_view body, std::string_view boundary, const MultipartLimits& limits,
                     std::vector<MultipartPart>& parts, std::string& error) {
  const std::string delimiter = "--" + std::string(boundary);
  // The first delimiter: at the start, or after a preamble ending in CRLF.
  size_t pos;
  if (body.substr(0, delimiter.size()) == delimiter) {
    pos = delimiter.size();
  } else {
    size_t at = body.find("\r\n" + delimiter);
    if (at == std::string_view::npos) {
      error = "the body has no multipart boundary '" + std::string(boundary) + "'";
      return false;
    }
    pos = at + 2 + delimiter.size();
  }
  const std::string next = "\r\n" + delimiter;
  while (true) {
    // After a delimiter: "--" (the end) or optional whitespace then CRLF.
    if (body.substr(pos, 2) == "--") return true;
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") {
      error = "a multipart boundary line is malformed or the body is truncated";
      return false;
    }
    pos += 2;
    if (parts.size() >= limits.max_parts) {
      error = "too many multipart parts (more than " + std::to_string(limits.max_parts) + ")";
      return false;
    }
    size_t head_end = body.find("\r\n\r\n", pos);
    size_t empty_head = body.substr(pos, 2) == "\r\n" ? pos : std::string_view::npos;
    MultipartPart part;
    std::string_view head;
    size_t data_start;
    if (empty_head == pos) {
      data_start = pos + 2;
    } else {
      if (head_end == std::string_view::npos) {
        error = "a multipart part's headers are truncated";
        return false;
      }
      head = body.substr(pos, head_end - pos);
      data_start = head_end + 4;
    }
    if (head.size() > limits.max_part_header_bytes) {
      error = "a multipart part's headers are too large";
      return false;
    }
    bool disposition = false;
    while (!head.empty()) {
      size_t eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
      size_t colon = line.find(':');
      std::string_view name = colon == std::string_view::npos ? std::string_view{} : line.substr(0, colon);
      std::string_view value = colon == std::string_view::npos ? std::string_view{} : trim_ows(line.substr(colon + 1));
      // Header injection: a bare CR or LF, NUL, obs-fold or a name that is not a token is refused.
      if (name.empty() || !is_header_name(name) || !is_header_value(value) ||
          line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos) {
        error = "a multipart part has a malformed header line";
        return false;
      }
      if (ascii_iequal(name, "content-disposition")) {
        if (disposition) {
          error = "a multipart part has two Content-Disposition headers";
          return false;
        }
        disposition = true;
        std::string_view kind = trim_ows(value.substr(0, value.find(';')));
        if (!ascii_iequal(kind, "form-data")) {
          error = "a multipart part's Content-Disposition is not form-data";
          return false;
        }
        bool ok = each_param(value, [&](std::string_view pname, const std::string& v) {
          if (ascii_iequal(pname, "name")) part.name = v;
          if (ascii_iequal(pname, "filename")) {
            part.filename = v;
            part.has_filename = true;
          }
        });
        if (!ok) {
          error = "a multipart part's Content-Disposition is malformed";
          return false;
        }
      } else if (ascii_iequal(name, "content-type")) {
        part.content_type = std::string(value);
      }
    }
    if (!disposition) {
      error = "a multipart part has no Content-Disposition";
      return false;
    }
    size_t data_end = body.find(next, data_start);
    if (data_end == std::string_view::npos) {
      error = "a multipart part is truncated (no closing boundary)";
      return false;
    }
    part.data = body.substr(data_start, data_end - data_start);
    parts.push_back(std::move(part));
    pos = data_end + next.size();
  }
}

}  // namespace tiercel
