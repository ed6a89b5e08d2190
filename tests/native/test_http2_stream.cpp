// GoogleTest suite for one HTTP/2 stream (core/http2_stream.h) as the application sees it: a request body streamed to
// its BodySink with the window held while the reader waits, the body limits and timeouts, streamed answers framed
// as DATA (and reset when cut short), and what the observer records. Driven by a real nghttp2 client (h2_harness.h).
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <string>
#include <vector>

#include "h2_harness.h"

namespace tiercel {
namespace {

using testing::kRoot;
using testing::kUpload;
using testing::ScriptedDispatcher;

class Http2StreamTest : public testing::Http2Harness {};

/// Takes POST bodies through a BodySink (holding after the first piece when asked), and answers GET / with a stream
/// the test writes; every answer waits for the test.
class App final : public Dispatcher, public BodySink {
 public:
  void dispatch(Responder& conn, uint64_t seq, const RoutedRequest& req) override {
    conn_ = &conn;
    seq_ = seq;
    ctx_ = req.ctx;
    ++dispatched;
    conn.retain();
    conn.defer(seq, this);
    streamed_body = req.body_streamed;
    if (req.body_streamed) conn.set_body_sink(this);
    if (req.method != Method::kPost && stream_answers)
      began = conn.stream_begin(seq, {200, "X-A: 1\r\n"}, req.ctx, Responder::kUnknownLength, this);
  }
  void cancel(void*) noexcept override { ++cancels; }
  bool on_body(std::string_view data) override {
    body.append(data);
    ++pieces;
    return !hold;
  }
  void on_body_end() override { ended = true; }
  void on_body_error(int status, std::string_view) override { body_error = status; }

  void answer(std::string_view text) {
    conn_->respond(seq_, {200, {}}, text, ctx_);
    done();
  }
  void done() {
    conn_->release();
    conn_ = nullptr;
  }

  Responder* conn_ = nullptr;
  uint64_t seq_ = 0;
  ResponseContext ctx_;
  bool hold = false, stream_answers = true, streamed_body = false, began = false, ended = false;
  int dispatched = 0, pieces = 0, cancels = 0, body_error = -1;
  std::string body;
};

/// Every record the connection reports.
struct Records final : RequestObserver {
  void on_response(const RequestRecord& r) noexcept override {
    seen.push_back({std::string(r.request_line), r.route_id, r.status, r.bytes});
  }
  void on_connection(int) noexcept override {}
  void on_connection_limit(bool, uint64_t) noexcept override {}
  struct Seen {
    std::string request_line;
    uint32_t route;
    int status;
    uint64_t bytes;
  };
  std::vector<Seen> seen;
};

size_t window_updates_for(const testing::H2Client& client, int32_t sid) {
  size_t n = 0;
  for (const auto& f : client.frames()) n += f.type == NGHTTP2_WINDOW_UPDATE && f.stream_id == sid;
  return n;
}

TEST_F(Http2StreamTest, AStreamedBodyWaitsForItsReaderWithItsWindowHeld) {
  routes_.entries[kUpload].stream_body_limit = 4 << 20;
  routes_.has_stream_body = true;
  App app;
  app.hold = true;
  use(app);
  start();
  const std::string body(700'000, 'u');  // more than half the stream's 1 MiB window: given back only when taken
  int32_t sid = client_->request("POST", "/upload", body);
  exchange();
  ASSERT_EQ(app.dispatched, 1);
  EXPECT_TRUE(app.streamed_body) << "dispatched when its head arrived";
  EXPECT_EQ(app.pieces, 1) << "the reader said it holds enough";
  EXPECT_FALSE(app.ended);
  EXPECT_EQ(window_updates_for(*client_, sid), 0u) << "what waits for the reader keeps its window";
  app.hold = false;
  app.conn_->resume_body();
  exchange();
  EXPECT_TRUE(app.ended);
  EXPECT_TRUE(app.body == body) << app.body.size() << " bytes";
  EXPECT_GT(window_updates_for(*client_, sid) + window_updates_for(*client_, 0), 0u) << "the window came back";
  app.answer("took it");
  exchange();
  EXPECT_EQ(client_->response(sid).status, 200);
  EXPECT_EQ(client_->response(sid).body, "took it");
}

TEST_F(Http2StreamTest, ABodyOverMaxBodyIs413WithoutTheApplication) {
  config_.limits.max_body = 100;
  start();
  int32_t sid = client_->request("POST", "/upload", std::string(300, 'x'), 64);
  exchange();
  EXPECT_TRUE(dispatcher_.seen().empty());
  EXPECT_EQ(client_->response(sid).status, 413);
  EXPECT_TRUE(client_->response(sid).closed);
  EXPECT_EQ(client_->recv_error(), 0);
  EXPECT_TRUE(client_->frames_of(NGHTTP2_GOAWAY).empty()) << "only the stream ends, not the connection";
}

TEST_F(Http2StreamTest, ABodyThatStopsArrivingIs408) {
  start();
  int32_t sid = client_->request("POST", "/upload", "half", 16384, /*hold_end=*/true);
  exchange();
  EXPECT_TRUE(dispatcher_.seen().empty()) << "a whole body is awaited";
  ASSERT_EQ(conn_->deadline(), env_.now_ms + config_.header_timeout_ms);
  env_.now_ms = conn_->deadline();
  conn_->on_timeout();
  exchange();
  EXPECT_EQ(client_->response(sid).status, 408);
  EXPECT_TRUE(dispatcher_.seen().empty());
}

TEST_F(Http2StreamTest, AStreamedAnswerIsDataFramesAndEndsWithTheStream) {
  App app;
  use(app);
  start();
  int32_t sid = client_->request("GET", "/");
  exchange();
  ASSERT_TRUE(app.began);
  app.conn_->stream_write(app.seq_, "abc");
  app.conn_->stream_write(app.seq_, "");  // nothing
  app.conn_->stream_write(app.seq_, "def");
  app.conn_->flush_output();
  exchange();
  const testing::H2Response& r = client_->response(sid);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.field("x-a"), "1");
  EXPECT_FALSE(r.has("transfer-encoding")) << "HTTP/2 frames the body itself";
  EXPECT_FALSE(r.has("content-length"));
  EXPECT_EQ(r.body, "abcdef");
  EXPECT_FALSE(r.closed);
  app.conn_->stream_end(app.seq_);
  app.done();
  exchange();
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.close_error, static_cast<uint32_t>(NGHTTP2_NO_ERROR));
}

TEST_F(Http2StreamTest, TrailersAreAHeadersFrameThatEndsTheStream) {
  App app;
  use(app);
  start();
  int32_t sid = client_->request("GET", "/");
  exchange();
  app.conn_->stream_write(app.seq_, "abc");
  app.conn_->stream_end_with_trailers(app.seq_, "Checksum: 900150983cd24fb0\r\nConnection: close\r\nX-Rows: 3\r\n");
  app.done();
  exchange();
  const testing::H2Response& r = client_->response(sid);
  EXPECT_EQ(r.body, "abc");
  using Fields = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(r.trailers, (Fields{{"checksum", "900150983cd24fb0"}, {"x-rows", "3"}}))
      << "names lower-cased, the connection-specific field left out (RFC 9113 8.2.2)";
  EXPECT_FALSE(r.has("checksum")) << "not among the response's own fields";
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.close_error, static_cast<uint32_t>(NGHTTP2_NO_ERROR));
  auto headers = client_->frames_of(NGHTTP2_HEADERS);
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_TRUE(headers[1].flags & NGHTTP2_FLAG_END_STREAM) << "the trailers end the stream, not the last DATA";
}

TEST_F(Http2StreamTest, AStreamCutShortIsReset) {
  App app;
  use(app);
  start();
  int32_t sid = client_->request("GET", "/");
  exchange();
  app.conn_->stream_write(app.seq_, "part");
  app.conn_->stream_end(app.seq_, /*abort=*/true);
  app.done();
  exchange();
  EXPECT_TRUE(client_->response(sid).closed);
  EXPECT_EQ(client_->response(sid).close_error, static_cast<uint32_t>(NGHTTP2_INTERNAL_ERROR))
      << "the client must not take a cut answer for a complete one";
}

TEST_F(Http2StreamTest, AHeadRequestsStreamHasNoBody) {
  App app;
  use(app);
  start();
  int32_t sid = client_->request("HEAD", "/");
  exchange();
  EXPECT_FALSE(app.began) << "stream_begin says no body follows";
  app.done();
  exchange();
  EXPECT_EQ(client_->response(sid).status, 200);
  EXPECT_TRUE(client_->response(sid).closed);
}

TEST_F(Http2StreamTest, TheObserverSeesTheRequestLineAndTheStatus) {
  Records records;
  env_.observer = &records;
  start();
  client_->request("GET", "/?x=1");
  client_->request("GET", "/nope");
  exchange();
  ASSERT_EQ(records.seen.size(), 2u);
  EXPECT_EQ(records.seen[0].request_line, "GET /?x=1 HTTP/2.0");
  EXPECT_EQ(records.seen[0].route, kRoot);
  EXPECT_EQ(records.seen[0].status, 200);
  EXPECT_GT(records.seen[0].bytes, ScriptedDispatcher::answer_body(dispatcher_.seen()[0]).size());
  EXPECT_EQ(records.seen[1].request_line, "GET /nope HTTP/2.0");
  EXPECT_EQ(records.seen[1].route, RequestRecord::kNoRoute);
  EXPECT_EQ(records.seen[1].status, 404);
}

}  // namespace
}  // namespace tiercel
