// GoogleTest suite for streamed request bodies (RouteEntry::stream_body_limit, BodySink): delivery as bytes
// arrive, backpressure, limits, errors, early answers and pipelining, under the sanitizers.
#include <gtest/gtest.h>

#include <string>

#include "core/http1_connection.h"
#include "core/memory_connection.h"

namespace tiercel {
namespace {

/// Defers POST /up and sinks its body; answers anything else with "ok" at once.
class SinkDispatcher final : public Dispatcher, public BodySink {
 public:
  void dispatch(Responder& conn, uint64_t seq, const RoutedRequest& req) override {
    if (!req.body_streamed) return conn.respond(seq, ResponseHead{200, {}}, "ok", req.ctx);
    conn_ = &conn;
    seq_ = seq;
    ctx_ = req.ctx;
    conn.defer(seq, this);
    if (answer_at_once) return answer("early");
    conn.set_body_sink(this);
  }
  void cancel(void*) noexcept override { ++cancels; }
  bool on_body(std::string_view data) override {
    body.append(data);
    ++pieces;
    return body.size() < hold_above;
  }
  void on_body_end() override { ended = true; }
  void on_body_error(int s, std::string_view m) override {
    status = s;
    message = m;
  }
  void answer(std::string_view text) { conn_->respond(seq_, ResponseHead{200, {}}, text, ctx_); }
  Responder* conn_ = nullptr;
  ResponseContext ctx_;
  uint64_t seq_ = 0;
  std::string body, message;
  size_t hold_above = SIZE_MAX;
  int pieces = 0, cancels = 0, status = -1;
  bool ended = false, answer_at_once = false;
};

struct Harness {
  Harness() {
    std::string error;
    routes.router.add(Method::kPost, "/up", 0, error);
    routes.router.add(Method::kGet, "/plain", 1, error);
    routes.entries.resize(2);
    routes.entries[0].stream_body_limit = 1000;
    routes.has_stream_body = true;
    config.limits.max_body = 100;
    config.server_header = "";
  }
  ServerConfig config;
  RouteTable routes;
  SinkDispatcher dispatcher;
  ConnectionEnv env{config, routes, dispatcher, {}, 1000, 1'700'000'000, 0, nullptr};
  MemoryConnection conn{env, "127.0.0.1", MemoryLoop::kStepped};
  MemoryTransport& transport = conn.transport();
  Http1Connection* http1 = conn.http1();
};

TEST(BodyStream, PiecesArriveAsTheyComeAndPipeliningGoesOn) {
  Harness h;
  h.conn.feed("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n" + std::string(120, 'a'));  // over max_body: allowed here
  EXPECT_EQ(h.dispatcher.body, std::string(120, 'a'));
  EXPECT_FALSE(h.dispatcher.ended);
  h.conn.feed(std::string(180, 'b') + "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(h.dispatcher.ended);
  EXPECT_EQ(h.dispatcher.body.size(), 300u);
  EXPECT_EQ(h.transport.sent(), "");  // the plain answer waits behind the streamed request's
  h.dispatcher.answer("done");
  const std::string date(DateCache().line(1'700'000'000));
  EXPECT_EQ(h.transport.take_sent(), "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n" + date +
                                         "\r\ndoneHTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + date + "\r\nok");
  EXPECT_FALSE(h.transport.close_requested());
}

TEST(BodyStream, ChunkedPiecesAndTheLimit) {
  Harness h;
  h.conn.feed("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  EXPECT_EQ(h.dispatcher.body, "hello");
  h.conn.feed("3e8\r\n" + std::string(1000, 'x') + "\r\n0\r\n\r\n");  // 1005 bytes in all: over the route's 1000
  EXPECT_EQ(h.dispatcher.status, 413);
  EXPECT_FALSE(h.dispatcher.ended);
  h.dispatcher.answer("too big");
  EXPECT_NE(h.transport.sent().find("Connection: close"), std::string::npos);
  EXPECT_TRUE(h.transport.close_requested());
}

TEST(BodyStream, ContentLengthOverTheRouteLimitIsRefusedBeforeDispatch) {
  Harness h;
  h.conn.feed("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
  EXPECT_EQ(h.dispatcher.seq_, 0u);
  EXPECT_EQ(h.dispatcher.conn_, nullptr);
  EXPECT_EQ(h.transport.sent().rfind("HTTP/1.1 413 ", 0), 0u);
  Harness g;  // a route that reads its body whole keeps max_body
  g.conn.feed("GET /plain HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n");
  EXPECT_EQ(g.transport.sent().rfind("HTTP/1.1 413 ", 0), 0u);
}

TEST(BodyStream, BackpressureStopsReadingUntilResumed) {
  Harness h;
  h.dispatcher.hold_above = 10;
  h.conn.feed("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n" + std::string(15, 'a'));
  EXPECT_FALSE(h.transport.reading());
  h.conn.feed(std::string(10, 'b'));  // waits in the "kernel" while reading is paused
  EXPECT_EQ(h.dispatcher.body.size(), 15u);
  EXPECT_EQ(h.conn.backlog().size(), 10u);
  h.dispatcher.hold_above = SIZE_MAX;
  h.http1->resume_body();
  EXPECT_TRUE(h.transport.reading());
  h.conn.pump();  // the loop's next turn reads
  EXPECT_EQ(h.dispatcher.body.size(), 25u);
  h.conn.feed(std::string(15, 'c'));
  EXPECT_TRUE(h.dispatcher.ended);
}

TEST(BodyStream, AnswerBeforeTheBodyClosesAfterIt) {
  Harness h;
  h.dispatcher.answer_at_once = true;
  h.transport.set_slow(true);  // the answer is still being written: the socket is read on
  h.conn.feed("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nabc");
  EXPECT_NE(h.transport.sent().find("Connection: close"), std::string::npos);
  EXPECT_TRUE(h.transport.close_requested());
  h.conn.feed("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");  // the rest of the body is never parsed as requests
  EXPECT_EQ(h.transport.sent().find("ok"), std::string::npos);
}

TEST(BodyStream, SlowBodyTimesOutAndEofReachesTheSink) {
  Harness h;
  h.conn.feed("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nabc");
  ASSERT_NE(h.http1->deadline(), 0u);
  EXPECT_TRUE(h.conn.advance_to(h.http1->deadline()));
  EXPECT_EQ(h.dispatcher.status, 408);
  Harness g;
  g.conn.feed("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nabc");
  g.conn.eof();
  g.conn.disconnect();
  EXPECT_EQ(g.dispatcher.status, 0);
  EXPECT_EQ(g.dispatcher.cancels, 1);
}

TEST(BodyStream, DroppedSinkStopsReading) {
  Harness h;
  h.conn.feed("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nabc");
  h.http1->drop_body_sink(&h.dispatcher);
  h.conn.feed("more body");
  EXPECT_EQ(h.dispatcher.body, "abc");
  h.dispatcher.answer("bye");
  EXPECT_TRUE(h.transport.close_requested());
}

}  // namespace
}  // namespace tiercel
