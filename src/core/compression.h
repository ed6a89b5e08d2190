// Response compression: gzip (zlib), and brotli and zstd when the build found their libraries. Negotiated from
// Accept-Encoding (q-values honoured); used only when it makes the body smaller.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tiercel {

enum class Coding { kIdentity, kGzip, kBrotli, kZstd };

/// "gzip", "br", "zstd" (the Content-Encoding token).
std::string_view coding_name(Coding c) noexcept;
/// The codings this build can produce, best first.
std::vector<Coding> available_codings();

/// The best coding both the client (an Accept-Encoding value) and `allowed` accept; kIdentity when none.
Coding negotiate(std::string_view accept_encoding, const std::vector<Coding>& allowed) noexcept;

/// `in` compressed with `coding` at `level` (0: the coding's default) into `out`; false when it failed.
bool compress(std::string_view in, Coding coding, int level, std::string& out);

}  // namespace tiercel
