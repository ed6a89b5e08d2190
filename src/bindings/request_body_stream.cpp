// request.stream() and request.form(): see request_body_stream.h.
#include "bindings/request_body_stream.h"

#include "bindings/forms.h"
#include "core/cors.h"  // find_header

namespace tiercel::py {

namespace {

constexpr size_t kHighWater = 1 << 20;     // bytes a stream holds before the connection stops being read
constexpr size_t kMaxStreamedField = 1 << 20;  // a form field that is not a file, in a streamed form

nb::object running_loop() { return globals().get_running_loop(); }

nb::object done_future(nb::handle value) {
  nb::object f = running_loop().attr("create_future")();
  f.attr("set_result")(value);
  return f;
}

bool pending(const nb::object& f) { return f && !nb::cast<bool>(f.attr(globals().s_done)()); }

/// Settles the future in `slot` and lets it go: the awaiting task holds it, and keeping it (an exception's
/// traceback holds the handler's frame, which holds the request, which holds this stream) would make a cycle the
/// garbage collector cannot see through native objects.
void settle(nb::object& slot, const char* method, nb::handle value) {
  nb::object f = std::move(slot);
  slot = nb::object();
  if (pending(f)) f.attr(method)(value);
}

[[noreturn]] void raise_object(const nb::object& exc) {
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw nb::python_error();
}

const char* const kStreamedBody =
    "this route streams its request body (stream_body=True): read it with `async for chunk in request.stream()` "
    "or `await request.form()`";

}  // namespace

RequestBodyStream::RequestBodyStream(Responder* conn) : conn_(conn) { conn_->retain(); }

RequestBodyStream::RequestBodyStream(std::string_view whole) : buffered_(whole), ended_(true) {}

RequestBodyStream::~RequestBodyStream() {
  if (conn_) {
    conn_->drop_body_sink(this);
    conn_->release();
  }
}

bool RequestBodyStream::on_body(std::string_view data) {
  if (mode_ == Mode::kForm) {
    if (form_->feed(data)) return true;
    fail_form();
    return false;  // the handler answers the error; the connection reads no further
  }
  buffered_.append(data);
  if (pending(waiter_)) settle(waiter_, "set_result", take_buffered());
  full_ = buffered_.size() >= kHighWater;
  return !full_;
}

void RequestBodyStream::on_body_end() {
  ended_ = true;
  if (mode_ == Mode::kForm) return complete_form();
  if (buffered_.empty()) settle(waiter_, "set_exception", nb::handle(PyExc_StopAsyncIteration)());
}

void RequestBodyStream::on_body_error(int status, std::string_view message) {
  if (ended_ || error_status_ >= 0) return;
  error_status_ = status;
  error_message_ = message;
  if (waiter_) settle(waiter_, "set_exception", error_object());
  if (form_future_) settle(form_future_, "set_exception", error_object());
}

nb::object RequestBodyStream::error_object() const {
  nb::str text(error_message_.data(), error_message_.size());
  nb::handle type = globals().client_error ? globals().client_error : globals().http_exception;
  if (error_status_ > 0 && type) return type(error_status_, text);
  return nb::handle(PyExc_ConnectionResetError)(text);
}

nb::object RequestBodyStream::take_buffered() {
  nb::bytes chunk(buffered_.data(), buffered_.size());
  if (buffered_.capacity() > 4 * kHighWater) {
    buffered_ = std::string();
  } else {
    buffered_.clear();
  }
  if (full_) {
    full_ = false;
    if (conn_ && !ended_ && error_status_ < 0) conn_->resume_body();  // may feed on_body again at once
  }
  return chunk;
}

nb::object RequestBodyStream::anext() {
  if (mode_ == Mode::kForm) throw std::runtime_error("request.stream() cannot be read after request.form()");
  mode_ = Mode::kStream;
  if (!buffered_.empty()) return done_future(take_buffered());
  if (error_status_ >= 0) raise_object(error_object());
  if (ended_) {
    PyErr_SetNone(PyExc_StopAsyncIteration);
    throw nb::python_error();
  }
  if (pending(waiter_)) throw std::runtime_error("another task is already reading this request's body");
  waiter_ = running_loop().attr("create_future")();
  return waiter_;
}

nb::object RequestBodyStream::form(std::string_view content_type) {
  if (form_future_) return form_future_;  // still reading
  if (mode_ == Mode::kForm) {  // read already: the same outcome again
    if (form_data_) return done_future(form_data_);
    nb::object f = running_loop().attr("create_future")();
    f.attr("set_exception")(error_status_ >= 0 ? error_object() : bad_form_error(form_->error(), form_->error_status()));
    return f;
  }
  if (mode_ == Mode::kStream) throw std::runtime_error("request.form() cannot be used once request.stream() was read");
  mode_ = Mode::kForm;
  form_ = std::make_unique<FormBuilder>(content_type, kMaxStreamedField);
  form_future_ = running_loop().attr("create_future")();
  nb::object result = form_future_;  // complete_form() or resume_body() may settle it right away
  if (!buffered_.empty()) {
    bool ok = form_->feed(buffered_);
    buffered_ = std::string();
    if (!ok) {
      fail_form();
      return result;
    }
  }
  if (ended_) {
    complete_form();
  } else if (error_status_ >= 0) {
    settle(form_future_, "set_exception", error_object());
  } else if (full_) {
    full_ = false;
    conn_->resume_body();
  }
  return result;
}

void RequestBodyStream::complete_form() {
  if (!form_->finish()) return fail_form();
  auto [form, files, lists] = form_->build();
  form_data_ = std::move(form);
  files_ = std::move(files);
  (void)lists;  // a streamed form has no file parameters (they need the whole body)
  settle(form_future_, "set_result", form_data_);
}

void RequestBodyStream::fail_form() {
  if (form_future_) settle(form_future_, "set_exception", bad_form_error(form_->error(), form_->error_status()));
}

void attach_body_stream(nb::handle request, Responder& conn) {
  Request& r = *nb::inst_ptr<Request>(request);
  auto* stream = new RequestBodyStream(&conn);
  r.py_stream = nb::cast(stream, nb::rv_policy::take_ownership);
  r.body_streamed = true;
  conn.set_body_sink(stream);
}

nb::object streamed_form(Request& r, bool files) {
  nb::object result = nb::inst_ptr<RequestBodyStream>(r.py_stream)->form_result(files);
  if (!result) throw std::runtime_error(std::string(kStreamedBody) + "; request.form_data and request.files are "
                                        "ready once `await request.form()` has returned");
  return result;
}

void check_whole_body(const Request& r) {
  if (r.body_streamed) throw std::runtime_error(kStreamedBody);
}

void bind_request_body_stream(nb::class_<Request>& request_class, nb::module_& m) {
  nb::class_<RequestBodyStream>(m, "BodyStream", "A request body as an async iterator of bytes (request.stream()).")
      .def("__aiter__", [](nb::handle self) { return self; })
      .def("__anext__", &RequestBodyStream::anext, nb::sig("def __anext__(self) -> typing.Awaitable[bytes]"));
  request_class
      .def(
          "stream",
          [](Request& r) {
            if (!r.py_stream) r.py_stream = nb::cast(new RequestBodyStream(r.body), nb::rv_policy::take_ownership);
            return r.py_stream;
          },
          nb::sig("def stream(self) -> BodyStream"),
          "The body as an async iterator of bytes: `async for chunk in request.stream()`. On a route declared with "
          "stream_body=True the pieces come as they arrive (the client is read only as fast as they are taken); "
          "elsewhere the body, already read, comes as one piece.")
      .def(
          "form",
          [](Request& r) -> nb::object {
            if (!r.body_streamed) return done_future(r.get_form_data());
            std::string_view type;
            if (r.headers) {
              if (const std::string_view* ct = find_header(*r.headers, "content-type")) type = *ct;
            }
            return nb::inst_ptr<RequestBodyStream>(r.py_stream)->form(type);
          },
          nb::sig("def form(self) -> typing.Awaitable[dict[str, str]]"),
          "`await request.form()`: form_data, with request.files filled too. On a route declared with "
          "stream_body=True the body is parsed as it arrives and files larger than form_spill_size go straight to "
          "temporary files, so an upload of any size takes little memory.");
}

}  // namespace tiercel::py
