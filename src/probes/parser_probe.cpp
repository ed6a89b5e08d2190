// tiercel._parser_probe, a test-only module (built with -DTIERCEL_BUILD_PROBES=ON, as scripts/install.sh does; never
// in a release wheel): runs the core HTTP/1.1 parser over a byte stream the way a connection would, so the Python
// tests can compare it with httptools (llhttp) and h11.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>

#include "core/http1_parser.h"

namespace nb = nanobind;

namespace tiercel::probe {

namespace {

nb::bytes to_bytes(std::string_view s) { return nb::bytes(s.data(), s.size()); }

/// Parses pipelined requests from `data`. Returns (requests, outcome): each request is a dict with method,
/// target, path, query, version ("1.0"/"1.1"), headers [(name, value)], body, keep_alive; outcome is
/// "complete" (every byte used), "incomplete" (bytes left that do not finish a request), or the HTTP
/// status of the refusal as an int.
nb::tuple parse_requests(nb::bytes data, uint32_t max_request_line, uint32_t max_header_bytes,
                         uint32_t max_header_count, uint64_t max_body) {
  http1::Limits limits;
  limits.max_request_line = max_request_line;
  limits.max_header_bytes = max_header_bytes;
  limits.max_header_count = max_header_count;
  limits.max_body = max_body;
  std::string_view in(data.c_str(), data.size());
  nb::list out;
  http1::RequestHead head;
  http1::ChunkedDecoder chunked;
  while (!in.empty()) {
    http1::ParseError err = http1::ParseError::kNone;
    auto st = http1::parse_head(in, limits, head, err);
    if (st == http1::ParseStatus::kIncomplete) return nb::make_tuple(out, "incomplete");
    if (st == http1::ParseStatus::kError) return nb::make_tuple(out, http1::status_for(err));
    nb::dict r;
    r["method"] = to_bytes(head.method);
    r["target"] = to_bytes(head.target);
    r["path"] = to_bytes(head.path);
    r["query"] = to_bytes(head.query);
    r["version"] = head.version_minor == 0 ? "1.0" : "1.1";
    nb::list headers;
    for (auto& h : head.headers) headers.append(nb::make_tuple(to_bytes(h.name), to_bytes(h.value)));
    r["headers"] = headers;
    r["keep_alive"] = head.keep_alive;
    in.remove_prefix(head.head_size);
    std::string body;
    if (head.framing == http1::BodyFraming::kContentLength) {
      if (in.size() < head.content_length) return nb::make_tuple(out, "incomplete");
      body.assign(in.substr(0, static_cast<size_t>(head.content_length)));
      in.remove_prefix(static_cast<size_t>(head.content_length));
    } else if (head.framing == http1::BodyFraming::kChunked) {
      chunked.reset();
      size_t consumed = 0;
      auto cs = chunked.feed(in, limits, body, consumed, err);
      if (cs == http1::ParseStatus::kError) return nb::make_tuple(out, http1::status_for(err));
      if (cs == http1::ParseStatus::kIncomplete) return nb::make_tuple(out, "incomplete");
      in.remove_prefix(consumed);
    }
    r["body"] = to_bytes(body);
    out.append(r);
    if (!head.keep_alive) break;  // a server stops reading after a request that closes the connection
  }
  return nb::make_tuple(out, in.empty() ? "complete" : "complete-closed");
}

}  // namespace

}  // namespace tiercel::probe

NB_MODULE(_parser_probe, m) {
  using tiercel::probe::parse_requests;
  m.def("parse_requests", &parse_requests, nb::arg("data"), nb::arg("max_request_line") = 8 * 1024,
        nb::arg("max_header_bytes") = 64 * 1024, nb::arg("max_header_count") = 100,
        nb::arg("max_body") = 16 * 1024 * 1024,
        nb::sig("def parse_requests(data: bytes, max_request_line: int = 8192, max_header_bytes: int = 65536, "
                "max_header_count: int = 100, max_body: int = 16777216) "
                "-> tuple[list[dict[str, object]], str | int]"),
        "Parses pipelined requests with the core parser -> (requests, outcome).");
}
