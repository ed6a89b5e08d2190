// GoogleTest suite for Http2Connection (core/http2.h) driven by a real peer: an nghttp2 client session whose bytes go
// to the server connection through the in-memory transport, and back. Everything is asserted on what the client
// decodes and on what the Dispatcher sees: never on the server's own serialisation or its stream internals, so that
// the suite holds across a redesign of how streams reach the application.
#include "core/http2.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/memory_transport.h"
#include "h2_harness.h"

namespace tiercel {
namespace {

using testing::H2Client;
using testing::H2Frame;
using testing::H2Response;
using testing::ScriptedDispatcher;
using testing::kPeer;
using testing::kRoot;
using testing::kUpload;
using Http2Test = testing::Http2Harness;

TEST_F(Http2Test, PrefaceAndSettingsAreExchanged) {
  start({{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 7}});
  EXPECT_FALSE(transport_.sent().empty()) << "the server's SETTINGS leave before the client says anything";
  exchange();
  ASSERT_FALSE(client_->frames().empty());
  EXPECT_EQ(client_->frames()[0].type, NGHTTP2_SETTINGS);
  EXPECT_FALSE(client_->frames()[0].flags & NGHTTP2_FLAG_ACK) << "the server's first frame is its own SETTINGS";
  bool acked = false;
  for (const H2Frame& f : client_->frames_of(NGHTTP2_SETTINGS)) acked |= (f.flags & NGHTTP2_FLAG_ACK) != 0;
  EXPECT_TRUE(acked) << "the client's SETTINGS are acknowledged";
  EXPECT_EQ(nghttp2_session_get_remote_settings(client_->ng(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 100u);
  EXPECT_EQ(client_->recv_error(), 0);
  EXPECT_TRUE(client_->frames_of(NGHTTP2_GOAWAY).empty());
  EXPECT_FALSE(transport_.close_requested());
}

TEST_F(Http2Test, GetIsAnsweredWithStatusFieldsAndBody) {
  start();
  int32_t sid = client_->request("GET", "/?x=1");
  exchange();
  ASSERT_EQ(dispatcher_.seen().size(), 1u);
  const auto& seen = dispatcher_.seen()[0];
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.target, "/?x=1");
  EXPECT_EQ(seen.route_id, kRoot);
  EXPECT_EQ(seen.peer_ip, kPeer);
  const H2Response& r = client_->response(sid);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.field("content-type"), "text/plain");
  EXPECT_EQ(r.field("x-seq"), std::to_string(seen.seq));
  EXPECT_EQ(r.field("server"), "tiercel");
  EXPECT_FALSE(r.has("connection")) << "no connection-specific field over HTTP/2";
  EXPECT_FALSE(r.has("transfer-encoding"));
  EXPECT_EQ(r.body, ScriptedDispatcher::answer_body(seen));
  if (r.has("content-length")) {
    EXPECT_EQ(r.field("content-length"), std::to_string(r.body.size()));
  }
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.close_error, static_cast<uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(conn_->open_streams(), 0u);
}

TEST_F(Http2Test, HeadIsAnsweredWithoutBody) {
  start();
  int32_t sid = client_->request("HEAD", "/");
  exchange();
  const H2Response& r = client_->response(sid);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.field("content-type"), "text/plain");
  EXPECT_EQ(r.body, "");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(client_->recv_error(), 0);
}

TEST_F(Http2Test, LargeBodyArrivesWholeAcrossFramesAndWindows) {
  start();  // the client's default windows (64 KiB): nghttp2 gives them back as it reads
  int32_t sid = client_->request("GET", "/?pad=300000");
  exchange();
  ASSERT_EQ(dispatcher_.seen().size(), 1u);
  const H2Response& r = client_->response(sid);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body == ScriptedDispatcher::answer_body(dispatcher_.seen()[0]) + std::string(300000, 'p'))
      << "a body of " << r.body.size() << " bytes";
  EXPECT_TRUE(r.closed);
  EXPECT_GT(client_->frames_of(NGHTTP2_DATA).size(), 18u) << "no frame over the 16 KiB default frame size";
}

TEST_F(Http2Test, UnknownPathIsAnswered404WithoutDispatch) {
  start();
  int32_t sid = client_->request("GET", "/nope");
  exchange();
  EXPECT_TRUE(dispatcher_.seen().empty());
  EXPECT_EQ(client_->response(sid).status, 404);
  EXPECT_TRUE(client_->response(sid).closed);
}

TEST_F(Http2Test, PostBodyInSeveralDataFramesArrivesWhole) {
  start();
  std::string body;
  for (int i = 0; i < 300; ++i) body += static_cast<char>('a' + i % 26);
  int32_t sid = client_->request("POST", "/upload", body, 64);  // five DATA frames
  exchange();
  EXPECT_EQ(client_->sent_count(NGHTTP2_DATA), 5);
  ASSERT_EQ(dispatcher_.seen().size(), 1u);
  const auto& seen = dispatcher_.seen()[0];
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.route_id, kUpload);
  EXPECT_EQ(seen.body, body);
  const H2Response& r = client_->response(sid);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, ScriptedDispatcher::answer_body(seen));
  EXPECT_NE(r.body.find(" 300 "), std::string::npos) << r.body;
}

TEST_F(Http2Test, ConcurrentStreamsAreAnsweredInAnyOrder) {
  start();
  dispatcher_.defer_all();
  int32_t a = client_->request("GET", "/?n=a");
  int32_t b = client_->request("GET", "/?n=b");
  int32_t c = client_->request("GET", "/?n=c");
  exchange();
  ASSERT_EQ(dispatcher_.pending().size(), 3u);
  EXPECT_EQ(conn_->open_streams(), 3u);
  EXPECT_TRUE(client_->frames_of(NGHTTP2_HEADERS).empty()) << "nothing is answered before the dispatcher answers";
  dispatcher_.complete_newest();  // c first
  exchange();
  EXPECT_EQ(client_->response(c).status, 200);
  EXPECT_TRUE(client_->response(c).closed);
  EXPECT_FALSE(client_->response(a).closed);
  EXPECT_FALSE(client_->response(b).closed);
  dispatcher_.complete_all();
  exchange();
  for (auto [sid, tag] : {std::pair{a, "/?n=a"}, std::pair{b, "/?n=b"}, std::pair{c, "/?n=c"}}) {
    const H2Response& r = client_->response(sid);
    EXPECT_EQ(r.status, 200) << tag;
    EXPECT_NE(r.body.find(std::string(" GET ") + tag + " "), std::string::npos) << "stream " << sid << ": " << r.body;
    EXPECT_TRUE(r.closed);
  }
  EXPECT_EQ(conn_->open_streams(), 0u);
}

TEST_F(Http2Test, StreamResetByClientCancelsItsDeferredAnswer) {
  start();
  dispatcher_.defer_all();
  int32_t sid = client_->request("GET", "/?slow=1");
  int32_t other = client_->request("GET", "/?other=1");
  exchange();
  ASSERT_EQ(dispatcher_.pending().size(), 2u);
  nghttp2_submit_rst_stream(client_->ng(), NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
  exchange();
  ASSERT_EQ(dispatcher_.answers().size(), 2u);
  EXPECT_EQ(dispatcher_.answers()[0]->cancels, 1) << "the reset stream's work is cancelled";
  EXPECT_TRUE(dispatcher_.answers()[0]->cancelled_before_answer);
  EXPECT_EQ(dispatcher_.answers()[1]->cancels, 0) << "the other stream goes on";
  EXPECT_EQ(conn_->open_streams(), 1u);
  dispatcher_.complete_all();  // the late answer to the reset stream goes nowhere
  exchange();
  EXPECT_EQ(client_->response(sid).status, 0);
  EXPECT_EQ(client_->response(other).status, 200);
  EXPECT_EQ(client_->recv_error(), 0);
  EXPECT_TRUE(client_->frames_of(NGHTTP2_GOAWAY).empty());
}

TEST_F(Http2Test, PingIsAnsweredWithItsData) {
  start();
  exchange();
  const uint8_t opaque[8] = {'t', 'i', 'e', 'r', 'c', 'e', 'l', '!'};
  nghttp2_submit_ping(client_->ng(), NGHTTP2_FLAG_NONE, opaque);
  exchange();
  auto pings = client_->frames_of(NGHTTP2_PING);
  ASSERT_EQ(pings.size(), 1u);
  EXPECT_TRUE(pings[0].flags & NGHTTP2_FLAG_ACK);
  EXPECT_EQ(pings[0].opaque, "tiercel!");
}

TEST_F(Http2Test, DrainSendsGoawayAndFinishesOpenStreams) {
  start();
  dispatcher_.defer_all();
  int32_t sid = client_->request("GET", "/");
  exchange();
  ASSERT_EQ(dispatcher_.pending().size(), 1u);
  conn_->drain();
  exchange();
  auto goaways = client_->frames_of(NGHTTP2_GOAWAY);
  ASSERT_EQ(goaways.size(), 1u);
  EXPECT_EQ(goaways[0].error_code, static_cast<uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(goaways[0].last_stream_id, sid) << "the stream already started is kept";
  EXPECT_FALSE(transport_.close_requested()) << "not before the open stream is answered";
  dispatcher_.complete_all();
  exchange();
  EXPECT_EQ(client_->response(sid).status, 200);
  EXPECT_TRUE(client_->response(sid).closed);
  EXPECT_TRUE(transport_.close_requested());
}

TEST_F(Http2Test, CloseIdleOnAnIdleConnectionSendsGoawayAndCloses) {
  start();
  exchange();
  conn_->close_idle();
  exchange();
  EXPECT_TRUE(got_goaway(NGHTTP2_NO_ERROR));
  EXPECT_TRUE(transport_.close_requested());
}

TEST_F(Http2Test, IdleConnectionEndsWithGoawayAtItsDeadline) {
  start();
  int32_t sid = client_->request("GET", "/");
  exchange();
  EXPECT_EQ(client_->response(sid).status, 200);
  ASSERT_EQ(conn_->deadline(), env_.now_ms + config_.keepalive_timeout_ms) << "idle: the keep-alive timeout runs";
  env_.now_ms = conn_->deadline();
  conn_->on_timeout();
  exchange();
  EXPECT_TRUE(got_goaway(NGHTTP2_NO_ERROR));
  EXPECT_TRUE(transport_.close_requested());
}

TEST_F(Http2Test, BodyBeyondTheClientsWindowWaitsForWindowUpdate) {
  constexpr uint32_t kWindow = 1000;
  start({{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kWindow}}, /*auto_window=*/false);
  int32_t sid = client_->request("GET", "/?pad=5000");
  exchange();
  const H2Response& r = client_->response(sid);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), kWindow) << "no more than the stream's window before a WINDOW_UPDATE";
  EXPECT_FALSE(r.closed);
  EXPECT_EQ(conn_->open_streams(), 1u);
  nghttp2_submit_window_update(client_->ng(), NGHTTP2_FLAG_NONE, sid, 3000);
  exchange();
  EXPECT_EQ(r.body.size(), kWindow + 3000);
  EXPECT_FALSE(r.closed);
  nghttp2_submit_window_update(client_->ng(), NGHTTP2_FLAG_NONE, sid, 1 << 20);
  exchange();
  ASSERT_EQ(dispatcher_.seen().size(), 1u);
  std::string expected = ScriptedDispatcher::answer_body(dispatcher_.seen()[0]) + std::string(5000, 'p');
  EXPECT_EQ(r.body, expected);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.close_error, static_cast<uint32_t>(NGHTTP2_NO_ERROR));
}

TEST_F(Http2Test, DataOnStreamZeroEndsTheConnectionWithGoaway) {
  start();
  exchange();
  // A DATA frame (type 0) on stream 0: a connection error of type PROTOCOL_ERROR (RFC 9113 §6.1).
  send_raw(std::string_view("\0\0\x04\0\0\0\0\0\0abcd", 13));
  exchange();
  EXPECT_TRUE(got_goaway(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_TRUE(transport_.close_requested());
  EXPECT_TRUE(dispatcher_.seen().empty());
}

TEST_F(Http2Test, BadPrefaceEndsTheConnectionWithGoaway) {
  start();
  send_raw("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n");
  EXPECT_TRUE(got_goaway(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_TRUE(transport_.close_requested());
}

TEST_F(Http2Test, TransportClosingCancelsDeferredAnswers) {
  start();
  dispatcher_.defer_all();
  client_->request("GET", "/?a=1");
  client_->request("GET", "/?b=1");
  exchange();
  ASSERT_EQ(dispatcher_.pending().size(), 2u);
  conn_->on_transport_closed();
  transport_.mark_dead();
  conn_.reset();
  for (const auto& a : dispatcher_.answers()) EXPECT_EQ(a->cancels, 1);
  dispatcher_.complete_all();
  EXPECT_EQ(transport_.calls_after_dead(), 0);
}

}  // namespace
}  // namespace tiercel
