// GoogleTest suite for core/tls under the sanitizers: a server TlsConnection and an OpenSSL client over memory
// BIOs, with certificates made here (self-signed, EC P-256).
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/tls.h"

namespace tiercel {
namespace {

/// A self-signed certificate for `names` (the first is also the CN), written with its key to one PEM file.
std::string make_certificate(const std::vector<std::string>& names) {
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
  char path[] = "/tmp/tiercel-tls-test-XXXXXX";
  int fd = mkstemp(path);
  FILE* f = fdopen(fd, "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_X509(f, cert);
  fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
  return path;
}

struct Files {
  std::string a = make_certificate({"a.test", "localhost"});
  std::string b = make_certificate({"b.test", "*.wild.test"});
  ~Files() {
    unlink(a.c_str());
    unlink(b.c_str());
  }
};

/// An OpenSSL client over memory BIOs that trusts nothing (verification is not what is tested here).
class Client {
 public:
  explicit Client(const char* server_name = nullptr, const std::vector<std::string>& alpn = {}) {
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
      SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
    }
  }
  ~Client() {
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

/// Runs the handshake between `c` and `s` to its end (or failure).
bool connect(Client& c, TlsConnection& s) {
  for (int round = 0; round < 10; ++round) {
    bool client_done = c.handshake();
    s.put_wire(c.take_output());
    bool server_done = s.handshake();
    c.put(std::exchange(s.output(), {}));
    if (s.failed()) return false;
    if (client_done && server_done) return true;
  }
  return c.handshake() && s.handshake_done();
}

std::string read_all(TlsConnection& s) {
  std::string out;
  char buf[4096];
  long n;
  while ((n = s.read_plain(buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(Tls, HandshakeDataBothWaysAndCloseNotify) {
  Files files;
  auto ctx = TlsContext::create(TlsSettings{{{files.a, "", ""}}, "", 0, "", {"h2", "http/1.1"}});
  TlsConnection server(ctx);
  Client client("a.test", {"http/1.1"});
  ASSERT_TRUE(connect(client, server)) << server.error();
  EXPECT_EQ(server.info()->alpn, "http/1.1");
  EXPECT_EQ(server.info()->server_name, "a.test");
  EXPECT_EQ(server.info()->version, "TLSv1.3");
  EXPECT_TRUE(server.info()->peer_cert_pem.empty());
  std::string request = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n" + std::string(100000, 'x');
  client.write(request);
  server.put_wire(client.take_output());
  EXPECT_EQ(read_all(server), request);
  ASSERT_TRUE(server.write_plain("HTTP/1.1 200 OK\r\n\r\nhello"));
  client.put(std::exchange(server.output(), {}));
  EXPECT_EQ(client.read(), "HTTP/1.1 200 OK\r\n\r\nhello");
  SSL_shutdown(client.ssl_);
  server.put_wire(client.take_output());
  char buf[16];
  EXPECT_EQ(server.read_plain(buf, sizeof buf), -1);  // close_notify: the peer's end of stream
  EXPECT_FALSE(server.failed());
}

TEST(Tls, SniPicksTheCertificateAndAlpnFollowsTheServer) {
  Files files;
  auto ctx = TlsContext::create(TlsSettings{{{files.a, "", ""}, {files.b, "", ""}}, "", 0, "", {"h2", "http/1.1"}});
  for (auto [name, cn] : {std::pair{"b.test", "b.test"}, {"x.wild.test", "b.test"}, {"a.test", "a.test"},
                          {"nobody.test", "a.test"}}) {
    TlsConnection server(ctx);
    Client client(name, {"http/1.1", "h2"});
    ASSERT_TRUE(connect(client, server)) << name << ": " << server.error();
    EXPECT_EQ(client.peer_cn(), cn) << name;
    EXPECT_EQ(client.alpn(), "h2");  // the server's preference among what the client offers
  }
}

TEST(Tls, GarbageFailsCleanlyWithAReason) {
  Files files;
  auto ctx = TlsContext::create(TlsSettings{{{files.a, "", ""}}, "", 0, "", {"http/1.1"}});
  TlsConnection server(ctx);
  server.put_wire(std::string("\x16\x03\x01\x00\x05hello", 10) + std::string(500, 'z'));
  EXPECT_FALSE(server.handshake());
  EXPECT_TRUE(server.failed());
  EXPECT_NE(server.error().find("TLS handshake failed"), std::string::npos);
  char buf[16];
  EXPECT_EQ(server.read_plain(buf, sizeof buf), -1);
  EXPECT_FALSE(server.write_plain("x"));
}

TEST(Tls, BadSettingsSayWhatIsWrong) {
  Files files;
  auto message = [](const TlsSettings& s) {
    try {
      TlsContext::create(s);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message(TlsSettings{{{"/nonexistent.pem", "", ""}}, "", 0, "", {}}).find("cannot load the certificate"),
            std::string::npos);
  EXPECT_NE(message(TlsSettings{{{files.a, files.b, ""}}, "", 0, "", {}}).find("does not match"), std::string::npos);
  EXPECT_NE(message(TlsSettings{{{files.a, "", ""}}, "", 2, "", {}}).find("ssl_ca_certs"), std::string::npos);
  EXPECT_NE(message(TlsSettings{{{files.a, "", ""}}, "", 0, "NOPE", {}}).find("no usable cipher"), std::string::npos);
  EXPECT_NE(message(TlsSettings{}).find("needs a certificate"), std::string::npos);
}

}  // namespace
}  // namespace tiercel
