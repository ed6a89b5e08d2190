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

TEST(ResponseWriter, A204HasNoLength) {
  std::string out;
  ResponseWriter w(out, kDate, "");
  w.start(204);
  w.header("X-A", "1");
  w.finish("", kKeepAlive);
  EXPECT_EQ(out, std::string("HTTP/1.1 204 No Content\r\nX-A: 1\r\n") + std::string(kDate) + "\r\n");
  EXPECT_FALSE(w.says_close());
}

TEST(ResponseWriter, SaysCloseWhenTheHeadDoes) {
  std::string out;
  ResponseWriter w(out, kDate, "");
  w.start(200);
  EXPECT_TRUE(w.finish_head(0, {.head_request = false, .keep_alive = false, .http10 = false}));
  EXPECT_TRUE(w.says_close());
  std::string out10;
  ResponseWriter w10(out10, kDate, "");
  w10.start(200);
  EXPECT_EQ(w10.finish_head_streaming({.head_request = false, .keep_alive = true, .http10 = true}),
            ResponseWriter::Framing::kUntilClose);
  EXPECT_TRUE(w10.says_close()) << "a body that ends with the connection";
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

TEST(ResponseWriter, ReasonPhrasesAreRfc9110s) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(206), "Partial Content");
  EXPECT_EQ(reason_phrase(308), "Permanent Redirect");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");       // RFC 9110 §15.5.14 (was "Payload Too Large")
  EXPECT_EQ(reason_phrase(422), "Unprocessable Content");   // RFC 9110 §15.5.21
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");  // RFC 6585 §5
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(reason_phrase(299), "Unknown");
  std::string out;
  ResponseWriter(out, kDate, "").start(299);
  EXPECT_EQ(out, "HTTP/1.1 299 Unknown\r\n");
}

TEST(ResponseWriter, DateLineIsFormattedOncePerSecond) {
  DateCache cache;
  std::string_view a = cache.line(784111777);
  EXPECT_EQ(a, "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n");  // RFC 9110 §5.6.7's example
  EXPECT_EQ(cache.line(784111777).data(), a.data());
  EXPECT_EQ(cache.line(784111778), "Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n");
}

TEST(ResponseWriter, HeaderLinesAndKeepAliveForms) {
  std::string out;
  ResponseWriter w(out, kDate, "");
  w.start(201);
  w.header("Location", "/items/7");
  w.finish("{}", ResponseContext{.head_request = false, .keep_alive = true, .http10 = true});
  // HTTP/1.0 closes by default: keeping it open must be said (RFC 9112 §9.3).
  EXPECT_EQ(out, std::string("HTTP/1.1 201 Created\r\nLocation: /items/7\r\nContent-Length: 2\r\n") +
                     std::string(kDate) + "Connection: keep-alive\r\n\r\n{}");
  out.clear();
  ResponseWriter c(out, kDate, "");
  c.start(200);
  c.finish("x", ResponseContext{.head_request = false, .keep_alive = false, .http10 = false});
  EXPECT_EQ(out, std::string("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n") + std::string(kDate) +
                     "Connection: close\r\n\r\nx");
}

TEST(ResponseWriter, FinishHeadSaysWhetherTheBodyFollows) {
  const ResponseContext head{.head_request = true, .keep_alive = true, .http10 = false};
  std::string out;
  ResponseWriter get(out, kDate, "");
  get.start(200);
  EXPECT_TRUE(get.finish_head(5, kKeepAlive));
  EXPECT_EQ(out, std::string("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n") + std::string(kDate) + "\r\n");
  // HEAD: the Content-Length a GET would have had (RFC 9110 §9.3.2, §8.6), and no body.
  std::string head_out;
  ResponseWriter h(head_out, kDate, "");
  h.start(200);
  EXPECT_FALSE(h.finish_head(5, head));
  EXPECT_EQ(head_out, out);
  std::string head_whole;
  ResponseWriter hw(head_whole, kDate, "");
  hw.start(200);
  hw.finish("hello", head);  // finish() for HEAD appends no body either
  EXPECT_EQ(head_whole, out);
  // 204 and 1xx: no Content-Length at all (RFC 9110 §8.6); 304: no body.
  std::string none;
  ResponseWriter n(none, kDate, "");
  n.start(204);
  EXPECT_FALSE(n.finish_head(5, kKeepAlive));
  EXPECT_EQ(none, std::string("HTTP/1.1 204 No Content\r\n") + std::string(kDate) + "\r\n");
  none.clear();
  ResponseWriter i(none, kDate, "");
  i.start(103);
  EXPECT_FALSE(i.finish_head(0, kKeepAlive));
  EXPECT_EQ(none.find("Content-Length"), std::string::npos);
  none.clear();
  ResponseWriter m(none, kDate, "");
  m.start(304);
  EXPECT_FALSE(m.finish_head(5, kKeepAlive));
  none.clear();
  ResponseWriter nm(none, kDate, "");
  nm.start(304);
  nm.finish("hello", kKeepAlive);
  EXPECT_EQ(none.find("hello"), std::string::npos);
}

TEST(ResponseWriter, StreamingFramingByVersionAndStatus) {
  std::string out;
  ResponseWriter w11(out, kDate, "");
  w11.start(200);
  EXPECT_EQ(w11.finish_head_streaming(kKeepAlive), ResponseWriter::Framing::kChunked);
  EXPECT_EQ(out, std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n") + std::string(kDate) + "\r\n");
  // HTTP/1.0 has no chunked coding (RFC 9112 §6.1): the body ends with the connection.
  out.clear();
  ResponseWriter w10(out, kDate, "");
  w10.start(200);
  EXPECT_EQ(w10.finish_head_streaming({.head_request = false, .keep_alive = true, .http10 = true}),
            ResponseWriter::Framing::kUntilClose);
  EXPECT_EQ(out, std::string("HTTP/1.1 200 OK\r\n") + std::string(kDate) + "Connection: close\r\n\r\n");
  out.clear();
  ResponseWriter nc(out, kDate, "");
  nc.start(204);
  EXPECT_EQ(nc.finish_head_streaming(kKeepAlive), ResponseWriter::Framing::kNone);
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos);
  out.clear();
  ResponseWriter hd(out, kDate, "");
  hd.start(200);
  EXPECT_EQ(hd.finish_head_streaming({.head_request = true, .keep_alive = true, .http10 = false}),
            ResponseWriter::Framing::kNone);
}

TEST(ResponseWriter, BodylessStatusesAreRfc9110s) {
  for (int s : {100, 101, 103, 199, 204, 304}) EXPECT_TRUE(bodyless_status(s)) << s;
  for (int s : {200, 201, 205, 206, 303, 400, 404, 500}) EXPECT_FALSE(bodyless_status(s)) << s;
}

TEST(ResponseWriter, HeaderNamesAreTokens) {
  // token = 1*tchar (RFC 9110 §5.6.2).
  EXPECT_TRUE(is_header_name("X-Custom_1.2"));
  EXPECT_TRUE(is_header_name("!#$%&'*+-.^_`|~"));
  for (std::string_view bad : {"", "a b", "a:b", "a\"b", "(x)", "a/b", "a,b", "a=b", "a@b", "[x]", "{x}", "a\tb",
                               "caf\xC3\xA9"}) {
    EXPECT_FALSE(is_header_name(bad)) << bad;
  }
  EXPECT_FALSE(is_header_name(std::string_view("a\0b", 3)));
}

TEST(ResponseWriter, HeaderValuesRefuseControlBytes) {
  // field-value: VCHAR, SP, HTAB and obs-text (RFC 9110 §5.5); CR, LF and NUL would split the response.
  EXPECT_TRUE(is_header_value("text/html; charset=utf-8"));
  EXPECT_TRUE(is_header_value("a\tb c"));
  EXPECT_TRUE(is_header_value("\x80\xFF"));
  EXPECT_TRUE(is_header_value(""));
  for (std::string_view bad : {"a\rb", "a\nb", "a\r\nSet-Cookie: x=1", "\x7F", "\x01", "\x1F"}) {
    EXPECT_FALSE(is_header_value(bad));
  }
  EXPECT_FALSE(is_header_value(std::string_view("a\0b", 3)));
}

}  // namespace
}  // namespace tiercel
