// multipart/form-data.
#include "core/multipart.h"

#include <algorithm>

#include "core/response_writer.h"
#include "core/field_syntax.h"

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

MultipartReader::MultipartReader(std::string_view boundary, const MultipartLimits& limits)
    : delimiter_("\r\n--" + std::string(boundary)), limits_(limits) {}

bool MultipartReader::fail(std::string message) {
  state_ = State::kFailed;
  error_ = std::move(message);
  held_.clear();
  return false;
}

bool MultipartReader::feed(std::string_view data, Handler& handler) {
  if (state_ == State::kFailed) return false;
  size_t used = 0;
  if (held_.empty()) {
    // The common case: parse straight from the caller's bytes and keep back only what is unfinished.
    if (!run(data, used, handler)) return false;
    held_.assign(data.substr(used));
  } else {
    held_.append(data);
    if (!run(held_, used, handler)) return false;
    held_.erase(0, used);
  }
  if (state_ == State::kDone) held_.clear();  // the epilogue is ignored
  return true;
}

bool MultipartReader::finish() {
  switch (state_) {
    case State::kDone:
      return true;
    case State::kFailed:
      return false;
    case State::kPreamble:
      return fail("the body has no multipart boundary '" + delimiter_.substr(4) + "'");
    case State::kAfterDelimiter:
      return fail("a multipart boundary line is malformed or the body is truncated");
    case State::kHeaders:
      return fail("a multipart part's headers are truncated");
    case State::kData:
      break;
  }
  return fail("a multipart part is truncated (no closing boundary)");
}

bool MultipartReader::run(std::string_view in, size_t& used, Handler& handler) {
  const std::string_view dash_boundary = std::string_view(delimiter_).substr(2);  // "--" boundary
  size_t pos = 0;
  // Bytes at the end that could be the start of a delimiter: kept until the next piece says.
  auto keep_back = [&](std::string_view rest) { return std::min(rest.size(), delimiter_.size() - 1); };
  while (true) {
    std::string_view rest = in.substr(pos);
    switch (state_) {
      case State::kPreamble: {
        if (at_start_) {
          // The first delimiter may open the body without the CRLF before it.
          size_t n = std::min(rest.size(), dash_boundary.size());
          if (rest.substr(0, n) == dash_boundary.substr(0, n)) {
            if (n < dash_boundary.size()) {
              used = pos;
              return true;
            }
            at_start_ = false;
            pos += dash_boundary.size();
            state_ = State::kAfterDelimiter;
            continue;
          }
          at_start_ = false;
        }
        size_t at = rest.find(delimiter_);
        if (at == std::string_view::npos) {  // the preamble is ignored
          used = in.size() - keep_back(rest);
          return true;
        }
        pos += at + delimiter_.size();
        state_ = State::kAfterDelimiter;
        continue;
      }
      case State::kAfterDelimiter: {
        // "--" closes the body; otherwise optional whitespace (transport padding), then CRLF.
        if (rest.size() < 2) break;
        if (rest.substr(0, 2) == "--") {
          state_ = State::kDone;
          used = in.size();
          return true;
        }
        size_t ws = 0;
        while (ws < rest.size() && (rest[ws] == ' ' || rest[ws] == '\t')) ++ws;
        if (ws > 64) return fail("a multipart boundary line is malformed or the body is truncated");
        if (rest.size() - ws < 2) break;
        if (rest.substr(ws, 2) != "\r\n") return fail("a multipart boundary line is malformed or the body is truncated");
        if (parts_ >= limits_.max_parts) {
          return fail("too many multipart parts (more than " + std::to_string(limits_.max_parts) + ")");
        }
        pos += ws + 2;
        state_ = State::kHeaders;
        continue;
      }
      case State::kHeaders: {
        if (rest.size() < 2) break;
        std::string_view head;
        size_t data_start = 2;  // no headers at all: refused below (no Content-Disposition)
        if (rest.substr(0, 2) != "\r\n") {
          size_t end = rest.find("\r\n\r\n");
          if (end == std::string_view::npos) {
            if (rest.size() > limits_.max_part_header_bytes + 3) return fail("a multipart part's headers are too large");
            break;
          }
          head = rest.substr(0, end);
          data_start = end + 4;
        }
        if (head.size() > limits_.max_part_header_bytes) return fail("a multipart part's headers are too large");
        MultipartPart part;
        if (!parse_part_head(head, part)) return false;
        ++parts_;
        handler.on_part(part);
        pos += data_start;
        state_ = State::kData;
        continue;
      }
      case State::kData: {
        size_t at = rest.find(delimiter_);
        std::string_view data = at == std::string_view::npos ? rest.substr(0, rest.size() - keep_back(rest))
                                                             : rest.substr(0, at);
        std::string message;
        if (!data.empty() && !handler.on_data(data, message)) return fail(std::move(message));
        if (at == std::string_view::npos) {
          used = pos + data.size();
          return true;
        }
        handler.on_part_end();
        pos += at + delimiter_.size();
        state_ = State::kAfterDelimiter;
        continue;
      }
      case State::kDone:
        used = in.size();
        return true;
      case State::kFailed:
        return false;
    }
    used = pos;  // the rest of `in` is an unfinished line: wait for more
    return true;
  }
}

bool MultipartReader::parse_part_head(std::string_view head, MultipartPart& part) {
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
      return fail("a multipart part has a malformed header line");
    }
    if (ascii_iequal(name, "content-disposition")) {
      if (disposition) return fail("a multipart part has two Content-Disposition headers");
      disposition = true;
      std::string_view kind = trim_ows(value.substr(0, value.find(';')));
      if (!ascii_iequal(kind, "form-data")) return fail("a multipart part's Content-Disposition is not form-data");
      bool ok = each_param(value, [&](std::string_view pname, const std::string& v) {
        if (ascii_iequal(pname, "name")) part.name = v;
        if (ascii_iequal(pname, "filename")) {
          part.filename = v;
          part.has_filename = true;
        }
      });
      if (!ok) return fail("a multipart part's Content-Disposition is malformed");
    } else if (ascii_iequal(name, "content-type")) {
      part.content_type = std::string(value);
    }
  }
  if (!disposition) return fail("a multipart part has no Content-Disposition");
  return true;
}

bool parse_multipart(std::string_view body, std::string_view boundary, const MultipartLimits& limits,
                     std::vector<MultipartPart>& parts, std::string& error) {
  // Fed in one piece, the reader hands each part's data as views into `body`, in order: they join into one.
  struct Collect : MultipartReader::Handler {
    explicit Collect(std::vector<MultipartPart>& p) : parts(p) {}
    std::vector<MultipartPart>& parts;
    void on_part(const MultipartPart& part) override { parts.push_back(part); }
    bool on_data(std::string_view data, std::string& message) override {
      std::string_view& v = parts.back().data;
      if (v.empty()) {
        v = data;
      } else if (v.data() + v.size() == data.data()) {
        v = std::string_view(v.data(), v.size() + data.size());
      } else {
        message = "a multipart part's data is not contiguous";  // cannot happen for one piece
        return false;
      }
      return true;
    }
    void on_part_end() override {}
  };
  MultipartReader reader(boundary, limits);
  Collect collect(parts);
  if (reader.feed(body, collect) && reader.finish()) return true;
  error = reader.error();
  return false;
}

}  // namespace tiercel
