// Signed cookie sessions.
#include "bindings/sessions.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bindings/request.h"

namespace tiercel::py {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kMaxCookie = 4096;  // what browsers keep of one cookie (RFC 6265 §6.1 asks for at least this)
constexpr long long kClockSkew = 60;  // seconds a cookie may claim to come from the future

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

}  // namespace

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                 static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                 static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  size_t rest = in.size() - i;
  if (rest) {
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (rest == 2) v |= static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    if (rest == 2) out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

bool base64url_decode(std::string_view in, std::string& out) {
  if (in.size() % 4 == 1) return false;
  out.clear();
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = b64_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero: one text per value, so a signature cannot be re-spelled.
  return (acc & ((1u << bits) - 1)) == 0;
}

std::string SessionSettings::sign(std::string_view json, std::time_t now) const {
  std::string payload = base64url_encode(json) + "." + std::to_string(static_cast<long long>(now));
  return payload + "." + base64url_encode(hmac_sha256(key, payload));
}

bool SessionSettings::verify(std::string_view value, std::time_t now, std::string& json) const {
  size_t last = value.rfind('.');
  if (last == std::string_view::npos) return false;
  std::string_view payload = value.substr(0, last);
  std::string sig;
  if (!base64url_decode(value.substr(last + 1), sig)) return false;
  std::string expected = hmac_sha256(key, payload);
  if (sig.size() != expected.size() || CRYPTO_memcmp(sig.data(), expected.data(), sig.size()) != 0) return false;
  size_t dot = payload.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string_view ts = payload.substr(dot + 1);
  if (ts.empty() || ts.size() > 18) return false;
  long long issued = 0;
  for (char c : ts) {
    if (c < '0' || c > '9') return false;
    issued = issued * 10 + (c - '0');
  }
  long long t = static_cast<long long>(now);
  if (issued > t + kClockSkew || t - issued > max_age) return false;
  return base64url_decode(payload.substr(0, dot), json);
}

nb::object load_session(Request& r) {
  if (r.py_session) return r.py_session;
  if (!r.sessions) {
    throw std::runtime_error(
        "request.session needs sessions: call app.configure_sessions(secret_key) before starting the app");
  }
  nb::dict data;
  r.session_loaded_json.clear();
  nb::object cookies = r.get_cookies();
  PyObject* value = PyDict_GetItemString(cookies.ptr(), r.sessions->cookie_name.c_str());  // borrowed
  std::string json;
  if (value && PyUnicode_Check(value)) {
    Py_ssize_t n = 0;
    const char* text = PyUnicode_AsUTF8AndSize(value, &n);
    if (text && r.sessions->verify(std::string_view(text, static_cast<size_t>(n)), std::time(nullptr), json)) {
      try {
        nb::object loaded = globals().json_loads(nb::bytes(json.data(), json.size()));
        if (PyDict_Check(loaded.ptr())) {
          data = nb::borrow<nb::dict>(loaded);
          r.session_loaded_json = std::move(json);
        }
      } catch (nb::python_error&) {
        // signed by us but not JSON: a key shared with something else; start afresh
      }
    }
    PyErr_Clear();
  }
  r.session_cookie_sent = value != nullptr;
  r.py_session = std::move(data);
  return r.py_session;
}

void append_session_cookie(Request& r, std::string& out) {
  if (!r.py_session || !r.sessions) return;
  const SessionSettings& s = *r.sessions;
  std::string json;
  bool empty = PyDict_Check(r.py_session.ptr()) && PyDict_GET_SIZE(r.py_session.ptr()) == 0;
  if (!empty) {
    try {
      nb::object dumped = globals().json_dumps(r.py_session);
      json.assign(PyBytes_AS_STRING(dumped.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(dumped.ptr())));
    } catch (nb::python_error& e) {
      globals().logger.attr("error")("request.session cannot be stored (not JSON-serialisable): %s",
                                     nb::str(e.what()));
      return;
    }
  }
  if (json == r.session_loaded_json) {
    if (!empty || !r.session_cookie_sent) return;  // unchanged (an invalid cookie that was sent gets removed)
  }
  std::string line = "Set-Cookie: " + s.cookie_name + "=";
  if (empty) {
    line += "; Max-Age=0" + s.attributes + "\r\n";
  } else {
    std::string value = s.sign(json, std::time(nullptr));
    if (value.size() + s.cookie_name.size() + 1 > kMaxCookie) {
      globals().logger.attr("error")(
          "request.session is too large for a cookie (%d bytes signed; browsers keep 4096): store less in it, "
          "or keep the data server-side under a key",
          value.size());
      return;
    }
    line += value + "; Max-Age=" + std::to_string(s.max_age) + s.attributes + "\r\n";
  }
  out.append(line);
}

}  // namespace tiercel::py
