// GoogleTest suite for src/core/websocket: the handshake key, server frames, and the client-frame parser's
// enforcement of RFC 6455 (each violation's close code).
#include "core/websocket.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tiercel::ws {
namespace {

/// A client frame: masked with a fixed key.
std::string client_frame(uint8_t first_byte, std::string_view payload, bool mask = true) {
  std::string out;
  out.push_back(static_cast<char>(first_byte));
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  uint64_t n = payload.size();
  uint8_t m = mask ? 0x80 : 0;
  if (n < 126) {
    out.push_back(static_cast<char>(m | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(m | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((n >> (i * 8)) & 0xFF));
  }
  if (mask) out.append(key, 4);
  for (size_t i = 0; i < payload.size(); ++i) out.push_back(mask ? static_cast<char>(payload[i] ^ key[i & 3]) : payload[i]);
  return out;
}

struct Recorder : FrameHandler {
  std::vector<std::pair<int, std::string>> events;  // (opcode, data); close as (8, "<code> reason")
  void on_message(Opcode op, std::string_view data) override { events.emplace_back(op, std::string(data)); }
  void on_ping(std::string_view p) override { events.emplace_back(kPing, std::string(p)); }
  void on_pong(std::string_view p) override { events.emplace_back(kPong, std::string(p)); }
  void on_close(uint16_t code, std::string_view reason) override {
    events.emplace_back(kClose, std::to_string(code) + " " + std::string(reason));
  }
};

uint16_t feed(Parser& p, Recorder& r, std::string_view bytes, size_t step = SIZE_MAX) {
  std::string reason;
  for (size_t i = 0; i < bytes.size(); i += step) {
    uint16_t code = p.feed(bytes.substr(i, step), r, reason);
    if (code) return code;
  }
  return 0;
}

TEST(WebSocket, AcceptKeyFromTheRfc) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");  // RFC 6455 §1.3
  EXPECT_TRUE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ="));
  EXPECT_FALSE(valid_client_key("not-base64-at-all-xxxx=="));
  EXPECT_FALSE(valid_client_key(""));
}

TEST(WebSocket, ServerFramesUseTheShortestLength) {
  std::string out;
  append_frame(out, kText, "hi");
  EXPECT_EQ(out, std::string("\x81\x02hi", 4));
  out.clear();
  append_frame(out, kBinary, std::string(300, 'x'));
  EXPECT_EQ(out.substr(0, 4), std::string("\x82\x7e\x01\x2c", 4));
  out.clear();
  append_frame(out, kBinary, std::string(70000, 'x'));
  EXPECT_EQ(out.substr(0, 10), std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10));
  out.clear();
  append_close(out, kNormal, "bye");
  EXPECT_EQ(out, std::string("\x88\x05\x03\xe8" "bye", 7));
}

TEST(WebSocket, MessagesFragmentsAndControlFramesInBetween) {
  Parser p(1 << 20);
  Recorder r;
  std::string stream = client_frame(0x81, "hello") + client_frame(0x02, "ab") + client_frame(0x89, "ping!") +
                       client_frame(0x00, "cd") + client_frame(0x80, "ef") + client_frame(0x8A, "pong") +
                       client_frame(0x82, std::string(70000, 'z'));
  EXPECT_EQ(feed(p, r, stream, 7), 0);  // fed 7 bytes at a time: frames cut anywhere
  ASSERT_EQ(r.events.size(), 5u);
  EXPECT_EQ(r.events[0], std::make_pair(int(kText), std::string("hello")));
  EXPECT_EQ(r.events[1], std::make_pair(int(kPing), std::string("ping!")));
  EXPECT_EQ(r.events[2], std::make_pair(int(kBinary), std::string("abcdef")));
  EXPECT_EQ(r.events[3], std::make_pair(int(kPong), std::string("pong")));
  EXPECT_EQ(r.events[4].second.size(), 70000u);
}

TEST(WebSocket, CloseFrames) {
  Parser p(1024);
  Recorder r;
  EXPECT_EQ(feed(p, r, client_frame(0x88, std::string("\x03\xe9going", 7))), 0);
  EXPECT_EQ(r.events.back().second, "1001 going");
  Parser empty(1024);
  Recorder r2;
  EXPECT_EQ(feed(empty, r2, client_frame(0x88, "")), 0);
  EXPECT_EQ(r2.events.back().second, "1005 ");
}

struct Violation {
  const char* what;
  std::string bytes;
  uint16_t code;
};

TEST(WebSocket, ViolationsAndTheirCloseCodes) {
  std::vector<Violation> cases = {
      {"unmasked", client_frame(0x81, "hi", false), kProtocolError},
      {"reserved bit", client_frame(0xC1, "hi"), kProtocolError},
      {"bad opcode", client_frame(0x83, "hi"), kProtocolError},
      {"bad control opcode", client_frame(0x8B, ""), kProtocolError},
      {"fragmented ping", client_frame(0x09, "x"), kProtocolError},
      {"oversized ping", client_frame(0x89, std::string(126, 'p')), kProtocolError},
      {"continuation first", client_frame(0x80, "x"), kProtocolError},
      {"new message mid-fragment", client_frame(0x01, "a") + client_frame(0x81, "b"), kProtocolError},
      {"invalid utf-8", client_frame(0x81, "\xc3\x28"), kInvalidData},
      {"utf-8 split across fragments is fine, broken is not", client_frame(0x01, "\xe2\x82") + client_frame(0x80, "\x28"),
       kInvalidData},
      {"surrogate", client_frame(0x81, "\xed\xa0\x80"), kInvalidData},
      {"overlong", client_frame(0x81, "\xc0\xaf"), kInvalidData},
      {"too big", client_frame(0x82, std::string(2000, 'x')), kTooBig},
      {"too big in fragments", client_frame(0x02, std::string(600, 'x')) + client_frame(0x80, std::string(600, 'x')),
       kTooBig},
      {"one-byte close", client_frame(0x88, "\x03"), kProtocolError},
      {"bad close code", client_frame(0x88, std::string("\x03\xe7", 2)), kProtocolError},
      {"close code 1005 on the wire", client_frame(0x88, std::string("\x03\xed", 2)), kProtocolError},
      {"close reason not utf-8", client_frame(0x88, std::string("\x03\xe8\xff", 3)), kInvalidData},
      {"non-minimal length", std::string("\x82\xfe\x00\x05", 4) + "\x01\x02\x03\x04" + "hello", kProtocolError},
  };
  for (auto& c : cases) {
    Parser p(1024);
    Recorder r;
    EXPECT_EQ(feed(p, r, c.bytes), c.code) << c.what;
  }
  Parser ok(1024);
  Recorder r;
  EXPECT_EQ(feed(ok, r, client_frame(0x01, "\xe2\x82") + client_frame(0x80, "\xac")), 0);  // "€" across fragments
  EXPECT_EQ(r.events.back().second, "\xe2\x82\xac");
}

TEST(WebSocket, Utf8Validation) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xf0\x9f\x90\xa6"));
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(valid_utf8("\xc3"));              // truncated
}

}  // namespace
}  // namespace tiercel::ws
