// Router: the server's routes, each stating who may call it, dispatched by
// the HttpServer.
//
//   router.Get("/api/v1/jobs/{id}", {Role::kAdmin, Role::kUser}, handler);
//
// A route is written as its documented path: `{id}` and `{rank}` match
// digits, `{key}` the rest of the path, any other `{name}` one segment;
// handlers read them from req.matches in order. Each request's bearer token
// is resolved once, by the server's Authenticate, into a Principal; the
// handler runs only for the roles its route lists (else 401 without a valid
// token, 403 with one of another kind). Every request is counted in Metrics
// under its route. A known path with a method it does not serve answers 405
// with Allow, an unknown path a JSON 404.
//
// A long poll is registered with GetWaiting/PostWaiting: its handler answers
// at once or returns a Wait, and the request is parked without a thread (see
// HttpServer). One principal may hold at most `max_waits_per_principal`
// parked requests; more get 429 with Retry-After.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "server/auth.h"
#include "net/http_server.h"

namespace drover::server {

// The HTTP front end lives in net/ (the inference replica and router serve on it too).
using net::HttpServer;
using net::HttpServerOptions;
using net::Wait;

class Metrics;

class Router {
 public:
  using Handler = std::function<void(const Principal&, const httplib::Request&, httplib::Response&)>;
  using WaitingHandler =
      std::function<std::optional<Wait>(const Principal&, const httplib::Request&, httplib::Response&)>;
  using Authenticate = std::function<std::optional<Principal>(const httplib::Request&)>;

  Router(Authenticate authenticate, Metrics& metrics, int max_waits_per_principal = 64);

  void Get(const std::string& route, std::vector<Role> roles, Handler fn);
  void Post(const std::string& route, std::vector<Role> roles, Handler fn);
  void Put(const std::string& route, std::vector<Role> roles, Handler fn);
  void Patch(const std::string& route, std::vector<Role> roles, Handler fn);
  void Delete(const std::string& route, std::vector<Role> roles, Handler fn);
  void GetWaiting(const std::string& route, std::vector<Role> roles, WaitingHandler fn);
  void PostWaiting(const std::string& route, std::vector<Role> roles, WaitingHandler fn);
  //! A route served without authentication (GET /healthz, the console's files).
  void Open(const std::string& method, const std::string& route,
            std::function<void(const httplib::Request&, httplib::Response&)> fn);

  //! Finds the route of `req`, authenticates, runs its handler (for HttpServer).
  std::optional<Wait> Dispatch(httplib::Request& req, httplib::Response& res);

  //! Every authenticated route served, with its methods.
  const std::map<std::string, std::set<std::string>>& routes() const { return methods_; }
  //! Every route served without authentication, as "METHOD /route".
  const std::vector<std::string>& open_routes() const { return open_; }

  //! `route` as the regular expression a path must match whole.
  static std::string Pattern(const std::string& route);

 private:
  struct Route {
    std::string method, route;
    std::regex pattern;
    std::vector<Role> roles;
    WaitingHandler fn;
    bool open = false;  //!< no authentication
  };
  void Add(const std::string& method, const std::string& route, std::vector<Role> roles, WaitingHandler fn);
  static std::string Key(const Principal& who);
  //! ETag and 304 for a GET answered in full (see router.cc).
  static void Conditional(const httplib::Request& req, httplib::Response& res);

  Authenticate authenticate_;
  Metrics& metrics_;
  const int max_waits_;
  std::vector<Route> routes_;
  std::map<std::string, std::set<std::string>> methods_;  // route -> methods it serves
  std::vector<std::string> open_;                         // "METHOD /route" of the open ones
  std::mutex waits_mu_;
  std::map<std::string, int> waits_;  // parked requests by principal
};

// Who may call what, named once.
inline const std::vector<Role> kPeople = {Role::kAdmin, Role::kUser};
inline const std::vector<Role> kAdmins = {Role::kAdmin};
//! A job's readers: people in its consumer, and its own workers.
inline const std::vector<Role> kJobReaders = {Role::kAdmin, Role::kUser, Role::kWorker};

}  // namespace drover::server
