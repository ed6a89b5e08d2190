// GoogleTest suite for ResponseWriter: the fields it adds itself (Date, Server, Content-Type of text answers) are
// left out when the head already holds them, whoever wrote the lines; prebuilt heads keep their status's framing.
#include "core/response_writer.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace tiercel {
namespace {

constexpr std::string_view kDate = "Date: Tue, 15 Nov 1994 08:12:31 GMT\r\n";
const ResponseContext kKeepAlive{.head_request = false, .keep_alive = true, .http10 = false};

size_t count(std::string_view text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(ResponseWriter, AddsDateAndServerOnce) {
  std::string out;
  ResponseWriter w(out, kDate, "tiercel");
  w.start(200);
  w.finish("hi", kKeepAlive);
  EXPECT_EQ(out, std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n") + std::string(kDate) +
                     "Server: tiercel\r\n\r\nhi");
}

TEST(ResponseWriter, TheHeadsOwnServerAndDateWin) {
  std::string out = "an earlier response";
  ResponseWriter w(out, kDate, "tiercel");
  w.start(200);
  w.raw_headers("server: mine\r\nDATE: Mon, 01 Jan 2001 00:00:00 GMT\r\n");
  out.append("X-Late: written past the writer\r\n");
  w.finish("", kKeepAlive);
  EXPECT_EQ(count(out, "erver:"), 1u);
  EXPECT_EQ(count(out, "Tue, 15 Nov 1994"), 0u);
  EXPECT_EQ(out.substr(0, 19), "an earlier response");
}

TEST(ResponseWriter, StreamingHeadAlsoKeepsTheHeadsServer) {
  std::string out;
  ResponseWriter w(out, kDate, "tiercel");
  w.start(200);
  w.header("Server", "mine");
  EXPECT_EQ(w.finish_head_streaming(kKeepAlive), ResponseWriter::Framing::kChunked);
  EXPECT_EQ(count(out, "Server:"), 1u);
  EXPECT_EQ(count(out, "Date:"), 1u);
}

TEST(ResponseWriter, TextKeepsItsContentTypeAndTakesTheOtherExtraLines) {
  std::string out;
  ResponseWriter w(out, kDate, "tiercel");
  w.text(404, "Not Found\n", kKeepAlive, "Content-Type: application/json\r\nServer: app\r\nX-A: 1\r\n");
  EXPECT_EQ(count(out, "Content-Type:"), 1u);
  EXPECT_NE(out.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_EQ(count(out, "Server:"), 1u);
  EXPECT_NE(out.find("Server: app\r\n"), std::string::npos);
  EXPECT_NE(out.find("X-A: 1\r\n"), std::string::npos);
}

TEST(ResponseWriter, PrebuiltHeadKeepsItsStatusFraming) {
  std::string out;
  ResponseWriter w(out, kDate, "");
  w.prebuilt("HTTP/1.1 204 No Content\r\nX-A: 1\r\n");
  w.finish("", kKeepAlive);
  EXPECT_EQ(out, std::string("HTTP/1.1 204 No Content\r\nX-A: 1\r\n") + std::string(kDate) + "\r\n");
}

TEST(ResponseWriter, FindFieldAndAppendAbsent) {
  std::string_view value;
  EXPECT_TRUE(find_field("A: 1\r\nvary:  Origin\r\n", "Vary", &value));
  EXPECT_EQ(value, "Origin");
  EXPECT_FALSE(find_field("Varyx: 1\r\n", "vary"));
  std::string out;
  append_absent(out, "Server: x\r\n", "server: y\r\nX-B: 2\r\nX-B: 3\r\n");
  EXPECT_EQ(out, "X-B: 2\r\nX-B: 3\r\n");
}

TEST(ResponseWriter, AppendAbsentTreatsVaryAsAList) {
  std::string out;
  append_absent(out, "Vary: Accept, origin\r\n", "Vary: Origin\r\nVary: Accept-Encoding\r\n");
  EXPECT_EQ(out, "Vary: Accept-Encoding\r\n");
  out.clear();
  append_absent(out, "Vary: *\r\n", "Vary: Origin\r\n");
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace tiercel
