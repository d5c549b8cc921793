// Router: the server's routes on cpp-httplib, each stating who may call it.
//
//   router.Get("/api/v1/jobs/{id}", {Role::kAdmin, Role::kUser}, handler);
//
// A route is written as its documented path: `{id}` and `{rank}` match
// digits, `{key}` the rest of the path, any other `{name}` one segment;
// handlers read them from req.matches in order. Each request's bearer token
// is resolved once, by the server's Authenticate, into a Principal; the
// handler runs only for the roles its route lists (else 401 without a valid
// token, 403 with one of another kind). Every request is counted in Metrics
// under its route. After Finish(), a known path with a method it does not
// serve answers 405 with Allow, an unknown path a JSON 404.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "server/auth.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace drover::server {

class Metrics;

class Router {
 public:
  using Handler = std::function<void(const Principal&, const httplib::Request&, httplib::Response&)>;
  using Authenticate = std::function<std::optional<Principal>(const httplib::Request&)>;

  Router(httplib::Server& http, Authenticate authenticate, Metrics& metrics);

  void Get(const std::string& route, std::vector<Role> roles, Handler fn);
  void Post(const std::string& route, std::vector<Role> roles, Handler fn);
  void Put(const std::string& route, std::vector<Role> roles, Handler fn);
  void Patch(const std::string& route, std::vector<Role> roles, Handler fn);
  void Delete(const std::string& route, std::vector<Role> roles, Handler fn);
  //! Registers the 405 and 404 answers; call once, after every route.
  void Finish();

  //! Every route served, with its methods (not the 405 answers).
  const std::map<std::string, std::set<std::string>>& routes() const { return methods_; }

  //! `route` as the regular expression cpp-httplib matches.
  static std::string Pattern(const std::string& route);

 private:
  void Add(const std::string& method, const std::string& route, std::vector<Role> roles, Handler fn);
  httplib::Server& http_;
  Authenticate authenticate_;
  Metrics& metrics_;
  std::map<std::string, std::set<std::string>> methods_;  // route -> methods it serves
};

// Who may call what, named once.
inline const std::vector<Role> kPeople = {Role::kAdmin, Role::kUser};
inline const std::vector<Role> kAdmins = {Role::kAdmin};
//! A job's readers: people in its consumer, and its own workers.
inline const std::vector<Role> kJobReaders = {Role::kAdmin, Role::kUser, Role::kWorker};

}  // namespace drover::server
