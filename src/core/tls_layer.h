// TLS as a layer between a transport and the protocol it carries: ciphertext from the wire is decrypted for the
// protocol, the protocol's output is encrypted for the wire; the handshake (bounded by header_timeout), its ALPN
// result, close_notify, and plain HTTP sent to the TLS port are handled here. OpenSSL's engine is TlsConnection
// (core/tls.h); the transport below sees a Protocol, the protocol above sees a Transport.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/http1_connection.h"
#include "core/protocol.h"
#include "core/tls.h"
#include "core/transport.h"

namespace tiercel {

class TlsLayer final : public Protocol, public Transport {
 public:
  /// The transport under the layer: where ciphertext goes, plus what the layer must know of it.
  class Wire : public Transport {
   public:
    /// Whether input would be taken now: reading, and not closing.
    virtual bool taking_input() const noexcept = 0;
    /// Closes at once (a broken record, a handshake not done in time).
    virtual void abort() = 0;
    /// The peer ended TLS (close_notify): nothing more will come, so a close need not linger for input.
    virtual void input_ended() = 0;
    /// Refreshes the loop's clock (before plaintext is handed on).
    virtual void refresh_clock() = 0;
    /// A handshake failed, for `why` (counted by the server).
    virtual void on_tls_failure(const std::string& why) = 0;
  };

  /// `plain`: the loop's buffer that plaintext is decrypted into, for a protocol that takes the loop's buffer.
  TlsLayer(std::shared_ptr<const TlsContext> context, Wire& wire, ConnectionEnv& env, std::span<char> plain);
  TlsLayer(const TlsLayer&) = delete;
  TlsLayer& operator=(const TlsLayer&) = delete;
  /// The protocol the plaintext is for (made with this layer as its transport); freed with the layer.
  void carry(Protocol* inner) noexcept { inner_ = inner; }

  // --- Protocol: the wire's side (ciphertext in) ---
  void on_input(char* data, size_t n) override;
  bool holds_unread_input() const noexcept override { return !refused_ && tls_.has_buffered_input(); }
  void on_eof() override { inner_->on_eof(); }
  void on_drained() override { inner_->on_drained(); }
  uint64_t deadline() const noexcept override;
  void on_timeout() override;
  bool drain_waiting() const noexcept override { return !handshake_due() && inner_->drain_waiting(); }
  /// The protocol's turn, then the records already received that it can take again.
  void on_later() override;
  void shed_output() noexcept override;
  void drain() override { inner_->drain(); }
  void close_idle() override { inner_->close_idle(); }
  void on_transport_closed() override { inner_->on_transport_closed(); }
  void release() noexcept override;

  // --- Transport: the protocol's side (plaintext out) ---
  void send(std::string& out) override { send(out, {}); }
  void send(std::string& out, std::string_view tail) override;
  /// Sends our close_notify, then closes the wire once everything is written.
  void close() override;
  void pause_reading() override { wire_.pause_reading(); }
  void resume_reading() override { wire_.resume_reading(); }
  size_t unsent_bytes() const override { return wire_.unsent_bytes(); }
  /// Files are read and encrypted here, never sent from the page cache.
  ssize_t send_file(int, uint64_t, size_t) override { return -1; }
  std::shared_ptr<const TlsInfo> tls() const override;
  void wake_later() override { wire_.wake_later(); }

 private:
  ~TlsLayer() override = default;
  /// Hands the plaintext OpenSSL holds to the protocol, while the wire takes input.
  void pump();
  void flush_output();
  /// Plain HTTP came to the TLS port: answered in plain HTTP, then the connection closes (what else comes is
  /// discarded).
  void refuse();
  bool handshake_due() const noexcept { return handshake_deadline_ != 0 && env_.now_ms >= handshake_deadline_; }

  TlsConnection tls_;
  Wire& wire_;
  ConnectionEnv& env_;
  std::span<char> plain_;
  Protocol* inner_ = nullptr;
  uint64_t handshake_deadline_;  // the handshake must be done by then (0: done, or refused)
  bool sniffed_ = false;         // the first bytes were looked at
  bool refused_ = false;         // they were plain HTTP: answered, input discarded, output plain
  bool closing_ = false;         // close() was asked (our close_notify is out)
};

}  // namespace tiercel
