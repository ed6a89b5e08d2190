// libFuzzer target for Http2Connection (src/core/http2.cpp: nghttp2 bridged onto one Http1Connection per stream) over
// the in-memory transport, played the way tcp_server.cpp plays it (on_later() runs after a step when the connection
// asked for the loop's next turn with wake_later()). Random bytes never get past the preface and HPACK, so the
// input is a script: each op builds client frames (header blocks from a client-side HPACK deflater, frame headers
// written by hand) or acts as the transport. The server's output is cut into frames and its header blocks decoded
// with a client-side inflater.
//
// Checks: the output is whole frames (SETTINGS first, no even stream ids, sizes within the client's max frame size);
// header blocks decode and are responses (:status first, lower-case names, no connection-specific fields), one per
// stream the client opened, none above a GOAWAY's last stream id nor after the client's RST_STREAM; DATA stays
// within the client's flow-control windows and matches content-length; a stream is cancelled by the server
// (RST_STREAM(CANCEL): no window for its answer) only after write_timeout; an answer on stream `sid` is the one to the
// request sent on `sid` (target, method, body, padding); every request the client ended is answered to its end
// (but for streams opened after the client's own GOAWAY: a client closing the connection, whose new streams nghttp2
// ignores once none is active); drain() closes once nothing is open; a connection always has a deadline that does something; no transport call
// after on_transport_closed(), no dispatch after close, each deferred answer cancelled at most once.
//
// Input: two setup bytes, then ops: one byte each (op = byte % 20), whose arguments are the bytes that follow (0
// once the input is used up). The preface and the client's SETTINGS are queued first.
//   Setup byte 0: 1 small limits · 2 slow peer · 4 write watermark 2 KiB · 8 broken preface (the next byte says
//     which byte is spoiled) · 16 no client SETTINGS · 32 no automatic ACK of the server's SETTINGS · 64 the
//     client's SETTINGS open its windows to 1 MiB · 128 the final delivery uses 7-byte reads.
//   Setup byte 1: defer mask: the answer to stream `sid` is deferred when bit (sid / 2) % 8 is set.
//   Ops (pick(s): 0 the newest stream the client opened, else its ((s - 1) % count)-th stream):
//     0,1 HEADERS f m [x] [c] [p] [k] [q] [i]: f: 1 END_STREAM · 2 split into HEADERS + (k % 3 + 1) CONTINUATIONs ·
//         4 skip a stream id · 8 reuse the last id · 12 an even/lower/zero id (i) · 16 PRIORITY (weight x, on itself
//         when k is odd) · 32 PADDED (q) · 64 mutation x (invalid or unusual fields) · 128 content-length c*8.
//         m: method m % 8 · path (m / 8) % 4 (/r, /u/<sid>, /c, /nope) · (m / 32) % 4: 1 status=204, 2 status=304 ·
//         128 pad=p*277.
//         The target is `<path>?sid=<sid>&n=<op number>[&pad=N][&status=NNN]`: answers tie back to their stream.
//     2,3 DATA s l f [q]: l*64 bytes on pick(s); f: 1 END_STREAM · 2 PADDED (q) · 4 on stream 0
//     4 WINDOW_UPDATE s k: s = 0 the connection, else pick(s); k % 4: k*1000 · 0 · 2^31-1 · 65535
//     5 RST_STREAM s e · 6 PRIORITY s d w (s >= 128: an idle stream) · 7 PING a (odd: ACK) · 8 SETTINGS n, n % 4
//     entries (id byte, value byte, from small tables), n & 4 ACK · 9 GOAWAY l e · 10 raw frame t f s l bytes[l]
//     11 deliver the backlog in reads of n bytes (0: one read) · 12 deliver n*13 bytes in one read
//     13 answer deferred requests: n % 3 oldest, newest, all · 14 n = 0 toggles the slow peer, else the peer reads
//     n*97 bytes (255: all; on_drained once all is read) · 15 advance the clock n*50 ms (0: to the deadline) and
//     run on_timeout() when due · 16 drain() (odd n: close_idle as TcpServer does) · 17 peer EOF / the transport
//     dies · 18 defer mask = n · 19 SETTINGS ACK
//   After the script: everything left is delivered, answered and read, the client opens its flow-control windows,
//   then drain(); the transport closes and whatever is still pending answers late.
//
// A raw frame may desynchronise HPACK, stream states or flow control: after one, only the protocol checks hold (no
// liveness, no ties between answers and requests). TIERCEL_FUZZ_TRACE=1 prints the frames of a failing run.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../native/scripted_dispatcher.h"
#include "core/memory_transport.h"
#include "core/http2.h"
#include "fuzz_limits.h"

namespace {

using tiercel::Method;
using tiercel::testing::ScriptedDispatcher;
using tiercel::testing::SeenRequest;
using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr int64_t kMaxWindow = 0x7fffffff;
constexpr std::string_view kConstBody = "const\n";
enum Type : uint8_t { kData, kHeaders, kPriority, kRst, kSettings, kPush, kPing, kGoaway, kWindow, kContinuation };
enum Flag : uint8_t { kEndStream = 1, kAck = 1, kEndHeaders = 4, kPadded = 8, kPriorityFlag = 32 };

bool g_trace = false;
std::string g_log;

void note(const std::string& line) { g_log.append(line).push_back('\n'); }

[[noreturn]] void fail(const std::string& what) {
  if (g_trace) std::fprintf(stderr, "--- trace ---\n%s", g_log.c_str());
  std::fprintf(stderr, "fuzz_http2: %s\n", what.c_str());
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) fail(what);
}


const tiercel::RouteTable& routes() {
  static const tiercel::RouteTable table = [] {
    tiercel::RouteTable t;
    std::string error;
    bool ok = t.router.add(Method::kGet, "/r", 0, error) && t.router.add(Method::kPost, "/r", 1, error) &&
              t.router.add(Method::kPut, "/r", 2, error) && t.router.add(Method::kGet, "/u/:id", 3, error) &&
              t.router.add(Method::kGet, "/c", 4, error);
    if (!ok) fail("route table: " + error);
    t.entries.resize(5);
    t.entries[4].const_answer =
        tiercel::ConstAnswer{tiercel::ResponseHead{200, "Content-Type: text/plain\r\n"}, std::string(kConstBody)};
    return t;
  }();
  return table;
}

/// The fuzzer's bytes, read front to back; 0 once used up.
struct Input {
  std::string_view rest;
  uint8_t byte() {
    if (rest.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(rest[0]);
    rest.remove_prefix(1);
    return b;
  }
  std::string_view bytes(size_t k) {
    std::string_view v = rest.substr(0, k);
    rest.remove_prefix(v.size());
    return v;
  }
};

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

uint32_t read32(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

bool digits(const std::string& v) {
  return !v.empty() && v.size() < 12 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// One stream as the client sees it: what it sent, and what the server answered.
struct Stream {
  bool ours = false;     ///< opened by a HEADERS op with a fresh id: method and target known
  bool after_goaway = false;  ///< opened after the client's own GOAWAY: the server may ignore it (nghttp2 does)
  bool trusted = false;  ///< no raw frame before it: the server decoded what we encoded
  bool valid = false;    ///< no mutation, no content-length, no DATA after the end: the handler must see `body`
  std::string method, target, body;
  uint64_t pad = 0;
  bool ended = false, reset = false;  ///< END_STREAM / RST_STREAM queued
  bool delivered = false, end_delivered = false, reset_delivered = false;  ///< ... and read by the server
  int64_t window_updates = 0;                                             ///< increments the server read
  uint64_t opened_ms = 0;  ///< the clock when the client opened it
  // the server's side
  bool answered = false, done = false, server_reset = false, has_seq = false;
  int status = 0;
  int64_t length = -1;   ///< content-length of the answer
  int64_t received = 0;  ///< flow-controlled DATA bytes
  std::string data;
};

/// What a client frame changes once the server has read all of it.
struct Effect {
  enum Kind : uint8_t { kHeadersIn, kEndIn, kResetIn, kWindowIn, kInitialWindow, kMaxFrame, kSettingsIn, kPingIn };
  size_t end;  ///< offset just past the frame in the client's byte stream
  Kind kind;
  uint32_t sid;
  int64_t value;
};

class Run {
 public:
  Run(uint8_t setup, uint8_t mask, uint8_t spoil) : env_{config_, routes(), d_, {}, 1000, 1'700'000'000, 0, nullptr} {
    if (setup & 1) config_.limits = tiercel::fuzz::small_limits();
    if (setup & 4) config_.write_high_watermark = 2048;
    set_mask(mask);
    t_.set_slow(slow_ = setup & 2);
    auto_ack_ = !(setup & 32);
    final_chunk_ = setup & 128 ? 7 : SIZE_MAX;
    nghttp2_hd_deflate_new(&deflater_, 4096);
    nghttp2_hd_inflate_new(&inflater_);
    conn_ = std::make_unique<tiercel::Http2Connection>(env_, t_, "203.0.113.7");
    conn_->flush();  // our SETTINGS, as HttpSwitch::use_http2 does
    client_ = tiercel::kHttp2Preface;
    if (setup & 8) client_[spoil % client_.size()] ^= 0x20;
    if (!(setup & 16)) {
      send_settings(0, setup & 64 ? entry(2, 0) + entry(4, 1 << 20) : "");
      if (setup & 64) send_window_update(0, 1 << 20);
    }
    after_step("setup");
  }

  ~Run() {
    nghttp2_hd_deflate_del(deflater_);
    nghttp2_hd_inflate_del(inflater_);
  }

  void op(uint8_t code, Input& in);
  void finish();

 private:
  // --- client frames ---
  void set_mask(uint8_t mask) {
    d_.set_policy([mask](const SeenRequest& s) {
      return ((mask >> (ScriptedDispatcher::query_number(s.target, "sid", 0) / 2 % 8)) & 1) != 0;
    });
  }
  void effect(Effect::Kind kind, uint32_t sid = 0, int64_t value = 0) {
    effects_.push_back({client_.size(), kind, sid, value});
  }
  static std::string entry(uint16_t id, uint32_t value) {
    return std::string{static_cast<char>(id >> 8), static_cast<char>(id)} + be32(value);
  }
  void send_frame(uint8_t type, uint8_t flags, uint32_t sid, std::string_view payload) {
    size_t n = payload.size();
    client_.append({static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n),
                    static_cast<char>(type), static_cast<char>(flags)});
    client_.append(be32(sid & 0x7fffffff)).append(payload);
    if (g_trace) note("C> type " + std::to_string(type) + " flags " + std::to_string(flags) + " sid " +
                      std::to_string(sid) + " len " + std::to_string(n));
  }
  void send_settings(uint8_t flags, std::string_view entries) {
    send_frame(kSettings, flags, 0, entries);
    if (flags & kAck) return;
    for (size_t i = 0; i + 6 <= entries.size(); i += 6) {
      uint32_t id = read32(entries.substr(i)) >> 16, v = read32(entries.substr(i + 2));
      if (id == 4) effect(Effect::kInitialWindow, 0, v);
      if (id == 5) effect(Effect::kMaxFrame, 0, v);
    }
    effect(Effect::kSettingsIn);
  }
  void send_window_update(uint32_t sid, uint32_t increment) {
    send_frame(kWindow, 0, sid, be32(increment));
    effect(Effect::kWindowIn, sid, increment);
  }
  uint32_t pick(uint8_t s) const {
    if (own_.empty()) return 1;
    return s == 0 ? own_.back() : own_[(s - 1) % own_.size()];
  }
  Stream* find(uint32_t sid) {
    auto it = streams_.find(sid);
    return it == streams_.end() ? nullptr : &it->second;
  }
  void op_headers(Input& in);
  static void mutate(Fields& h, uint8_t x);
  void op_data(Input& in);
  void op_raw(Input& in);

  // --- the transport ---
  bool readable() const { return conn_ && !t_.close_requested(); }
  void deliver(size_t limit, size_t chunk);
  void apply(const Effect& e);
  void drain_peer(size_t n);
  void kill();
  void open_windows();
  void settle();

  // --- the server's output ---
  int64_t conn_window() const { return 65535 + conn_updates_ - conn_received_; }
  int64_t window(const Stream& s) const { return initial_window_ + s.window_updates - s.received; }
  void after_step(const char* what);
  void parse_output();
  void on_frame(uint8_t type, uint8_t flags, uint32_t sid, std::string_view payload);
  [[noreturn]] void bad(const char* what) const {
    fail(std::string(what) + " (frame type " + std::to_string(frame_[0]) + " on stream " + std::to_string(frame_[1]) +
         ")");
  }
  void on_data(uint8_t flags, uint32_t sid, Stream& s, std::string_view payload);
  void end_block();
  void on_answer_end(uint32_t sid, Stream& s);
  void check_liveness();

  tiercel::ServerConfig config_;
  ScriptedDispatcher d_;
  tiercel::ConnectionEnv env_;
  tiercel::MemoryTransport t_;
  std::unique_ptr<tiercel::Http2Connection> conn_;
  nghttp2_hd_deflater* deflater_ = nullptr;
  nghttp2_hd_inflater* inflater_ = nullptr;
  bool slow_ = false, auto_ack_ = true, killed_ = false, tainted_ = false, fc_unknown_ = false;
  bool client_goaway_ = false;  // the client sent a GOAWAY: a client closing the connection
  size_t final_chunk_ = SIZE_MAX, seen_at_kill_ = 0;
  // the client: every byte it produced (client_[delivered_..] is the backlog), and its model of the streams
  std::string client_;
  size_t delivered_ = 0, applied_ = 0;
  std::vector<Effect> effects_;
  std::map<uint32_t, Stream> streams_;
  std::vector<uint32_t> own_;
  uint32_t next_sid_ = 1, last_sid_ = 0, ops_ = 0, fill_ = 0, max_frame_ = 16384;
  int64_t initial_window_ = 65535, conn_updates_ = 0, conn_received_ = 0;
  int settings_in_ = 0, pings_in_ = 0, settings_acks_ = 0, ping_acks_ = 0;
  // the server's output
  size_t parsed_ = 0, frames_ = 0;
  uint32_t frame_[2] = {0, 0};  // type and stream of the frame being checked
  uint32_t block_sid_ = 0, goaway_last_ = 0;
  bool block_end_stream_ = false, goaway_ = false, goaway_error_ = false;
  std::string block_;
};

// ---------------------------------------------------------------------------------------------
// Client frames

void Run::op_headers(Input& in) {
  static const char* const kMethods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "GET", "POST", "OPTIONS"};
  static const char* const kPaths[] = {"/r", "/u/", "/c", "/nope"};
  uint8_t f = in.byte(), m = in.byte();
  uint8_t x = f & 64 ? in.byte() : 0, c = f & 128 ? in.byte() : 0, p = m & 128 ? in.byte() : 0;
  uint8_t k = f & 2 ? in.byte() : 0, q = f & 32 ? in.byte() : 0;
  uint32_t sid = (f & 12) == 0 ? next_sid_ : (f & 12) == 4 ? next_sid_ + 2 : (f & 12) == 8 ? last_sid_ : 0;
  if ((f & 12) == 12) {
    uint8_t i = in.byte() % 3;
    sid = i == 0 ? last_sid_ + 1 : i == 1 && last_sid_ >= 2 ? last_sid_ - 2 : 0;
  }
  sid &= kMaxWindow;
  const bool fresh = sid % 2 == 1 && sid >= next_sid_;  // else a connection error, or trailers
  std::string target = kPaths[m / 8 % 4] + (m / 8 % 4 == 1 ? std::to_string(sid) : "") +
                       "?sid=" + std::to_string(sid) + "&n=" + std::to_string(++ops_);
  uint64_t pad = m & 128 ? p * 277u : 0;
  if (pad) target += "&pad=" + std::to_string(pad);
  if (m / 32 % 4 == 1 || m / 32 % 4 == 2) target += m / 32 % 4 == 1 ? "&status=204" : "&status=304";
  Fields h = {{":method", kMethods[m % 8]}, {":scheme", "http"}, {":authority", "h2.test"}, {":path", target},
              {"user-agent", "fuzz"}};
  if (f & 128) h.emplace_back("content-length", std::to_string(c * 8));
  if (f & 64) mutate(h, x);

  std::vector<nghttp2_nv> nv;
  for (auto& [n, v] : h) {
    nv.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()), n.size(), v.size(),
                  NGHTTP2_NV_FLAG_NONE});
  }
  std::string block(nghttp2_hd_deflate_bound(deflater_, nv.data(), nv.size()), '\0');
  ssize_t n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<uint8_t*>(block.data()), block.size(), nv.data(),
                                    nv.size());
  if (n < 0) fail("client HPACK: " + std::string(nghttp2_strerror(static_cast<int>(n))));
  block.resize(static_cast<size_t>(n));

  size_t parts = f & 2 ? 2 + k % 3 : 1, step = (block.size() + parts - 1) / parts;
  std::string first;
  if (f & 32) first.push_back(static_cast<char>(q));
  if (f & 16) first += be32(k & 1 ? sid : 0) + std::string(1, static_cast<char>(x));  // k & 1: depends on itself
  first += block.substr(0, step);
  if (f & 32) first.append(q, '\0');
  send_frame(kHeaders, (f & 1 ? kEndStream : 0) | (parts == 1 ? kEndHeaders : 0) | (f & 32 ? kPadded : 0) |
                           (f & 16 ? kPriorityFlag : 0), sid, first);
  for (size_t i = 1; i < parts; ++i) {
    std::string_view piece = std::string_view(block).substr(std::min(i * step, block.size()), step);
    send_frame(kContinuation, i + 1 == parts ? kEndHeaders : 0, sid, piece);
  }
  Stream& s = streams_[sid];
  if (fresh) s.opened_ms = env_.now_ms;
  effect(Effect::kHeadersIn, sid);
  if (f & 1) effect(Effect::kEndIn, sid);
  if (!fresh) {
    tainted_ = true;
    return;
  }
  last_sid_ = sid;
  next_sid_ = sid + 2;
  own_.push_back(sid);
  s.ours = true;
  s.after_goaway = client_goaway_;
  s.trusted = !tainted_;
  s.valid = !(f & (64 | 128));
  for (const auto& [name, value] : h) {
    if (name == ":method" && s.method.empty()) s.method = value;
    if (name == ":path" && s.target.empty()) s.target = value;
  }
  s.pad = pad;
  s.ended = f & 1;
  if (g_trace) note("   HEADERS sid " + std::to_string(sid) + " " + s.method + " " + s.target);
}

/// Fields a request may not carry (nghttp2 must reset the stream) or that the bridge must translate.
void Run::mutate(Fields& h, uint8_t x) {
  switch (x % 20) {
    case 0: h.emplace_back("X-Upper", "1"); break;
    case 1: h.emplace_back("connection", "keep-alive"); break;
    case 2: h.emplace_back("te", "gzip"); break;
    case 3: h.emplace_back(":authority", "late.test"); break;
    case 4: h.insert(h.begin() + 1, {":path", "/dup"}); break;
    case 5: h.erase(h.begin()); break;
    case 6: h.insert(h.begin(), {":foo", "bar"}); break;
    case 7: h.emplace_back("x-long", std::string(200 + x, 'v')); break;
    case 8: h.emplace_back("cookie", "a=1"), h.emplace_back("cookie", "b=2"); break;
    case 9: h.emplace_back("host", "other.test"); break;
    case 10: h.emplace_back("expect", "100-continue"); break;
    case 11: h[3].second.clear(); break;
    case 12: h[3].second += " x"; break;
    case 13: h.emplace_back("transfer-encoding", "chunked"); break;
    case 14: h = {{":method", "CONNECT"}, {":authority", "h2.test:80"}}; break;
    case 15: h.emplace_back("x-bad", "a\r\nb"); break;
    case 16: h.emplace_back("x-space", " v "); break;
    case 17: h.erase(h.begin() + 2); break;
    case 18: h.emplace_back("content-length", "abc"); break;
    default: h.emplace_back("content-length", "1"), h.emplace_back("content-length", "2"); break;
  }
}

void Run::op_data(Input& in) {
  uint8_t s = in.byte(), l = in.byte(), f = in.byte(), q = f & 2 ? in.byte() : 0;
  uint32_t sid = f & 4 ? 0 : pick(s);
  std::string body(l * 64u, '\0');
  for (char& ch : body) ch = static_cast<char>('a' + fill_++ % 26);
  std::string payload = f & 2 ? std::string(1, static_cast<char>(q)) + body + std::string(q, '\0') : body;
  send_frame(kData, (f & 1 ? kEndStream : 0) | (f & 2 ? kPadded : 0), sid, payload);
  if (f & 1) effect(Effect::kEndIn, sid);
  Stream* st = find(sid);
  if (st == nullptr || !st->ours) return;
  if (st->ended || st->reset) st->valid = false;  // DATA on a closed stream: an error the server reports
  if (!st->ended && !st->reset) st->body += body, st->ended = f & 1;
}

void Run::op_raw(Input& in) {
  uint8_t type = in.byte() % 12, flags = in.byte(), sid = in.byte(), len = in.byte();
  std::string_view payload = in.bytes(len);
  tainted_ = true;  // HPACK state, stream states and windows may all differ from the model from now on
  fc_unknown_ |= type == kSettings || type == kWindow;
  if (type == kHeaders) streams_.try_emplace(sid);
  if (type == kSettings && sid == 0 && payload.size() % 6 == 0) return send_settings(flags & kAck, payload);
  send_frame(type, flags, sid, payload);
  if (type == kPing && !(flags & kAck) && sid == 0 && payload.size() == 8) effect(Effect::kPingIn);
}

void Run::op(uint8_t code, Input& in) {
  static const uint16_t kIds[] = {1, 2, 3, 4, 5, 6, 8, 0x99};
  static const uint32_t kValues[] = {0, 1, 100, 4096, 16384, 65535, 1 << 20, 0x7fffffff, 0x80000000u, 16777215,
                                     16777216, 2};
  const uint8_t op = code % 20, a = (op >= 11 && op <= 16) || op == 18 ? in.byte() : 0;
  switch (op) {
    case 0: case 1: op_headers(in); break;
    case 2: case 3: op_data(in); break;
    case 4: {
      uint8_t s = in.byte(), k = in.byte();
      send_window_update(s ? pick(s) : 0, k % 4 == 0 ? k * 1000u : k % 4 == 1 ? 0 : k % 4 == 2 ? kMaxWindow : 65535);
      break;
    }
    case 5: {
      uint32_t sid = pick(in.byte());
      send_frame(kRst, 0, sid, be32(in.byte() % 14));
      effect(Effect::kResetIn, sid);
      if (Stream* st = find(sid)) st->reset = true;
      break;
    }
    case 6: {
      uint8_t s = in.byte(), dep = in.byte(), w = in.byte();
      uint32_t sid = s >= 128 ? next_sid_ + 2 * (s % 8) : pick(s);
      uint32_t on = dep % 3 == 0 ? 0 : dep % 3 == 1 ? sid : pick(dep);
      send_frame(kPriority, 0, sid, be32(on | (dep & 128 ? 0x80000000u : 0)) + std::string(1, static_cast<char>(w)));
      break;
    }
    case 7: {
      uint8_t b = in.byte();
      send_frame(kPing, b & 1 ? kAck : 0, 0, be32(b) + be32(ops_));
      if (!(b & 1)) effect(Effect::kPingIn);
      break;
    }
    case 8: {
      uint8_t n = in.byte();
      std::string entries;
      for (int i = 0; i < n % 4; ++i) entries += entry(kIds[in.byte() % 8], kValues[in.byte() % 12]);
      send_settings(n & 4 ? kAck : 0, entries);
      break;
    }
    case 9: {
      uint8_t last = in.byte();
      send_frame(kGoaway, 0, 0, be32(last) + be32(in.byte() % 14));
      client_goaway_ = true;
      break;
    }
    case 10: op_raw(in); break;
    case 11: deliver(SIZE_MAX, a ? a : SIZE_MAX); break;
    case 12: deliver(a * 13u, SIZE_MAX); break;
    case 13:
      if (d_.pending().empty()) break;
      if (a % 3 == 0) d_.complete_oldest();
      if (a % 3 == 1) d_.complete_newest();
      if (a % 3 == 2) d_.complete_all();
      break;
    case 14:
      if (a == 0) t_.set_slow(slow_ = !slow_);
      if (a != 0) drain_peer(a == 255 ? SIZE_MAX : a * 97u);
      break;
    case 15: {
      if (!conn_) break;
      uint64_t d = conn_->deadline();
      bool idle = conn_->open_streams() == 0 && t_.unsent() == 0 && !t_.close_requested();
      env_.now_ms = a ? env_.now_ms + a * 50u : std::max(env_.now_ms, d);
      if (d == 0 || d > env_.now_ms) break;
      conn_->on_timeout();
      if (idle) check(t_.close_requested(), "the idle timeout did not end the connection");
      // A deadline must be a time at which on_timeout() does something: one still due now would be run again and
      // again (unless output the peer has not read yet holds the answer back).
      if (conn_ && !t_.close_requested() && t_.unsent() == 0 && conn_->deadline() != 0) {
        check(conn_->deadline() > env_.now_ms, "after on_timeout() the deadline is still due");
      }
      break;
    }
    case 16:
      if (conn_ && (!(a & 1) || conn_->open_streams() == 0)) conn_->drain();
      break;
    case 17: kill(); break;
    case 18: set_mask(a); break;
    default: send_settings(kAck, ""); break;
  }
  after_step("op");
}

// ---------------------------------------------------------------------------------------------
// The transport, played as TcpConnection plays it

void Run::deliver(size_t limit, size_t chunk) {
  while (limit > 0 && delivered_ < client_.size() && readable()) {
    size_t n = std::min({limit, chunk, client_.size() - delivered_});
    conn_->on_read(std::string_view(client_).substr(delivered_, n));
    delivered_ += n;
    limit -= n;
    while (applied_ < effects_.size() && effects_[applied_].end <= delivered_) apply(effects_[applied_++]);
    parse_output();  // what the server answered to this read (after it read it all)
  }
}

void Run::apply(const Effect& e) {
  Stream* s = find(e.sid);
  switch (e.kind) {
    case Effect::kHeadersIn: if (s) s->delivered = true; break;
    case Effect::kEndIn: if (s) s->end_delivered = true; break;
    case Effect::kResetIn: if (s) s->reset_delivered = true; break;
    case Effect::kWindowIn:  // an overflow is an error the server reports: the model stops checking windows
      if (e.sid == 0) conn_updates_ += e.value, fc_unknown_ |= conn_window() > kMaxWindow;
      if (e.sid != 0 && s) s->window_updates += e.value, fc_unknown_ |= !s->done && window(*s) > kMaxWindow;
      break;
    case Effect::kInitialWindow:
      if (e.value > kMaxWindow) break;  // a connection error
      initial_window_ = e.value;
      for (const auto& [sid, st] : streams_) fc_unknown_ |= !st.done && window(st) > kMaxWindow;
      break;
    case Effect::kMaxFrame:
      if (e.value >= 16384 && e.value <= 16777215) max_frame_ = std::max(max_frame_, static_cast<uint32_t>(e.value));
      break;
    case Effect::kSettingsIn: ++settings_in_; break;
    case Effect::kPingIn: ++pings_in_; break;
  }
}

/// The peer read `n` bytes; once all is written TcpConnection calls on_drained() (unless it is closing).
void Run::drain_peer(size_t n) {
  if (!conn_ || t_.unsent() == 0) return;
  bool all = t_.drain(n);
  if (g_trace) note("   peer read " + (all ? std::string("all") : std::to_string(n)));
  if (all && !t_.close_requested()) conn_->on_drained();
}

/// Peer EOF or a dead socket: TcpConnection's on_close calls on_transport_closed(), then destroys the connection.
void Run::kill() {
  if (!conn_) return;
  conn_->on_transport_closed();
  t_.mark_dead();
  conn_.reset();
  killed_ = true;
  seen_at_kill_ = d_.seen().size();
  for (const auto* p : d_.pending()) check(p->cancels == 1, "a pending answer not cancelled when the transport closed");
}

/// A well-behaved client at the end: WINDOW_UPDATEs so that no answer waits for flow control.
void Run::open_windows() {
  if (tainted_ || fc_unknown_ || goaway_error_ || !readable()) return;
  if (conn_window() < kMaxWindow / 2) send_window_update(0, static_cast<uint32_t>(kMaxWindow - conn_window()));
  for (const auto& [sid, s] : streams_) {
    if (!s.ours || !s.delivered || s.done || s.reset || (goaway_ && sid > goaway_last_)) continue;
    int64_t w = window(s);
    if (w < kMaxWindow / 2) send_window_update(sid, static_cast<uint32_t>(std::min(kMaxWindow, kMaxWindow - w)));
  }
}

/// Delivers, answers and reads everything, until nothing moves.
void Run::settle() {
  for (int round = 0; round < 1000 && conn_; ++round) {
    size_t before = t_.sent().size() + client_.size();
    deliver(SIZE_MAX, final_chunk_);
    open_windows();
    deliver(SIZE_MAX, final_chunk_);
    if (!d_.pending().empty()) d_.complete_all();
    drain_peer(SIZE_MAX);
    after_step("settle");
    if (t_.sent().size() + client_.size() == before && d_.pending().empty()) break;
  }
}

// ---------------------------------------------------------------------------------------------
// The server's output

/// Invariants after every step.
void Run::after_step(const char* what) {
  // The loop's next turn: what the connection asked for with wake_later() (streams closed inside a connection).
  while (conn_ && t_.take_wake()) {
    conn_->on_later();
    if (!conn_) break;
  }
  parse_output();
  if (t_.calls_after_dead() != 0) fail(std::string("transport used after on_transport_closed() (") + what + ")");
  if (t_.bytes_after_close() > 0) fail(std::string("bytes sent after close() (") + what + ")");
  check(d_.dispatch_after_close() == 0, "dispatch() to a session whose transport closed");
  if (killed_) check(d_.seen().size() == seen_at_kill_, "a request dispatched after the transport closed");
  for (const auto& a : d_.answers()) {
    check(a->cancels <= 1, "an answer cancelled twice");
    check(a->cancels == 0 || a->cancelled_before_answer, "an answered request cancelled");
  }
  if (conn_ && !t_.close_requested() && t_.unsent() == 0 && d_.pending().empty()) {
    bool waiting = false;  // an answer held back by the client's flow-control windows
    for (const auto& [sid, s] : streams_) waiting |= s.answered && !s.done;
    if (!waiting) check(conn_->deadline() != 0, "an open connection with nothing pending has no deadline");
  }
}

void Run::parse_output() {
  const std::string& out = t_.sent();
  while (out.size() - parsed_ >= 9) {
    std::string_view h(out.data() + parsed_, 9);
    uint32_t len = read32(h) >> 8;
    if (out.size() - parsed_ - 9 < len) break;
    parsed_ += 9 + len;
    on_frame(static_cast<uint8_t>(h[3]), static_cast<uint8_t>(h[4]), read32(h.substr(5)) & 0x7fffffff,
             std::string_view(out.data() + parsed_ - len, len));
  }
}

void Run::on_frame(uint8_t type, uint8_t flags, uint32_t sid, std::string_view p) {
  frame_[0] = type;
  frame_[1] = sid;
  if (g_trace) note("S> type " + std::to_string(type) + " flags " + std::to_string(flags) + " sid " +
                    std::to_string(sid) + " len " + std::to_string(p.size()));
  if (frames_++ == 0 && (type != kSettings || (flags & kAck))) bad("the first frame is not SETTINGS");
  if (p.size() > max_frame_) bad("a frame over the max frame size");
  if (sid % 2 == 0 && sid != 0) bad("a frame on an even stream id");
  if (block_sid_ != 0 && (type != kContinuation || sid != block_sid_)) bad("a frame inside a header block");
  bool on_stream = type == kData || type == kHeaders || type == kRst || type == kContinuation;
  if (type != kWindow && on_stream != (sid != 0)) bad("a frame on the wrong stream id");
  Stream* s = find(sid);
  switch (type) {
    case kData:
      if (s == nullptr || !s->answered || s->done) bad("DATA outside an answer");
      if (s->reset_delivered) bad("DATA after the client's RST_STREAM");
      on_data(flags, sid, *s, p);
      break;
    case kHeaders: {
      if (s == nullptr) bad("an answer on a stream the client never opened");
      if (s->answered || s->done) bad("a second HEADERS, or one after the end");
      if (s->reset_delivered) bad("HEADERS after the client's RST_STREAM");
      if (goaway_ && sid > goaway_last_) bad("an answer above the GOAWAY's last stream id");
      size_t off = (flags & kPadded ? 1 : 0) + (flags & kPriorityFlag ? 5 : 0);
      size_t padlen = flags & kPadded && !p.empty() ? static_cast<uint8_t>(p[0]) : 0;
      if (off + padlen > p.size()) bad("HEADERS padding");
      block_.assign(p.substr(off, p.size() - off - padlen));
      block_sid_ = sid;
      block_end_stream_ = flags & kEndStream;
      if (flags & kEndHeaders) end_block();
      break;
    }
    case kContinuation:
      if (block_sid_ != sid) bad("CONTINUATION outside a header block");
      block_.append(p);
      if (flags & kEndHeaders) end_block();
      break;
    case kRst:
      if (p.size() != 4) bad("RST_STREAM length");
      // CANCEL is the server giving up on a stream the client granted no window for within write_timeout.
      if (s && read32(p) == NGHTTP2_CANCEL && env_.now_ms - s->opened_ms < config_.write_timeout_ms) {
        bad("RST_STREAM(CANCEL) before write_timeout");
      }
      if (s) s->done = s->server_reset = true;
      break;
    case kSettings:
      if ((flags & kAck) && (!p.empty() || ++settings_acks_ > settings_in_)) bad("SETTINGS ACK for no SETTINGS");
      if (!(flags & kAck) && p.size() % 6 != 0) bad("SETTINGS length");
      if (!(flags & kAck) && auto_ack_ && readable()) send_settings(kAck, "");
      break;
    case kPing:
      if (p.size() != 8 || !(flags & kAck) || ++ping_acks_ > pings_in_) bad("a PING but an ACK for the client's");
      break;
    case kGoaway:
      if (p.size() < 8) bad("GOAWAY length");
      if (g_trace) {
        note("   GOAWAY last " + std::to_string(read32(p) & 0x7fffffff) + " error " +
             std::to_string(read32(p.substr(4))) + " " + std::string(p.substr(8)));
      }
      if (goaway_ && (read32(p) & 0x7fffffff) > goaway_last_) bad("a GOAWAY's last stream id increased");
      goaway_ = true;
      goaway_last_ = read32(p) & 0x7fffffff;
      goaway_error_ |= read32(p.substr(4)) != 0;
      break;
    case kWindow:
      if (p.size() != 4) bad("WINDOW_UPDATE length");
      break;
    default: bad("an unexpected frame from the server");
  }
}

void Run::on_data(uint8_t flags, uint32_t sid, Stream& s, std::string_view p) {
  s.received += static_cast<int64_t>(p.size());
  conn_received_ += static_cast<int64_t>(p.size());
  if (!fc_unknown_ && !p.empty()) {
    check(conn_window() >= 0, "the server overran the connection's flow-control window");
    check(window(s) >= 0, "the server overran a stream's flow-control window");
  }
  if (flags & kPadded) {
    check(!p.empty() && static_cast<uint8_t>(p[0]) < p.size(), "DATA padding");
    p = p.substr(1, p.size() - 1 - static_cast<uint8_t>(p[0]));
  }
  s.data.append(p);
  if (flags & kEndStream) s.done = true, on_answer_end(sid, s);
}

/// A complete header block from the server: decoded in order (HPACK state), and checked as a response.
void Run::end_block() {
  const uint32_t sid = std::exchange(block_sid_, 0);
  const std::string id = " on stream " + std::to_string(sid);
  Stream& s = streams_[sid];
  Fields fields;
  const auto* in = reinterpret_cast<const uint8_t*>(block_.data());
  for (size_t left = block_.size();;) {
    nghttp2_nv nv;
    int flags = 0;
    ssize_t n = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, 1);
    if (n < 0 || (n == 0 && !(flags & (NGHTTP2_HD_INFLATE_EMIT | NGHTTP2_HD_INFLATE_FINAL)))) {
      fail("a header block that does not decode" + id);
    }
    in += n;
    left -= static_cast<size_t>(n);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      fields.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                          std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) break;
  }
  nghttp2_hd_inflate_end_headers(inflater_);
  if (fields.empty() || fields[0].first != ":status" || !digits(fields[0].second) || fields[0].second.size() != 3) {
    fail("an answer without a :status first" + id);
  }
  s.status = std::stoi(fields[0].second);
  if (s.status < 200) fail("an interim answer" + id);
  for (size_t i = 1; i < fields.size(); ++i) {
    const auto& [name, value] = fields[i];
    if (name.empty() || name[0] == ':') fail("a second pseudo-header (" + name + ")" + id);
    if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      fail("an upper-case field name (" + name + ")" + id);
    }
    for (const char* banned : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
      if (name == banned) fail("a connection-specific field (" + name + ")" + id);
    }
    s.has_seq |= name == "x-seq";
    if (name == "content-length" && (s.length >= 0 || !digits(value))) fail("a bad content-length" + id);
    if (name == "content-length") s.length = std::stoll(value);
  }
  s.answered = true;
  if (g_trace) note("   answer " + fields[0].second + id + (s.has_seq ? " (x-seq)" : ""));
  if (block_end_stream_) s.done = true, on_answer_end(sid, s);
}

/// An answer is complete (END_STREAM): its framing, and for our own requests which request it answers.
void Run::on_answer_end(uint32_t sid, Stream& s) {
  if (!s.ours) return;
  const std::string id = " on stream " + std::to_string(sid);
  bool bodyless = s.method == "HEAD" || s.status == 204 || s.status == 304;
  if (bodyless && !s.data.empty()) fail("a body in the answer to a HEAD, or in a 204/304" + id);
  if (!bodyless && s.length >= 0 && s.data.size() != static_cast<size_t>(s.length)) {
    fail("DATA differs from content-length" + id);
  }
  if (!s.trusted) return;
  if (s.status == 200 && !s.has_seq) {
    if (s.target.rfind("/c?", 0) != 0) fail("a 200 that no handler wrote, for " + s.target + id);
    check(bodyless || s.data == kConstBody, "the const route's body");
    return;
  }
  if (!s.has_seq) return;
  const SeenRequest* r = nullptr;
  for (const auto& seen : d_.seen()) r = seen.target == s.target ? &seen : r;
  if (r == nullptr) fail("an answer to a request never dispatched" + id);
  check(r->method == s.method, "an answer to a request with another method");
  uint64_t want = ScriptedDispatcher::query_number(s.target, "status", 200);
  check(static_cast<uint64_t>(s.status) == (want == 204 || want == 304 ? want : 200), "the answer's status");
  std::string expect = ScriptedDispatcher::answer_body(*r);
  if (!bodyless && s.data.compare(0, expect.size(), expect) != 0) fail("another request's answer" + id);
  if (!bodyless) check(s.data.size() == expect.size() + s.pad, "the answer's padding");
  // A raw frame (perhaps DATA on this stream) taints what the handler may have seen.
  if (s.valid && s.ended && !tainted_) check(r->body == s.body, "the handler saw another body than the client sent");
}

/// Every stream the client ended cleanly and the server took (at or below any GOAWAY's last stream id) must have
/// been ended by the server: END_STREAM or RST_STREAM.
void Run::check_liveness() {
  if (tainted_ || fc_unknown_ || killed_ || goaway_error_) return;
  for (const auto& [sid, s] : streams_) {
    if (!s.ours || s.after_goaway || !s.delivered || !s.end_delivered || s.reset) continue;
    if (goaway_ && sid > goaway_last_) continue;
    if (!s.done) fail("stream " + std::to_string(sid) + ": a complete request never answered to its end");
  }
}

void Run::finish() {
  settle();
  check(parsed_ == t_.sent().size() && block_sid_ == 0, "the server's output ends inside a frame or header block");
  check_liveness();
  if (conn_ && !t_.close_requested()) {
    conn_->drain();
    after_step("drain");
    settle();
    if (!tainted_ && !goaway_error_ && conn_ && !t_.close_requested()) {
      check(goaway_, "drain() sent no GOAWAY");
      bool open = false;  // a stream the server still waits for: the connection stays
      for (const auto& [sid, s] : streams_) {
        bool closed = s.server_reset || s.reset_delivered || (s.done && s.end_delivered);
        open |= s.delivered && sid <= goaway_last_ && !closed;
      }
      check(open, "drain() left a connection with no open stream open");
    }
  }
  kill();
  after_step("kill");
  const size_t sent = t_.sent().size();
  d_.complete_all();
  after_step("late");
  check(t_.sent().size() == sent, "an answer sent after the transport closed");
  for (const auto& a : d_.answers()) {
    check(a->answered, "a deferred request never answered");
    check(a->cancels == (a->cancelled_before_answer ? 1 : 0), "cancel count");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool trace = [] {
    const char* t = std::getenv("TIERCEL_FUZZ_TRACE");
    return t != nullptr && t[0] == '1';
  }();
  g_trace = trace;
  g_log.clear();
  Input in{std::string_view(reinterpret_cast<const char*>(data), size)};
  uint8_t setup = in.byte(), mask = in.byte();
  Run run(setup, mask, setup & 8 ? in.byte() : 0);
  while (!in.rest.empty()) run.op(in.byte(), in);
  run.finish();
  return 0;
}
