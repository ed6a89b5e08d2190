// request.stream() and request.form() for routes with stream_body=True: the body handed to the handler as it
// arrives, with backpressure (the connection is not read further while the handler has not taken what came).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "bindings/py_types.h"
#include "bindings/request.h"
#include "core/http1_connection.h"

namespace tiercel::py {

class FormBuilder;

/// The body of one request as an async iterator of bytes, or fed to a form parser (request.form()).
class RequestBodyStream : public BodySink {
 public:
  /// A streamed body, read from `connection` as it arrives (the stream keeps the connection alive).
  explicit RequestBodyStream(Responder* conn);
  /// A body already read whole: one piece.
  explicit RequestBodyStream(std::string_view whole);
  ~RequestBodyStream() override;
  RequestBodyStream(const RequestBodyStream&) = delete;
  RequestBodyStream& operator=(const RequestBodyStream&) = delete;

  bool on_body(std::string_view data) override;
  void on_body_end() override;
  void on_body_error(int status, std::string_view message) override;

  /// `__anext__`: an awaitable of the next piece (StopAsyncIteration at the end).
  nb::object anext();
  /// An awaitable of form_data, the body being parsed as it arrives (`content_type` is the request's).
  nb::object form(std::string_view content_type);
  /// form_data (`files` false) or files once form() completed; None before.
  nb::object form_result(bool files) const { return files ? files_ : form_data_; }

 private:
  enum class Mode : uint8_t { kNone, kStream, kForm };
  nb::object take_buffered();
  nb::object error_object() const;
  void complete_form();
  void fail_form();

  Responder* conn_ = nullptr;
  Mode mode_ = Mode::kNone;
  std::string buffered_;   // received and not taken yet
  bool full_ = false;      // on_body said "enough": resume the connection once taken
  bool ended_ = false;
  int error_status_ = -1;  // set by on_body_error (0: the client left)
  std::string error_message_;
  nb::object waiter_;      // the future a reader waits on
  std::unique_ptr<FormBuilder> form_;
  nb::object form_future_, form_data_, files_;
};

/// Gives a streamed route's Request its body stream, and the connection its sink.
void attach_body_stream(nb::handle request, Responder& conn);
/// request.form_data / request.files of a streamed route: once `await request.form()` is done.
nb::object streamed_form(Request& r, bool files);
void bind_request_body_stream(nb::class_<Request>& request_class, nb::module_& m);

}  // namespace tiercel::py
