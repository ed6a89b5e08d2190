// Limits shared by the fuzz targets: small enough that every 414/431/413 and chunk-line refusal is
// reachable with short inputs.
#pragma once

#include "core/http1_parser.h"

namespace tiercel::fuzz {

/// The parser's limits, shrunk so that short fuzz inputs cross each of them.
inline http1::Limits small_limits() {
  http1::Limits l;
  l.max_request_line = 64;
  l.max_header_bytes = 256;
  l.max_header_count = 8;
  l.max_body = 1024;
  l.max_chunk_line = 32;
  l.max_trailer_bytes = 64;
  return l;
}

}  // namespace tiercel::fuzz
