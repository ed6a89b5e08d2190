// Test support for driving Http1Connection through the in-memory transport (core/memory_connection.h): a scriptable
// Dispatcher whose answers derive from the request and can be held and completed in any order, and a connection
// that owns its ConnectionEnv and answers what is still pending when it goes. Shared by tests/native (GoogleTest) and
// tests/fuzz (libFuzzer), so it must not depend on either.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/http1_connection.h"
#include "core/memory_connection.h"
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

/// What the dispatcher saw of one request, copied (RoutedRequest's views die with dispatch()).
struct SeenRequest {
  Responder* conn = nullptr;
  uint64_t seq = 0;
  std::string method;
  std::string target;
  std::string body;
  uint32_t route_id = 0;
  std::vector<std::pair<std::string, std::string>> params;
  ResponseContext ctx;
  std::string peer_ip;
};

/// A deferred answer held by ScriptedDispatcher; its address is the token given to Http1Connection::defer.
struct PendingAnswer {
  Responder* conn = nullptr;
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

  void dispatch(Responder& conn, uint64_t seq, const RoutedRequest& req) override {
    SeenRequest s;
    s.conn = &conn;
    s.seq = seq;
    s.method = std::string(req.head.method);
    s.target = std::string(req.head.target);
    s.body = std::string(req.body);
    s.route_id = req.route_id;
    for (const auto& p : req.params) s.params.emplace_back(std::string(p.name), std::string(p.value));
    s.ctx = req.ctx;
    s.peer_ip = std::string(req.peer_ip);
    if (conn.closed()) ++dispatch_after_close_;
    seen_.push_back(std::move(s));
    const SeenRequest& rec = seen_.back();
    if (policy_ && policy_(rec)) {
      auto p = std::make_unique<PendingAnswer>();
      p->conn = &conn;
      p->seq = seq;
      p->seen_index = seen_.size() - 1;
      conn.retain();
      conn.defer(seq, p.get());
      pending_.push_back(p.get());
      answers_.push_back(std::move(p));
    } else {
      write_answer(conn, rec, false);
    }
  }

  void cancel(void* token) noexcept override {
    auto* p = static_cast<PendingAnswer*>(token);
    ++p->cancels;
    if (!p->answered) p->cancelled_before_answer = true;
    cancel_log_.push_back(p->seq);
  }

  /// Answers pending()[i] and drops the reference it held: respond, then release() — also for a
  /// cancelled answer, as the contract asks of late answers (the connection may be freed here).
  void complete(size_t i, bool close = false) {
    PendingAnswer* p = pending_.at(i);
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
    p->answered = true;
    Responder* s = p->conn;
    write_answer(*s, seen_[p->seen_index], close);
    s->release();
  }
  void complete_oldest(bool close = false) { complete(0, close); }
  void complete_newest(bool close = false) { complete(pending_.size() - 1, close); }
  /// Answers every pending request of `connection` (all connections when null), oldest first.
  void complete_all(Responder* conn = nullptr) {
    for (size_t i = 0; i < pending_.size();) {
      if (conn == nullptr || pending_[i]->conn == conn) {
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
  /// dispatch() calls that came after the connection's transport had closed.
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
  static void write_answer(Responder& conn, const SeenRequest& s, bool close) {
    ResponseContext ctx = s.ctx;
    if (close) ctx.keep_alive = false;
    std::string body = answer_body(s);
    body.append(static_cast<size_t>(std::min<uint64_t>(query_number(s.target, "pad", 0), 1u << 20)), 'p');
    int status = static_cast<int>(query_number(s.target, "status", 200));
    if (status != 204 && status != 304) status = 200;  // only statuses whose framing the checkers know
    ResponseHead head{status, "X-Seq: " + std::to_string(s.seq) + "\r\nContent-Type: text/plain\r\n"};
    conn.respond(s.seq, head, body, ctx);  // a large body may go out from `body` itself, uncopied
  }

  Policy policy_;
  std::vector<SeenRequest> seen_;
  std::vector<PendingAnswer*> pending_;
  std::vector<std::unique_ptr<PendingAnswer>> answers_;
  std::vector<uint64_t> cancel_log_;
  int dispatch_after_close_ = 0;
};

/// The ConnectionEnv of a ScriptedConnection, built before the connection that refers to it.
struct ScriptedEnv {
  ConnectionEnv owned_env;
};

/// A MemoryConnection (MemoryLoop::kStepped: the test plays the loop) with its own ConnectionEnv, whose clock starts
/// at `now_ms` and whose Date is fixed; when it goes it closes and answers what `dispatcher` still holds for it, so
/// that the connection is freed.
class ScriptedConnection : private ScriptedEnv, public MemoryConnection {
 public:
  static constexpr std::string_view kPeerIp = "203.0.113.7";  // RFC 5737 TEST-NET-3

  ScriptedConnection(const ServerConfig& config, const RouteTable& routes, ScriptedDispatcher& dispatcher,
                     uint64_t now_ms = 1000)
      : ScriptedEnv{{config, routes, dispatcher, {}, now_ms, 1'700'000'000, 0, nullptr}},
        MemoryConnection(owned_env, std::string(kPeerIp), MemoryLoop::kStepped),
        dispatcher_(dispatcher) {}
  ScriptedConnection(const ScriptedConnection&) = delete;
  ScriptedConnection& operator=(const ScriptedConnection&) = delete;
  ~ScriptedConnection() {
    Http1Connection* s = http1();
    disconnect();
    dispatcher_.complete_all(s);  // null (closed before): every answer the dispatcher holds
  }

 private:
  ScriptedDispatcher& dispatcher_;
};

}  // namespace tiercel::testing
