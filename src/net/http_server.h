// HttpServer: the server's HTTP/1.1 front end, event-driven on Boost.Asio and
// Boost.Beast (HTTPS through OpenSSL when given a certificate).
//
// Why not cpp-httplib's server (which it replaced): it gives every connection
// a thread for as long as it is open, so long polls (each agent's sync, each
// elastic worker's membership watch, rendezvous reads) and idle or slow
// clients pinned its pool; past ~70 agents nobody else got an answer. Here
// connections cost a socket and a buffer:
//
//   - a few I/O threads read and write every connection asynchronously;
//   - a request, once read whole, runs its handler on a pool of worker
//     threads (handlers may block briefly: a commit's fsync);
//   - a handler may *park* its request instead of answering (a Wait): the
//     request then holds no thread, only an entry that is polled again after
//     each Notify() and once at its deadline;
//   - a request must be read whole within `request_deadline` (idle time before
//     it included), so idle and trickling connections are closed;
//   - headers are taken as sent (no percent-decoding); a request with both
//     Content-Length and Transfer-Encoding, or with two Authorization
//     headers, is refused with 400; bodies over `max_body_bytes` get 413.
//
// A handler may also Defer its answer and give it later from another thread
// (the inference replica answers from the executor that ran the batch).
//
// Handlers see the request and answer through cpp-httplib's plain Request
// and Response structs (path, params, headers, body; status, headers, body,
// or a chunked content provider for streams such as a followed log, which
// runs on a worker thread).
//
// Thread safety: Notify and Stop may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace drover::net {

//! A parked request: `poll` answers into the response and returns true once
//! what it waits for has come; it is called again after every Notify(), and
//! once more with `timed_out` when `timeout` has passed (it must answer
//! then). `release` runs once, when the wait ends however it ends.
struct Wait {
  std::chrono::milliseconds timeout{0};
  std::function<bool(httplib::Response& res, bool timed_out)> poll;
  std::function<void()> release;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  //!< 0: any free port (see port())
  std::string tls_cert, tls_key;  //!< PEM files; both or neither
  int io_threads = 2;
  int workers = 32;  //!< threads that run handlers
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  std::chrono::milliseconds request_deadline{30000};  //!< to read one request, idle time before it included
  //! Run handlers on the I/O threads, not the pool: for a server whose
  //! handlers never block (they answer at once or Defer), which saves two
  //! thread switches per request. Bodies over 64 KiB still go to the pool.
  bool handle_on_io_threads = false;
};

//! Answers a deferred request (see Defer): call it once, from any thread,
//! after filling the response the handler was given.
using Responder = std::function<void()>;
//! Called by a handler, on its thread: the request is not answered when the
//! handler returns (it must return no Wait) but when the Responder is called.
//! The request and response stay valid until then.
Responder Defer();

class HttpServer {
 public:
  //! Answers `req` into `res` and returns nullopt, or returns a Wait to park it.
  using Dispatch = std::function<std::optional<Wait>(httplib::Request& req, httplib::Response& res)>;

  HttpServer(HttpServerOptions options, Dispatch dispatch);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  //! Loads the TLS certificate (if any) and binds. kInvalidArgument for a bad
  //! certificate or key, kUnavailable when the address cannot be bound.
  Status Bind();
  //! The bound port (after Bind).
  int port() const;
  //! Serves until Stop(); parked requests are answered (timed out) before it returns.
  void Run();
  void Stop();
  //! What parked requests wait for may have changed: each is polled again
  //! (soon, on a worker thread; notifications that come while a round is
  //! pending are merged into it).
  void Notify();
  //! Requests parked now, and connections open now.
  size_t parked() const;
  size_t connections() const;

  struct Impl;  //!< the connections' side (http_server.cc)

 private:
  std::unique_ptr<Impl> impl_;
};

//! Writes `port` to `path` atomically (a reader sees the whole number or no
//! file), for whoever started a server on port 0. kUnavailable naming the file.
Status WritePortFile(const std::string& path, int port);

}  // namespace drover::net
