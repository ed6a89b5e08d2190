// request.form_data and request.files: urlencoded and multipart bodies, parsed in C++ on first access.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include <nanobind/stl/unique_ptr.h>

#include "bindings/request.h"
#include "core/cors.h"
#include "core/multipart.h"
#include "core/percent.h"

namespace tiercel::py {

namespace {

/// An uploaded file: kept in memory, or (above form_spill_size) in a temporary file removed with the object.
class UploadFile {
 public:
  std::string filename, content_type, field;
  size_t size = 0;
  nb::object memory;  // bytes, when in memory
  std::string path;   // the temporary file, when spilled

  UploadFile() = default;
  UploadFile(const UploadFile&) = delete;
  UploadFile& operator=(const UploadFile&) = delete;
  ~UploadFile() {
    if (!path.empty()) ::unlink(path.c_str());
  }

  nb::object content() const {
    if (memory) return memory;
    std::string data(size, '\0');
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("the upload's temporary file is gone");
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::read(fd, data.data() + done, size - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(fd);
    return nb::bytes(data.data(), done);
  }
};

nb::str text_of(std::string_view s) {
  return nb::steal<nb::str>(PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}

[[noreturn]] void bad_form(const std::string& message) {
  nb::handle type = globals().http_exception;
  if (type) {
    nb::object exc = type(400, nb::str(("Bad form: " + message).c_str()));
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    throw nb::python_error();
  }
  throw nb::value_error(("bad form: " + message).c_str());
}

nb::object spill(std::string_view data) {
  const char* dir = std::getenv("TMPDIR");
  std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/tiercel-upload-XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw std::runtime_error("cannot create a temporary file for an upload");
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmpl.c_str());
      throw std::runtime_error("cannot write an upload's temporary file (disk full?)");
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return nb::str(tmpl.c_str());
}

void parse_form(Request& r) {
  nb::dict form, files;
  std::string_view type;
  if (r.headers) {
    if (const std::string_view* ct = find_header(*r.headers, "content-type")) type = *ct;
  }
  std::string_view base = type.substr(0, type.find(';'));
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  if (ascii_iequal(base, "application/x-www-form-urlencoded")) {
    for (auto& [k, v] : parse_query(r.body)) {
      nb::str key = text_of(k);
      if (!form.contains(key)) form[key] = text_of(v);
    }
  } else if (ascii_iequal(base, "multipart/form-data")) {
    std::string boundary, error;
    if (!multipart_boundary(type, boundary)) bad_form("multipart/form-data without a valid boundary parameter");
    std::vector<MultipartPart> parts;
    if (!parse_multipart(r.body, boundary, MultipartLimits{}, parts, error)) bad_form(error);
    for (auto& p : parts) {
      nb::str key = text_of(p.name);
      if (!p.has_filename) {
        if (!form.contains(key)) form[key] = text_of(p.data);
        continue;
      }
      if (files.contains(key)) continue;
      auto f = std::make_unique<UploadFile>();
      f->filename = p.filename;
      f->content_type = p.content_type.empty() ? "application/octet-stream" : p.content_type;
      f->field = p.name;
      f->size = p.data.size();
      if (p.data.size() > globals().form_spill_size) {
        f->path = nb::cast<std::string>(spill(p.data));
      } else {
        f->memory = nb::bytes(p.data.data(), p.data.size());
      }
      files[key] = nb::cast(std::move(f));
    }
  }
  r.py_form = std::move(form);
  r.py_files = std::move(files);
}

}  // namespace

nb::object Request::get_form_data() {
  if (!py_form) parse_form(*this);
  return py_form;
}

nb::object Request::get_files() {
  if (!py_files) parse_form(*this);
  return py_files;
}

void bind_forms(nb::module_& m) {
  m.def(
      "set_form_spill_size", [](size_t n) { globals().form_spill_size = n; }, nb::arg("size"),
      "Uploaded files larger than `size` bytes are kept in a temporary file instead of memory.");
  nb::class_<UploadFile>(m, "UploadFile", "A file uploaded in a multipart/form-data body.")
      .def_ro("filename", &UploadFile::filename, "The file name the client sent (not a safe path: never join it).")
      .def_ro("content_type", &UploadFile::content_type)
      .def_ro("field", &UploadFile::field, "The form field it came in.")
      .def_ro("size", &UploadFile::size)
      .def_prop_ro("content", &UploadFile::content, nb::sig("def content(self) -> bytes"), "The file's bytes.")
      .def("read", &UploadFile::content, nb::sig("def read(self) -> bytes"), "The file's bytes.")
      .def_prop_ro(
          "path", [](const UploadFile& f) -> nb::object {
            if (f.path.empty()) return nb::none();
            return nb::str(f.path.c_str());
          },
          nb::sig("def path(self) -> str | None"),
          "The temporary file holding a large upload (removed with this object), or None when it is in memory.")
      .def("__repr__", [](const UploadFile& f) {
        return "<UploadFile " + f.field + "=" + f.filename + " (" + std::to_string(f.size) + " bytes)>";
      });
}

}  // namespace tiercel::py
