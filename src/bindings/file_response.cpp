// serve_file() and its FileResponse: what a handler returns to have C++ send a file, with the headers and status
// an after-request hook may set on it (Robyn's FileResponse names).
#include "bindings/py_types.h"

namespace tiercel::py {

void bind_file_response(nb::module_& m) {
  nb::class_<FileResponse>(m, "FileResponse",
                           "A file answered by C++: serve_file(path, file_name=None). Hooks may set `headers` "
                           "and `status_code`.")
      .def_ro("path", &FileResponse::path)
      .def_prop_ro(
          "file_path", [](const FileResponse& f) { return f.path; }, "The file's path (Robyn's name for `path`).")
      .def_ro("file_name", &FileResponse::file_name)
      .def_prop_rw(
          "status_code", [](const FileResponse& f) { return f.status_code; },
          [](FileResponse& f, int status_code) {
            if (status_code < 100 || status_code > 999) throw nb::value_error("status_code must be between 100 and 999");
            f.status_code = status_code;
          },
          "Replaces the 200 of a full answer (a 206, 304, 404 or 416 is the file's own).")
      .def_prop_rw(
          "headers", [](const FileResponse& f) { return f.headers; },
          [](FileResponse& f, nb::handle h) {
            Headers tmp;
            tmp.update_from(h);
            f.headers = nb::cast(std::move(tmp));
          },
          "Sent with the file's own headers; a name in both is sent once, with this value.")
      .def("__repr__", [](const FileResponse& f) { return "<FileResponse " + f.path + ">"; });
  m.def(
      "serve_file",
      [](nb::object path, nb::object file_name) {
        nb::object fs = nb::module_::import_("os").attr("fspath")(path);
        FileResponse f;
        f.path = nb::cast<std::string>(fs);
        // As Robyn: always a download, named `file_name` or the file's own name.
        f.file_name = file_name.is_none() ? nb::cast<std::string>(nb::module_::import_("os.path").attr("basename")(fs))
                                          : nb::cast<std::string>(file_name);
        f.headers = nb::cast(Headers{});
        return f;
      },
      nb::arg("path"), nb::arg("file_name").none() = nb::none(),
      nb::sig("def serve_file(path: str | os.PathLike[str], file_name: str | None = None) -> FileResponse"),
      "The file at `path`, sent by C++ in chunks with Content-Type, ETag, Last-Modified, 304s and Range support; "
      "sent as a download (Content-Disposition: attachment) named `file_name`, or the file's own name as in Robyn.");
}

}  // namespace tiercel::py
