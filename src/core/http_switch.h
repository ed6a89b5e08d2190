// Which HTTP a connection speaks, decided once: HTTP/2 when TLS agreed on "h2" (ALPN) or a cleartext connection
// opens with the HTTP/2 preface (prior knowledge, h2c); HTTP/1.1 otherwise. Its transport sees one Protocol
// throughout.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/http1_connection.h"
#include "core/protocol.h"

namespace tiercel {

/// HTTP/1.1 (an Http1Connection, made at once so that its header timeout runs from the connection's start) until the
/// switch to HTTP/2 (an Http2Connection), which happens at most once, before any request. Everything else is
/// forwarded to the one in use.
class HttpSwitch final : public Protocol {
 public:
  /// `sniff_h2c`: look at a cleartext connection's first bytes for the HTTP/2 preface.
  HttpSwitch(ConnectionEnv& env, Transport& transport, std::string peer_ip, bool sniff_h2c);
  HttpSwitch(const HttpSwitch&) = delete;
  HttpSwitch& operator=(const HttpSwitch&) = delete;

  std::pair<char*, size_t> own_input_space() override { return current_->own_input_space(); }
  void on_own_input(size_t n) override { current_->on_own_input(n); }
  void on_input(char* data, size_t n) override;
  bool holds_unread_input() const noexcept override { return current_->holds_unread_input(); }
  void on_eof() override { current_->on_eof(); }
  void on_drained() override { current_->on_drained(); }
  uint64_t deadline() const noexcept override { return current_->deadline(); }
  void on_timeout() override { current_->on_timeout(); }
  bool drain_waiting() const noexcept override { return current_->drain_waiting(); }
  void on_later() override { current_->on_later(); }
  void shed_output() noexcept override { current_->shed_output(); }
  void drain() override { current_->drain(); }
  void close_idle() override { current_->close_idle(); }
  void on_transport_closed() override { current_->on_transport_closed(); }
  void release() noexcept override;
  /// ALPN "h2" switches to HTTP/2.
  void on_secured(const TlsInfo& info) override;

 private:
  ~HttpSwitch() override = default;
  /// The first bytes of a cleartext connection: true when they were taken (HTTP/2, or too few to tell yet: "P"
  /// could be POST or PRI); false when they are HTTP/1.1's to read as usual.
  bool sniff(std::string_view fresh);
  /// Switches to HTTP/2, with `first` the bytes already read.
  void use_http2(std::string_view first);

  // Kept small: every connection has one.
  ConnectionEnv& env_;
  Transport& transport_;
  Protocol* current_;   // the Http1Connection, then maybe the Http2Connection
  bool http2_ = false;  // current_ is the Http2Connection
  bool sniffed_;        // the first bytes were looked at (or need not be)
  uint8_t held_ = 0;    // first bytes too few to tell HTTP/2 from HTTP/1.1 yet ("P", "PR"), in sniff_
  char sniff_[2];
};

}  // namespace tiercel
