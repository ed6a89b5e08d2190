// WebSocket framing and handshake.
#include "core/websocket.h"

#include <array>
#include <cstring>

namespace tiercel::ws {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

/// SHA-1 (FIPS 180-4 §6.1), only for the handshake's accept key.
std::array<uint8_t, 20> sha1(std::string_view msg) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string m(msg);
  uint64_t bits = static_cast<uint64_t>(msg.size()) * 8;
  m.push_back(static_cast<char>(0x80));
  while (m.size() % 64 != 56) m.push_back('\0');
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<char>((bits >> (i * 8)) & 0xFF));
  for (size_t block = 0; block < m.size(); block += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const unsigned char*>(m.data() + block + i * 4);
      w[i] = static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
    }
    for (int i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      uint32_t t = rotl(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::array<uint8_t, 20> out{};
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 4; ++j) out[static_cast<size_t>(i * 4 + j)] = static_cast<uint8_t>(h[i] >> (24 - 8 * j));
  }
  return out;
}

std::string base64(const uint8_t* data, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = static_cast<uint32_t>(data[i]) << 16;
    if (i + 1 < n) v |= static_cast<uint32_t>(data[i + 1]) << 8;
    if (i + 2 < n) v |= data[i + 2];
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(i + 1 < n ? kB64[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < n ? kB64[v & 63] : '=');
  }
  return out;
}

}  // namespace

std::string accept_key(std::string_view client_key) {
  std::string s(client_key);
  s.append(kGuid);
  auto digest = sha1(s);
  return base64(digest.data(), digest.size());
}

bool valid_client_key(std::string_view key) noexcept {
  // 16 bytes in base64: 22 characters and "==".
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (size_t i = 0; i < 22; ++i) {
    if (std::strchr(kB64, key[i]) == nullptr || key[i] == '\0') return false;
  }
  return true;
}

void append_frame(std::string& out, Opcode opcode, std::string_view payload, bool fin) {
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    out.push_back(126);
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(127);
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((n >> (i * 8)) & 0xFF));
  }
  out.append(payload);
}

void append_close(std::string& out, uint16_t code, std::string_view reason) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  reason = reason.substr(0, 123);
  while (!reason.empty() && !valid_utf8(reason)) reason.remove_suffix(1);  // never cut a character in two
  payload.append(reason);
  append_frame(out, kClose, payload);
}

bool valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

bool valid_close_code(uint16_t code) noexcept {
  if (code >= 3000 && code <= 4999) return true;
  switch (code) {
    case 1000: case 1001: case 1002: case 1003: case 1007: case 1008: case 1009: case 1010: case 1011:
      return true;
    default:
      return false;
  }
}

uint16_t Parser::feed(std::string_view data, FrameHandler& h, std::string& reason) {
  if (closed_) return 0;  // after a close frame nothing more is read
  buf_.append(data);
  size_t pos = 0;
  uint16_t failure = 0;
  while (!failure) {
    std::string_view rest(buf_.data() + pos, buf_.size() - pos);
    if (rest.size() < 2) break;
    auto b0 = static_cast<uint8_t>(rest[0]), b1 = static_cast<uint8_t>(rest[1]);
    bool fin = b0 & 0x80;
    auto op = static_cast<Opcode>(b0 & 0x0F);
    bool masked = b1 & 0x80;
    uint64_t len = b1 & 0x7F;
    size_t head = 2;
    if (b0 & 0x70) {
      reason = "reserved bits set without a negotiated extension";
      failure = kProtocolError;
      break;
    }
    if (!masked) {
      reason = "client frames must be masked";
      failure = kProtocolError;
      break;
    }
    bool control = op & 0x8;
    if (!(op == kContinuation || op == kText || op == kBinary || op == kClose || op == kPing || op == kPong)) {
      reason = "unknown opcode";
      failure = kProtocolError;
      break;
    }
    if (control && (!fin || len > 125)) {
      reason = "control frames must be whole and at most 125 bytes";
      failure = kProtocolError;
      break;
    }
    if (len == 126) {
      if (rest.size() < 4) break;
      len = static_cast<uint64_t>(static_cast<uint8_t>(rest[2])) << 8 | static_cast<uint8_t>(rest[3]);
      head = 4;
      if (len < 126) {
        reason = "a length not in its shortest form";
        failure = kProtocolError;
        break;
      }
    } else if (len == 127) {
      if (rest.size() < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<uint8_t>(rest[2 + i]);
      head = 10;
      if (len <= 0xFFFF || (len >> 63)) {
        reason = "a length not in its shortest form";
        failure = kProtocolError;
        break;
      }
    }
    uint64_t pending = (op == kContinuation ? message_.size() : 0) + len;
    if (!control && pending > max_message_) {
      reason = "message too big";
      failure = kTooBig;
      break;
    }
    if (rest.size() < head + 4 + len) break;  // wait for the whole frame
    const char* mask = rest.data() + head;
    std::string payload(rest.substr(head + 4, static_cast<size_t>(len)));
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i & 3]);
    pos += head + 4 + static_cast<size_t>(len);
    if (control) {
      if (op == kPing) {
        h.on_ping(payload);
      } else if (op == kPong) {
        h.on_pong(payload);
      } else {
        closed_ = true;
        if (payload.size() == 1) {
          reason = "a close frame with a one-byte body";
          failure = kProtocolError;
          break;
        }
        uint16_t code = kNoStatus;
        std::string_view why;
        if (payload.size() >= 2) {
          code = static_cast<uint16_t>(static_cast<uint8_t>(payload[0]) << 8 | static_cast<uint8_t>(payload[1]));
          why = std::string_view(payload).substr(2);
          if (!valid_close_code(code)) {
            reason = "invalid close code";
            failure = kProtocolError;
            break;
          }
          if (!valid_utf8(why)) {
            reason = "the close reason is not UTF-8";
            failure = kInvalidData;
            break;
          }
        }
        h.on_close(code, why);
        break;
      }
      continue;
    }
    if (op == kContinuation) {
      if (message_op_ == kContinuation) {
        reason = "a continuation frame without a message to continue";
        failure = kProtocolError;
        break;
      }
      message_.append(payload);
    } else {
      if (message_op_ != kContinuation) {
        reason = "a new message before the previous one was finished";
        failure = kProtocolError;
        break;
      }
      message_op_ = op;
      message_ = std::move(payload);
    }
    if (fin) {
      Opcode done = message_op_;
      message_op_ = kContinuation;
      std::string msg = std::move(message_);
      message_.clear();
      if (done == kText && !valid_utf8(msg)) {
        reason = "a text message that is not UTF-8";
        failure = kInvalidData;
        break;
      }
      h.on_message(done, msg);
    }
  }
  buf_.erase(0, pos);
  if (failure) closed_ = true;
  return failure;
}

}  // namespace tiercel::ws
