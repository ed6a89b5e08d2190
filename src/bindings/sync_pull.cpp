// A sync stream iterator pulled in the blocking thread pool: the job that runs there, and its wake-ups of the loop.
#include "bindings/sync_pull.h"

namespace tiercel::py {

void SyncPull::run() {
  const double start = monotonic_seconds();
  // The handler's contextvars (a request id a hook set) are seen by its generator wherever it runs.
  const bool entered = context && PyContext_Enter(context.ptr()) == 0;
  if (context && !entered) PyErr_WriteUnraisable(iter.ptr());
  while (!stop) {
    PyObject* item = PyIter_Next(iter.ptr());
    if (!item) {
      if (PyErr_Occurred()) {
        failed = true;
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb && value) PyException_SetTraceback(value, tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        error = nb::steal(value);
      } else {
        ended = true;
      }
      break;
    }
    std::string bytes;
    bool ok = stream_item_bytes(item, sse, bytes, message);
    Py_DECREF(item);
    if (!ok) {
      failed = true;
      break;
    }
    if (!bytes.empty()) {  // an empty chunk would end a chunked body
      inbox_bytes += bytes.size();
      inbox.push_back(std::move(bytes));
      notify();
    }
    if (inbox_bytes >= inbox_limit || monotonic_seconds() - start >= kSliceSeconds) break;
  }
  if (stop && nb::hasattr(iter, "close")) {
    PyObject* r = PyObject_CallMethod(iter.ptr(), "close", nullptr);
    if (r) {
      Py_DECREF(r);
    } else {
      PyErr_WriteUnraisable(iter.ptr());
    }
  }
  if (entered && PyContext_Exit(context.ptr()) != 0) PyErr_WriteUnraisable(iter.ptr());
  running = false;
  notify();
}

void SyncPull::notify() {
  if (wake_pending_) return;
  wake_pending_ = true;
  // The bound method holds this object until the loop has run it (an attribute would be a reference cycle).
  PyObject* wake = PyObject_GetAttrString(nb::find(this).ptr(), "_wake");
  PyObject* r = wake ? PyObject_CallOneArg(call_soon_threadsafe_.ptr(), wake) : nullptr;
  Py_XDECREF(wake);
  if (r) {
    Py_DECREF(r);
  } else {  // the loop is closed: the server is stopping
    PyErr_Clear();
  }
}

void SyncPull::woken() {
  wake_pending_ = false;
  if (on_wake) on_wake();
}

bool SyncPull::restore_error() {
  if (!error) return false;
  PyObject* value = error.ptr();
  PyErr_Restore(Py_NewRef(reinterpret_cast<PyObject*>(Py_TYPE(value))), Py_NewRef(value),
                PyException_GetTraceback(value));
  error.reset();
  return true;
}

void bind_sync_pull(nb::module_& m) {
  nb::class_<SyncPull>(m, "_SyncPull")
      .def("__call__", &SyncPull::run)
      .def("_wake", &SyncPull::woken);
}

}  // namespace tiercel::py
