// What a connection carries, as its transport sees it: bytes in, and the transport's events (written, peer's end,
// deadlines, shutdown). HTTP/1.1 (Http1Connection) and HTTP/2 (Http2Connection) implement it, and so do the layers a
// transport puts between itself and them (TlsLayer, HttpSwitch), so a transport never asks which one it carries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace tiercel {

struct TlsInfo;  // core/tls.h

/// The protocol side of a connection. Its transport (a Transport it was made with) is where it sends.
class Protocol {
 public:
  // --- input ---
  /// Where the transport's next read goes: the protocol's own buffer, when it keeps part of a message whose rest
  /// belongs after it; {nullptr, 0} when it takes its input from the loop's shared buffer (on_input()).
  virtual std::pair<char*, size_t> own_input_space() { return {nullptr, 0}; }
  /// `n` bytes were read into own_input_space().
  virtual void on_own_input(size_t n) { (void)n; }
  /// `n` bytes at `data`, in a buffer the caller reuses for every connection of the loop: the protocol may rewrite
  /// them in place, and keeps (copies) what it needs after the call.
  virtual void on_input(char* data, size_t n) = 0;
  /// Whether input the protocol (or a layer of it) holds has not been read yet (TLS records already received).
  virtual bool holds_unread_input() const noexcept { return false; }
  /// The peer will send nothing more (EOF, TLS close_notify), and the transport was not asked to close.
  virtual void on_eof() = 0;

  // --- output ---
  /// Output that was over the write watermark has been written.
  virtual void on_drained() = 0;

  // --- time ---
  /// Loop time in ms at which on_timeout() should run; 0 for none.
  virtual uint64_t deadline() const noexcept = 0;
  /// deadline() has passed.
  virtual void on_timeout() = 0;
  /// Draining, between requests, in the grace before on_timeout() closes: input already waiting in the transport
  /// should be read first.
  virtual bool drain_waiting() const noexcept { return false; }
  /// The loop's next turn, asked for with Transport::wake_later().
  virtual void on_later() {}
  /// Frees output buffers a large answer grew, where nothing waits in them (once a second).
  virtual void shed_output() noexcept {}

  // --- shutdown ---
  /// Graceful shutdown: the work in progress finishes, nothing new is started, then the connection closes.
  virtual void drain() = 0;
  /// Closes now if nothing is in progress; otherwise after the work in progress.
  virtual void close_idle() = 0;
  /// The transport is gone for good: pending work is cancelled, nothing is sent any more.
  virtual void on_transport_closed() = 0;
  /// The transport lets go (after on_transport_closed()): the protocol is freed, now or once the deferred work that
  /// holds it ends.
  virtual void release() noexcept = 0;

  // --- layers ---
  /// The TLS handshake below completed; `info.alpn` is the protocol it agreed on.
  virtual void on_secured(const TlsInfo& info) { (void)info; }

 protected:
  virtual ~Protocol() = default;  // freed through release()
};

}  // namespace tiercel
