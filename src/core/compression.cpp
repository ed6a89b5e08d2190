// Response compression.
#include "core/compression.h"

#include <zlib.h>

#ifdef TIERCEL_HAVE_BROTLI
#include <brotli/encode.h>
#endif
#ifdef TIERCEL_HAVE_ZSTD
#include <zstd.h>
#endif

#include <cstdlib>

#include "core/field_syntax.h"

namespace tiercel {

namespace {



/// The q-value of an Accept-Encoding item's parameters ("q=0.5"), 1 when absent, -1 when malformed.
double q_value(std::string_view params) noexcept {
  params = trim_ows(params);
  if (params.empty()) return 1.0;
  if (params.size() < 3 || (params[0] != 'q' && params[0] != 'Q') || params[1] != '=') return -1;
  std::string text(params.substr(2));
  char* end = nullptr;
  double q = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !(q >= 0 && q <= 1)) return -1;
  return q;
}

bool gzip(std::string_view in, int level, std::string& out) {
  z_stream z{};
  if (deflateInit2(&z, level ? level : 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  out.resize(deflateBound(&z, static_cast<uLong>(in.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END;
}

}  // namespace

std::string_view coding_name(Coding c) noexcept {
  switch (c) {
    case Coding::kGzip: return "gzip";
    case Coding::kBrotli: return "br";
    case Coding::kZstd: return "zstd";
    case Coding::kIdentity: break;
  }
  return "identity";
}

std::vector<Coding> available_codings() {
  std::vector<Coding> out;
#ifdef TIERCEL_HAVE_BROTLI
  out.push_back(Coding::kBrotli);
#endif
#ifdef TIERCEL_HAVE_ZSTD
  out.push_back(Coding::kZstd);
#endif
  out.push_back(Coding::kGzip);
  return out;
}

Coding negotiate(std::string_view accept, const std::vector<Coding>& allowed) noexcept {
  double best_q = 0;
  Coding best = Coding::kIdentity;
  double star = -1;
  for (Coding c : allowed) {  // in the server's order of preference: a tie keeps the earlier
    double q = -1;
    each_list_item(accept, [&](std::string_view item) {
      size_t semi = item.find(';');
      std::string_view name = trim_ows(item.substr(0, semi));
      double v = q_value(semi == std::string_view::npos ? std::string_view{} : item.substr(semi + 1));
      if (name == "*") star = v;
      if (ascii_iequal(name, coding_name(c)) || (c == Coding::kGzip && ascii_iequal(name, "x-gzip"))) q = v;
      return true;
    });
    if (q < 0) q = star;  // not named: "*" decides
    if (q > best_q) {
      best_q = q;
      best = c;
    }
  }
  return best;
}

bool compress(std::string_view in, Coding coding, int level, std::string& out) {
  switch (coding) {
    case Coding::kGzip:
      return gzip(in, level, out);
#ifdef TIERCEL_HAVE_BROTLI
    case Coding::kBrotli: {
      size_t size = BrotliEncoderMaxCompressedSize(in.size());
      if (size == 0) return false;
      out.resize(size);
      // Quality 4 by default: most of brotli's gain at a fraction of its top levels' CPU (for dynamic responses).
      if (!BrotliEncoderCompress(level ? level : 4, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, in.size(),
                                 reinterpret_cast<const uint8_t*>(in.data()), &size,
                                 reinterpret_cast<uint8_t*>(out.data())))
        return false;
      out.resize(size);
      return true;
    }
#endif
#ifdef TIERCEL_HAVE_ZSTD
    case Coding::kZstd: {
      out.resize(ZSTD_compressBound(in.size()));
      size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level ? level : 3);
      if (ZSTD_isError(n)) return false;
      out.resize(n);
      return true;
    }
#endif
    default:
      return false;
  }
}

}  // namespace tiercel
