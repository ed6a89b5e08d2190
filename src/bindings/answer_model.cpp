// Handler results shaped by a response model: only native calls (the library's validator and serializer).
#include "bindings/answer_model.h"

namespace tiercel::py {

bool shape_answer(const AnswerModel& m, nb::object& result) {
  if (PyTuple_Check(result.ptr()) || nb::isinstance<Response>(result) || nb::isinstance<StreamingResponse>(result) ||
      nb::isinstance<FileResponse>(result))
    return true;  // the handler answered itself
  nb::object status = nb::int_(m.status ? m.status : 200);
  if (!m.encode) {
    result = nb::make_tuple(result, status);
    return true;
  }
  nb::object value = result;
  if (m.validate && Py_TYPE(result.ptr()) != m.exact) {
    PyObject* v = PyObject_CallOneArg(m.validate.ptr(), result.ptr());
    if (!v) return false;
    value = nb::steal(v);
  }
  PyObject* body = PyObject_CallOneArg(m.encode.ptr(), value.ptr());
  if (!body) return false;
  result = nb::make_tuple(nb::steal(body), status, m.headers);
  return true;
}

}  // namespace tiercel::py
