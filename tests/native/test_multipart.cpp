// The incremental multipart reader: pieces of any size give the parts a one-piece parse gives, it keeps back
// only a bounded tail, and malformed bodies fail with the same messages either way.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/multipart.h"

using namespace tiercel;

namespace {

struct Collected : MultipartReader::Handler {
  struct Part {
    std::string name, filename, type, data;
    bool file = false;
  };
  std::vector<Part> parts;
  size_t largest_piece = 0;
  void on_part(const MultipartPart& p) override { parts.push_back({p.name, p.filename, p.content_type, {}, p.has_filename}); }
  bool on_data(std::string_view d, std::string&) override {
    parts.back().data.append(d);
    largest_piece = std::max(largest_piece, d.size());
    return true;
  }
  void on_part_end() override {}
};

const std::string kBody =
    "preamble to ignore\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n\r\n"
    "hello\r\n--X not the boundary\r\n"
    "--XyZ  \r\n"
    "Content-Disposition: form-data; name=\"up\"; filename=\"a b.txt\"\r\n"
    "Content-Type: text/plain\r\n\r\n"
    "line one\r\nline two\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"empty\"\r\n\r\n"
    "\r\n--XyZ--\r\nepilogue";

Collected feed_in_pieces(const std::string& body, size_t step, bool& ok, std::string& error) {
  MultipartReader reader("XyZ", MultipartLimits{});
  Collected c;
  ok = true;
  for (size_t at = 0; ok && at < body.size(); at += step) ok = reader.feed(std::string_view(body).substr(at, step), c);
  ok = ok && reader.finish();
  error = reader.error();
  return c;
}

}  // namespace

TEST(MultipartReader, AnyPieceSizeGivesTheSameParts) {
  std::vector<MultipartPart> whole;
  std::string error;
  ASSERT_TRUE(parse_multipart(kBody, "XyZ", MultipartLimits{}, whole, error)) << error;
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[0].data, "hello\r\n--X not the boundary");
  EXPECT_EQ(whole[1].filename, "a b.txt");
  EXPECT_EQ(whole[1].data, "line one\r\nline two");
  EXPECT_EQ(whole[2].data, "");
  for (size_t step = 1; step <= kBody.size(); ++step) {
    bool ok;
    Collected c = feed_in_pieces(kBody, step, ok, error);
    ASSERT_TRUE(ok) << "step " << step << ": " << error;
    ASSERT_EQ(c.parts.size(), whole.size()) << "step " << step;
    for (size_t i = 0; i < whole.size(); ++i) {
      EXPECT_EQ(c.parts[i].name, whole[i].name);
      EXPECT_EQ(c.parts[i].data, whole[i].data) << "step " << step << " part " << i;
      EXPECT_EQ(c.parts[i].file, whole[i].has_filename);
      EXPECT_EQ(c.parts[i].type, whole[i].content_type);
    }
  }
}

TEST(MultipartReader, LargePartIsHandedOnAsItArrives) {
  // 4 MiB of data fed 64 KiB at a time: the data comes out in pieces as it arrives, never as one 4 MiB block.
  std::string big(4 << 20, 'a');
  for (size_t i = 0; i < big.size(); i += 997) big[i] = '\r';
  std::string body = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n" + big + "\r\n--XyZ--";
  bool ok;
  std::string error;
  Collected c = feed_in_pieces(body, 64 * 1024, ok, error);
  ASSERT_TRUE(ok) << error;
  ASSERT_EQ(c.parts.size(), 1u);
  EXPECT_EQ(c.parts[0].data, big);
  EXPECT_LE(c.largest_piece, 64u * 1024 + 16);
}

TEST(MultipartReader, MalformedBodiesFailTheSameInPieces) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no boundary here", "the body has no multipart boundary 'XyZ'"},
      {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue", "a multipart part is truncated (no closing boundary)"},
      {"--XyZ\r\nContent-Disposition: form-data; name=a", "a multipart part's headers are truncated"},
      {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZx", "a multipart boundary line is malformed or the body is truncated"},
      {"--XyZ\r\nX-Evil: a\rb\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ--", "a multipart part has a malformed header line"},
      {"--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--", "a multipart part has no Content-Disposition"},
      {"--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--XyZ--", "a multipart part's Content-Disposition is not form-data"},
  };
  for (const auto& [body, message] : cases) {
    std::vector<MultipartPart> parts;
    std::string error;
    EXPECT_FALSE(parse_multipart(body, "XyZ", MultipartLimits{}, parts, error)) << body;
    EXPECT_EQ(error, message) << body;
    for (size_t step : {1u, 3u, 7u}) {
      bool ok;
      feed_in_pieces(body, step, ok, error);
      EXPECT_FALSE(ok);
      EXPECT_EQ(error, message) << body << " step " << step;
    }
  }
}

TEST(MultipartReader, LimitsHoldInPieces) {
  MultipartLimits limits;
  limits.max_parts = 2;
  std::string body;
  for (int i = 0; i < 3; ++i) body += "--XyZ\r\nContent-Disposition: form-data; name=p\r\n\r\nv\r\n";
  body += "--XyZ--";
  MultipartReader reader("XyZ", limits);
  Collected c;
  bool ok = true;
  for (char ch : body) ok = ok && reader.feed(std::string_view(&ch, 1), c);
  EXPECT_FALSE(ok);
  EXPECT_EQ(reader.error(), "too many multipart parts (more than 2)");
  EXPECT_EQ(c.parts.size(), 2u);

  // Headers without an end are refused once they pass the limit, not buffered for ever.
  MultipartReader heads("XyZ", MultipartLimits{});
  Collected h;
  ok = heads.feed("--XyZ\r\nX-Pad: ", h);
  std::string pad(1024, 'a');
  for (int i = 0; ok && i < 100; ++i) ok = heads.feed(pad, h);
  EXPECT_FALSE(ok);
  EXPECT_EQ(heads.error(), "a multipart part's headers are too large");
}
