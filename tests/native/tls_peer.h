// Test support for TLS: self-signed certificates made at run time (EC P-256, written with their key to one PEM file)
// and an OpenSSL client over memory BIOs whose bytes a test carries to and from the server by hand.
#pragma once

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace tiercel::testing {

/// A self-signed certificate for `names` (the first is also the CN), written with its key to one PEM file.
inline std::string make_certificate(const std::vector<std::string>& names) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), static_cast<long>(names.size() * 1000 + names[0].size()));
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(names[0].c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(cert, subject);
  std::string san;
  for (const auto& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(cert, key, EVP_sha256());
  std::string path = (std::filesystem::temp_directory_path() / "tiercel-tls-test-XXXXXX").string();
  int fd = mkstemp(path.data());
  FILE* f = fdopen(fd, "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_X509(f, cert);
  fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
  return path;
}

/// Two certificates: "a.test" (also localhost) and "b.test" (also *.wild.test); the files go with the object.
struct TestCertificates {
  std::string a = make_certificate({"a.test", "localhost"});
  std::string b = make_certificate({"b.test", "*.wild.test"});
  ~TestCertificates() {
    unlink(a.c_str());
    unlink(b.c_str());
  }
};

/// An OpenSSL client over memory BIOs that trusts nothing (verification is not what is tested here).
class TlsClient {
 public:
  explicit TlsClient(const char* server_name = nullptr, const std::vector<std::string>& alpn = {}) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_connect_state(ssl_);
    if (server_name) SSL_set_tlsext_host_name(ssl_, server_name);
    if (!alpn.empty()) {
      std::string wire;
      for (const auto& p : alpn) wire += static_cast<char>(p.size()) + p;
      SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                          static_cast<unsigned>(wire.size()));
    }
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  std::string take_output() {
    std::string s;
    char buf[16384];
    int n;
    while ((n = BIO_read(out_, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
    return s;
  }
  void put(const std::string& wire) { BIO_write(in_, wire.data(), static_cast<int>(wire.size())); }
  bool handshake() { return SSL_do_handshake(ssl_) == 1; }
  void write(const std::string& s) { SSL_write(ssl_, s.data(), static_cast<int>(s.size())); }
  std::string read() {
    std::string s;
    char buf[16384];
    int n;
    while ((n = SSL_read(ssl_, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
    return s;
  }
  std::string peer_cn() {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    return cn;
  }
  std::string alpn() {
    const unsigned char* p = nullptr;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl_, &p, &n);
    return p ? std::string(reinterpret_cast<const char*>(p), n) : "";
  }
  SSL* ssl_;

 private:
  SSL_CTX* ctx_;
  BIO* in_;
  BIO* out_;
};

}  // namespace tiercel::testing
