// WebSocket (RFC 6455), server side: the opening handshake's accept key, frame serialisation, and an incremental
// parser of client frames that enforces the protocol (masking, opcodes, control-frame rules, fragmentation,
// UTF-8 in text messages, a maximum message size) and says which close code each violation calls for.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tiercel {

namespace ws {

enum Opcode : uint8_t { kContinuation = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA };

// Close codes (RFC 6455 §7.4.1).
constexpr uint16_t kNormal = 1000, kGoingAway = 1001, kProtocolError = 1002, kUnsupported = 1003, kNoStatus = 1005,
                   kAbnormal = 1006, kInvalidData = 1007, kPolicy = 1008, kTooBig = 1009, kInternalError = 1011;

/// base64(SHA-1(key + the RFC's GUID)): the Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string accept_key(std::string_view client_key);
/// Whether `key` is a valid Sec-WebSocket-Key (base64 of 16 bytes).
bool valid_client_key(std::string_view key) noexcept;
/// Appends one unmasked (server) frame.
void append_frame(std::string& out, Opcode opcode, std::string_view payload, bool fin = true);
/// Appends a close frame with `code` and `reason` (cut to fit the 125-byte control payload).
void append_close(std::string& out, uint16_t code, std::string_view reason);
/// Whether `s` is well-formed UTF-8 (no overlongs, surrogates, or code points past U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;
/// Whether a close code may be sent by a peer (RFC 6455 §7.4).
bool valid_close_code(uint16_t code) noexcept;

/// What the parser found; the handler gets each complete message and control frame in order.
class FrameHandler {
 public:
  virtual ~FrameHandler() = default;
  virtual void on_message(Opcode opcode, std::string_view data) = 0;  // kText (valid UTF-8) or kBinary
  virtual void on_ping(std::string_view payload) = 0;
  virtual void on_pong(std::string_view payload) = 0;
  virtual void on_close(uint16_t code, std::string_view reason) = 0;  // kNoStatus when the frame had none
};

/// Parses client frames from a byte stream.
class Parser {
 public:
  explicit Parser(uint64_t max_message) : max_message_(max_message) {}
  /// Consumes `data`, reporting complete messages to `h`. Returns 0 while all is well, or the close code the
  /// server must fail the connection with (kProtocolError, kInvalidData, kTooBig); `reason` says why.
  uint16_t feed(std::string_view data, FrameHandler& h, std::string& reason);

 private:
  uint64_t max_message_;
  std::string buf_;        // bytes of an incomplete frame
  std::string message_;    // the fragments of the current message so far
  Opcode message_op_ = kContinuation;  // kText/kBinary while a fragmented message is open
  bool closed_ = false;
};

}  // namespace ws

}  // namespace tiercel
