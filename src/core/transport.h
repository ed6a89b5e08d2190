// The transport under an HTTP/1.1 connection (TCP, TLS, an HTTP/2 stream, memory): what the connection sends through
// and how it asks for more input.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tiercel {

struct TlsInfo;  // core/tls.h

/// Clears a buffer whose bytes were sent. One that grew past a few answers' worth is freed instead of kept: a
/// connection that once sent a large answer does not hold that much memory while it waits for the next request.
/// (Not after every send: a connection that pipelines would allocate its output anew for each batch.)
inline void clear_sent(std::string& buffer) noexcept {
  constexpr size_t kKept = 2048;
  if (buffer.capacity() > kKept) {
    std::string().swap(buffer);
  } else {
    buffer.clear();
  }
}

/// The transport behind a connection.
class Transport {
 public:
  virtual ~Transport() = default;
  /// Sends the bytes of `out` and clears it.
  virtual void send(std::string& out) = 0;
  /// Sends `out` then `tail` and clears `out`. `tail` need only live during the call: a transport that can
  /// write it at once sends it from the caller's memory, and copies only what it cannot.
  virtual void send(std::string& out, std::string_view tail) {
    out.append(tail);
    send(out);
  }
  /// Closes once everything handed to send() has been written.
  virtual void close() = 0;
  virtual void pause_reading() = 0;
  virtual void resume_reading() = 0;
  /// Bytes handed to send() and not yet written.
  virtual size_t unsent_bytes() const = 0;
  /// How many answers share this transport's write watermark (HTTP/2: the streams open on the connection).
  virtual size_t write_sharers() const { return 1; }
  /// Sends up to `count` bytes of the file `fd` from `offset` from the kernel's page cache (sendfile), when the
  /// socket takes them now and nothing is queued before them. Returns the bytes sent, 0 when it cannot now, or -1
  /// when this transport does not send files (the caller reads the file and send()s it instead).
  virtual ssize_t send_file(int fd, uint64_t offset, size_t count) {
    (void)fd;
    (void)offset;
    (void)count;
    return -1;
  }
  /// What the TLS handshake settled, when the connection is TLS (null for plain TCP).
  virtual std::shared_ptr<const TlsInfo> tls() const { return nullptr; }
  /// Asks to be called back from the loop's next turn (an HTTP/2 connection's on_later()), outside every call in
  /// progress. Transports that carry no HTTP/2 connection need not.
  virtual void wake_later() {}
};

}  // namespace tiercel
