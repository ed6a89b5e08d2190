// GoogleTest suite for the in-memory transport (core/memory_transport.h) and the connection over it
// (core/memory_connection.h) that the TestClient, the native tests and the fuzzers share: bytes in, bytes out,
// closing from either side, pausing, a slow peer's backpressure, the two ways the loop is played, and the clock.
#include "core/memory_connection.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "core/memory_transport.h"
#include "response_splitter.h"
#include "scripted_dispatcher.h"

namespace tiercel {
namespace {

using testing::ParsedResponse;
using testing::ScriptedDispatcher;

// --- the transport alone ----------------------------------------------------------------------------

TEST(MemoryTransport, KeepsWhatIsSentAndClearsTheCallersBuffer) {
  MemoryTransport t;
  int woken = 0;
  t.set_on_output([&] { ++woken; });
  std::string out = "HTTP/1.1 200 OK\r\n";
  t.send(out);
  EXPECT_TRUE(out.empty());
  std::string head = "Content-Length: 2\r\n\r\n";
  t.send(head, "ok");  // the tail goes after the buffer
  EXPECT_TRUE(head.empty());
  EXPECT_EQ(t.sent(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(t.sends(), 2);
  EXPECT_EQ(woken, 2);
  EXPECT_EQ(t.unsent_bytes(), 0u);  // a fast peer reads everything at once
  EXPECT_EQ(t.take_sent(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(t.sent(), "");
}

TEST(MemoryTransport, SlowPeerReadsOnlyWhenDrained) {
  MemoryTransport t;
  t.set_slow(true);
  std::string out(100, 'x');
  t.send(out);
  EXPECT_EQ(t.unsent_bytes(), 100u);
  EXPECT_FALSE(t.drain(40));
  EXPECT_EQ(t.unsent_bytes(), 60u);
  EXPECT_TRUE(t.drain(1000));  // more than is queued: all of it
  EXPECT_EQ(t.unsent_bytes(), 0u);
  EXPECT_EQ(t.sent().size(), 100u);
}

TEST(MemoryTransport, CloseIsNotedAndLaterBytesCounted) {
  MemoryTransport t;
  int woken = 0;
  t.set_on_output([&] { ++woken; });
  std::string out = "last answer";
  t.send(out);
  t.close();
  EXPECT_TRUE(t.close_requested());
  EXPECT_EQ(woken, 2);  // the peer learns of the close too
  EXPECT_EQ(t.sent_at_close(), 11u);
  out = "too late";
  t.send(out);
  t.close();
  EXPECT_EQ(t.bytes_after_close(), 8u);
  EXPECT_EQ(t.close_calls(), 2);
  EXPECT_EQ(t.sent_at_close(), 11u);  // the first close counts
}

TEST(MemoryTransport, PausingResumingAndCallsAfterDeath) {
  MemoryTransport t;
  int resumed = 0;
  t.set_on_resume([&] { ++resumed; });
  EXPECT_TRUE(t.reading());
  t.pause_reading();
  EXPECT_FALSE(t.reading());
  t.resume_reading();
  EXPECT_TRUE(t.reading());
  EXPECT_EQ(t.pauses(), 1);
  EXPECT_EQ(t.resumes(), 1);
  EXPECT_EQ(resumed, 1);
  t.wake_later();
  EXPECT_TRUE(t.take_wake());
  EXPECT_FALSE(t.take_wake());
  EXPECT_EQ(t.calls_after_dead(), 0);
  t.mark_dead();
  t.resume_reading();  // a connection that outlived its transport must not do this
  (void)t.unsent_bytes();
  EXPECT_EQ(t.calls_after_dead(), 2);
  EXPECT_EQ(resumed, 1);  // nobody is told: the owner is gone
}

// --- a connection over it --------------------------------------------------------------------------

constexpr uint32_t kRoot = 0, kConst = 1;
constexpr std::string_view kConstBody = "const\n";

RouteTable make_routes() {
  RouteTable t;
  std::string error;
  EXPECT_TRUE(t.router.add(Method::kGet, "/", kRoot, error)) << error;
  EXPECT_TRUE(t.router.add(Method::kGet, "/c", kConst, error)) << error;
  t.entries.resize(2);
  t.entries[kConst].const_answer =
      ConstAnswer{ResponseHead{200, "Content-Type: text/plain\r\n"}, std::string(kConstBody)};
  return t;
}

std::string get(std::string_view target, std::string_view extra = {}) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

std::vector<ParsedResponse> responses(std::string_view stream) {
  std::vector<ParsedResponse> out;
  std::string error;
  EXPECT_TRUE(testing::split_responses(stream, [](size_t, int) { return false; }, out, error)) << error;
  return out;
}

class MemoryConnectionTest : public ::testing::Test {
 protected:
  MemoryConnectionTest() : routes_(make_routes()) { dispatcher_.answer_all_sync(); }
  ConnectionEnv& env() { return env_; }

  ServerConfig config_;
  RouteTable routes_;
  ScriptedDispatcher dispatcher_;
  ConnectionEnv env_{config_, routes_, dispatcher_, {}, 1000, 1'700'000'000, 0, nullptr};
};

TEST_F(MemoryConnectionTest, BytesInAnswerBytesOut) {
  MemoryConnection c(env_, "192.0.2.1");
  int woken = 0;
  c.set_on_output([&] { ++woken; });
  c.feed(get("/c") + get("/"));
  EXPECT_GE(woken, 1);
  auto rs = responses(c.take_output());
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].status, 200);
  EXPECT_EQ(rs[0].body, kConstBody);
  EXPECT_EQ(rs[1].body, "1 GET / 0 811c9dc5\n");  // seq 1, no body: FNV-1a of nothing is its offset basis
  ASSERT_EQ(dispatcher_.seen().size(), 1u);       // the const route never reaches the dispatcher
  EXPECT_EQ(dispatcher_.seen()[0].peer_ip, "192.0.2.1");
  EXPECT_EQ(c.take_output(), "");  // taken once
  EXPECT_FALSE(c.closed());
  EXPECT_EQ(c.delivered_bytes(), get("/c").size() + get("/").size());
}

TEST_F(MemoryConnectionTest, RequestSplitAcrossFeedsAndReadsIsOneRequest) {
  MemoryConnection c(env_, "192.0.2.1");
  c.set_read_size(3);  // every read three bytes, the connection keeping the partial head between them
  const std::string req = get("/?x=1");
  c.feed(req.substr(0, 7));
  EXPECT_TRUE(dispatcher_.seen().empty());
  EXPECT_EQ(c.take_output(), "");
  c.feed(req.substr(7));
  ASSERT_EQ(dispatcher_.seen().size(), 1u);
  EXPECT_EQ(dispatcher_.seen()[0].target, "/?x=1");
  EXPECT_EQ(responses(c.take_output()).size(), 1u);
}

TEST_F(MemoryConnectionTest, ServerCloseStopsReading) {
  MemoryConnection c(env_, "192.0.2.1");
  c.feed(get("/", "Connection: close\r\n"));
  EXPECT_TRUE(c.closed());
  EXPECT_TRUE(c.transport().close_requested());
  auto rs = responses(c.take_output());
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_TRUE(rs[0].closes());
  c.feed(get("/"));  // the socket is shut down once the answer is written: this is never read
  EXPECT_EQ(dispatcher_.seen().size(), 1u);
  EXPECT_EQ(c.backlog(), get("/"));
  EXPECT_EQ(c.take_output(), "");
}

TEST_F(MemoryConnectionTest, PeerDisconnectCancelsPendingAnswersAndLateOnesGoNowhere) {
  dispatcher_.defer_all();
  MemoryConnection c(env_, "192.0.2.1");
  c.feed(get("/") + get("/"));
  ASSERT_EQ(dispatcher_.pending().size(), 2u);
  c.disconnect();
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.http1(), nullptr);
  EXPECT_EQ(dispatcher_.cancel_log(), (std::vector<uint64_t>{0, 1}));
  c.disconnect();  // idempotent
  c.feed(get("/"));  // ignored: the peer is gone
  EXPECT_EQ(c.backlog(), "");
  dispatcher_.complete_all();  // late answers free the connection without touching the transport
  EXPECT_EQ(c.transport().calls_after_dead(), 0);
  EXPECT_EQ(c.take_output(), "");
}

TEST_F(MemoryConnectionTest, PeerEofClosesAndNothingIsSentAfterIt) {
  dispatcher_.defer_all();
  MemoryConnection c(env_, "192.0.2.1", MemoryLoop::kStepped);
  c.feed(get("/"));
  c.eof();
  EXPECT_TRUE(c.eof_sent());
  EXPECT_TRUE(c.transport().close_requested());
  c.feed(get("/"));  // nothing follows an EOF
  EXPECT_EQ(c.backlog(), "");
  dispatcher_.complete_all();  // an answer that completes before the socket is gone is not sent
  EXPECT_EQ(c.transport().bytes_after_close(), 0u);
  EXPECT_EQ(c.take_output(), "");
}

/// Pipelining over max_pipelined pauses reading: the next request waits "in the kernel" until an answer frees a
/// slot and reading resumes. When it is read then is what tells the two ways of playing the loop apart.
TEST_F(MemoryConnectionTest, ImmediateLoopReadsWaitingInputAsSoonAsReadingResumes) {
  config_.max_pipelined = 1;
  dispatcher_.defer_all();
  MemoryConnection c(env_, "192.0.2.1");
  c.feed(get("/?a"));
  EXPECT_FALSE(c.transport().reading());
  c.feed(get("/?b"));
  EXPECT_EQ(c.backlog(), get("/?b"));
  EXPECT_EQ(dispatcher_.seen().size(), 1u);
  dispatcher_.complete_oldest();  // reading resumes, and b is read from inside that call: nobody else would
  EXPECT_EQ(c.backlog(), "");
  ASSERT_EQ(dispatcher_.seen().size(), 2u);
  EXPECT_EQ(dispatcher_.seen()[1].target, "/?b");
  dispatcher_.complete_oldest();
  auto rs = responses(c.take_output());
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(*rs[1].header("X-Seq"), "1");
}

TEST_F(MemoryConnectionTest, SteppedLoopReadsWaitingInputOnlyAtPump) {
  config_.max_pipelined = 1;
  dispatcher_.defer_all();
  MemoryConnection c(env_, "192.0.2.1", MemoryLoop::kStepped);
  c.feed(get("/?a"));
  c.feed(get("/?b"));  // reading is paused by now
  EXPECT_EQ(c.backlog(), get("/?b"));
  dispatcher_.complete_oldest();
  EXPECT_TRUE(c.transport().reading());
  EXPECT_EQ(c.backlog(), get("/?b"));  // the loop has not turned yet
  EXPECT_EQ(dispatcher_.seen().size(), 1u);
  c.pump();
  EXPECT_EQ(c.backlog(), "");
  EXPECT_EQ(dispatcher_.seen().size(), 2u);
  dispatcher_.complete_all();
}

TEST_F(MemoryConnectionTest, SlowPeerBackpressureResumesOnlyOnAFullDrain) {
  config_.write_high_watermark = 256;
  MemoryConnection c(env_, "192.0.2.1");
  c.transport().set_slow(true);
  const std::string big = get("/?pad=1000");  // each answer is over the watermark
  c.feed(big + big);
  EXPECT_EQ(dispatcher_.seen().size(), 1u);
  EXPECT_FALSE(c.transport().reading());
  const size_t unsent = c.transport().unsent();
  EXPECT_GT(unsent, 1000u);
  c.drain(unsent - 1);  // not all: the connection is not told
  EXPECT_EQ(dispatcher_.seen().size(), 1u);
  c.drain(1);
  EXPECT_EQ(dispatcher_.seen().size(), 2u);
  c.drain();
  EXPECT_TRUE(c.transport().reading());
  EXPECT_EQ(responses(c.take_output()).size(), 2u);
}

TEST_F(MemoryConnectionTest, SlowPeerStillReadWhileTheClosingAnswerIsUnsent) {
  MemoryConnection c(env_, "192.0.2.1");
  c.transport().set_slow(true);
  c.feed(get("/", "Connection: close\r\n"));
  ASSERT_TRUE(c.transport().close_requested());
  c.feed("GET / HTTP/1.1\r\n");  // read while the answer is being written (as a socket), and ignored
  EXPECT_EQ(c.backlog(), "");
  c.drain();  // written: now the socket is shut down, later input is discarded
  c.feed(get("/"));
  EXPECT_EQ(c.backlog(), get("/"));
  EXPECT_EQ(dispatcher_.seen().size(), 1u);
}

TEST_F(MemoryConnectionTest, ImmediateLoopReadsTheSystemClock) {
  env_.now_ms = 0;
  env_.now_s = 0;
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  MemoryConnection c(env_, "192.0.2.1");
  c.feed(get("/"));
  EXPECT_GE(env_.now_ms, static_cast<uint64_t>(before));
  EXPECT_GE(env_.now_s, std::time(nullptr) - 5);
}

TEST_F(MemoryConnectionTest, SteppedLoopKeepsItsClockAndRunsTimeoutsWhenAdvanced) {
  MemoryConnection c(env_, "192.0.2.1", MemoryLoop::kStepped);
  c.feed(get("/"));
  EXPECT_EQ(env_.now_ms, 1000u);
  auto rs = responses(c.take_output());
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(*rs[0].header("Date"), "Tue, 14 Nov 2023 22:13:20 GMT");  // now_s 1'700'000'000
  const uint64_t idle_until = 1000 + config_.keepalive_timeout_ms;
  EXPECT_FALSE(c.advance_to(idle_until - 1));
  EXPECT_FALSE(c.closed());
  EXPECT_TRUE(c.advance_to(idle_until));
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.take_output(), "");  // an idle connection is closed without a 408
}

TEST_F(MemoryConnectionTest, BorrowedAndOwnReadsDeliverTheSameBytes) {
  std::string body(40 * 1024, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 31 % 251);
  routes_ = RouteTable();
  std::string error;
  ASSERT_TRUE(routes_.router.add(Method::kPost, "/", 0, error));
  routes_.entries.resize(1);
  const std::string req =
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (bool borrowing : {true, false}) {
    ScriptedDispatcher d;
    d.answer_all_sync();
    ConnectionEnv env{config_, routes_, d, {}, 1000, 1'700'000'000, 0, nullptr};
    MemoryConnection c(env, "192.0.2.1", MemoryLoop::kStepped);
    c.set_borrowing(borrowing);
    c.set_min_free(1);
    c.feed(req);
    ASSERT_EQ(d.seen().size(), 1u) << borrowing;
    EXPECT_EQ(d.seen()[0].body, body) << borrowing;  // read in 16 KiB pieces, reassembled byte for byte
    EXPECT_EQ(c.delivered_bytes(), req.size());
  }
}

}  // namespace
}  // namespace tiercel
