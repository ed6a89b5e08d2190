// Response heads in HTTP/1.1: status lines, header lines, the Date cache, framing and connection fields.
#include "core/response_writer.h"

#include "core/field_syntax.h"

#include <charconv>
#include <cstdio>
#include <cstring>

namespace tiercel {

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string_view DateCache::line(std::time_t now) noexcept {
  if (now != cached_second_) {
    static constexpr std::string_view kName = "Date: ";
    kName.copy(buf_, kName.size());
    size_t n = kName.size() + format_http_date(now, buf_ + kName.size(), sizeof buf_ - kName.size() - 2);
    buf_[n++] = '\r';
    buf_[n++] = '\n';
    len_ = n;
    cached_second_ = now;
  }
  return {buf_, len_};
}

namespace {

void append_uint(std::string& out, uint64_t v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  (void)ec;  // 24 bytes always hold a uint64
  out.append(digits, end);
}

}  // namespace

void ResponseWriter::start(int status) {
  head_start_ = out_.size();
  status_ = status;
  out_.append("HTTP/1.1 ");
  append_uint(out_, static_cast<uint64_t>(status));
  out_.push_back(' ');
  out_.append(reason_phrase(status));
  out_.append("\r\n");
}

void ResponseWriter::header(std::string_view name, std::string_view value) {
  out_.append(name);
  out_.append(": ");
  out_.append(value);
  out_.append("\r\n");
}

void ResponseWriter::finish(std::string_view body, const ResponseContext& ctx) {
  if (finish_head(body.size(), ctx)) out_.append(body);
}

ResponseWriter::Own ResponseWriter::own_fields() const noexcept {
  // On every response: memchr per line, and a name compared only when its length is that of one we look for.
  Own own;
  const char* p = out_.data() + head_start_;
  const char* end = out_.data() + out_.size();
  const char* eol = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));  // status line
  for (p = eol ? eol + 1 : end; p < end; p = eol + 1) {
    eol = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (!eol) break;
    const char* colon = static_cast<const char*>(std::memchr(p, ':', static_cast<size_t>(eol - p)));
    size_t n = colon ? static_cast<size_t>(colon - p) : 0;
    if (n == 4 && ascii_iequal({p, n}, "date")) own.date = true;
    if (n == 6 && ascii_iequal({p, n}, "server")) own.server = true;
  }
  return own;
}

void ResponseWriter::finish_common(Own own, bool close, bool keep_alive_line) {
  if (!own.date) out_.append(date_line_);
  if (!own.server && !server_header_.empty()) header("Server", server_header_);
  says_close_ = close;
  if (close) {
    out_.append("Connection: close\r\n");
  } else if (keep_alive_line) {
    out_.append("Connection: keep-alive\r\n");
  }
  out_.append("\r\n");
}

ResponseWriter::Framing ResponseWriter::finish_head_streaming(const ResponseContext& ctx) {
  Own own = own_fields();
  bool no_body = bodyless_status(status_);
  Framing framing = no_body || ctx.head_request ? Framing::kNone : ctx.http10 ? Framing::kUntilClose : Framing::kChunked;
  if (!no_body && !ctx.http10) out_.append("Transfer-Encoding: chunked\r\n");
  finish_common(own, !ctx.keep_alive || (ctx.http10 && !no_body), false);
  return framing;
}

bool ResponseWriter::finish_head(size_t body_size, const ResponseContext& ctx) {
  Own own = own_fields();
  if (!lengthless_status(status_)) {
    out_.append("Content-Length: ");
    append_uint(out_, body_size);
    out_.append("\r\n");
  }
  finish_common(own, !ctx.keep_alive, ctx.http10);
  return !ctx.head_request && !bodyless_status(status_);
}

void ResponseWriter::text(int status, std::string_view body, const ResponseContext& ctx,
                          std::string_view extra_lines) {
  static constexpr std::string_view kType = "Content-Type: text/plain; charset=utf-8\r\n";
  start(status);
  out_.append(kType);
  append_absent(out_, kType, extra_lines);
  finish(body, ctx);
}

bool find_field(std::string_view lines, std::string_view name, std::string_view* value) noexcept {
  while (!lines.empty()) {
    size_t end = lines.find("\r\n");
    std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 2);
    size_t colon = line.find(':');
    if (colon == name.size() && ascii_iequal(line.substr(0, colon), name)) {
      if (value) {
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        *value = v;
      }
      return true;
    }
  }
  return false;
}

namespace {

/// Whether some Vary field among `lines` lists `token` (or "*").
bool varies_on(std::string_view lines, std::string_view token) {
  while (!lines.empty()) {
    size_t end = lines.find("\r\n");
    std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 2);
    size_t colon = line.find(':');
    if (colon != 4 || !ascii_iequal(line.substr(0, 4), "vary")) continue;
    bool listed = !each_list_item(line.substr(colon + 1), [&](std::string_view t) {
      return !(t == "*" || ascii_iequal(t, token));
    });
    if (listed) return true;
  }
  return false;
}

}  // namespace

void append_absent(std::string& out, std::string_view own, std::string_view extra) {
  while (!extra.empty()) {
    size_t end = extra.find("\r\n");
    end = end == std::string_view::npos ? extra.size() : end + 2;
    std::string_view line = extra.substr(0, end);
    extra.remove_prefix(end);
    std::string_view name = line.substr(0, line.find(':'));
    bool present;
    if (ascii_iequal(name, "vary")) {
      // A list field: several lines add up. Left out only when the response's own Vary names each token already.
      std::string_view value = line.substr(name.size() + 1);
      if (value.ends_with("\r\n")) value.remove_suffix(2);
      present = each_list_item(value, [&](std::string_view t) { return varies_on(own, t); });
    } else {
      present = find_field(own, name);
    }
    if (!present) out.append(line);
  }
}

namespace {

constexpr bool is_tchar(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

}  // namespace

bool is_header_name(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool is_header_value(std::string_view s) noexcept {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

}  // namespace tiercel
