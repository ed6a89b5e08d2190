// GoogleTest suite for src/core/request_routing: what HTTP/1.1 and HTTP/2 connections both do with a request head —
// the client a trusted proxy names, the request line the observer records, the route, and the answers the
// connection gives itself (501, 404, 405, a const route) through the Responder, before any application code.
#include "core/request_routing.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/proxy.h"

namespace tiercel {
namespace {

/// A Responder that keeps the whole answers it is given (the only kind the connection's own answers are).
class Answers final : public Responder {
 public:
  explicit Answers(ConnectionEnv& env) : env_(env) {}
  struct Answer {
    uint64_t seq;
    int status;
    std::string fields, body;
    bool last;
  };
  std::vector<Answer> answers;

  void respond(uint64_t seq, const ResponseHead& head, std::string_view body, const ResponseContext& ctx,
               uint64_t) override {
    answers.push_back({seq, head.status, head.fields, std::string(body), !ctx.keep_alive});
  }
  bool stream_begin(uint64_t, const ResponseHead&, const ResponseContext&, uint64_t, void*) override {
    ADD_FAILURE() << "the connection's own answers are whole";
    return false;
  }
  void stream_write(uint64_t, std::string_view) override {}
  ssize_t stream_send_file(uint64_t, int, uint64_t, size_t) override { return -1; }
  void stream_end(uint64_t, bool) override {}
  void stream_end_with_trailers(uint64_t, std::string_view) override {}
  bool stream_writable(uint64_t) override { return false; }
  size_t stream_budget(uint64_t) override { return 0; }
  void flush_output() override {}
  void defer(uint64_t, void*) override {}
  void retain() noexcept override {}
  void release() noexcept override {}
  ConnectionEnv& env() noexcept override { return env_; }
  bool closed() const noexcept override { return false; }
  void set_body_sink(BodySink*) override {}
  void drop_body_sink(BodySink*) noexcept override {}
  void resume_body() override {}

 private:
  ConnectionEnv& env_;
};

class NoDispatch final : public Dispatcher {
 public:
  void dispatch(Responder&, uint64_t, const RoutedRequest&) override { ADD_FAILURE() << "routing never dispatches"; }
  void cancel(void*) noexcept override {}
};

constexpr uint32_t kUser = 0, kConst = 1;

class RequestRoutingTest : public ::testing::Test {
 protected:
  RequestRoutingTest() {
    std::string error;
    EXPECT_EQ(routes_.add(Method::kGet, "/users/:id", error), kUser) << error;
    EXPECT_EQ(routes_.add(Method::kGet, "/const", error), kConst) << error;
    routes_.entries[kConst].const_answer = ConstAnswer{ResponseHead{200, "X-Const: 1\r\n"}, "fixed"};
    config_.extra_header_lines = "X-App: a\r\n";
  }

  /// Routes `method target` as request 7.
  RouteDecision route(std::string method, std::string target, RequestLog* log = nullptr) {
    method_ = std::move(method);
    target_ = std::move(target);
    head_.method = method_;
    head_.target = target_;
    head_.path = head_.target;
    ctx_ = ResponseContext{};
    return route_request(env_, conn_, 7, head_, ctx_, params_, log);
  }

  ServerConfig config_;
  RouteTable routes_;
  NoDispatch dispatcher_;
  ConnectionEnv env_{config_, routes_, dispatcher_, {}, 1000, 1'700'000'000, 0, nullptr};
  Answers conn_{env_};
  std::string method_, target_;
  http1::RequestHead head_;
  ResponseContext ctx_;
  std::vector<PathParam> params_;
};

TEST_F(RequestRoutingTest, AMatchedRouteIsTheApplicationsWithItsParameters) {
  RequestLog log;
  RouteDecision d = route("GET", "/users/42", &log);
  EXPECT_FALSE(d.answered);
  EXPECT_EQ(d.method, Method::kGet);
  EXPECT_EQ(d.route_id, kUser);
  ASSERT_EQ(params_.size(), 1u);
  EXPECT_EQ(params_[0].value, "42");
  EXPECT_EQ(log.route, kUser) << "the observer's record names the route";
  EXPECT_TRUE(conn_.answers.empty());
}

TEST_F(RequestRoutingTest, HeadIsMarkedSoNoBodyFollows) {
  RouteDecision d = route("HEAD", "/users/1");
  EXPECT_FALSE(d.answered);
  EXPECT_TRUE(ctx_.head_request);
}

TEST_F(RequestRoutingTest, AnUnknownMethodIs501AndTheConnectionsLast) {
  RouteDecision d = route("BREW", "/users/1");
  EXPECT_TRUE(d.answered);
  ASSERT_EQ(conn_.answers.size(), 1u);
  EXPECT_EQ(conn_.answers[0].seq, 7u);
  EXPECT_EQ(conn_.answers[0].status, 501);
  EXPECT_TRUE(conn_.answers[0].last);
  EXPECT_EQ(conn_.answers[0].fields, "Content-Type: text/plain; charset=utf-8\r\nX-App: a\r\n");
}

TEST_F(RequestRoutingTest, NoRouteIs404AndAWrongMethodIs405WithAllow) {
  RequestLog log;
  EXPECT_TRUE(route("GET", "/nope", &log).answered);
  EXPECT_EQ(log.route, RequestRecord::kNoRoute);
  EXPECT_TRUE(route("POST", "/users/1").answered);
  ASSERT_EQ(conn_.answers.size(), 2u);
  EXPECT_EQ(conn_.answers[0].status, 404);
  EXPECT_EQ(conn_.answers[0].body, "Not Found\n");
  EXPECT_FALSE(conn_.answers[0].last) << "a 404 keeps the connection";
  EXPECT_EQ(conn_.answers[1].status, 405);
  EXPECT_NE(conn_.answers[1].fields.find("Allow: GET, HEAD\r\n"), std::string::npos) << conn_.answers[1].fields;
  EXPECT_NE(conn_.answers[1].fields.find("X-App: a\r\n"), std::string::npos) << "the app's global headers too";
}

TEST_F(RequestRoutingTest, AConstRouteIsAnsweredWithoutTheApplication) {
  RouteDecision d = route("GET", "/const");
  EXPECT_TRUE(d.answered);
  ASSERT_EQ(conn_.answers.size(), 1u);
  EXPECT_EQ(conn_.answers[0].status, 200);
  EXPECT_EQ(conn_.answers[0].fields, "X-Const: 1\r\n");
  EXPECT_EQ(conn_.answers[0].body, "fixed");
}

TEST_F(RequestRoutingTest, TheClientIsThePeerUnlessATrustedProxyNamesAnother) {
  head_.headers = {{"x-forwarded-for", "198.51.100.9"}, {"x-forwarded-proto", "https"}};
  ClientView untrusted = resolve_client(env_, head_, "10.0.0.1", false);
  EXPECT_EQ(untrusted.ip, "10.0.0.1") << "no trusted proxies: the headers are not believed";
  EXPECT_EQ(untrusted.scheme, "http");
  EXPECT_EQ(resolve_client(env_, head_, "10.0.0.1", true).scheme, "https") << "the connection's own TLS";
  auto proxies = std::make_shared<TrustedProxies>();
  std::string error;
  ASSERT_TRUE(proxies->parse("10.0.0.0/8", error)) << error;
  config_.trusted_proxies = proxies;
  ClientView proxied = resolve_client(env_, head_, "10.0.0.1", false);
  EXPECT_EQ(proxied.ip, "198.51.100.9");
  EXPECT_EQ(proxied.scheme, "https");
  EXPECT_EQ(resolve_client(env_, head_, "192.0.2.1", false).ip, "192.0.2.1") << "a peer that is not trusted";
}

TEST_F(RequestRoutingTest, TheLogRecordsTheRequestLineAndItsAnswer) {
  head_.method = "GET";
  head_.target = "/users/1?x=2";
  RequestLog log = RequestLog::begin(head_, "HTTP/2.0", "198.51.100.9");
  log.route = kUser;
  RequestRecord r = log.record(200, 123);
  EXPECT_EQ(r.request_line, "GET /users/1?x=2 HTTP/2.0");
  EXPECT_EQ(r.client_ip, "198.51.100.9");
  EXPECT_EQ(r.route_id, kUser);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.bytes, 123u);
}

}  // namespace
}  // namespace tiercel
