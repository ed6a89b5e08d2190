// HTTP/1.1 connection logic, answers: each answer written in its request's order (the current one straight into the
// output, later ones held in slots until those before them are out), what the observer records of it, and the
// sending of large bodies from the caller's memory.
#include "core/http1_connection.h"

#include <utility>

namespace tiercel {

std::string& Http1Connection::response_buffer(uint64_t seq) {
  if (slots_.empty() && seq == next_write_) return out_;
  for (auto& s : slots_) {
    if (s.seq == seq) return s.bytes;
  }
  slots_.push_back(Slot{seq, {}, nullptr, false, false});
  return slots_.back().bytes;
}

void Http1Connection::defer(uint64_t seq, void* token) {
  for (auto& s : slots_) {
    if (s.seq == seq) {
      s.token = token;
      return;
    }
  }
  slots_.push_back(Slot{seq, {}, token, false, false});
}

void Http1Connection::respond(uint64_t seq, const ResponseHead& head, std::string_view body,
                              const ResponseContext& request_ctx, uint64_t length) {
  ResponseContext ctx = answer_context(seq, request_ctx);
  std::string& out = response_buffer(seq);
  size_t start = out.size();
  ResponseWriter w = head_writer(out, head);
  if (!w.finish_head(length == kBodySize ? body.size() : length, ctx)) body = {};
  if (env_.observer) observe(seq, head.status, out.size() - start + body.size());
  send_body(seq, body);
  finish_response(seq, w.says_close());
}

ResponseContext Http1Connection::answer_context(uint64_t seq, ResponseContext ctx) const noexcept {
  if (closes_after(seq)) ctx.keep_alive = false;
  return ctx;
}

ResponseWriter Http1Connection::head_writer(std::string& out, const ResponseHead& head) {
  ResponseWriter w(out, env_.date_line(), env_.config.server_header);
  w.start(head.status);
  w.raw_headers(head.fields);
  return w;
}

void Http1Connection::send_body(uint64_t seq, std::string_view body) {
  // Below this size a copy is cheaper than a second iovec.
  constexpr size_t kDirectBody = 16 * 1024;
  if (body.size() >= kDirectBody && slots_.empty() && seq == next_write_ && !close_after_ && !closing_ &&
      !transport_closed_) {
    // out_ holds every earlier answer of this connection and this head: they go first, then the body.
    transport_.send(out_, body);
  } else if (!body.empty()) {
    response_buffer(seq).append(body);
  }
}

void Http1Connection::observe(uint64_t seq, int status, uint64_t bytes) {
  for (auto it = records_.begin(); it != records_.end(); ++it) {
    if (it->seq != seq) continue;
    env_.observer->on_response(it->log.record(status, bytes));
    records_.erase(it);
    return;
  }
  RequestRecord r;  // refused before it was read (400, 408, 413, 431...)
  r.status = status;
  r.bytes = bytes;
  r.client_ip = peer_ip_;
  r.request_line = "-";
  env_.observer->on_response(r);
}

void Http1Connection::finish_response(uint64_t seq, bool close) {
  if (streaming_body() && seq == body_seq_) {
    // Answered before its body was read to the end: the rest is not read, and the connection closes.
    BodySink* sink = body_sink_;
    stop_body_stream();
    if (sink) sink->on_body_error(0, "the request was answered before its body was read");
  }
  if (close && (!close_after_ || seq < close_seq_)) {
    close_after_ = true;
    close_seq_ = seq;
  }
  if (slots_.empty() && seq == next_write_) {
    ++next_write_;
  } else {
    for (auto& s : slots_) {
      if (s.seq == seq) {
        s.ready = true;
        s.token = nullptr;
        break;
      }
    }
    flush_ready();
  }
  if (!in_process_ && !closing_) {
    // A deferred answer arrived from outside a read: send now, and resume parsing if it was held back.
    // (Once closing, the transport may already be gone: it is not touched again.)
    if (paused_pipeline_ && in_flight() < env_.config.max_pipelined) {
      paused_pipeline_ = false;
      if (!paused_write_ && !body_paused_) transport_.resume_reading();
      process();
    } else {
      update_deadline();
    }
    send_output();
  }
}

void Http1Connection::flush_ready() {
  // Nothing goes out behind an answer that closes the connection.
  while (!slots_.empty() && !(close_after_ && next_write_ > close_seq_)) {
    Slot& front = slots_.front();
    if (front.streaming) {
      // The current answer is a stream: what it has produced goes out now, the rest when it comes.
      out_.append(front.bytes);
      front.bytes.clear();
      break;
    }
    if (!front.ready) break;
    out_.append(front.bytes);
    slots_.pop_front();
    ++next_write_;
  }
}

Http1Connection::Slot* Http1Connection::find_slot(uint64_t seq) noexcept {
  for (auto& s : slots_) {
    if (s.seq == seq) return &s;
  }
  return nullptr;
}

}  // namespace tiercel
