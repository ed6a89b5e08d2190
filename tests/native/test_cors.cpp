// GoogleTest suite for src/core/cors: origin matching, the headers of actual responses, preflight answers and
// their refusals.
#include "core/cors.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tiercel {
namespace {

http1::RequestHead head_with(std::vector<http1::Header> headers) {
  http1::RequestHead h;
  h.method = "OPTIONS";
  h.headers = std::move(headers);
  return h;
}

CorsPolicy listed() {
  CorsPolicy p;
  p.origins = {"https://a.example", "http://localhost:3000"};
  p.allow_headers = {"X-Token"};
  p.credentials = true;
  p.max_age = 60;
  return p;
}

TEST(Cors, MatchIsExact) {
  CorsPolicy p = listed();
  EXPECT_EQ(p.match("https://a.example"), 0);
  EXPECT_EQ(p.match("http://localhost:3000"), 1);
  EXPECT_EQ(p.match("https://a.example.evil"), CorsPolicy::kNoOrigin);
  EXPECT_EQ(p.match("HTTPS://A.EXAMPLE"), CorsPolicy::kNoOrigin);
  EXPECT_EQ(p.match(""), CorsPolicy::kNoOrigin);
  CorsPolicy any;
  any.any_origin = true;
  EXPECT_EQ(any.match("https://whatever"), CorsPolicy::kAnyOrigin);
}

TEST(Cors, ResponseLines) {
  CorsPolicy p = listed();
  p.expose_headers = {"X-Total", "X-Page"};
  std::string out;
  p.append_response_lines(out, 1);
  EXPECT_EQ(out,
            "Vary: Origin\r\nAccess-Control-Allow-Origin: http://localhost:3000\r\n"
            "Access-Control-Allow-Credentials: true\r\nAccess-Control-Expose-Headers: X-Total, X-Page\r\n");
  out.clear();
  p.append_response_lines(out, CorsPolicy::kNoOrigin);
  EXPECT_EQ(out, "Vary: Origin\r\n");
  CorsPolicy any;
  any.any_origin = true;
  out.clear();
  any.append_response_lines(out, CorsPolicy::kAnyOrigin);
  EXPECT_EQ(out, "Access-Control-Allow-Origin: *\r\n");
}

TEST(Cors, PreflightAllowed) {
  CorsPolicy p = listed();
  std::string lines, message;
  auto h = head_with({{"Origin", "https://a.example"},
                      {"Access-Control-Request-Method", "PUT"},
                      {"access-control-request-headers", "x-token, Content-Type"}});
  EXPECT_EQ(p.preflight(h, "GET, HEAD, PUT", lines, message), 204);
  EXPECT_EQ(lines,
            "Vary: Origin\r\nAccess-Control-Allow-Origin: https://a.example\r\n"
            "Access-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Methods: GET, HEAD, PUT\r\n"
            "Access-Control-Allow-Headers: X-Token\r\nAccess-Control-Max-Age: 60\r\n");
}

TEST(Cors, PreflightRefusals) {
  CorsPolicy p = listed();
  struct Case {
    std::vector<http1::Header> headers;
    const char* message;
  } cases[] = {
      {{{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "GET"}}, "Disallowed CORS origin"},
      {{{"Origin", "https://a.example"}, {"Access-Control-Request-Method", "DELETE"}}, "Disallowed CORS method"},
      {{{"Origin", "https://a.example"}, {"Access-Control-Request-Method", "get"}}, "Disallowed CORS method"},
      {{{"Origin", "https://a.example"}, {"Access-Control-Request-Method", "GE"}}, "Disallowed CORS method"},
      {{{"Origin", "https://a.example"},
        {"Access-Control-Request-Method", "GET"},
        {"Access-Control-Request-Headers", "X-Token, X-Secret"}},
       "Disallowed CORS headers"},
  };
  for (auto& c : cases) {
    std::string lines, message;
    EXPECT_EQ(p.preflight(head_with(c.headers), "GET, HEAD", lines, message), 400) << c.message;
    EXPECT_EQ(message, c.message);
    EXPECT_EQ(lines.find("Access-Control-Allow-Origin"), std::string::npos);
  }
}

TEST(Cors, AnyHeaderEchoesTheRequestedOnes) {
  CorsPolicy p;
  p.any_origin = true;
  p.any_header = true;
  std::string lines, message;
  auto h = head_with({{"Origin", "https://x.example"},
                      {"Access-Control-Request-Method", "GET"},
                      {"Access-Control-Request-Headers", "X-A, X-B"}});
  EXPECT_EQ(p.preflight(h, "GET", lines, message), 204);
  EXPECT_NE(lines.find("Access-Control-Allow-Origin: *\r\n"), std::string::npos);
  EXPECT_NE(lines.find("Access-Control-Allow-Headers: X-A, X-B\r\n"), std::string::npos);
  EXPECT_EQ(lines.find("Vary"), std::string::npos);
}

TEST(Cors, FindHeaderIsCaseInsensitive) {
  std::vector<http1::Header> headers = {{"ORIGIN", "a"}, {"origin", "b"}};
  const std::string_view* v = find_header(headers, "Origin");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(*v, "a");
  EXPECT_EQ(find_header(headers, "Host"), nullptr);
}

}  // namespace
}  // namespace tiercel
