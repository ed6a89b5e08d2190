// TLS with OpenSSL: see tls.h.
#include "core/tls.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <stdexcept>

#include "core/field_syntax.h"

namespace tiercel {

namespace {

// Mozilla's "intermediate" TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 suites are OpenSSL's defaults.
constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// `what`, then OpenSSL's queued reasons (the queue is emptied).
std::string openssl_error(const std::string& what) {
  std::string out = what;
  const char* sep = ": ";
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out.append(sep).append(buf);
    sep = "; ";
  }
  return out;
}

std::string asn1_text(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
}

/// The DNS names of a certificate's subjectAltName, else its CN, lower-cased.
std::vector<std::string> dns_names(X509* cert, bool cn_fallback) {
  std::vector<std::string> out;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type == GEN_DNS) out.push_back(ascii_lower(asn1_text(n->d.dNSName)));
    }
    GENERAL_NAMES_free(sans);
  }
  if (out.empty() && cn_fallback) {
    X509_NAME* subject = X509_get_subject_name(cert);
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at >= 0) out.push_back(ascii_lower(asn1_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)))));
  }
  return out;
}

/// Whether `name` (lower-case) is covered by `pattern` ("host.example.com" or "*.example.com", one label).
bool name_matches(std::string_view pattern, std::string_view name) {
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    size_t dot = name.find('.');
    return dot != std::string_view::npos && dot > 0 && name.substr(dot) == pattern.substr(1);
  }
  return pattern == name;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

int password_callback(char* buf, int size, int, void* userdata) {
  const auto* password = static_cast<const std::string*>(userdata);
  if (!password || password->empty()) return 0;
  int n = static_cast<int>(std::min<size_t>(static_cast<size_t>(size), password->size()));
  std::memcpy(buf, password->data(), static_cast<size_t>(n));
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// TlsContext

std::shared_ptr<TlsContext> TlsContext::create(const TlsSettings& settings) {
  if (settings.certificates.empty()) throw std::runtime_error("TLS needs a certificate (ssl_certfile)");
  if (settings.verify_client && settings.ca_file.empty()) {
    throw std::runtime_error("verifying client certificates (ssl_cert_reqs) needs the CAs that sign them (ssl_ca_certs)");
  }
  std::shared_ptr<TlsContext> out(new TlsContext());
  for (const auto& p : settings.alpn) {
    if (p.empty() || p.size() > 255) throw std::runtime_error("an ALPN protocol name is 1 to 255 bytes");
    out->alpn_wire_.push_back(static_cast<char>(p.size()));
    out->alpn_wire_.append(p);
  }
  ERR_clear_error();
  for (const auto& c : settings.certificates) {
    Entry e;
    e.ctx = SSL_CTX_new(TLS_server_method());
    if (!e.ctx) throw std::runtime_error(openssl_error("cannot create a TLS context"));
    out->entries_.push_back(e);  // freed with `out` from here on, whatever fails below
    SSL_CTX* ctx = e.ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // The client's cipher preference wins (Mozilla's intermediate profile): every suite offered is strong, and a
    // device without AES instructions asks for ChaCha20 first.
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);  // idle connections give their record buffers back
    const std::string& ciphers = settings.ciphers.empty() ? std::string(kDefaultCiphers) : settings.ciphers;
    if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
      throw std::runtime_error(openssl_error("ssl_ciphers: no usable cipher in '" + ciphers + "'"));
    }
    SSL_CTX_set_default_passwd_cb(ctx, password_callback);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, const_cast<std::string*>(&c.password));
    if (SSL_CTX_use_certificate_chain_file(ctx, c.cert_file.c_str()) != 1) {
      throw std::runtime_error(openssl_error("cannot load the certificate " + c.cert_file));
    }
    const std::string& key = c.key_file.empty() ? c.cert_file : c.key_file;
    auto mismatch = [&] {
      return std::runtime_error(openssl_error("the private key " + key + " does not match the certificate " +
                                              c.cert_file));
    };
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) throw mismatch();
      throw std::runtime_error(openssl_error("cannot load the private key " + key +
                                             (c.password.empty() ? " (if it is encrypted, give ssl_keyfile_password)"
                                                                 : " (is ssl_keyfile_password right?)")));
    }
    SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);  // the password is not kept
    if (SSL_CTX_check_private_key(ctx) != 1) throw mismatch();
    // Resumption: a server-side session cache for TLS 1.2 session ids; tickets (TLS 1.2 and 1.3) are on by default.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    static const unsigned char kSessionContext[] = "tiercel";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    if (settings.verify_client) {
      if (SSL_CTX_load_verify_locations(ctx, settings.ca_file.c_str(), nullptr) != 1) {
        throw std::runtime_error(openssl_error("cannot load the CA certificates " + settings.ca_file));
      }
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.ca_file.c_str())) {
        SSL_CTX_set_client_CA_list(ctx, names);
      }
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (settings.verify_client == 2 ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                         nullptr);
    }
    if (!out->alpn_wire_.empty()) SSL_CTX_set_alpn_select_cb(ctx, on_alpn, out.get());
    X509* cert = SSL_CTX_get0_certificate(ctx);
    out->entries_.back().names = dns_names(cert, true);
  }
  SSL_CTX_set_tlsext_servername_callback(out->default_ctx(), on_server_name);
  SSL_CTX_set_tlsext_servername_arg(out->default_ctx(), out.get());
  return out;
}

TlsContext::~TlsContext() {
  for (auto& e : entries_) SSL_CTX_free(e.ctx);
}

std::vector<std::vector<std::string>> TlsContext::names() const {
  std::vector<std::vector<std::string>> out;
  for (const auto& e : entries_) out.push_back(e.names);
  return out;
}

SSL_CTX* TlsContext::for_server_name(std::string_view name) const noexcept {
  std::string host = ascii_lower(name);
  for (const auto& e : entries_) {  // exact names first, then wildcards
    for (const auto& n : e.names) {
      if (n == host) return e.ctx;
    }
  }
  for (const auto& e : entries_) {
    for (const auto& n : e.names) {
      if (name_matches(n, host)) return e.ctx;
    }
  }
  return entries_.front().ctx;
}

int TlsContext::on_server_name(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const TlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name && self->entries_.size() > 1) {
    SSL_CTX* ctx = self->for_server_name(name);
    if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  }
  return SSL_TLSEXT_ERR_OK;
}

int TlsContext::on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                        unsigned int inlen, void* arg) {
  const auto* self = static_cast<const TlsContext*>(arg);
  unsigned char* selected = nullptr;
  const auto* server = reinterpret_cast<const unsigned char*>(self->alpn_wire_.data());
  // The server's order of preference decides among what the client offers.
  if (SSL_select_next_proto(&selected, outlen, server, static_cast<unsigned>(self->alpn_wire_.size()), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // nothing in common: go on without ALPN (HTTP/1.1)
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// ---------------------------------------------------------------------------------------------
// TlsConnection

TlsConnection::TlsConnection(std::shared_ptr<const TlsContext> context) : context_(std::move(context)) {
  ssl_ = SSL_new(context_->default_ctx());
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !rbio_ || !wbio_) {
    if (rbio_) BIO_free(rbio_);
    if (wbio_) BIO_free(wbio_);
    if (ssl_) SSL_free(ssl_);
    ssl_ = nullptr;
    failed_ = true;
    error_ = "out of memory for a TLS connection";
    return;
  }
  BIO_set_mem_eof_return(rbio_, -1);  // an empty input is "want more", not end of file
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_accept_state(ssl_);
}

TlsConnection::~TlsConnection() {
  if (ssl_) SSL_free(ssl_);  // frees the BIOs too
}

void TlsConnection::put_wire(std::string_view data) {
  if (ssl_ && !data.empty()) BIO_write(rbio_, data.data(), static_cast<int>(data.size()));
}

void TlsConnection::collect_output() {
  while (size_t n = BIO_ctrl_pending(wbio_)) {
    size_t old = out_.size();
    out_.resize(old + n);
    int got = BIO_read(wbio_, out_.data() + old, static_cast<int>(n));
    out_.resize(old + static_cast<size_t>(got > 0 ? got : 0));
    if (got <= 0) break;
  }
}

void TlsConnection::fail() {
  failed_ = true;
  if (error_.empty()) error_ = openssl_error("TLS failed");
  ERR_clear_error();
  collect_output();  // the alert, if OpenSSL made one
}

bool TlsConnection::handshake() {
  if (done_) return true;
  if (failed_) return false;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  collect_output();
  if (r == 1) {
    done_ = true;
    fill_info();
    return true;
  }
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
  error_ = openssl_error("TLS handshake failed");
  fail();
  return false;
}

long TlsConnection::read_plain(char* buf, size_t size) {
  if (failed_ || !done_) return failed_ ? -1 : 0;
  ERR_clear_error();
  int r = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(size, INT_MAX)));
  collect_output();  // TLS 1.3 may answer (a key update) while reading
  if (r > 0) return r;
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  if (e != SSL_ERROR_ZERO_RETURN) {
    error_ = openssl_error("TLS record refused");
    fail();
  }
  return -1;
}

bool TlsConnection::has_buffered_input() const noexcept {
  return ssl_ && (SSL_pending(ssl_) > 0 || BIO_ctrl_pending(rbio_) > 0);
}

bool TlsConnection::write_plain(std::string_view data) {
  if (failed_ || !done_) return false;
  ERR_clear_error();
  while (!data.empty()) {  // a memory BIO takes everything: SSL_write writes whole records
    int n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), INT_MAX)));
    if (n <= 0) {
      error_ = openssl_error("TLS write failed");
      fail();
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  collect_output();
  return true;
}

void TlsConnection::close_notify() {
  if (!ssl_ || failed_ || !done_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
  collect_output();
}

std::string& TlsConnection::output() { return out_; }

void TlsConnection::fill_info() {
  auto info = std::make_shared<TlsInfo>();
  info_ = info;
  TlsInfo& t = *info;
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  if (alpn) t.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) t.server_name = name;
  t.version = SSL_get_version(ssl_);
  if (const char* cipher = SSL_get_cipher_name(ssl_)) t.cipher = cipher;
  t.resumed = SSL_session_reused(ssl_) == 1;
  X509* peer = SSL_get1_peer_certificate(ssl_);
  if (!peer) return;
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio) {
    auto text = [&](auto write) {
      (void)BIO_reset(bio);
      write();
      return bio_text(bio);
    };
    t.peer_cert_pem = text([&] { PEM_write_bio_X509(bio, peer); });
    t.peer_subject = text([&] { X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253); });
    t.peer_issuer = text([&] { X509_NAME_print_ex(bio, X509_get_issuer_name(peer), 0, XN_FLAG_RFC2253); });
    t.peer_not_before = text([&] { ASN1_TIME_print(bio, X509_get0_notBefore(peer)); });
    t.peer_not_after = text([&] { ASN1_TIME_print(bio, X509_get0_notAfter(peer)); });
    BIO_free(bio);
  }
  if (BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), nullptr)) {
    if (char* hex = BN_bn2hex(serial)) {
      t.peer_serial = hex;
      OPENSSL_free(hex);
    }
    BN_free(serial);
  }
  t.peer_dns_names = dns_names(peer, false);
  X509_free(peer);
}

}  // namespace tiercel
