// The native Request handed to handlers: views into the connection buffer until the handler keeps it,
// Python containers built only on first access.
#pragma once

#include <memory>
#include <tuple>

#include "bindings/py_types.h"
#include "core/http1_connection.h"
#include "core/tls.h"

namespace tiercel::py {

struct SessionSettings;

class Request {
 public:
  std::string_view method, path, query, host, body, peer_ip;
  std::string_view scheme = "http";
  const std::vector<http1::Header>* headers = nullptr;
  const std::vector<PathParam>* params = nullptr;
  /// The app's global request headers (name, value, replace): applied when `headers` is first built.
  std::shared_ptr<const std::vector<std::tuple<std::string, std::string, bool>>> extra_headers;

  // Built on first access and cached.
  nb::object py_method, py_path, py_url, py_headers, py_query, py_params, py_body, py_raw_body, py_cookies;
  // Set by the engine (authentication, sessions) or by hooks; None until then.
  nb::object py_identity, py_session, py_form, py_files;
  nb::object py_file_lists;  // field name -> [UploadFile, ...]: every file of a repeated field
  /// request.stream()'s RequestBodyStream; on a stream_body route (body_streamed) the only way to the body.
  nb::object py_stream;
  /// The handler's BackgroundTasks (a parameter annotated so), taken by the engine once the answer is written.
  nb::object py_background;
  bool body_streamed = false;
  /// The connection's TLS (null for plain TCP): request.tls and request.client_cert.
  std::shared_ptr<const TlsInfo> tls;
  /// The app's session settings (null without sessions), the JSON of the session as loaded, whether a session
  /// cookie came with the request.
  std::shared_ptr<const SessionSettings> sessions;
  std::string session_loaded_json;
  bool session_cookie_sent = false;

  // The Python-facing attributes, built on first access (the engine fills handler arguments with them).
  nb::object get_method();
  nb::object get_url();
  nb::object get_headers();
  nb::object get_query();  ///< a QueryParams
  nb::object get_path_params();
  nb::object get_body();
  nb::object get_raw_body();
  nb::object get_cookies();
  nb::object get_ip_addr();
  nb::object get_session();
  nb::object get_form_data();  ///< dict of the urlencoded or multipart fields (a 400 HTTPException if malformed)
  nb::object get_files();      ///< dict of the multipart files: field name -> UploadFile
  nb::object files_named(nb::handle field);  ///< every file uploaded under `field` (a list, maybe empty)
  /// The decoded query values named `name`, in order.
  std::vector<std::string_view> query_values(std::string_view name);

  /// Copies every view into storage of its own, so the Request outlives the connection buffer.
  void detach();
  bool detached() const noexcept { return owned_ != nullptr; }

 private:
  struct Owned {
    std::string data;
    std::vector<http1::Header> headers;
    std::vector<PathParam> params;
  };
  std::unique_ptr<Owned> owned_;
};

/// Raises (a RuntimeError saying to use request.stream()) when the body of `r` is streamed, not read whole.
void check_whole_body(const Request& r);

/// A Python Request viewing `req` (valid while `req` is).
nb::object make_request(const RoutedRequest& req);
/// A detached Request for `method path` with no headers or body (used to render const routes once).
nb::object make_synthetic_request(std::string_view method, std::string_view path);

}  // namespace tiercel::py
