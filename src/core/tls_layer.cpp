// The TLS layer: see tls_layer.h.
#include "core/tls_layer.h"

#include <utility>

namespace tiercel {

namespace {
constexpr std::string_view kPlainHttpOnTlsPort =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 56\r\n"
    "Connection: close\r\n\r\nThis port speaks HTTPS: send the request with https://.\n";
}  // namespace

TlsLayer::TlsLayer(std::shared_ptr<const TlsContext> context, Wire& wire, ConnectionEnv& env, std::span<char> plain)
    : tls_(std::move(context)),
      wire_(wire),
      env_(env),
      plain_(plain),
      handshake_deadline_(env.now_ms + env.config.header_timeout_ms) {}

void TlsLayer::release() noexcept {
  inner_->release();
  delete this;
}

void TlsLayer::on_input(char* data, size_t n) {
  if (refused_) return;
  std::string_view wire_bytes(data, n);
  if (!sniffed_) {
    sniffed_ = true;
    if (!looks_like_tls(wire_bytes)) return refuse();
  }
  if (tls_.failed()) return;  // closing after a failed handshake: the rest is not read
  tls_.put_wire(wire_bytes);
  if (!tls_.handshake_done()) {
    bool done = tls_.handshake();
    flush_output();
    if (!done) {
      if (tls_.failed()) {
        wire_.on_tls_failure(tls_.error());
        close();  // the alert goes out, then the connection closes
      }
      return;
    }
    handshake_deadline_ = 0;
    inner_->on_secured(*tls_.info());
  }
  pump();
}

void TlsLayer::refuse() {
  refused_ = true;
  handshake_deadline_ = 0;
  std::string answer(kPlainHttpOnTlsPort);
  wire_.send(answer);
  close();
}

void TlsLayer::pump() {
  while (wire_.taking_input()) {
    // HTTP/1.1 reads into the connection's buffer only after part of a request, as a socket read does.
    auto [p, n] = inner_->own_input_space();
    bool shared = p == nullptr;
    if (shared) {
      p = plain_.data();
      n = plain_.size();
    }
    long got = tls_.read_plain(p, n);
    if (got > 0) {
      wire_.refresh_clock();
      if (shared) {
        inner_->on_input(p, static_cast<size_t>(got));
      } else {
        inner_->on_own_input(static_cast<size_t>(got));
      }
      if (!tls_.has_buffered_input()) break;  // nothing more to decrypt: spare the call that says so
      continue;
    }
    if (got < 0) {  // close_notify (the peer's EOF) or a bad record
      flush_output();
      if (tls_.failed()) {
        wire_.abort();
      } else {
        wire_.input_ended();
        inner_->on_eof();
      }
      return;
    }
    break;  // more ciphertext needed
  }
  flush_output();
}

void TlsLayer::flush_output() {
  if (!tls_.output().empty()) wire_.send(tls_.output());
}

void TlsLayer::on_later() {
  inner_->on_later();
  pump();
}

uint64_t TlsLayer::deadline() const noexcept {
  uint64_t d = inner_->deadline();
  if (handshake_deadline_ && (d == 0 || handshake_deadline_ < d)) d = handshake_deadline_;
  return d;
}

void TlsLayer::on_timeout() {
  if (handshake_due()) return wire_.abort();  // no TLS handshake within header_timeout
  inner_->on_timeout();
}

void TlsLayer::shed_output() noexcept {
  inner_->shed_output();
  if (tls_.output().empty()) clear_sent(tls_.output());
}

void TlsLayer::send(std::string& out, std::string_view tail) {
  if (refused_) return wire_.send(out, tail);
  bool ok = tls_.write_plain(out) && tls_.write_plain(tail);
  out.clear();
  if (!ok) return wire_.abort();
  wire_.send(tls_.output());
}

void TlsLayer::close() {
  if (!closing_ && !refused_) {
    tls_.close_notify();  // (none after a failed handshake)
    flush_output();
  }
  closing_ = true;
  wire_.close();
}

std::shared_ptr<const TlsInfo> TlsLayer::tls() const {
  return !refused_ && tls_.handshake_done() ? tls_.info() : nullptr;
}

}  // namespace tiercel
