// Response compression (configure_compression): which answers qualify, and the coding the client accepts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bindings/py_types.h"
#include "core/compression.h"

namespace tiercel::py {

/// The app's compression settings, applied to whole answers (never to streams, ranges or SSE).
struct ResponseCompression {
  size_t min_size = 500;
  std::vector<std::string> types;  // "text/" (a prefix) or "application/json" (exact)
  std::vector<Coding> codings;     // in the server's order of preference
  int level = 0;

  /// The settings, each coding named as coding_name() does; ValueError for one this build cannot compress with.
  static std::unique_ptr<ResponseCompression> make(size_t min_size, std::vector<std::string> types,
                                                   const std::vector<std::string>& codings, int level);
  /// Compresses `r`'s body into `out` when its type and size qualify and the client (the Request `request`)
  /// accepts a coding; returns the extra header lines (Vary, Content-Encoding) to send. `out` stays empty when
  /// the body goes as it is.
  std::string apply(const Rendered& r, nb::handle request, std::string& out) const;
};

}  // namespace tiercel::py
