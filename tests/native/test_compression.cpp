// GoogleTest suite for src/core/compression: every coding round-trips through its library's own decoder and has
// the framing its RFC specifies, and Accept-Encoding negotiation follows RFC 9110 §12.5.3 (q-values, "*", q=0).
#include "core/compression.h"

#include <gtest/gtest.h>
#include <zlib.h>

#ifdef TIERCEL_HAVE_BROTLI
#include <brotli/decode.h>
#endif
#ifdef TIERCEL_HAVE_ZSTD
#include <zstd.h>
#endif

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace tiercel {
namespace {

/// A compressible body: text with repetition, as answers are.
std::string text_body(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; ++i) s += "{\"id\": " + std::to_string(i) + ", \"name\": \"item\"}, ";
  s.resize(n);
  return s;
}

/// Bytes no coding can shrink.
std::string random_body(size_t n) {
  std::mt19937 rng(12345);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

/// zlib's inflate of a gzip member (windowBits 15 + 16: gzip wrapper only); false when it is not one whole member.
bool gunzip(std::string_view in, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buf[4096];
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  }
  bool whole = rc == Z_STREAM_END && z.avail_in == 0;
  inflateEnd(&z);
  return whole;
}

uint32_t le32(std::string_view s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])); };
  return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
}

TEST(Compression, GzipIsOneRfc1952MemberThatZlibInflates) {
  for (const std::string& in : {text_body(10'000), random_body(3000), std::string()}) {
    std::string out;
    ASSERT_TRUE(compress(in, Coding::kGzip, 0, out));
    ASSERT_GE(out.size(), 18u);  // 10-byte header, 8-byte trailer
    EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x1f);  // ID1, ID2 (RFC 1952 §2.3.1)
    EXPECT_EQ(static_cast<unsigned char>(out[1]), 0x8b);
    EXPECT_EQ(out[2], 8);  // CM: deflate
    // The trailer: CRC-32 of the input, then its size mod 2^32, both little-endian.
    uLong crc = crc32(0, reinterpret_cast<const Bytef*>(in.data()), static_cast<uInt>(in.size()));
    EXPECT_EQ(le32(out, out.size() - 8), static_cast<uint32_t>(crc));
    EXPECT_EQ(le32(out, out.size() - 4), static_cast<uint32_t>(in.size()));
    std::string back;
    ASSERT_TRUE(gunzip(out, back));
    EXPECT_EQ(back, in);
  }
}

TEST(Compression, GzipLevelIsHonoured) {
  const std::string in = text_body(50'000);
  std::string fast, best, dflt;
  ASSERT_TRUE(compress(in, Coding::kGzip, 1, fast));
  ASSERT_TRUE(compress(in, Coding::kGzip, 9, best));
  ASSERT_TRUE(compress(in, Coding::kGzip, 0, dflt));
  EXPECT_LT(best.size(), fast.size());
  EXPECT_LT(dflt.size(), in.size() / 4);
  // XFL (RFC 1952 §2.3.1): 4 for the fastest algorithm, 2 for maximum compression; zlib sets it from the level.
  EXPECT_EQ(fast[8], 4);
  EXPECT_EQ(best[8], 2);
  std::string back;
  ASSERT_TRUE(gunzip(fast, back));
  EXPECT_EQ(back, in);
}

#ifdef TIERCEL_HAVE_BROTLI
TEST(Compression, BrotliRoundTripsThroughTheBrotliDecoder) {
  for (const std::string& in : {text_body(20'000), random_body(3000), std::string("a")}) {
    for (int level : {0, 1, 11}) {
      std::string out;
      ASSERT_TRUE(compress(in, Coding::kBrotli, level, out)) << level;
      std::string back(in.size() + 1, '\0');  // one spare byte: a longer result would not fit
      size_t size = back.size();
      ASSERT_EQ(BrotliDecoderDecompress(out.size(), reinterpret_cast<const uint8_t*>(out.data()), &size,
                                        reinterpret_cast<uint8_t*>(back.data())),
                BROTLI_DECODER_RESULT_SUCCESS);
      back.resize(size);
      EXPECT_EQ(back, in) << level;
    }
  }
}
#endif

#ifdef TIERCEL_HAVE_ZSTD
TEST(Compression, ZstdIsOneRfc8878FrameThatZstdDecodes) {
  for (const std::string& in : {text_body(20'000), random_body(3000), std::string()}) {
    std::string out;
    ASSERT_TRUE(compress(in, Coding::kZstd, 0, out));
    ASSERT_GE(out.size(), 4u);
    EXPECT_EQ(le32(out, 0), 0xFD2FB528u);  // the frame's magic number (RFC 8878 §3.1.1)
    EXPECT_EQ(ZSTD_getFrameContentSize(out.data(), out.size()), in.size());
    std::string back(in.size() + 1, '\0');
    size_t n = ZSTD_decompress(back.data(), back.size(), out.data(), out.size());
    ASSERT_FALSE(ZSTD_isError(n)) << ZSTD_getErrorName(n);
    back.resize(n);
    EXPECT_EQ(back, in);
  }
}
#endif

TEST(Compression, IdentityIsNotACodingToCompressWith) {
  std::string out;
  EXPECT_FALSE(compress("abc", Coding::kIdentity, 0, out));
}

TEST(Compression, NamesAreTheContentCodingTokens) {
  // The registered tokens (RFC 9110 §8.4.1, RFC 7932 §12, RFC 8878 §7.2).
  EXPECT_EQ(coding_name(Coding::kGzip), "gzip");
  EXPECT_EQ(coding_name(Coding::kBrotli), "br");
  EXPECT_EQ(coding_name(Coding::kZstd), "zstd");
  EXPECT_EQ(coding_name(Coding::kIdentity), "identity");
}

TEST(Compression, AvailableCodingsAreWhatTheBuildLinked) {
  std::vector<Coding> expect;
#ifdef TIERCEL_HAVE_BROTLI
  expect.push_back(Coding::kBrotli);
#endif
#ifdef TIERCEL_HAVE_ZSTD
  expect.push_back(Coding::kZstd);
#endif
  expect.push_back(Coding::kGzip);
  EXPECT_EQ(available_codings(), expect);
  std::string out;
  for (Coding c : available_codings()) EXPECT_TRUE(compress("hello hello hello", c, 0, out)) << coding_name(c);
}

// --- Accept-Encoding -----------------------------------------------------------------------------------

const std::vector<Coding> kAll = {Coding::kBrotli, Coding::kZstd, Coding::kGzip};  // the server's preference

TEST(Negotiate, NamedCodingsAndTheServersPreferenceOnATie) {
  EXPECT_EQ(negotiate("gzip", kAll), Coding::kGzip);
  EXPECT_EQ(negotiate("gzip, deflate, br", kAll), Coding::kBrotli);  // equal q: the server's order decides
  EXPECT_EQ(negotiate("zstd, gzip", kAll), Coding::kZstd);
  EXPECT_EQ(negotiate("br", {Coding::kGzip}), Coding::kIdentity);  // not one the server allows
  EXPECT_EQ(negotiate("deflate, compress", kAll), Coding::kIdentity);
  EXPECT_EQ(negotiate("identity", kAll), Coding::kIdentity);
}

TEST(Negotiate, EmptyOrAbsentMeansNoCoding) {
  // An empty field value: the user agent wants no content coding (RFC 9110 §12.5.3).
  EXPECT_EQ(negotiate("", kAll), Coding::kIdentity);
  EXPECT_EQ(negotiate(" , ,", kAll), Coding::kIdentity);
}

TEST(Negotiate, QValuesRankAndZeroRefuses) {
  EXPECT_EQ(negotiate("br;q=0.5, gzip;q=0.8", kAll), Coding::kGzip);
  EXPECT_EQ(negotiate("br;q=0.8, gzip;q=0.5", kAll), Coding::kBrotli);
  EXPECT_EQ(negotiate("gzip;q=1.0, br;q=0.999", kAll), Coding::kGzip);
  EXPECT_EQ(negotiate("gzip;q=0", kAll), Coding::kIdentity);  // "not acceptable" (RFC 9110 §12.4.2)
  EXPECT_EQ(negotiate("gzip;q=0.000, br;q=0.001", kAll), Coding::kBrotli);
  EXPECT_EQ(negotiate("gzip ; q=0.5", kAll), Coding::kGzip);  // OWS around the parameter
  EXPECT_EQ(negotiate("gzip;Q=0.5", kAll), Coding::kGzip);    // parameter names are case-insensitive
}

TEST(Negotiate, MalformedQValuesAreNotAcceptance) {
  EXPECT_EQ(negotiate("gzip;q=2", kAll), Coding::kIdentity);
  EXPECT_EQ(negotiate("gzip;q=-0.5", kAll), Coding::kIdentity);
  EXPECT_EQ(negotiate("gzip;q=abc", kAll), Coding::kIdentity);
  EXPECT_EQ(negotiate("gzip;q=", kAll), Coding::kIdentity);
  EXPECT_EQ(negotiate("gzip;level=9", kAll), Coding::kIdentity);
  EXPECT_EQ(negotiate("gzip;q=2, br;q=0.1", kAll), Coding::kBrotli);  // one bad item spoils only itself
}

TEST(Negotiate, StarMatchesCodingsNotNamed) {
  EXPECT_EQ(negotiate("*", kAll), Coding::kBrotli);
  EXPECT_EQ(negotiate("*", {Coding::kGzip}), Coding::kGzip);
  EXPECT_EQ(negotiate("*;q=0, gzip", kAll), Coding::kGzip);           // everything else refused
  EXPECT_EQ(negotiate("*;q=0", kAll), Coding::kIdentity);
  EXPECT_EQ(negotiate("br;q=0, *;q=0.5", kAll), Coding::kZstd);        // named br refused; * takes the next
  EXPECT_EQ(negotiate("*;q=0.1, gzip;q=0.5", kAll), Coding::kGzip);   // named beats star
}

TEST(Negotiate, TokensAreCaseInsensitiveAndXGzipIsGzip) {
  EXPECT_EQ(negotiate("GZIP", kAll), Coding::kGzip);
  EXPECT_EQ(negotiate("Br", kAll), Coding::kBrotli);
  EXPECT_EQ(negotiate("x-gzip", kAll), Coding::kGzip);  // RFC 9110 §8.4.1.3
  EXPECT_EQ(negotiate("x-gzip", {Coding::kBrotli}), Coding::kIdentity);
}

}  // namespace
}  // namespace tiercel
