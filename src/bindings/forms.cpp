// request.form_data and request.files: urlencoded and multipart bodies, parsed in C++ on first access.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include <nanobind/stl/unique_ptr.h>

#include "bindings/request_body_stream.h"
#include "bindings/forms.h"
#include "bindings/request.h"
#include "core/cors.h"
#include "core/multipart.h"
#include "core/percent.h"

namespace tiercel::py {

/// An uploaded file: kept in memory, or (above form_spill_size) in a temporary file removed with the object.
class UploadFile {
 public:
  std::string filename, content_type, field;
  size_t size = 0;
  nb::object memory;    // bytes, when in memory
  std::string path;     // the temporary file, when spilled
  std::string pending;  // while being read: the bytes so far (until they pass form_spill_size)
  int fd = -1;          // while being read: the temporary file

  UploadFile() = default;
  UploadFile(const UploadFile&) = delete;
  UploadFile& operator=(const UploadFile&) = delete;
  ~UploadFile() {
    if (fd >= 0) ::close(fd);
    if (!path.empty()) ::unlink(path.c_str());
  }

  /// Appends `data`, moving to a temporary file once the size passes `spill`; false when the disk refuses.
  bool append(std::string_view data, size_t spill) {
    size += data.size();
    if (path.empty() && size <= spill) {
      pending.append(data);
      return true;
    }
    if (path.empty()) {
      const char* dir = std::getenv("TMPDIR");
      std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/tiercel-upload-XXXXXX";
      fd = ::mkstemp(tmpl.data());
      if (fd < 0) return false;
      path = tmpl;
      bool ok = write_all(pending);
      pending = std::string();
      if (!ok) return false;
    }
    return write_all(data);
  }

  /// The file is complete: its bytes become a `bytes` object, or its temporary file is closed.
  void finish() {
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
    if (path.empty()) {
      memory = nb::bytes(pending.data(), pending.size());
      pending = std::string();
    }
  }

  nb::object content() const {
    if (memory) return memory;
    std::string data(size, '\0');
    int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) throw std::runtime_error("the upload's temporary file is gone");
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::read(in, data.data() + done, size - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(in);
    return nb::bytes(data.data(), done);
  }

 private:
  bool write_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::write(fd, data.data(), data.size());
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
};

namespace {

nb::str text_of(std::string_view s) {
  return nb::steal<nb::str>(PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}

}  // namespace

nb::object bad_form_error(std::string_view message, int status) {
  std::string text = "Bad form: " + std::string(message);
  nb::handle type = globals().client_error ? globals().client_error : globals().http_exception;
  if (type) return type(status, nb::str(text.c_str(), text.size()));
  return nb::handle(PyExc_ValueError)(nb::str(text.c_str(), text.size()));
}

FormBuilder::FormBuilder(std::string_view content_type, size_t max_field) : max_field_(max_field) {
  std::string_view base = trim_ows(content_type.substr(0, content_type.find(';')));
  if (ascii_iequal(base, "application/x-www-form-urlencoded")) {
    kind_ = Kind::kUrlencoded;
  } else if (ascii_iequal(base, "multipart/form-data")) {
    kind_ = Kind::kMultipart;
    std::string boundary;
    if (multipart_boundary(content_type, boundary)) {
      reader_ = std::make_unique<MultipartReader>(boundary, MultipartLimits{});
    } else {
      fail("multipart/form-data without a valid boundary parameter");
    }
  }
}

FormBuilder::~FormBuilder() = default;

bool FormBuilder::fail(std::string message, int status) {
  if (error_.empty()) {
    error_ = std::move(message);
    error_status_ = status;
  }
  return false;
}

bool FormBuilder::feed(std::string_view data) {
  if (!error_.empty()) return false;
  switch (kind_) {
    case Kind::kNone:
      return true;  // not a form: form_data and files stay empty
    case Kind::kUrlencoded:
      if (max_field_ && urlencoded_.size() + data.size() > max_field_) {
        return fail("an urlencoded form over " + std::to_string(max_field_) + " bytes", 413);
      }
      urlencoded_.append(data);
      return true;
    case Kind::kMultipart:
      if (!reader_->feed(data, *this)) return fail(reader_->error(), data_error_status_);
      return true;
  }
  return true;
}

bool FormBuilder::finish() {
  if (!error_.empty()) return false;
  if (kind_ == Kind::kMultipart && !reader_->finish()) return fail(reader_->error());
  return true;
}

void FormBuilder::on_part(const MultipartPart& part) {
  in_file_ = part.has_filename;
  if (!in_file_) {
    fields_.push_back(Field{part.name, {}});
    return;
  }
  auto f = std::make_unique<UploadFile>();
  f->filename = part.filename;
  f->content_type = part.content_type.empty() ? "application/octet-stream" : part.content_type;
  f->field = part.name;
  files_.push_back(std::move(f));
}

bool FormBuilder::on_data(std::string_view data, std::string& error) {
  if (in_file_) {
    if (files_.back()->append(data, globals().form_spill_size)) return true;
    error = "cannot write an upload's temporary file (disk full?)";
    data_error_status_ = 500;
    return false;
  }
  std::string& value = fields_.back().value;
  if (max_field_ && value.size() + data.size() > max_field_) {
    error = "the field '" + fields_.back().name + "' is over " + std::to_string(max_field_) +
            " bytes (only files may be larger)";
    data_error_status_ = 413;
    return false;
  }
  value.append(data);
  return true;
}

void FormBuilder::on_part_end() {
  if (in_file_) files_.back()->finish();
}

std::tuple<nb::dict, nb::dict, nb::dict> FormBuilder::build() {
  nb::dict form, files, lists;
  if (kind_ == Kind::kUrlencoded) {
    for (auto& [k, v] : parse_query(urlencoded_)) {
      nb::str key = text_of(k);
      if (!form.contains(key)) form[key] = text_of(v);
    }
  }
  for (auto& f : fields_) {
    nb::str key = text_of(f.name);
    if (!form.contains(key)) form[key] = text_of(f.value);
  }
  for (auto& f : files_) {
    if (f->fd >= 0) continue;
    nb::str key = text_of(f->field);
    nb::object file = nb::cast(std::move(f));
    if (!files.contains(key)) {
      files[key] = file;
      lists[key] = nb::list();
    }
    nb::borrow<nb::list>(lists[key]).append(file);
  }
  files_.clear();
  return {form, files, lists};
}

namespace {

void parse_form(Request& r) {
  std::string_view type;
  if (r.headers) {
    if (const std::string_view* ct = find_header(*r.headers, "content-type")) type = *ct;
  }
  FormBuilder builder(type, 0);
  if (!builder.feed(r.body) || !builder.finish()) {
    nb::object exc = bad_form_error(builder.error(), builder.error_status());
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    throw nb::python_error();
  }
  auto [form, files, lists] = builder.build();
  r.py_form = std::move(form);
  r.py_files = std::move(files);
  r.py_file_lists = std::move(lists);
}

}  // namespace

nb::object Request::get_form_data() {
  if (!py_form) {
    if (body_streamed) return streamed_form(*this, false);
    parse_form(*this);
  }
  return py_form;
}

nb::object Request::get_files() {
  if (!py_files) {
    if (body_streamed) return streamed_form(*this, true);
    parse_form(*this);
  }
  return py_files;
}

nb::object Request::files_named(nb::handle field) {
  get_files();
  if (py_file_lists) {
    PyObject* v = PyDict_GetItemWithError(py_file_lists.ptr(), field.ptr());  // borrowed
    if (v) return nb::borrow(v);
    if (PyErr_Occurred()) throw nb::python_error();
  }
  return nb::list();
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
