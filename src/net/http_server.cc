#include "net/http_server.h"

#include "common/check.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace drover::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// How often parked requests are checked for their deadline.
constexpr auto kDeadlineTick = std::chrono::milliseconds(50);

// One request being answered: cpp-httplib's structs for the handlers, and
// what the answer needs to know of the request.
struct Exchange {
  httplib::Request req;
  httplib::Response res;
  unsigned version = 11;
  bool keep_alive = true;
};

// The handler's view of a request read by Beast. Headers are kept as sent
// (cpp-httplib's own reader percent-decoded them); the path and query
// parameters are decoded as cpp-httplib does. An error message when the
// request is refused before any handler sees it.
std::optional<std::string> Convert(http::request<http::string_body>& in, const std::string& remote,
                                   httplib::Request& out) {
  out.method = std::string(in.method_string());
  std::string target(in.target());
  size_t q = target.find('?');
  out.path = httplib::detail::decode_url(target.substr(0, q), false);
  if (q != std::string::npos) httplib::detail::parse_query_text(target.substr(q + 1), out.params);
  int authorization = 0;
  for (const auto& f : in) {
    if (f.name() == http::field::authorization) ++authorization;
    out.headers.emplace(std::string(f.name_string()), std::string(f.value()));
  }
  if (authorization > 1) return "more than one Authorization header";
  out.version = in.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
  out.body = std::move(in.body());
  out.remote_addr = remote;
  return std::nullopt;
}

std::string JsonError(const std::string& message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

// A connection, plain or TLS; shared by its pending operations.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  //! Sends the exchange's answer (from any thread), then reads the next request or closes.
  virtual void Answer(std::shared_ptr<Exchange> ex) = 0;
};

// A parked request.
struct Parked {
  uint64_t id = 0;  // its key in HttpServer::Impl::parked
  std::shared_ptr<SessionBase> session;
  std::shared_ptr<Exchange> ex;
  Wait wait;
  Clock::time_point deadline;
  std::mutex mu;
  bool done = false;                  // guarded by mu
  std::atomic<bool> again{false};     // a poll is due
  std::atomic<bool> expired{false};   // its deadline passed
};

// The request whose handler runs on this thread, for Defer().
struct Current {
  std::shared_ptr<SessionBase> session;
  std::shared_ptr<Exchange> ex;
  bool deferred = false;
};
thread_local Current* current = nullptr;

struct HttpServer::Impl {
  HttpServerOptions opt;
  Dispatch dispatch;
  asio::io_context ioc;
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<asio::thread_pool> pool;
  asio::steady_timer tick{ioc};
  std::atomic<int> port{0};
  std::atomic<bool> stopping{false};
  std::atomic<bool> round_pending{false};
  std::atomic<size_t> connections{0};

  mutable std::mutex parked_mu;
  std::map<uint64_t, std::shared_ptr<Parked>> parked;
  uint64_t next_parked = 0;

  std::mutex run_mu;
  std::condition_variable run_cv;

  Impl(HttpServerOptions o, Dispatch d) : opt(std::move(o)), dispatch(std::move(d)) {}

  void Accept();
  void Tick();
  // Runs the handler of a request read whole (on a worker thread).
  void Handle(std::shared_ptr<SessionBase> session, std::shared_ptr<Exchange> ex,
              std::optional<std::string> refused);
  void Park(std::shared_ptr<SessionBase> session, std::shared_ptr<Exchange> ex, Wait wait);
  void Poll(const std::shared_ptr<Parked>& p);
  void PollAll(bool expired_only);
};

namespace {

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Impl& server, Stream stream, std::string remote)
      : server_(server), stream_(std::move(stream)), remote_(std::move(remote)) {
    ++server_.connections;
  }
  ~Session() override { --server_.connections; }

  void Start() {
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      beast::get_lowest_layer(stream_).expires_after(server_.opt.request_deadline);
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (!ec) self->Read();
      });
    } else {
      asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Read(); });
    }
  }

  void Answer(std::shared_ptr<Exchange> ex) override {
    if (ex->res.is_chunked_content_provider_) return StreamBody(std::move(ex));  // on this worker thread
    httplib::Response& res = ex->res;
    auto msg = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(res.status > 0 ? res.status : 200), ex->version);  // as cpp-httplib: unset is 200
    for (const auto& [name, value] : res.headers) msg->insert(name, value);
    msg->body() = std::move(res.body);
    msg->keep_alive(ex->keep_alive);
    msg->prepare_payload();
    asio::post(stream_.get_executor(), [self = this->shared_from_this(), msg] { self->Write(msg); });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(server_.opt.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_.opt.max_header_bytes));
    beast::get_lowest_layer(stream_).expires_after(server_.opt.request_deadline);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec.category() != http::make_error_code(http::error::end_of_stream).category() ||
          ec == http::error::end_of_stream || ec == http::error::partial_message) {
        return Close();  // the peer left, timed out, or failed: nothing to answer
      }
      // A request that cannot be read as sent: say why, then close.
      int status = ec == http::error::body_limit ? 413 : ec == http::error::header_limit ? 431 : 400;
      auto msg = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status), 11);
      msg->set(http::field::content_type, "application/json");
      msg->body() = JsonError("the request could not be read: " + ec.message());
      msg->keep_alive(false);
      msg->prepare_payload();
      return Write(msg);
    }
    beast::get_lowest_layer(stream_).expires_never();  // while its handler runs or it is parked
    auto ex = std::make_shared<Exchange>();
    http::request<http::string_body> req = parser_->release();
    ex->version = req.version();
    ex->keep_alive = req.keep_alive();
    std::optional<std::string> refused = Convert(req, remote_, ex->req);
    if (server_.opt.handle_on_io_threads && ex->req.body.size() <= (64 << 10)) {
      return server_.Handle(this->shared_from_this(), ex, refused);
    }
    asio::post(*server_.pool, [&server = server_, self = this->shared_from_this(), ex, refused] {
      server.Handle(self, ex, refused);
    });
  }

  template <class Message>
  void Write(std::shared_ptr<Message> msg) {
    beast::get_lowest_layer(stream_).expires_after(server_.opt.request_deadline);
    http::async_write(stream_, *msg, [self = this->shared_from_this(), msg](beast::error_code ec, size_t) {
      if (ec || msg->need_eof() || self->server_.stopping) return self->Close();
      self->Read();
    });
  }

  // Runs `op(handler)` on the connection's strand and waits for it (from a worker thread).
  template <class Op>
  bool Blocking(Op op) {
    std::promise<beast::error_code> done;
    asio::post(stream_.get_executor(), [&] {
      beast::get_lowest_layer(stream_).expires_after(server_.opt.request_deadline);
      op([&done](beast::error_code ec, size_t = 0) { done.set_value(ec); });
    });
    return !done.get_future().get();
  }

  // A chunked answer whose body a content provider writes as it comes (a
  // followed log), on the worker thread that ran the handler.
  void StreamBody(std::shared_ptr<Exchange> ex) {
    httplib::Response& res = ex->res;
    http::response<http::empty_body> head{static_cast<http::status>(res.status > 0 ? res.status : 200), ex->version};
    for (const auto& [name, value] : res.headers) head.insert(name, value);
    head.keep_alive(ex->keep_alive);
    head.chunked(true);
    http::response_serializer<http::empty_body> sr{head};
    bool ok = Blocking([&](auto h) { http::async_write_header(stream_, sr, h); });
    bool finished = false;
    size_t offset = 0;
    {
      httplib::DataSink sink;
      sink.write = [&](const char* data, size_t n) {
        if (!ok) return false;
        if (n == 0) return true;
        ok = Blocking([&](auto h) { asio::async_write(stream_, http::make_chunk(asio::const_buffer(data, n)), h); });
        offset += n;
        return ok;
      };
      sink.done = [&] { finished = true; };
      sink.is_writable = [&] { return ok && !server_.stopping; };
      while (ok && !finished) {
        if (!res.content_provider_(offset, 0, sink)) ok = false;
      }
    }
    if (ok) ok = Blocking([&](auto h) { asio::async_write(stream_, http::make_chunk_last(), h); });
    res.content_provider_success_ = ok;
    asio::post(stream_.get_executor(), [self = this->shared_from_this(), again = ok && ex->keep_alive] {
      if (again && !self->server_.stopping) return self->Read();
      self->Close();
    });
  }

  void Close() {
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(1));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        beast::get_lowest_layer(self->stream_).socket().close(ignored);
      });
    } else {
      // A lingering close: the answer is sent, then what the client still
      // sends (the rest of a body too large to read) is read and dropped for
      // a moment, so that it gets the answer instead of a reset.
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      stream_.expires_after(std::chrono::seconds(2));
      Drain(0);
    }
  }

  void Drain(size_t drained) {
    constexpr size_t kMaxDrain = 16 << 20;
    if constexpr (!std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      if (drained > kMaxDrain) {
        beast::error_code ec;
        stream_.socket().close(ec);
        return;
      }
      stream_.async_read_some(asio::buffer(scratch_), [self = this->shared_from_this(), drained](beast::error_code ec,
                                                                                                size_t n) {
        if (ec) {
          beast::error_code ignored;
          self->stream_.socket().close(ignored);
          return;
        }
        self->Drain(drained + n);
      });
    }
  }

  HttpServer::Impl& server_;
  Stream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::array<char, 16384> scratch_{};
};

using PlainSession = Session<beast::tcp_stream>;
using TlsSession = Session<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopping && acceptor.is_open()) Accept();  // e.g. out of descriptors for a moment
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // small JSON answers must not wait for delayed ACKs
    auto remote = socket.remote_endpoint(ignored).address();
    std::string address = remote.is_v4() || !remote.to_v6().is_v4_mapped()
                              ? remote.to_string()
                              : asio::ip::make_address_v4(asio::ip::v4_mapped, remote.to_v6()).to_string();
    if (address == "::1") address = "127.0.0.1";
    if (tls) {
      std::make_shared<TlsSession>(*this, beast::ssl_stream<beast::tcp_stream>(std::move(socket), *tls), address)
          ->Start();
    } else {
      std::make_shared<PlainSession>(*this, beast::tcp_stream(std::move(socket)), address)->Start();
    }
    Accept();
  });
}

void HttpServer::Impl::Tick() {
  tick.expires_after(kDeadlineTick);
  tick.async_wait([this](beast::error_code ec) {
    if (ec || stopping) return;
    asio::post(*pool, [this] { PollAll(/*expired_only=*/true); });
    Tick();
  });
}

void HttpServer::Impl::Handle(std::shared_ptr<SessionBase> session, std::shared_ptr<Exchange> ex,
                              std::optional<std::string> refused) {
  if (refused) {
    ex->res.status = 400;
    ex->res.set_content(JsonError(*refused), "application/json");
    ex->keep_alive = false;
    return session->Answer(ex);
  }
  Current here{session, ex};
  current = &here;
  std::optional<Wait> wait = dispatch(ex->req, ex->res);
  current = nullptr;
  if (here.deferred) {
    DROVER_CHECK(!wait);  // a handler either defers or parks
    return;
  }
  if (!wait) return session->Answer(ex);
  Park(std::move(session), std::move(ex), std::move(*wait));
}

void HttpServer::Impl::Park(std::shared_ptr<SessionBase> session, std::shared_ptr<Exchange> ex, Wait wait) {
  auto p = std::make_shared<Parked>();
  p->session = std::move(session);
  p->ex = std::move(ex);
  p->deadline = Clock::now() + wait.timeout;
  p->wait = std::move(wait);
  {
    std::lock_guard<std::mutex> lock(parked_mu);
    p->id = next_parked++;
    parked[p->id] = p;
  }
  // A change between the handler's look and now would otherwise wait for the next one.
  Poll(p);
}

void HttpServer::Impl::Poll(const std::shared_ptr<Parked>& p) {
  p->again = true;
  for (;;) {
    std::unique_lock<std::mutex> lock(p->mu, std::try_to_lock);
    if (!lock.owns_lock()) return;  // its poller sees `again` and polls once more
    if (!p->again.exchange(false) || p->done) return;
    const bool timed_out = p->expired || stopping;
    bool answered = p->wait.poll(p->ex->res, timed_out) || timed_out;
    if (!answered) continue;  // polled again only if `again` was set meanwhile
    p->done = true;
    lock.unlock();
    {
      std::lock_guard<std::mutex> l(parked_mu);
      parked.erase(p->id);
    }
    if (p->wait.release) p->wait.release();
    p->session->Answer(p->ex);
    return;
  }
}

void HttpServer::Impl::PollAll(bool expired_only) {
  std::vector<std::shared_ptr<Parked>> all;
  const auto now = Clock::now();
  {
    std::lock_guard<std::mutex> lock(parked_mu);
    all.reserve(parked.size());
    for (const auto& [id, p] : parked) {
      if (expired_only && p->deadline > now && !stopping) continue;
      if (p->deadline <= now) p->expired = true;
      all.push_back(p);
    }
  }
  for (const auto& p : all) Poll(p);
}

Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << port << "\n";
    if (!f.good()) return Unavailable("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Unavailable("cannot rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

Responder Defer() {
  DROVER_CHECK(current != nullptr);  // only a handler, on its own thread, defers its answer
  current->deferred = true;
  return [session = current->session, ex = current->ex] { session->Answer(ex); };
}

HttpServer::HttpServer(HttpServerOptions options, Dispatch dispatch)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(dispatch))) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Bind() {
  Impl& s = *impl_;
  if (!s.opt.tls_cert.empty() || !s.opt.tls_key.empty()) {
    s.tls.emplace(ssl::context::tls_server);
    s.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    s.tls->use_certificate_chain_file(s.opt.tls_cert, ec);
    if (!ec) s.tls->use_private_key_file(s.opt.tls_key, ssl::context::pem, ec);
    if (ec) return InvalidArgument("cannot load TLS certificate or key: " + ec.message());
  }
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(s.opt.host == "localhost" ? "127.0.0.1" : s.opt.host, ec);
  if (ec) return InvalidArgument("cannot listen on " + s.opt.host + ": not an IP address");
  tcp::endpoint endpoint(address, static_cast<unsigned short>(s.opt.port));
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("cannot listen on " + s.opt.host + ":" + std::to_string(s.opt.port) + ": " + ec.message());
  s.port = s.acceptor.local_endpoint().port();
  return Status::Ok();
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::Run() {
  Impl& s = *impl_;
  s.pool = std::make_unique<asio::thread_pool>(static_cast<size_t>(std::max(1, s.opt.workers)));
  auto guard = asio::make_work_guard(s.ioc);
  s.Accept();
  s.Tick();
  std::vector<std::thread> io;
  for (int i = 0; i < std::max(1, s.opt.io_threads); ++i) io.emplace_back([&s] { s.ioc.run(); });
  {
    std::unique_lock<std::mutex> lock(s.run_mu);
    s.run_cv.wait(lock, [&] { return s.stopping.load(); });
  }
  // Stopping: no new connections; every parked request is answered (as timed
  // out); handlers still running finish; their answers get a moment to leave.
  asio::post(s.ioc, [&s] {
    beast::error_code ec;
    s.acceptor.close(ec);
    s.tick.cancel();
  });
  s.PollAll(/*expired_only=*/false);
  s.pool->join();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  guard.reset();
  s.ioc.stop();
  for (auto& t : io) t.join();
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.run_mu);
    if (s.stopping) return;
    s.stopping = true;
  }
  s.run_cv.notify_all();
}

void HttpServer::Notify() {
  Impl& s = *impl_;
  if (!s.pool || s.stopping) return;
  if (s.round_pending.exchange(true)) return;  // merged into the round already queued
  asio::post(*s.pool, [&s] {
    s.round_pending = false;
    s.PollAll(/*expired_only=*/false);
  });
}

size_t HttpServer::parked() const {
  std::lock_guard<std::mutex> lock(impl_->parked_mu);
  return impl_->parked.size();
}

size_t HttpServer::connections() const { return impl_->connections; }

}  // namespace drover::net
