// libFuzzer target for src/core/multipart: any bytes as a multipart/form-data body (boundary "XyZ") and as a
// Content-Type value. Checks that every part's data is a view inside the body, that the limits hold, and that
// parsing the same bytes twice gives the same parts.
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
    if (p.data.data() < input.data() || p.data.data() + p.data.size() > input.data() + input.size()) std::abort();
    if (p.name != again[i].name || p.data != again[i].data || p.filename != again[i].filename) std::abort();
  }
  return 0;
}
