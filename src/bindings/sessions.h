// Signed cookie sessions: request.session is a dict kept in a cookie the client cannot forge (HMAC-SHA256 over
// the JSON and the time it was issued). Loaded on first access, written back only when it changed.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "bindings/py_types.h"

namespace tiercel::py {

class Request;

struct SessionSettings {
  std::string key;          // the HMAC key
  std::string cookie_name;
  std::string attributes;   // "; Path=/; HttpOnly; SameSite=Lax..." (everything after the value but Max-Age)
  long long max_age = 0;    // seconds a cookie is valid after it was issued

  /// The cookie value for `json` issued at `now`: base64url(json) "." now "." base64url(HMAC).
  std::string sign(std::string_view json, std::time_t now) const;
  /// The JSON of a cookie value with a valid signature, issued no more than max_age ago; false otherwise.
  bool verify(std::string_view value, std::time_t now, std::string& json) const;
};

/// request.session: the dict of the request's session cookie (an empty dict when there is none or it is not
/// valid). Raises RuntimeError when the app has no sessions configured.
nb::object load_session(Request& r);
/// Appends the Set-Cookie line that stores request.session when the handler changed it (nothing otherwise,
/// nor when the session was never read). A session that cannot be stored is logged and left out.
void append_session_cookie(Request& r, std::string& out);

std::string base64url_encode(std::string_view in);
/// False when `in` is not unpadded base64url.
bool base64url_decode(std::string_view in, std::string& out);

}  // namespace tiercel::py
