// libFuzzer target for the whole Http1Connection pipeline (parse → route → dispatch → ordered write) over
// the in-memory transport: the input is a script of reads, deferred answers, drains, clock jumps, EOF
// and closes, and every run checks the response stream, its order, closing and cancellation rules.
//
// Input: a script line, '\n', then the request bytes the script delivers.
//   Script: a decimal number N may precede any letter (its argument); other bytes are ignored.
//   Setup (read before anything runs): L small limits · S slow peer · N P max_pipelined · N W write
//     high watermark (bytes).
//   Actions, in order:
//     r deliver N bytes (all that is left without N) in one read · u the next way of reading (from the
//     transport's buffer as from a socket, then read_space(1), then read_space(16 KiB))
//     o / n / N m answer the oldest / newest / N-th pending deferred request · c answer the oldest with
//     close · a answer all · d drain (N bytes without calling on_drained unless all) · N t advance the
//     clock by N ms (1000 without N) and time out if due · T jump to the deadline and time out · g the
//     server's close_idle_connections (on_timeout when a deadline is set) · e peer EOF · k the
//     transport dies · f a requested close completes · y / q / w answer sync / defer / alternate ·
//     N h defer when bit (seq % 32) of N is set · D graceful drain (SIGTERM: at most one more request is
//     taken, its answer says `Connection: close`; with nothing in progress the connection waits a grace for it).
//   After the script: unless closed, everything left is delivered and answered and the peer drains;
//   then the transport closes and any answer still pending arrives late.
//
// TIERCEL_FUZZ_TRACE=1 prints the delivered and sent bytes of a failing run. (Unbounded buffering of
// input after a closing request is not observable from here; tests/native/test_http1_connection.cpp
// checks it.)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "../native/response_splitter.h"
#include "../native/scripted_dispatcher.h"
#include "fuzz_limits.h"
#include "core/http1_parser.h"

namespace {

using tiercel::Http1Connection;
using tiercel::Method;
using tiercel::RouteTable;
using tiercel::ServerConfig;
using tiercel::testing::ScriptedConnection;
using tiercel::testing::ParsedResponse;
using tiercel::testing::ScriptedDispatcher;
using tiercel::testing::SeenRequest;
namespace http1 = tiercel::http1;

/// With TIERCEL_FUZZ_TRACE=1 a failing run also prints the delivered input and the sent output.
std::string_view g_payload;
const ScriptedConnection* g_conn = nullptr;

void dump(const char* label, std::string_view s) {
  std::fprintf(stderr, "--- %s (%zu bytes) ---\n", label, s.size());
  for (unsigned char c : s) {
    if (c == '\n' || (c >= 0x20 && c < 0x7f)) std::fputc(c, stderr);
    else if (c == '\r') std::fputs("\\r", stderr);
    else std::fprintf(stderr, "\\x%02x", c);
  }
  std::fputc('\n', stderr);
}

/// The path of a request target: an absolute-form target ("http://host/c?x", RFC 9112 §3.2.2) is routed by
/// its path, as an origin-form one is.
std::string_view target_path(std::string_view target) {
  size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos || target.substr(0, scheme_end).find('/') != std::string_view::npos)
    return target;
  std::string_view rest = target.substr(scheme_end + 3);
  size_t slash = rest.find('/');
  return slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_http1_connection: %s\n", what.c_str());
  const char* trace = std::getenv("TIERCEL_FUZZ_TRACE");
  if (trace != nullptr && trace[0] == '1') {
    if (g_conn != nullptr) {
      // What was fed comes from the payload in order, so what was delivered is its first delivered_bytes().
      dump("delivered", g_payload.substr(0, g_conn->delivered_bytes()));
      dump("sent", g_conn->transport().sent());
    }
  }
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

constexpr uint32_t kConstRoute = 6;
constexpr std::string_view kConstBody = "const\n";

/// Static, parameter, nested parameter, catch-all and const routes, short so the fuzzer finds them.
const RouteTable& routes() {
  static const RouteTable table = [] {
    RouteTable t;
    std::string error;
    bool ok = t.router.add(Method::kGet, "/", 0, error) && t.router.add(Method::kGet, "/u/:id", 1, error) &&
              t.router.add(Method::kPost, "/u/:id", 2, error) && t.router.add(Method::kGet, "/u/:id/p", 3, error) &&
              t.router.add(Method::kGet, "/f/*r", 4, error) && t.router.add(Method::kPut, "/f/*r", 5, error) &&
              t.router.add(Method::kGet, "/c", kConstRoute, error) && t.router.add(Method::kPost, "/p", 7, error);
    if (!ok) fail("route table: " + error);
    t.entries.resize(8);
    t.entries[kConstRoute].const_answer =
        tiercel::ConstAnswer{tiercel::ResponseHead{200, "Content-Type: text/plain\r\n"}, std::string(kConstBody)};
    return t;
  }();
  return table;
}

/// One request as an independent reading of the delivered bytes sees it: what the connection must have
/// dispatched (or refused) at that sequence number.
struct ModelRequest {
  std::string method;
  std::string target;
  std::string body;
  bool complete = false;    ///< head and body are all there
  bool error = false;       ///< the parser refuses it (head or chunked body)
  bool terminated = false;  ///< for an error or partial head: CRLF CRLF is present, so it must be acted on
  bool keep_alive = true;
  bool expect_continue = false;
  bool has_body = false;
};

/// Cuts the delivered byte stream into requests the way RFC 9112 framing does, with the project's own
/// parser, stopping where the connection must stop (an error, a closing request, an unknown method).
std::vector<ModelRequest> model_requests(std::string_view in, const http1::Limits& limits) {
  std::vector<ModelRequest> out;
  http1::RequestHead head;
  while (!in.empty()) {
    ModelRequest m;
    // A head ends at CRLF CRLF after the empty lines that may precede the request line (the connection
    // looks for the end of a head before it re-parses a trickled one).
    size_t lead = 0;
    while (in.substr(lead, 2) == "\r\n") lead += 2;
    m.terminated = in.find("\r\n\r\n", lead) != std::string_view::npos;
    http1::ParseError err = http1::ParseError::kNone;
    auto st = http1::parse_head(in, limits, head, err);
    if (st != http1::ParseStatus::kComplete) {
      m.error = st == http1::ParseStatus::kError;
      out.push_back(std::move(m));
      break;
    }
    m.method = std::string(head.method);
    m.target = std::string(head.target);
    m.keep_alive = head.keep_alive;
    m.expect_continue = head.expect_continue;
    m.has_body = head.framing != http1::BodyFraming::kNone;
    in.remove_prefix(head.head_size);
    if (head.framing == http1::BodyFraming::kContentLength) {
      if (in.size() < head.content_length) {
        out.push_back(std::move(m));
        break;
      }
      m.body = std::string(in.substr(0, static_cast<size_t>(head.content_length)));
      in.remove_prefix(static_cast<size_t>(head.content_length));
    } else if (head.framing == http1::BodyFraming::kChunked) {
      http1::ChunkedDecoder dec;
      size_t consumed = 0;
      st = dec.feed(in, limits, m.body, consumed, err);
      if (st != http1::ParseStatus::kComplete) {
        m.error = st == http1::ParseStatus::kError;
        m.terminated = true;  // chunked errors are found byte by byte, without waiting for more input
        out.push_back(std::move(m));
        break;
      }
      in.remove_prefix(consumed);
    }
    m.complete = true;
    bool known = tiercel::parse_method(m.method).has_value();
    bool stop = !m.keep_alive || !known;
    out.push_back(std::move(m));
    if (stop) break;
  }
  return out;
}

bool refusal_status(int s) {
  return s == 400 || s == 408 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505;
}

/// Everything one run needs, so the steps read as the script does.
class Run {
 public:
  Run(const ServerConfig& config, bool slow, ScriptedDispatcher& d) : d_(d), conn_(config, routes(), d) {
    conn_.transport().set_slow(slow);
  }

  ScriptedConnection& conn() { return conn_; }
  ScriptedDispatcher& dispatcher() { return d_; }

  /// Invariants that hold after every step.
  void check_step(char action) {
    auto& t = conn_.transport();
    if (t.close_requested() && !close_seen_) {
      close_seen_ = true;
      seen_at_close_ = d_.seen().size();
    }
    if (t.bytes_after_close() > 0) {
      fail("bytes sent after close() (" + std::to_string(t.bytes_after_close()) + ")");
    }
    if (t.calls_after_dead() != 0) {
      fail(std::string("transport used after on_transport_closed(), step '") + action + "'");
    }
    check(d_.dispatch_after_close() == 0, "dispatch() after the transport closed");
    if (drained_) check(d_.seen().size() <= seen_at_drain_ + 1, "more than one request taken after a drain");
    if (close_seen_) check(d_.seen().size() == seen_at_close_, "request dispatched after close()");
    for (const auto& a : d_.answers()) {
      check(a->cancels <= 1, "token cancelled twice");
      check(a->cancels == 0 || a->cancelled_before_answer, "answered token cancelled");
    }
    if (!t.dead() && !t.close_requested() && !conn_.eof_sent() && d_.pending().empty()) {
      // Idle from the application's side: without a deadline the connection could hang forever.
      check(conn_.http1()->deadline() != 0, "open connection with nothing pending has no deadline");
    }
  }

  /// The transport dies: every unanswered deferred request is cancelled, right now.
  void kill() {
    if (conn_.transport().dead()) return;
    conn_.disconnect();
    for (const auto* p : d_.pending()) check(p->cancels == 1, "pending request not cancelled on close");
  }

  /// Answers the oldest pending request with response_done(seq, close=true).
  void answer_closing() {
    if (d_.pending().empty()) return;
    d_.complete_oldest(true);
  }

  /// The server drains (Http1Connection::drain): from now on at most one request more is dispatched, and it is the
  /// connection's last.
  void graceful_drain() {
    if (conn_.transport().dead() || drained_) return;
    drained_ = true;
    seen_at_drain_ = d_.seen().size();
    conn_.http1()->drain();
  }

  /// A timeout the owner ran must leave the connection closing.
  void timed_out() { check(conn_.transport().close_requested(), "on_timeout() did not close"); }

  /// Delivers and answers everything the script left, as long as nothing closes.
  void settle() {
    auto& t = conn_.transport();
    for (int i = 0; i < 100'000 && !t.dead() && !t.close_requested(); ++i) {
      conn_.pump();
      check_step('s');
      if (!d_.pending().empty()) {
        d_.complete_oldest();
      } else if (t.unsent() > 0) {
        conn_.drain();
      } else {
        break;
      }
      check_step('s');
    }
  }

  /// With nothing closed, every complete request delivered must have been answered, reading must be on,
  /// and a refusal the connection could decide must have been sent (and then it would have closed).
  void check_liveness(const std::vector<ModelRequest>& model, size_t answers) {
    auto& t = conn_.transport();
    if (t.dead() || t.close_requested() || conn_.eof_sent()) return;
    // Drained and still open: only a connection that took no request since (waiting out its grace).
    if (drained_) check(d_.seen().size() == seen_at_drain_, "a request taken after a drain did not close");
    check(t.reading(), "idle connection left with reading paused");
    check(conn_.backlog().empty(), "input left undelivered");
    check(t.unsent() == 0, "output left unsent");
    size_t complete = 0;
    for (const auto& m : model) {
      if (m.complete && !m.error) {
        ++complete;
        check(m.keep_alive && tiercel::parse_method(m.method).has_value(), "closing request did not close");
      } else if (m.error) {
        check(!m.terminated, "refusable request left unanswered");
      }
    }
    if (answers != complete) {
      fail("stall: " + std::to_string(complete) + " complete requests, " + std::to_string(answers) + " answers");
    }
  }

  /// The sent stream: well-formed responses, one per request in request order, each matching its request.
  size_t check_stream(const std::vector<ModelRequest>& model) {
    std::map<uint64_t, const SeenRequest*> by_seq;
    for (const auto& s : d_.seen()) {
      check(by_seq.emplace(s.seq, &s).second, "sequence number dispatched twice");
      if (s.seq >= model.size()) fail("dispatched seq " + std::to_string(s.seq) + " beyond the requests sent");
      const ModelRequest& m = model[s.seq];
      check(m.complete && !m.error, "dispatched a request that is incomplete or refused");
      if (s.method != m.method || s.target != m.target) fail("seq " + std::to_string(s.seq) + " is another request");
      if (s.body != m.body) fail("seq " + std::to_string(s.seq) + " got a different body");
      check(s.ctx.head_request == (s.method == "HEAD"), "head_request flag");
      // The request taken after a drain is the connection's last whatever it asked.
      bool after_drain = drained_ && by_seq.size() > seen_at_drain_;
      check(s.ctx.keep_alive == (m.keep_alive && !after_drain), "keep_alive flag");
    }
    // A HEAD request's answer has no body, also when it comes before the request's body is complete (the early
    // 404/405 for `Expect: 100-continue`): the parsed head is enough.
    auto is_head = [&](size_t i, int status) {
      return i < model.size() && !model[i].error && model[i].method == "HEAD" && !refusal_status(status);
    };
    std::vector<ParsedResponse> rs;
    std::string error;
    // Known defect 1: answers completing after close() are still sent; outside strict mode only the
    // bytes sent before close() are held to the rules.
    const std::string_view sent = std::string_view(conn_.transport().sent()).substr(0, conn_.transport().sent_at_close());
    if (!tiercel::testing::split_responses(sent, is_head, rs, error)) fail("response stream: " + error);
    size_t answers = 0;
    size_t continue_for = SIZE_MAX;
    for (size_t k = 0; k < rs.size(); ++k) {
      const ParsedResponse& r = rs[k];
      if (r.interim) {
        check(r.status == 100 && r.headers.empty(), "unexpected interim response");
        check(continue_for != r.index, "two 100 Continue for one request");
        continue_for = r.index;
        check(r.index < model.size() && model[r.index].expect_continue && model[r.index].has_body,
              "100 Continue for a request that did not ask for it");
        continue;
      }
      ++answers;
      size_t i = r.index;
      if (i >= model.size()) fail("response " + std::to_string(i) + " answers no request");
      const ModelRequest& m = model[i];
      bool last = k + 1 == rs.size();
      if (r.closes() && !last) fail("bytes after a Connection: close response " + std::to_string(i));
      if (refusal_status(r.status)) {
        check(r.closes(), "refusal without Connection: close");
        continue;
      }
      // A request with `Expect: 100-continue` to a path no handler takes is answered 404/405 from its head,
      // before (and instead of reading) its body, and the connection closes.
      bool early_final = m.expect_continue && m.has_body && (r.status == 404 || r.status == 405) &&
                         r.closes();
      check((m.complete && !m.error) || early_final, "a normal answer for an incomplete or refused request");
      if (!m.keep_alive) check(r.closes(), "answer to a closing request lacks Connection: close");
      if (const std::string* x = r.header("X-Seq")) {
        if (*x != std::to_string(i)) fail("answer " + std::to_string(i) + " carries X-Seq " + *x);
        auto it = by_seq.find(i);
        check(it != by_seq.end(), "answer for a request never dispatched");
        std::string expect = ScriptedDispatcher::answer_body(*it->second);
        if (!r.body.empty() || !(is_head(i, r.status) || r.status == 204 || r.status == 304)) {
          check(r.body.compare(0, expect.size(), expect) == 0, "answer body belongs to another request");
        }
      } else if (r.status == 200) {
        check(target_path(m.target).rfind("/c", 0) == 0, "const answer for another path");
        check(r.body == (is_head(i, 200) ? "" : kConstBody), "const body");
      } else {
        check(r.status == 404 || r.status == 405, "unexpected status");
        if (r.status == 405) check(r.header("Allow") != nullptr, "405 without Allow");
      }
    }
    return answers;
  }

 private:
  ScriptedDispatcher& d_;
  ScriptedConnection conn_;
  bool close_seen_ = false;
  size_t seen_at_close_ = 0;
  bool drained_ = false;
  size_t seen_at_drain_ = 0;  // requests dispatched when the drain began
};

using tiercel::fuzz::small_limits;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  std::string_view script = input.substr(0, nl);
  std::string_view payload = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

  ServerConfig config;
  bool slow = false;
  uint64_t num = 0;
  bool has_num = false;
  for (char ch : script) {
    if (ch >= '0' && ch <= '9') {
      num = std::min<uint64_t>(num * 10 + static_cast<uint64_t>(ch - '0'), 100'000'000);
      has_num = true;
      continue;
    }
    if (ch == 'L') config.limits = small_limits();
    if (ch == 'S') slow = true;
    if (ch == 'P' && has_num) config.max_pipelined = static_cast<uint32_t>(std::max<uint64_t>(1, num % 100));
    if (ch == 'W' && has_num) config.write_high_watermark = static_cast<size_t>(num);
    num = 0;
    has_num = false;
  }

  ScriptedDispatcher d;
  d.set_policy([](const SeenRequest& s) { return s.seq % 2 == 1; });
  {
    Run run(config, slow, d);
    ScriptedConnection& c = run.conn();
    auto& t = c.transport();
    g_payload = payload;
    g_conn = &c;
    size_t next = 0;  // payload bytes handed to the transport so far
    int read_mode = 0;  // see 'u'
    num = 0;
    has_num = false;
    for (char ch : script) {
      if (ch >= '0' && ch <= '9') {
        num = std::min<uint64_t>(num * 10 + static_cast<uint64_t>(ch - '0'), 100'000'000);
        has_num = true;
        continue;
      }
      const uint64_t n = num;
      const bool given = has_num;
      num = 0;
      has_num = false;
      switch (ch) {
        case 'r': {
          if (c.eof_sent() || t.dead()) break;
          size_t len = given ? std::min<size_t>(static_cast<size_t>(n), payload.size() - next) : payload.size() - next;
          c.set_read_size(len);
          c.feed(payload.substr(next, len));
          next += len;
          break;
        }
        case 'u':  // the next way of reading: borrowed (a socket's) → read_space(1) → read_space(16 KiB) → ...
          read_mode = (read_mode + 1) % 3;
          c.set_borrowing(read_mode == 0);
          c.set_min_free(read_mode == 1 ? 1 : 16 * 1024);
          break;
        case 'o':
          if (!d.pending().empty()) d.complete_oldest();
          break;
        case 'n':
          if (!d.pending().empty()) d.complete_newest();
          break;
        case 'm':
          if (!d.pending().empty()) d.complete(static_cast<size_t>(n % d.pending().size()));
          break;
        case 'c':
          run.answer_closing();
          break;
        case 'a':
          d.complete_all();
          break;
        case 'd':
          c.drain(given ? static_cast<size_t>(n) : SIZE_MAX);
          break;
        case 't':
          if (c.advance_to(c.env().now_ms + (given ? n : 1000))) run.timed_out();
          break;
        case 'T':
          if (!t.dead() && c.http1()->deadline() != 0) {
            if (c.advance_to(std::max(c.env().now_ms, c.http1()->deadline()))) run.timed_out();
          }
          break;
        case 'g':
          if (!t.dead() && c.http1()->deadline() != 0) {
            c.http1()->on_timeout();
            run.timed_out();
          }
          break;
        case 'e':
          c.eof();
          break;
        case 'D':
          run.graceful_drain();
          break;
        case 'k':
          run.kill();
          break;
        case 'f':
          if (t.close_requested()) run.kill();
          break;
        case 'y':
          d.answer_all_sync();
          break;
        case 'q':
          d.defer_all();
          break;
        case 'w':
          d.set_policy([](const SeenRequest& s) { return s.seq % 2 == 1; });
          break;
        case 'h': {
          const auto mask = static_cast<uint32_t>(n);
          d.set_policy([mask](const SeenRequest& s) { return ((mask >> (s.seq % 32)) & 1) != 0; });
          break;
        }
        default:
          continue;
      }
      run.check_step(ch);
    }

    // The rest of the input arrives (the kernel delivers it once reading is on), answers complete and
    // the peer reads everything, unless something closed.
    if (!c.eof_sent() && !t.dead() && next < payload.size()) {
      c.set_read_size(read_mode == 1 ? 7 : SIZE_MAX);
      c.feed(payload.substr(next));
      run.check_step('r');
    }
    run.settle();
    const auto model = model_requests(payload.substr(0, c.delivered_bytes()), config.limits);
    size_t answers = run.check_stream(model);
    run.check_liveness(model, answers);

    // The connection ends; what is still pending was cancelled and now answers late.
    run.kill();
    run.check_step('k');
    const size_t sent_before = t.sent().size();
    d.complete_all();
    run.check_step('a');
    check(t.sent().size() == sent_before, "late answer sent");
    for (const auto& a : d.answers()) {
      check(a->answered, "deferred request never answered");
      check(a->cancels == (a->cancelled_before_answer ? 1 : 0), "cancel count");
    }
    g_conn = nullptr;
  }
  return 0;
}
