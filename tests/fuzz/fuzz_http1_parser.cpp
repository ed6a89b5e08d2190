// libFuzzer target for the HTTP/1.1 parser: drives parse_head and ChunkedDecoder over the input as a
// pipelined request stream, with default and with small limits, checks the invariants of every
// accepted head, and aborts unless feeding the stream in pieces ends exactly as feeding it whole.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_limits.h"
#include "core/http1_parser.h"

namespace {

using tiercel::http1::BodyFraming;
using tiercel::http1::ChunkedDecoder;
using tiercel::http1::Limits;
using tiercel::http1::ParseError;
using tiercel::http1::ParseStatus;
using tiercel::http1::RequestHead;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_http1_parser: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

using tiercel::fuzz::small_limits;

bool is_tchar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool inside(std::string_view part, std::string_view whole) {
  return part.data() == nullptr ? part.empty()
                                : part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

/// Properties every accepted head must have, whatever the input was.
void check_head(const RequestHead& h, std::string_view buf, const Limits& limits) {
  check(h.head_size > 0 && h.head_size <= buf.size(), "head_size out of range");
  const std::string_view head = buf.substr(0, h.head_size);
  check(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n", "head does not end with CRLF CRLF");
  check(!h.method.empty() && inside(h.method, head), "method");
  for (const char c : h.method) check(is_tchar(c), "method is not a token");
  check(!h.target.empty() && inside(h.target, head), "target");
  for (const char c : h.target) check(c > 0x20 && c < 0x7f, "target byte");
  check(inside(h.path, h.target) && inside(h.query, h.target), "path/query outside the target");
  check(h.version_minor <= 1, "version");
  check(h.headers.size() <= limits.max_header_count, "header count over the limit");
  size_t hosts = 0;
  for (const auto& f : h.headers) {
    check(!f.name.empty() && inside(f.name, head) && inside(f.value, head), "header view");
    for (const char c : f.name) check(is_tchar(c), "header name is not a token");
    for (const char c : f.value) {
      const auto u = static_cast<unsigned char>(c);
      check(u == '\t' || (u >= 0x20 && u != 0x7f), "control byte in a header value");
    }
    if (!f.value.empty()) {
      check(f.value.front() != ' ' && f.value.front() != '\t', "value not trimmed");
      check(f.value.back() != ' ' && f.value.back() != '\t', "value not trimmed");
    }
    if (f.name.size() == 4 && (f.name[0] | 0x20) == 'h' && (f.name[1] | 0x20) == 'o' && (f.name[2] | 0x20) == 's' &&
        (f.name[3] | 0x20) == 't') {
      ++hosts;
    }
  }
  check(hosts <= 1 && (h.version_minor == 0 || hosts == 1), "Host rule");
  check(h.framing != BodyFraming::kChunked || h.version_minor == 1, "chunked on HTTP/1.0");
  check(h.framing != BodyFraming::kContentLength || h.content_length <= limits.max_body, "body over the limit");
  check(!h.upgrade || h.version_minor == 1, "upgrade on HTTP/1.0");
}

/// What a connection would see, as comparable text.
struct Trace {
  std::vector<std::string> events;
  void add(std::string e) { events.push_back(std::move(e)); }
};

std::string describe_head(const RequestHead& h) {
  std::string s = "head ";
  s.append(h.method).append(" ").append(h.target).append(" path=").append(h.path).append(" query=").append(h.query);
  s += " v1." + std::to_string(h.version_minor) + " host=" + std::string(h.host);
  for (const auto& f : h.headers) s.append(" [").append(f.name).append(":").append(f.value).append("]");
  s += " framing=" + std::to_string(static_cast<int>(h.framing)) + " cl=" + std::to_string(h.content_length);
  s += h.keep_alive ? " ka" : " close";
  s += h.expect_continue ? " 100" : "";
  s += h.upgrade ? " upgrade" : "";
  s += " size=" + std::to_string(h.head_size);
  return s;
}

/// Feeds `input` to a simulated connection in the pieces that `cuts` (ascending offsets) delimit.
Trace drive(std::string_view input, const std::vector<size_t>& cuts, const Limits& limits) {
  enum class Phase { kHead, kLength, kChunked, kError };
  Trace trace;
  std::string buf;  // received, not yet consumed
  Phase phase = Phase::kHead;
  RequestHead head;
  ChunkedDecoder decoder;
  std::string body;
  uint64_t remaining = 0;
  size_t from = 0;
  for (size_t piece = 0; piece <= cuts.size() && phase != Phase::kError; ++piece) {
    const size_t to = piece < cuts.size() ? cuts[piece] : input.size();
    buf.append(input.substr(from, to - from));
    from = to;
    while (phase != Phase::kError) {
      if (phase == Phase::kHead) {
        if (buf.empty()) break;
        ParseError err = ParseError::kNone;
        const ParseStatus st = parse_head(buf, limits, head, err);
        if (st == ParseStatus::kIncomplete) {
          check(err == ParseError::kNone, "error set on kIncomplete");
          break;
        }
        if (st == ParseStatus::kError) {
          check(err != ParseError::kNone, "kError without a reason");
          trace.add("error " + std::to_string(static_cast<int>(err)));
          phase = Phase::kError;
          break;
        }
        check(err == ParseError::kNone, "error set on kComplete");
        check_head(head, buf, limits);
        trace.add(describe_head(head));
        buf.erase(0, head.head_size);
        body.clear();
        if (head.framing == BodyFraming::kContentLength) {
          remaining = head.content_length;
          phase = Phase::kLength;
        } else if (head.framing == BodyFraming::kChunked) {
          decoder.reset();
          phase = Phase::kChunked;
        }
      } else if (phase == Phase::kLength) {
        const size_t take = remaining < buf.size() ? static_cast<size_t>(remaining) : buf.size();
        body.append(buf, 0, take);
        buf.erase(0, take);
        remaining -= take;
        if (remaining > 0) break;
        trace.add("body " + body);
        phase = Phase::kHead;
      } else {
        size_t used = 0;
        ParseError err = ParseError::kNone;
        const size_t before = body.size();
        const ParseStatus st = decoder.feed(buf, limits, body, used, err);
        check(used <= buf.size(), "consumed more than given");
        check(body.size() - before <= used, "decoded more than consumed");
        if (st == ParseStatus::kError) {
          check(err != ParseError::kNone, "kError without a reason");
          trace.add("chunked error " + std::to_string(static_cast<int>(err)));
          phase = Phase::kError;
          break;
        }
        check(err == ParseError::kNone, "error set without kError");
        buf.erase(0, used);
        if (st == ParseStatus::kIncomplete) {
          check(buf.empty(), "kIncomplete left bytes unconsumed");
          break;
        }
        check(body.size() <= limits.max_body, "chunked body over the limit");
        std::string t = "chunked body " + body;
        for (const auto& [name, value] : decoder.trailers()) t += " [" + name + ":" + value + "]";
        trace.add(t);
        phase = Phase::kHead;
      }
    }
  }
  // Where the stream stopped, including a partial body.
  trace.add("end phase=" + std::to_string(static_cast<int>(phase)) + " pending=" + body);
  return trace;
}

void compare(const Trace& whole, const Trace& split, const char* how) {
  if (whole.events == split.events) return;
  std::fprintf(stderr, "whole feed and %s feed differ\n", how);
  for (const auto& e : whole.events) std::fprintf(stderr, "  whole: %s\n", e.c_str());
  for (const auto& e : split.events) std::fprintf(stderr, "  split: %s\n", e.c_str());
  std::abort();
}

/// FNV-1a, so that split points follow the input: plain request files work as seeds unchanged.
uint64_t hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (const char c : s) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const uint64_t h = hash(input);
  const size_t cut1 = static_cast<size_t>(h % (size + 1));
  const size_t cut2 = static_cast<size_t>((h >> 32) % (size + 1));
  for (const Limits& limits : {Limits{}, small_limits()}) {
    const Trace whole = drive(input, {}, limits);
    compare(whole, drive(input, {cut1}, limits), "two-piece");
    compare(whole, drive(input, {std::min(cut1, cut2), std::max(cut1, cut2)}, limits), "three-piece");
    // One byte at a time, the way a slow client sends, on inputs small enough to stay fast.
    if (size <= 384) {
      std::vector<size_t> every;
      for (size_t i = 1; i < size; ++i) every.push_back(i);
      compare(whole, drive(input, every, limits), "byte-by-byte");
    }
  }
  return 0;
}
