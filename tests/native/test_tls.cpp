// GoogleTest suite for core/tls under the sanitizers: a server TlsConnection and an OpenSSL client over memory
// BIOs (tls_peer.h), with certificates made at run time (self-signed, EC P-256).
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/tls.h"
#include "tls_peer.h"

namespace tiercel {
namespace {

using testing::TestCertificates;
using testing::TlsClient;

/// Runs the handshake between `c` and `s` to its end (or failure).
bool connect(TlsClient& c, TlsConnection& s) {
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
  TestCertificates files;
  auto ctx = TlsContext::create(TlsSettings{{{files.a, "", ""}}, "", 0, "", {"h2", "http/1.1"}});
  TlsConnection server(ctx);
  TlsClient client("a.test", {"http/1.1"});
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
  TestCertificates files;
  auto ctx = TlsContext::create(TlsSettings{{{files.a, "", ""}, {files.b, "", ""}}, "", 0, "", {"h2", "http/1.1"}});
  for (auto [name, cn] : {std::pair{"b.test", "b.test"}, {"x.wild.test", "b.test"}, {"a.test", "a.test"},
                          {"nobody.test", "a.test"}}) {
    TlsConnection server(ctx);
    TlsClient client(name, {"http/1.1", "h2"});
    ASSERT_TRUE(connect(client, server)) << name << ": " << server.error();
    EXPECT_EQ(client.peer_cn(), cn) << name;
    EXPECT_EQ(client.alpn(), "h2");  // the server's preference among what the client offers
  }
}

TEST(Tls, GarbageFailsCleanlyWithAReason) {
  TestCertificates files;
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
  TestCertificates files;
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
