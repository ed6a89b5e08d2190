// GoogleTest suite for streamed answers (Responder::stream_* on an Http1Connection) and src/core/static_files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/http1_connection.h"
#include "core/memory_connection.h"
#include "core/static_files.h"

namespace tiercel {
namespace {

/// Answers GET /stream by starting a stream the test drives; anything else with a plain "ok".
class StreamingDispatcher final : public Dispatcher {
 public:
  void dispatch(Responder& conn, uint64_t seq, const RoutedRequest& req) override {
    if (req.head.path == "/stream") {
      conn_ = &conn;
      seq_ = seq;
      conn.retain();
      if (!conn.stream_begin(seq, ResponseHead{200, "X-A: 1\r\n"}, req.ctx, length, this)) {
        ++bodyless;  // the answer is complete already
        conn_ = nullptr;
        conn.release();
      }
      return;
    }
    conn.respond(seq, ResponseHead{200, {}}, "ok", req.ctx);
  }
  void cancel(void*) noexcept override { ++cancels; }
  void on_writable(void*) noexcept override { ++writable_calls; }
  void end(bool abort = false) {
    conn_->stream_end(seq_, abort);
    conn_->release();
  }
  void end_with_trailers(std::string_view fields) {
    conn_->stream_end_with_trailers(seq_, fields);
    conn_->release();
  }
  Responder* conn_ = nullptr;
  uint64_t length = Responder::kUnknownLength;
  uint64_t seq_ = 0;
  int cancels = 0;
  int writable_calls = 0;
  int bodyless = 0;
};

struct Harness {
  Harness() {
    std::string error;
    routes.router.add(Method::kGet, "/stream", 0, error);
    routes.router.add(Method::kGet, "/plain", 1, error);
    routes.entries.resize(2);
    config.write_high_watermark = 1024;
    config.server_header = "";
  }
  ServerConfig config;
  RouteTable routes;
  StreamingDispatcher dispatcher;
  ConnectionEnv env{config, routes, dispatcher, {}, 1000, 1'700'000'000, 0, nullptr};
  MemoryConnection conn{env, "127.0.0.1", MemoryLoop::kStepped};
  MemoryTransport& transport = conn.transport();
  Http1Connection* http1 = conn.http1();
};

/// The Date line of every answer in these tests (the harness's clock).
std::string date_line() { return std::string(DateCache().line(1'700'000'000)); }

TEST(Streams, BytesGoOutAsTheyComeAndLaterAnswersWait) {
  Harness h;
  h.conn.feed("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string head = "HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n" + date_line() + "\r\n";
  EXPECT_EQ(h.transport.sent(), head);
  h.http1->stream_write(h.dispatcher.seq_, "abc");  // framed by the connection
  h.http1->stream_write(h.dispatcher.seq_, "");     // nothing: an empty chunk would end the body
  EXPECT_EQ(h.transport.sent().size(), head.size());  // held until the batch is flushed
  h.http1->flush_output();
  EXPECT_EQ(h.transport.take_sent(), head + "3\r\nabc\r\n");
  h.dispatcher.end();  // the pipelined answer follows only now
  EXPECT_EQ(h.transport.take_sent(),
            "0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + date_line() + "\r\nok");
}

TEST(Streams, AKnownLengthIsSentAsItIs) {
  Harness h;
  h.dispatcher.length = 5;
  h.conn.feed("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  h.http1->stream_write(h.dispatcher.seq_, "ab");
  h.http1->stream_write(h.dispatcher.seq_, "cde");
  h.dispatcher.end();
  EXPECT_EQ(h.transport.take_sent(), "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 5\r\n" + date_line() + "\r\nabcde");
  EXPECT_FALSE(h.transport.close_requested());
}

TEST(Streams, AnAbortedStreamClosesWithoutItsLastChunk) {
  Harness h;
  h.conn.feed("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
  h.http1->stream_write(h.dispatcher.seq_, "abc");
  h.dispatcher.end(/*abort=*/true);
  std::string sent = h.transport.take_sent();
  EXPECT_TRUE(sent.ends_with("3\r\nabc\r\n")) << sent;  // no "0\r\n\r\n", and the later answer is not sent
  EXPECT_TRUE(h.transport.close_requested());
}

TEST(Streams, TrailersFollowTheLastChunkAndTheNextAnswerFollowsThem) {
  Harness h;
  h.conn.feed("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
  h.transport.take_sent();
  h.http1->stream_write(h.dispatcher.seq_, "abc");
  h.dispatcher.end_with_trailers("Checksum: 900150983cd24fb0\r\nX-Rows: 3\r\n");
  EXPECT_EQ(h.transport.take_sent(), "3\r\nabc\r\n0\r\nChecksum: 900150983cd24fb0\r\nX-Rows: 3\r\n\r\n"
                                      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + date_line() + "\r\nok");
  EXPECT_FALSE(h.transport.close_requested());
}

TEST(Streams, TrailersHaveNoRoomInALengthOrCloseDelimitedBody) {
  Harness h;
  h.dispatcher.length = 3;
  h.conn.feed("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  h.http1->stream_write(h.dispatcher.seq_, "abc");
  h.dispatcher.end_with_trailers("X-Rows: 3\r\n");
  EXPECT_EQ(h.transport.take_sent(), "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 3\r\n" + date_line() + "\r\nabc");
  Harness h10;
  h10.conn.feed("GET /stream HTTP/1.0\r\n\r\n");
  h10.http1->stream_write(h10.dispatcher.seq_, "abc");
  h10.dispatcher.end_with_trailers("X-Rows: 3\r\n");
  EXPECT_TRUE(h10.transport.take_sent().ends_with("\r\n\r\nabc"));
  EXPECT_TRUE(h10.transport.close_requested());
}

TEST(Streams, AnHttp10ClientGetsTheBodyUntilTheConnectionCloses) {
  Harness h;
  h.conn.feed("GET /stream HTTP/1.0\r\n\r\n");
  h.http1->stream_write(h.dispatcher.seq_, "abc");
  h.dispatcher.end();
  EXPECT_EQ(h.transport.take_sent(), "HTTP/1.1 200 OK\r\nX-A: 1\r\n" + date_line() + "Connection: close\r\n\r\nabc");
  EXPECT_TRUE(h.transport.close_requested());
}

TEST(Streams, AHeadRequestGetsTheHeadAlone) {
  Harness h;
  h.conn.feed("HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.dispatcher.bodyless, 1) << "stream_begin said no body follows";
  EXPECT_EQ(h.transport.take_sent(), "HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n" + date_line() +
                                         "\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + date_line() + "\r\nok");
}

TEST(Streams, BackpressureAsksThenCallsBack) {
  Harness h;
  h.transport.set_slow(true);
  h.conn.feed("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  uint64_t seq = h.dispatcher.seq_;
  EXPECT_TRUE(h.http1->stream_writable(seq));
  h.http1->stream_write(seq, std::string(4096, 'x'));  // over the 1 KiB watermark, unread
  h.http1->flush_output();
  EXPECT_FALSE(h.http1->stream_writable(seq));
  EXPECT_EQ(h.dispatcher.writable_calls, 0);
  h.conn.drain();
  EXPECT_EQ(h.dispatcher.writable_calls, 1);
  EXPECT_TRUE(h.http1->stream_writable(seq));
  h.dispatcher.end();
}

TEST(Streams, ClosingCancelsTheStream) {
  Harness h;
  h.conn.feed("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  h.conn.disconnect();  // the transport's reference goes; the stream's keeps the connection
  EXPECT_EQ(h.dispatcher.cancels, 1);
  EXPECT_FALSE(h.http1->stream_writable(h.dispatcher.seq_));
  h.http1->release();  // the stream's reference
}

/// Upgrades GET /stream requests (reusing the harness's route) and records what the protocol receives.
struct Switched : UpgradedProtocol {
  std::string received;
  int closed = 0, drained = 0, shutdowns = 0;
  void on_bytes(std::string_view data) override { received.append(data); }
  void on_closed() noexcept override { ++closed; }
  void on_drained() noexcept override { ++drained; }
  void on_shutdown() noexcept override { ++shutdowns; }
};

class UpgradingDispatcher final : public Dispatcher {
 public:
  void dispatch(Responder& conn, uint64_t seq, const RoutedRequest&) override {
    Http1Connection& http1 = *conn.http1();
    ASSERT_TRUE(http1.can_upgrade(seq));
    http1.upgrade(seq, "HTTP/1.1 101 Switching Protocols\r\n\r\n", &protocol);
  }
  void cancel(void*) noexcept override {}
  Switched protocol;
};

TEST(Upgrade, LaterBytesGoToTheProtocol) {
  ServerConfig config;
  RouteTable routes;
  std::string error;
  routes.router.add(Method::kGet, "/stream", 0, error);
  routes.entries.resize(1);
  UpgradingDispatcher d;
  ConnectionEnv env{config, routes, d, {}, 1000, 1'700'000'000, 0, nullptr};
  MemoryConnection conn(env, "127.0.0.1", MemoryLoop::kStepped);
  MemoryTransport& transport = conn.transport();
  Http1Connection* http1 = conn.http1();
  conn.feed("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nframe-bytes");
  EXPECT_EQ(transport.take_sent(), "HTTP/1.1 101 Switching Protocols\r\n\r\n");
  EXPECT_EQ(d.protocol.received, "frame-bytes");  // what came right after the request
  EXPECT_EQ(http1->deadline(), 0u);             // no HTTP timeouts any more
  conn.feed("more");
  EXPECT_EQ(d.protocol.received, "frame-bytesmore");
  http1->send_raw("reply");
  EXPECT_EQ(transport.take_sent(), "reply");
  http1->drain();
  EXPECT_EQ(d.protocol.shutdowns, 1);
  http1->close_upgraded();
  EXPECT_TRUE(transport.close_requested());
  conn.disconnect();
  EXPECT_EQ(d.protocol.closed, 1);
}

class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tiercel-files-XXXXXX";
    root_ = mkdtemp(tmpl);
    std::ofstream(root_ + "/a.txt") << "0123456789";
    mkdir((root_ + "/sub").c_str(), 0700);
    symlink("/etc/passwd", (root_ + "/out").c_str());
  }
  void TearDown() override {
    unlink((root_ + "/a.txt").c_str());
    unlink((root_ + "/out").c_str());
    rmdir((root_ + "/sub").c_str());
    rmdir(root_.c_str());
  }
  std::string root_;
};

TEST_F(Files, ResolveUnderRefusesEscapes) {
  std::string out;
  EXPECT_TRUE(resolve_under(root_, "a.txt", out));
  EXPECT_EQ(out, root_ + "/a.txt");
  EXPECT_TRUE(resolve_under(root_, "sub/./../a.txt", out) == false);  // ".." is refused outright
  EXPECT_FALSE(resolve_under(root_, "../etc/passwd", out));
  EXPECT_FALSE(resolve_under(root_, "out", out));  // a symlink leaving the root
  EXPECT_FALSE(resolve_under(root_, std::string_view("a\0b", 3), out));
  EXPECT_FALSE(resolve_under(root_, "sub\\..\\a.txt", out));
  EXPECT_TRUE(resolve_under(root_, "//a.txt", out));  // empty segments are dropped, still inside
  EXPECT_EQ(out, root_ + "/a.txt");
}

TEST_F(Files, RangesAndValidators) {
  FileAnswer a = answer_file(root_ + "/a.txt", {{"Range", "bytes=2-4"}}, false, {});
  EXPECT_EQ(a.status, 206);
  ASSERT_EQ(a.pieces.size(), 1u);
  EXPECT_EQ(a.pieces[0].offset, 2u);
  EXPECT_EQ(a.pieces[0].length, 3u);
  EXPECT_NE(a.header_lines.find("Content-Range: bytes 2-4/10\r\n"), std::string::npos);
  close(a.fd);
  a = answer_file(root_ + "/a.txt", {{"Range", "bytes=20-"}}, false, {});
  EXPECT_EQ(a.status, 416);
  EXPECT_EQ(a.fd, -1);
  a = answer_file(root_ + "/a.txt", {{"Range", "bytes=0-0,2-2"}}, false, {});
  EXPECT_EQ(a.status, 206);
  EXPECT_EQ(a.pieces.size(), 7u);  // (boundary, bytes, CRLF) x 2, closing boundary
  uint64_t total = 0;
  for (auto& p : a.pieces) total += p.literal.empty() ? p.length : p.literal.size();
  EXPECT_EQ(total, a.content_length);
  close(a.fd);
  a = answer_file(root_ + "/a.txt", {}, false, {});
  size_t at = a.header_lines.find("ETag: ");
  ASSERT_NE(at, std::string::npos);
  std::string etag = a.header_lines.substr(at + 6, a.header_lines.find("\r\n", at) - at - 6);
  close(a.fd);
  a = answer_file(root_ + "/a.txt", {{"If-None-Match", etag}}, false, {});
  EXPECT_EQ(a.status, 304);
  EXPECT_EQ(answer_file(root_ + "/missing", {}, false, {}).status, 404);
  EXPECT_EQ(answer_file(root_ + "/sub", {}, false, {}).status, 404);
}

TEST(FilesTypes, ByExtension) {
  EXPECT_EQ(content_type_for("a/b.CSS"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("x.woff2"), "font/woff2");
  EXPECT_EQ(content_type_for("dir.d/noext"), "application/octet-stream");
  EXPECT_EQ(content_type_for("archive.tar"), "application/x-tar");
}

}  // namespace
}  // namespace tiercel
