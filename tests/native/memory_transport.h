// Test support for driving Http1Session without sockets (DESIGN §3 "one pipeline, two transports"): an
// in-memory SessionTransport, a scriptable Dispatcher whose answers can be held and completed in any
// order, a connection harness that plays the transport's part, and a splitter for the response stream.
// Shared by tests/native (GoogleTest) and tests/fuzz (libFuzzer), so it must not depend on either.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/http1_session.h"
#include "core/response_writer.h"
#include "core/router.h"

namespace tiercel::testing {

/// 32-bit FNV-1a: a cheap fingerprint so an answer can prove which body the dispatcher was given.
inline uint32_t fnv1a(std::string_view s) noexcept {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

/// A SessionTransport that keeps every byte the session sends and notes every call, so a test can
/// check order, pausing and closing; `slow` models a peer that reads only when drain() is called.
class MemoryTransport final : public SessionTransport {
 public:
  using SessionTransport::send;
  void send(std::string& out) override {
    note_call();
    if (close_requested_) bytes_after_close_ += out.size();
    sent_.append(out);
    if (slow_) unsent_ += out.size();
    ++sends_;
    out.clear();
  }
  void close() override {
    note_call();
    if (!close_requested_) sent_at_close_ = sent_.size();
    ++close_calls_;
    close_requested_ = true;
  }
  void pause_reading() override {
    note_call();
    ++pauses_;
    reading_ = false;
  }
  void resume_reading() override {
    note_call();
    ++resumes_;
    reading_ = true;
  }
  size_t unsent_bytes() const override {
    note_call();
    return unsent_;
  }
  void wake_later() override {
    note_call();
    wake_ = true;
  }

  /// A slow peer leaves what was sent unsent until drain(); a fast one takes everything at once.
  void set_slow(bool slow) noexcept { slow_ = slow; }
  /// The peer read `n` bytes (all when n exceeds what is queued). Returns true when nothing is left,
  /// which is when a real transport tells the session on_drained().
  bool drain(size_t n = SIZE_MAX) noexcept {
    unsent_ -= std::min(n, unsent_);
    return unsent_ == 0;
  }
  /// The owner called on_transport_closed(): from now on any call into this transport is a bug
  /// (with the libuv transport it would touch freed memory).
  void mark_dead() noexcept { dead_ = true; }

  const std::string& sent() const noexcept { return sent_; }
  /// Forgets what was sent so far (tests that look at one exchange at a time).
  std::string take_sent() { return std::exchange(sent_, {}); }
  size_t unsent() const noexcept { return unsent_; }
  bool reading() const noexcept { return reading_; }
  bool close_requested() const noexcept { return close_requested_; }
  bool dead() const noexcept { return dead_; }
  int close_calls() const noexcept { return close_calls_; }
  int pauses() const noexcept { return pauses_; }
  int resumes() const noexcept { return resumes_; }
  int sends() const noexcept { return sends_; }
  /// Whether wake_later() was called since the last take_wake(): the loop's next turn is due (on_later()).
  bool take_wake() noexcept { return std::exchange(wake_, false); }
  /// Bytes handed to send() after close(): close() promises to close once the bytes already sent are
  /// written, so anything later is lost or sent on a half-closed socket.
  size_t bytes_after_close() const noexcept { return bytes_after_close_; }
  /// Size of sent() when close() was first called (all of it while close() was not called).
  size_t sent_at_close() const noexcept { return close_requested_ ? sent_at_close_ : sent_.size(); }
  /// Calls of any kind after mark_dead().
  int calls_after_dead() const noexcept { return calls_after_dead_; }

 private:
  void note_call() const noexcept {
    if (dead_) ++calls_after_dead_;
  }

  std::string sent_;
  size_t unsent_ = 0;
  size_t bytes_after_close_ = 0;
  size_t sent_at_close_ = 0;
  bool slow_ = false;
  bool reading_ = true;
  bool close_requested_ = false;
  bool dead_ = false;
  bool wake_ = false;
  int close_calls_ = 0;
  int pauses_ = 0;
  int resumes_ = 0;
  int sends_ = 0;
  mutable int calls_after_dead_ = 0;
};

/// What the dispatcher saw of one request, copied (RoutedRequest's views die with dispatch()).
struct SeenRequest {
  Http1Session* session = nullptr;
  uint64_t seq = 0;
  std::string method;
  std::string target;
  std::string body;
  uint32_t route_id = 0;
  std::vector<std::pair<std::string, std::string>> params;
  ResponseContext ctx;
  std::string peer_ip;
};

/// A deferred answer held by ScriptedDispatcher; its address is the token given to Http1Session::defer.
struct PendingAnswer {
  Http1Session* session = nullptr;
  uint64_t seq = 0;
  size_t seen_index = 0;  ///< index into ScriptedDispatcher::seen()
  int cancels = 0;        ///< Dispatcher::cancel calls for this token (must end up 0 or 1)
  bool answered = false;
  bool cancelled_before_answer = false;
};

/// A Dispatcher whose answers are derived from the request, so a test or fuzzer can check which
/// request each response belongs to, and which answers either at once or later, in any order.
///
/// Answer: `200 OK` (or the status in a `status=NNN` query), headers `X-Seq: <seq>` and
/// `Content-Type: text/plain`, body `answer_body()` plus, for a `pad=N` query, N bytes of padding.
class ScriptedDispatcher final : public Dispatcher {
 public:
  /// Returns true to defer the request, false to answer it inside dispatch().
  using Policy = std::function<bool(const SeenRequest&)>;

  ScriptedDispatcher() = default;
  ScriptedDispatcher(const ScriptedDispatcher&) = delete;
  ScriptedDispatcher& operator=(const ScriptedDispatcher&) = delete;

  void set_policy(Policy p) { policy_ = std::move(p); }
  void answer_all_sync() {
    policy_ = [](const SeenRequest&) { return false; };
  }
  void defer_all() {
    policy_ = [](const SeenRequest&) { return true; };
  }

  void dispatch(Http1Session& session, uint64_t seq, const RoutedRequest& req) override {
    SeenRequest s;
    s.session = &session;
    s.seq = seq;
    s.method = std::string(req.head.method);
    s.target = std::string(req.head.target);
    s.body = std::string(req.body);
    s.route_id = req.route_id;
    for (const auto& p : req.params) s.params.emplace_back(std::string(p.name), std::string(p.value));
    s.ctx = req.ctx;
    s.peer_ip = std::string(req.peer_ip);
    if (session.closed()) ++dispatch_after_close_;
    seen_.push_back(std::move(s));
    const SeenRequest& rec = seen_.back();
    if (policy_ && policy_(rec)) {
      auto p = std::make_unique<PendingAnswer>();
      p->session = &session;
      p->seq = seq;
      p->seen_index = seen_.size() - 1;
      session.retain();
      session.defer(seq, p.get());
      pending_.push_back(p.get());
      answers_.push_back(std::move(p));
    } else {
      write_answer(session, rec, false);
    }
  }

  void cancel(void* token) noexcept override {
    auto* p = static_cast<PendingAnswer*>(token);
    ++p->cancels;
    if (!p->answered) p->cancelled_before_answer = true;
    cancel_log_.push_back(p->seq);
  }

  /// Answers pending()[i] and drops the reference it held: response_done, then release() — also for a
  /// cancelled answer, as the contract asks of late answers (the session may be freed here).
  void complete(size_t i, bool close = false) {
    PendingAnswer* p = pending_.at(i);
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
    p->answered = true;
    Http1Session* s = p->session;
    write_answer(*s, seen_[p->seen_index], close);
    s->release();
  }
  void complete_oldest(bool close = false) { complete(0, close); }
  void complete_newest(bool close = false) { complete(pending_.size() - 1, close); }
  /// Answers every pending request of `session` (all sessions when null), oldest first.
  void complete_all(Http1Session* session = nullptr) {
    for (size_t i = 0; i < pending_.size();) {
      if (session == nullptr || pending_[i]->session == session) {
        complete(i);
      } else {
        ++i;
      }
    }
  }

  /// Unanswered deferred requests, in dispatch order.
  const std::vector<PendingAnswer*>& pending() const noexcept { return pending_; }
  /// Every deferred answer ever made (answered or not), for cancel-count checks.
  const std::vector<std::unique_ptr<PendingAnswer>>& answers() const noexcept { return answers_; }
  const std::vector<SeenRequest>& seen() const noexcept { return seen_; }
  /// seq of each cancel() call, in call order.
  const std::vector<uint64_t>& cancel_log() const noexcept { return cancel_log_; }
  /// dispatch() calls that came after the session's transport had closed.
  int dispatch_after_close() const noexcept { return dispatch_after_close_; }

  /// The body prefix that identifies request `s`: "<seq> <METHOD> <target> <body length> <fnv of body>\n".
  static std::string answer_body(const SeenRequest& s) {
    char tail[48];
    std::snprintf(tail, sizeof tail, " %zu %08x\n", s.body.size(), static_cast<unsigned>(fnv1a(s.body)));
    return std::to_string(s.seq) + " " + s.method + " " + s.target + tail;
  }

  /// Value of `key=` in the query of `target` as a number; `fallback` when absent or not a number.
  static uint64_t query_number(std::string_view target, std::string_view key, uint64_t fallback) {
    size_t q = target.find('?');
    if (q == std::string_view::npos) return fallback;
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view item = query.substr(0, amp);
      if (item.size() > key.size() && item.substr(0, key.size()) == key && item[key.size()] == '=') {
        uint64_t v = 0;
        std::string_view digits = item.substr(key.size() + 1);
        if (digits.empty() || digits.size() > 9) return fallback;
        for (char c : digits) {
          if (c < '0' || c > '9') return fallback;
          v = v * 10 + static_cast<uint64_t>(c - '0');
        }
        return v;
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
    return fallback;
  }

 private:
  static void write_answer(Http1Session& session, const SeenRequest& s, bool close) {
    ResponseContext ctx = s.ctx;
    if (close) ctx.keep_alive = false;
    std::string body = answer_body(s);
    body.append(static_cast<size_t>(std::min<uint64_t>(query_number(s.target, "pad", 0), 1u << 20)), 'p');
    int status = static_cast<int>(query_number(s.target, "status", 200));
    if (status != 204 && status != 304) status = 200;  // only statuses whose framing the checkers know
    ResponseWriter w(session.response_buffer(s.seq), session.env().date_line(), session.env().config.server_header);
    w.start(status);
    w.header("X-Seq", std::to_string(s.seq));
    w.header("Content-Type", "text/plain");
    if (close) {
      w.finish(body, ctx);
      session.response_done(s.seq, close);
    } else if (w.finish_head(body.size(), ctx)) {
      session.response_done(s.seq, body);  // a large body may go out from `body` itself, uncopied
    } else {
      session.response_done(s.seq);
    }
  }

  Policy policy_;
  std::vector<SeenRequest> seen_;
  std::vector<PendingAnswer*> pending_;
  std::vector<std::unique_ptr<PendingAnswer>> answers_;
  std::vector<uint64_t> cancel_log_;
  int dispatch_after_close_ = 0;
};

/// One connection played the way tcp_server.cpp plays it: input goes through read_space()/on_read()
/// only while reading is not paused (the rest waits, as in the kernel), on_drained() follows a full
/// drain unless close() was requested, and closing calls on_transport_closed() then release().
class MemoryConnection {
 public:
  MemoryConnection(const ServerConfig& config, const RouteTable& routes, ScriptedDispatcher& dispatcher,
                   uint64_t now_ms = 1000)
      : dispatcher_(dispatcher), env_{config, routes, dispatcher, {}, now_ms, 1'700'000'000, 0, nullptr} {
    session_ = new Http1Session(env_, transport_, "203.0.113.7");
  }
  MemoryConnection(const MemoryConnection&) = delete;
  MemoryConnection& operator=(const MemoryConnection&) = delete;

  /// Closes the transport if still open and answers what is still pending, so the session is freed.
  ~MemoryConnection() {
    Http1Session* s = session_;
    close_transport();
    dispatcher_.complete_all(s);
  }

  /// Queues `bytes` as arriving input and delivers what reading allows, `chunk` bytes per read (also
  /// for later pump() calls).
  void feed(std::string_view bytes, size_t chunk = SIZE_MAX) {
    backlog_.append(bytes);
    chunk_ = chunk == 0 ? 1 : chunk;
    pump();
  }
  /// Delivers queued input while the transport reads (after a resume, a test calls this as libuv would).
  void pump() {
    while (!backlog_.empty() && transport_.reading() && !eof_ && !transport_.dead()) {
      if (borrow_ && !session_->holds_input()) {
        // As TcpConnection reads into the loop's buffer: here a buffer of its own, freed (and so poisoned under
        // ASan) as soon as the session returns, which must not point into it any more.
        size_t n = std::min({chunk_, kLoopBuffer, backlog_.size()});
        auto borrowed = std::make_unique<char[]>(n);
        std::memcpy(borrowed.get(), backlog_.data(), n);
        backlog_.erase(0, n);
        delivered_.append(borrowed.get(), n);
        session_->on_read_borrowed(borrowed.get(), n);
        continue;
      }
      auto [p, space] = session_->read_space(min_free_);
      size_t n = std::min({chunk_, space, backlog_.size()});
      std::memcpy(p, backlog_.data(), n);
      backlog_.erase(0, n);
      delivered_.append(p, n);
      session_->on_read(n);
    }
  }
  /// The peer half-closed (TcpConnection calls on_eof only when it has not asked to close itself).
  void eof() {
    if (eof_ || transport_.dead()) return;
    eof_ = true;
    if (!transport_.close_requested()) session_->on_eof();
  }
  /// The peer read `n` bytes; a full drain tells the session, unless it asked to close (then the real
  /// transport shuts down instead).
  void drain(size_t n = SIZE_MAX) {
    if (transport_.dead()) return;
    if (transport_.drain(n) && !transport_.close_requested()) session_->on_drained();
  }
  /// Sets the loop time and runs on_timeout() if the session's deadline has passed; true if it ran.
  bool advance_to(uint64_t now_ms) {
    env_.now_ms = now_ms;
    if (transport_.dead()) return false;
    uint64_t d = session_->deadline();
    if (d == 0 || d > now_ms) return false;
    session_->on_timeout();
    return true;
  }
  /// The transport is gone: on_transport_closed() then the transport's release(). Idempotent.
  void close_transport() {
    if (transport_.dead()) return;
    session_->on_transport_closed();
    transport_.mark_dead();
    Http1Session* s = session_;
    session_ = nullptr;  // the transport's reference is gone: only deferred answers may keep it alive
    s->release();
  }

  /// Size read_space() is asked for (TcpConnection uses the default 16 KiB).
  void set_min_free(size_t n) noexcept { min_free_ = n; }
  /// Whether a session that holds no input reads from a buffer of the transport's (on_read_borrowed, as
  /// TcpConnection does: the default) or always into read_space().
  void set_borrowing(bool on) noexcept { borrow_ = on; }
  /// The live session; null once the transport closed (the session may already be freed).
  Http1Session* session() noexcept { return session_; }
  MemoryTransport& transport() noexcept { return transport_; }
  SessionEnv& env() noexcept { return env_; }
  /// Input the session actually received, in order.
  const std::string& delivered() const noexcept { return delivered_; }
  /// Input still waiting for the transport to read.
  const std::string& backlog() const noexcept { return backlog_; }
  bool eof_sent() const noexcept { return eof_; }

 private:
  ScriptedDispatcher& dispatcher_;
  SessionEnv env_;
  MemoryTransport transport_;
  Http1Session* session_ = nullptr;
  std::string backlog_;
  std::string delivered_;
  size_t chunk_ = SIZE_MAX;
  static constexpr size_t kLoopBuffer = 64 * 1024;  // TcpConnection's wire_buffer
  size_t min_free_ = 16 * 1024;
  bool borrow_ = true;
  bool eof_ = false;
};

/// One response cut from the sent byte stream.
struct ParsedResponse {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool interim = false;   ///< a 1xx response (not counted as an answer)
  size_t index = 0;       ///< answer number: 0 for the first final response, interim ones share the next
  /// Value of the first header named `name` (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n.size() == name.size() &&
          std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) { return (a | 0x20) == (b | 0x20); })) {
        return &v;
      }
    }
    return nullptr;
  }
  bool closes() const {
    const std::string* c = header("Connection");
    return c && *c == "close";
  }
};

/// Cuts `stream` into HTTP/1.1 responses. `is_head(i, status)` says whether final response number i,
/// with that status, answers a HEAD request (Content-Length but no body). Returns false with `error` set
/// on anything malformed, including a response cut short at the end of the stream.
inline bool split_responses(std::string_view stream, const std::function<bool(size_t, int)>& is_head,
                            std::vector<ParsedResponse>& out, std::string& error) {
  size_t pos = 0;
  size_t index = 0;
  while (pos < stream.size()) {
    size_t head_end = stream.find("\r\n\r\n", pos);
    if (head_end == std::string_view::npos) {
      error = "response head cut short at byte " + std::to_string(pos);
      return false;
    }
    std::string_view head = stream.substr(pos, head_end + 2 - pos);
    ParsedResponse r;
    r.index = index;
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    if (line.size() < 13 || line.substr(0, 9) != "HTTP/1.1 " || line[12] != ' ') {
      error = "bad status line at byte " + std::to_string(pos) + ": " + std::string(line.substr(0, 40));
      return false;
    }
    for (size_t i = 9; i < 12; ++i) {
      if (line[i] < '0' || line[i] > '9') {
        error = "bad status code at byte " + std::to_string(pos);
        return false;
      }
      r.status = r.status * 10 + (line[i] - '0');
    }
    r.reason = std::string(line.substr(13));
    head.remove_prefix(eol + 2);
    int lengths = 0;
    uint64_t length = 0;
    while (!head.empty()) {
      eol = head.find("\r\n");
      line = head.substr(0, eol);
      head.remove_prefix(eol + 2);
      size_t colon = line.find(": ");
      if (colon == std::string_view::npos || colon == 0) {
        error = "bad header line in response " + std::to_string(index) + ": " + std::string(line);
        return false;
      }
      r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
      if (r.headers.back().first == "Content-Length") {
        ++lengths;
        std::string_view v = line.substr(colon + 2);
        if (v.empty() || v.size() > 12) {
          error = "bad Content-Length in response " + std::to_string(index);
          return false;
        }
        for (char c : v) {
          if (c < '0' || c > '9') {
            error = "bad Content-Length in response " + std::to_string(index);
            return false;
          }
          length = length * 10 + static_cast<uint64_t>(c - '0');
        }
      }
    }
    pos = head_end + 4;
    r.interim = r.status < 200;
    bool no_length = r.status < 200 || r.status == 204;
    if (no_length ? lengths != 0 : lengths != 1) {
      error = "response " + std::to_string(index) + " (status " + std::to_string(r.status) + ") has " +
              std::to_string(lengths) + " Content-Length headers";
      return false;
    }
    bool body = !no_length && r.status != 304 && !(r.status >= 200 && is_head(index, r.status));
    if (body) {
      if (stream.size() - pos < length) {
        error = "response " + std::to_string(index) + " body cut short";
        return false;
      }
      r.body = std::string(stream.substr(pos, static_cast<size_t>(length)));
      pos += static_cast<size_t>(length);
    }
    if (!r.interim) ++index;
    out.push_back(std::move(r));
  }
  return true;
}

}  // namespace tiercel::testing
