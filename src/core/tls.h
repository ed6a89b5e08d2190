// TLS for the TCP transport (the system's OpenSSL): a server context (certificates chosen by SNI, ALPN, optional
// client-certificate verification, session resumption) and a per-connection engine over memory BIOs, so libuv
// keeps doing the socket I/O and the HTTP session keeps seeing plaintext.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace tiercel {

struct TlsCertificate {
  std::string cert_file;  ///< PEM: the certificate, then its chain
  std::string key_file;   ///< PEM private key ("" when it is in cert_file)
  std::string password;   ///< of an encrypted key
};

struct TlsSettings {
  /// The first is used when the client names no host (or one no certificate covers); the others are chosen by
  /// Server Name Indication against the DNS names (or the CN) of each certificate.
  std::vector<TlsCertificate> certificates;
  std::string ca_file;              ///< CAs whose client certificates are accepted (mTLS)
  int verify_client = 0;            ///< 0: no client certificate; 1: asked, verified if sent; 2: required
  std::string ciphers;              ///< TLS 1.2 cipher list (OpenSSL syntax); "" for the modern default
  std::vector<std::string> alpn = {"http/1.1"};  ///< protocols offered, in the server's order of preference
};

/// The server side of TLS: one SSL_CTX per certificate. Immutable once made; a reload makes a new one (the
/// connections already open keep theirs).
class TlsContext {
 public:
  /// Loads and checks every certificate and key; throws std::runtime_error saying which file is wrong and why.
  static std::shared_ptr<TlsContext> create(const TlsSettings& settings);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* default_ctx() const noexcept { return entries_.front().ctx; }
  /// The names (lower-case DNS names, "*.example.com" for wildcards) each certificate covers.
  std::vector<std::vector<std::string>> names() const;

 private:
  TlsContext() = default;
  struct Entry {
    SSL_CTX* ctx = nullptr;
    std::vector<std::string> names;
  };
  SSL_CTX* for_server_name(std::string_view name) const noexcept;
  static int on_server_name(SSL* ssl, int* alert, void* arg);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                     unsigned int inlen, void* arg);

  std::vector<Entry> entries_;
  std::string alpn_wire_;  // the offered protocols in ALPN's wire format (length-prefixed)
};

/// What a handshake settled, for the request (`request.url.scheme`, `request.client_cert`).
struct TlsInfo {
  std::string alpn;           ///< the protocol agreed ("http/1.1", "h2"), or "" when ALPN was not used
  std::string server_name;    ///< the SNI host name the client asked for, or ""
  std::string version;        ///< "TLSv1.3", "TLSv1.2"
  std::string cipher;
  bool resumed = false;       ///< the session was resumed (no full handshake)
  std::string peer_cert_pem;  ///< the client's certificate, when it sent one (verified as the context requires)
  std::string peer_subject, peer_issuer, peer_serial, peer_not_before, peer_not_after;
  std::vector<std::string> peer_dns_names;
};

/// One connection's TLS: ciphertext in with put_wire(), plaintext out with read_plain(); plaintext in with
/// write_plain(), ciphertext out in output().
class TlsConnection {
 public:
  explicit TlsConnection(std::shared_ptr<const TlsContext> context);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  /// Ciphertext received from the peer.
  void put_wire(std::string_view data);
  /// Advances the handshake: true once it is done (info() is then filled); false while it needs more bytes or
  /// after it failed (failed() tells). Bytes to send appear in output().
  bool handshake();
  /// Plaintext decrypted into `buf`: > 0 bytes, 0 when more ciphertext is needed, -1 when the peer closed TLS
  /// (close_notify) or it failed.
  long read_plain(char* buf, size_t size);
  /// Whether decrypted bytes (or whole records) are waiting for read_plain().
  bool has_buffered_input() const noexcept;
  /// Encrypts `data`; the records are appended to output().
  bool write_plain(std::string_view data);
  /// Queues our close_notify.
  void close_notify();
  /// Ciphertext waiting to be sent (moved out by the transport).
  std::string& output();

  bool handshake_done() const noexcept { return done_; }
  bool failed() const noexcept { return failed_; }
  /// Why the handshake or a record failed (OpenSSL's reason).
  const std::string& error() const noexcept { return error_; }
  /// Set once the handshake is done.
  const std::shared_ptr<const TlsInfo>& info() const noexcept { return info_; }

 private:
  void collect_output();
  void fail();
  void fill_info();

  std::shared_ptr<const TlsContext> context_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;
  std::string out_;
  std::string error_;
  std::shared_ptr<const TlsInfo> info_;
  bool done_ = false;
  bool failed_ = false;
};

/// Whether the first bytes of a connection look like a TLS handshake (a ClientHello record), as opposed to
/// plain HTTP sent to a TLS port. Needs at least one byte.
inline bool looks_like_tls(std::string_view first) noexcept { return !first.empty() && first[0] == 0x16; }

}  // namespace tiercel
