// Test support: cuts the byte stream a connection sent into HTTP/1.1 responses, with its own reading of the framing
// (RFC 9112 §6), so that a test or fuzzer checks the server's output without trusting the server's writer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tiercel::testing {

/// One response cut from the sent byte stream.
struct ParsedResponse {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool interim = false;   ///< a 1xx response (not counted as an answer)
  size_t index = 0;       ///< answer number: 0 for the first final response, interim ones share the next
  /// Value of the first header named `name` (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n.size() == name.size() &&
          std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) { return (a | 0x20) == (b | 0x20); })) {
        return &v;
      }
    }
    return nullptr;
  }
  bool closes() const {
    const std::string* c = header("Connection");
    return c && *c == "close";
  }
};

/// Cuts `stream` into HTTP/1.1 responses. `is_head(i, status)` says whether final response number i,
/// with that status, answers a HEAD request (Content-Length but no body). Returns false with `error` set
/// on anything malformed, including a response cut short at the end of the stream.
inline bool split_responses(std::string_view stream, const std::function<bool(size_t, int)>& is_head,
                            std::vector<ParsedResponse>& out, std::string& error) {
  size_t pos = 0;
  size_t index = 0;
  while (pos < stream.size()) {
    size_t head_end = stream.find("\r\n\r\n", pos);
    if (head_end == std::string_view::npos) {
      error = "response head cut short at byte " + std::to_string(pos);
      return false;
    }
    std::string_view head = stream.substr(pos, head_end + 2 - pos);
    ParsedResponse r;
    r.index = index;
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    if (line.size() < 13 || line.substr(0, 9) != "HTTP/1.1 " || line[12] != ' ') {
      error = "bad status line at byte " + std::to_string(pos) + ": " + std::string(line.substr(0, 40));
      return false;
    }
    for (size_t i = 9; i < 12; ++i) {
      if (line[i] < '0' || line[i] > '9') {
        error = "bad status code at byte " + std::to_string(pos);
        return false;
      }
      r.status = r.status * 10 + (line[i] - '0');
    }
    r.reason = std::string(line.substr(13));
    head.remove_prefix(eol + 2);
    int lengths = 0;
    uint64_t length = 0;
    while (!head.empty()) {
      eol = head.find("\r\n");
      line = head.substr(0, eol);
      head.remove_prefix(eol + 2);
      size_t colon = line.find(": ");
      if (colon == std::string_view::npos || colon == 0) {
        error = "bad header line in response " + std::to_string(index) + ": " + std::string(line);
        return false;
      }
      r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
      if (r.headers.back().first == "Content-Length") {
        ++lengths;
        std::string_view v = line.substr(colon + 2);
        if (v.empty() || v.size() > 12) {
          error = "bad Content-Length in response " + std::to_string(index);
          return false;
        }
        for (char c : v) {
          if (c < '0' || c > '9') {
            error = "bad Content-Length in response " + std::to_string(index);
            return false;
          }
          length = length * 10 + static_cast<uint64_t>(c - '0');
        }
      }
    }
    pos = head_end + 4;
    r.interim = r.status < 200;
    bool no_length = r.status < 200 || r.status == 204;
    if (no_length ? lengths != 0 : lengths != 1) {
      error = "response " + std::to_string(index) + " (status " + std::to_string(r.status) + ") has " +
              std::to_string(lengths) + " Content-Length headers";
      return false;
    }
    bool body = !no_length && r.status != 304 && !(r.status >= 200 && is_head(index, r.status));
    if (body) {
      if (stream.size() - pos < length) {
        error = "response " + std::to_string(index) + " body cut short";
        return false;
      }
      r.body = std::string(stream.substr(pos, static_cast<size_t>(length)));
      pos += static_cast<size_t>(length);
    }
    if (!r.interim) ++index;
    out.push_back(std::move(r));
  }
  return true;
}

}  // namespace tiercel::testing
