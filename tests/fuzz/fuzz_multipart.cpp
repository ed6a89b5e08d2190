// libFuzzer target for src/core/multipart: any bytes as a multipart/form-data body (boundary "XyZ") and as a
// Content-Type value. Checks that every part's data (when not empty) is a view inside the body, that the limits hold, that
// parsing the same bytes twice gives the same parts, and that the incremental reader fed the body in pieces
// (cut where the input's first bytes say) finds exactly what the one-piece parse found.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/multipart.h"

using namespace tiercel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string boundary;
  if (multipart_boundary(input.substr(0, 200), boundary)) {
    if (boundary.empty() || boundary.size() > 70) std::abort();
  }
  MultipartLimits limits;
  limits.max_parts = 50;
  std::vector<MultipartPart> parts, again;
  std::string error, error2;
  bool ok = parse_multipart(input, "XyZ", limits, parts, error);
  if (ok != parse_multipart(input, "XyZ", limits, again, error2)) std::abort();
  if (!ok && error.empty()) std::abort();
  if (parts.size() > limits.max_parts) std::abort();
  if (ok && parts.size() != again.size()) std::abort();
  for (size_t i = 0; ok && i < parts.size(); ++i) {
    const auto& p = parts[i];
    bool inside = p.data.empty() ||  // an empty part's data points nowhere in particular
                  (p.data.data() >= input.data() && p.data.data() + p.data.size() <= input.data() + input.size());
    if (!inside) std::abort();
    if (p.name != again[i].name || p.data != again[i].data || p.filename != again[i].filename) std::abort();
  }

  struct Pieces : MultipartReader::Handler {
    std::vector<std::pair<std::string, std::string>> parts;  // name, data
    bool open = false;
    void on_part(const MultipartPart& p) override {
      if (open) std::abort();  // a part begins only after the previous one ended
      open = true;
      parts.emplace_back(p.name, std::string());
    }
    bool on_data(std::string_view d, std::string&) override {
      if (!open || d.empty()) std::abort();
      parts.back().second.append(d);
      return true;
    }
    void on_part_end() override {
      if (!open) std::abort();
      open = false;
    }
  };
  MultipartReader reader("XyZ", limits);
  Pieces pieces;
  size_t step = size ? 1 + data[0] % 17 : 1;
  bool fed = true;
  for (size_t at = 0; fed && at < size; at += step) fed = reader.feed(input.substr(at, step), pieces);
  bool ok2 = fed && reader.finish();
  if (ok2 != ok) std::abort();
  if (ok) {
    if (pieces.parts.size() != parts.size() || pieces.open) std::abort();
    for (size_t i = 0; i < parts.size(); ++i) {
      if (pieces.parts[i].first != parts[i].name || pieces.parts[i].second != parts[i].data) std::abort();
    }
  }
  return 0;
}
