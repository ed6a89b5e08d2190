// The Engine's response pumps: a StreamingResponse (sync iterators pulled in the pool, async ones awaited,
// SSE pings) and a file body (sendfile, else pread), sent only while the connection takes more.
#include <cstdio>
#include <unistd.h>
#include <vector>

#include "bindings/engine/engine.h"

namespace tiercel::py {

void Engine::send_file_answer(Responder& conn, uint64_t seq, const ResponseContext& ctx, const Route& rt,
                              FileAnswer& a, nb::object* tasks) {
  if (a.fd < 0 && !a.text.empty() && !find_field(a.header_lines, "content-type"))
    a.header_lines.append("Content-Type: text/plain; charset=utf-8\r\n");
  ResponseHead head{a.status, std::move(a.header_lines)};
  finish_fields(head.fields, rt, ctx, nb::handle());
  if (a.fd < 0) return conn.respond(seq, head, a.text, ctx);
  auto* st = new ResponsePump();
  st->engine = this;
  st->conn = &conn;
  st->seq = seq;
  st->route_id = static_cast<uint32_t>(&rt - route_info.data());
  st->fd = a.fd;
  st->pieces = std::move(a.pieces);
  if (tasks) st->background = std::move(*tasks);
  pumps.insert(st);
  conn.retain();
  if (!conn.stream_begin(seq, head, ctx, a.content_length, st)) return drop_stream(st);  // HEAD, or an empty file
  pump(st);
}

bool Engine::pump_file(ResponsePump* st) {
  constexpr uint64_t kChunk = 64 * 1024;
  while (st->piece < st->pieces.size()) {
    FilePiece& p = st->pieces[st->piece];
    if (!p.literal.empty()) {
      st->conn->stream_write(st->seq, p.literal);
      ++st->piece;
      return true;
    }
    if (st->piece_done >= p.length) {
      ++st->piece;
      st->piece_done = 0;
      continue;
    }
    if (st->sendfile) {
      // Straight from the page cache to the socket while it takes them; when it is full, one piece goes
      // through the write queue below, whose draining brings the stream back here.
      ssize_t sent = st->conn->stream_send_file(st->seq, st->fd, p.offset + st->piece_done,
                                                   static_cast<size_t>(p.length - st->piece_done));
      if (sent > 0) {
        st->piece_done += static_cast<uint64_t>(sent);
        return true;
      }
      if (sent < 0) st->sendfile = false;
    }
    uint64_t want = std::min(kChunk, p.length - st->piece_done);
    std::string buf(static_cast<size_t>(want), '\0');
    ssize_t n = ::pread(st->fd, buf.data(), static_cast<size_t>(want), static_cast<off_t>(p.offset + st->piece_done));
    if (n <= 0) {  // the file shrank or failed under us: the promised length cannot be met
      const Route& rt = route_info[st->route_id];
      log_message("Reading a file for " + rt.method + " " + rt.path + " failed: the connection is closed");
      st->conn->stream_end(st->seq, true);
      drop_stream(st);
      return false;
    }
    buf.resize(static_cast<size_t>(n));
    st->piece_done += static_cast<uint64_t>(n);
    st->conn->stream_write(st->seq, buf);
    return true;
  }
  st->conn->stream_end(st->seq, false);
  drop_stream(st);
  return false;
}

void Engine::start_stream(Responder& conn, uint64_t seq, const ResponseContext& ctx, nb::handle result,
                          const Route& rt, nb::handle request, nb::object* tasks) {
  auto& sr = nb::cast<StreamingResponse&>(result);
  bool is_async = nb::hasattr(sr.content, "__aiter__");
  PyObject* it = is_async ? PyObject_CallMethod(sr.content.ptr(), "__aiter__", nullptr)
                           : PyObject_GetIter(sr.content.ptr());
  if (!it) {
    log_current_exception("Cannot iterate the StreamingResponse", rt.method, rt.path);
    return write_error(conn, seq, ctx, rt);
  }
  nb::object iter = nb::steal(it);
  std::string lines, error;
  bool has_ct = false;
  if (sr.status_code < 100 || sr.status_code > 999 || !response_header_lines(sr.headers, lines, has_ct, error)) {
    log_message("Bad StreamingResponse for " + rt.method + " " + rt.path + ": " +
                (error.empty() ? "status_code out of range 100-999" : error));
    return write_error(conn, seq, ctx, rt);
  }
  ResponseHead head{sr.status_code, {}};
  if (!has_ct && !bodyless_status(sr.status_code))
    head.fields.append("Content-Type: ").append(sr.media_type).append("\r\n");
  head.fields.append(lines);
  finish_fields(head.fields, rt, ctx, request);
  auto* st = new ResponsePump();
  st->engine = this;
  st->conn = &conn;
  st->seq = seq;
  st->route_id = static_cast<uint32_t>(&rt - route_info.data());
  st->iter = std::move(iter);
  st->is_async = is_async;
  st->sse = sr.sse;
  if (!is_async && blocking_submit) {  // it may block (time.sleep): pulled in the pool, never on the loop
    nb::object context = nb::steal(PyContext_CopyCurrent());  // the request's, when a stage or handler runs us
    st->pull = nb::cast(SyncPull(st->iter, sr.sse, std::move(context), aio_loop.attr("call_soon_threadsafe")));
    st->puller = nb::inst_ptr<SyncPull>(st->pull);
    st->puller->on_wake = [this, st] { on_pulled(st); };
  }
  st->ping_interval = sr.ping_interval;
  if (tasks) st->background = std::move(*tasks);
  pumps.insert(st);
  conn.retain();
  if (!conn.stream_begin(seq, head, ctx, Responder::kUnknownLength, st)) {  // HEAD, 204, 304: the head alone
    close_iterator(st);
    return drop_stream(st);
  }
  if (st->ping_interval > 0) schedule(st, PumpEvent::kPing, st->ping_interval);
  pump(st);
}

void Engine::pump(ResponsePump* st) {
  Responder* conn = st->conn;
  const uint64_t seq = st->seq;
  conn->retain();  // `st` may be dropped inside: the connection stays until the batch is sent
  while (pump_batch(st)) {
    // Stopped because the output reached the watermark: send it; if the socket took it, go on at once (the
    // connection's own call-back may be the one running us, so it would not come again).
    conn->flush_output();
    if (!conn->stream_writable(seq)) break;  // now on_writable() comes back, once the client has read
  }
  conn->flush_output();
  conn->release();
}

bool Engine::pump_batch(ResponsePump* st) {
  for (int budget = 64; !st->task && !st->cancelled; --budget) {
    if (!st->conn->stream_writable(st->seq)) return true;
    if (budget == 0) {
      schedule(st, PumpEvent::kResume, 0);
      return false;
    }
    if (st->fd >= 0) {
      if (!pump_file(st)) return false;
      continue;
    }
    if (st->puller) return send_pulled(st);
    if (!st->is_async) {
      PyObject* item = PyIter_Next(st->iter.ptr());
      if (!item) {
        if (PyErr_Occurred()) {
          fail_stream(st, "The StreamingResponse's iterator raised");
        } else {
          finish_stream(st);
        }
        return false;
      }
      if (!write_item(st, nb::steal(item))) return false;
      continue;
    }
    PyObject* aw = PyObject_CallMethod(st->iter.ptr(), "__anext__", nullptr);
    if (!aw) {
      fail_stream(st, "The StreamingResponse's async iterator raised");
      return false;
    }
    nb::object awaitable = nb::steal(aw);
    nb::object task;
    try {
      task = ensure_future(awaitable, nb::arg("loop") = aio_loop);
    } catch (nb::python_error& e) {
      e.restore();
      fail_stream(st, "Cannot await the StreamingResponse's async iterator");
      return false;
    }
    if (!task_done(task)) {
      st->task = task;
      nb::object cb = nb::cast(PumpEvent{st, PumpEvent::kTaskDone});
      PyObject* r = PyObject_CallMethodOneArg(task.ptr(), globals().s_add_done_callback.ptr(), cb.ptr());
      if (!r) {
        fail_stream(st, "Cannot watch the StreamingResponse's async iterator");
        return false;
      }
      Py_DECREF(r);
      return false;
    }
    if (!take_anext(st, task)) return false;
  }
  return false;
}

bool Engine::send_pulled(ResponsePump* st) {
  SyncPull& p = *st->puller;
  for (; !p.inbox.empty(); p.inbox.pop_front()) {
    if (!st->conn->stream_writable(st->seq)) return true;
    p.inbox_bytes -= p.inbox.front().size();
    st->conn->stream_write(st->seq, p.inbox.front());
    st->wrote = true;
  }
  if (p.running) return false;  // its wake-up comes back here
  if (p.failed) {
    const Route& rt = route_info[st->route_id];
    if (!p.restore_error())
      log_message("Bad item from the StreamingResponse of " + rt.method + " " + rt.path + ": " + p.message);
    fail_stream(st, "The StreamingResponse's iterator raised");
  } else if (p.ended) {
    finish_stream(st);
  } else if (size_t budget = st->conn->stream_budget(st->seq); budget == 0) {
    return true;  // the connection is full: the next job waits for on_writable()
  } else if (p.inbox_limit = std::min(SyncPull::kInboxBytes, budget); !submit_pull(st)) {
    fail_stream(st, "Cannot pull the StreamingResponse's iterator in the thread pool");
  }
  return false;
}

bool Engine::submit_pull(ResponsePump* st) {
  st->puller->running = true;
  PyObject* f = PyObject_CallOneArg(blocking_submit.ptr(), st->pull.ptr());
  Py_XDECREF(f);
  if (!f) st->puller->running = false;
  return f != nullptr;
}

void Engine::on_pulled(ResponsePump* st) {
  if (st->cancelled) {
    if (st->puller->running) return;  // its end wakes us again
    if (!st->puller->stop) close_iterator(st);  // else the job that stopped closed it
    drop_stream(st);
  } else {
    pump(st);
  }
  if (loop && loop->dirty()) poll();
}

bool Engine::take_anext(ResponsePump* st, nb::handle task) {
  PyObject* r = task_result(task);
  if (!r) {
    if (PyErr_ExceptionMatches(PyExc_StopAsyncIteration)) {
      PyErr_Clear();
      finish_stream(st);
    } else {
      fail_stream(st, "The StreamingResponse's async iterator raised");
    }
    return false;
  }
  return write_item(st, nb::steal(r));
}

bool Engine::write_item(ResponsePump* st, nb::handle item) {
  std::string data, error;
  if (!stream_item_bytes(item, st->sse, data, error)) {
    const Route& rt = route_info[st->route_id];
    log_message("Bad item from the StreamingResponse of " + rt.method + " " + rt.path + ": " + error);
    fail_stream(st, "");
    return false;
  }
  if (data.empty()) return true;  // an empty chunk would end a chunked body
  st->conn->stream_write(st->seq, data);
  st->wrote = true;
  return true;
}

void Engine::finish_stream(ResponsePump* st) {
  st->conn->stream_end(st->seq);
  drop_stream(st);
}

void Engine::fail_stream(ResponsePump* st, const std::string& what) {
  const Route& rt = route_info[st->route_id];
  if (PyErr_Occurred()) log_current_exception(what, rt.method, rt.path);
  st->conn->stream_end(st->seq, true);
  drop_stream(st);
}

void Engine::cancel_stream(ResponsePump* st) noexcept {
  st->cancelled = true;
  if (st->puller && st->puller->running) {  // the job stops at its next item, closes the iterator, wakes us
    st->puller->stop = true;
  } else if (st->task) {  // its done-callback drops the stream
    cancel_handle(st->task);
  } else {  // not from inside the connection's close: later
    try {
      schedule(st, PumpEvent::kResume, 0);
    } catch (...) {
      PyErr_Clear();
    }
  }
}

void Engine::end_event_streams() {
  std::vector<ResponsePump*> events;
  for (ResponsePump* st : pumps)
    if (st->sse && !st->cancelled && st->fd < 0) events.push_back(st);
  for (ResponsePump* st : events) {
    st->conn->stream_end(st->seq);
    st->conn->flush_output();
    cancel_stream(st);
  }
}

void Engine::close_iterator(ResponsePump* st) {
  try {
    if (st->puller) {  // a job that stops at once closes it in the pool (its `finally` may block)
      st->puller->stop = true;
      if (!submit_pull(st)) PyErr_Clear();
    } else if (st->is_async) {
      if (nb::hasattr(st->iter, "aclose")) {
        nb::object t = ensure_future(st->iter.attr("aclose")(), nb::arg("loop") = aio_loop);
        background.attr("add")(t);  // asyncio keeps only weak references to tasks
        t.attr("add_done_callback")(background.attr("discard"));
      }
    } else if (nb::hasattr(st->iter, "close")) {
      st->iter.attr("close")();
    }
  } catch (nb::python_error& e) {
    const Route& rt = route_info[st->route_id];
    e.restore();
    log_current_exception("Closing the StreamingResponse's iterator failed", rt.method, rt.path);
  }
}

void Engine::drop_stream(ResponsePump* st) {
  if (st->fd >= 0) ::close(st->fd);
  if (st->background) queue_tasks(std::move(st->background), route_info[st->route_id]);
  cancel_handle(st->timer);  // no callback may come for a stream that is gone
  cancel_handle(st->resume);
  pumps.erase(st);
  Responder* s = st->conn;
  delete st;
  s->release();
}

void Engine::schedule(ResponsePump* st, PumpEvent::What what, double delay) {
  if (what == PumpEvent::kResume) {
    if (st->resume_scheduled) return;
    st->resume_scheduled = true;
    st->resume = call_soon(nb::cast(PumpEvent{st, what}));
    return;
  }
  st->timer = aio_loop.attr("call_later")(delay, nb::cast(PumpEvent{st, what}));
}

void Engine::on_stream_event(ResponsePump* st, PumpEvent::What what) {
  switch (what) {
    case PumpEvent::kTaskDone: {
      nb::object task = std::move(st->task);
      if (st->cancelled) {
        PyObject* r = task_result(task);  // consumed, so asyncio does not warn it was never retrieved
        Py_XDECREF(r);
        PyErr_Clear();
        drop_stream(st);
        break;
      }
      if (take_anext(st, task)) pump(st);
      break;
    }
    case PumpEvent::kResume:
      st->resume_scheduled = false;
      st->resume.reset();
      if (st->cancelled) {
        if (!busy(st)) {
          if (st->fd < 0) close_iterator(st);
          drop_stream(st);
        }
      } else if (!busy(st)) {
        pump(st);
      }
      break;
    case PumpEvent::kPing:
      st->timer.reset();
      if (st->cancelled) break;
      if (!st->wrote && st->conn->stream_writable(st->seq)) {
        st->conn->stream_write(st->seq, ": ping\n\n");
        st->conn->flush_output();
      }
      st->wrote = false;
      schedule(st, PumpEvent::kPing, st->ping_interval);
      break;
  }
  if (loop && loop->dirty()) poll();
}

}  // namespace tiercel::py
