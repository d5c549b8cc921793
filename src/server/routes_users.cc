// Users and their tokens: who am I, create users, issue and revoke tokens.
#include <httplib.h>

#include "server/http_util.h"
#include "server/server.h"

namespace drover::server {

void Server::UserRoutes(Router& router) {
  router.Get("/api/v1/whoami", {Role::kAdmin, Role::kUser, Role::kAgent, Role::kWorker}, [](const Principal& who, const httplib::Request&, httplib::Response& res) {
    const char* role = who.role == Role::kAdmin ? "admin" : who.role == Role::kUser ? "user"
                       : who.role == Role::kAgent ? "agent" : "worker";
    Reply(res, 200, {{"name", who.name}, {"role", role}, {"consumers", who.consumers}});
  });

  // -- users -------------------------------------------------------------------
  router.Post("/api/v1/users", kAdmins, [this](const Principal&, const httplib::Request& req,
                                                               httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return Fail(res, InvalidArgument("body: expected a JSON object"));
    if (!body.contains("name") || !body["name"].is_string() || body["name"].get<std::string>().empty()) {
      return Fail(res, InvalidArgument("name: expected a non-empty string"));
    }
    std::string role = body.value("role", "user");
    if (role != "user" && role != "admin") return Fail(res, InvalidArgument("role: expected \"user\" or \"admin\""));
    store::UserRecord u{body["name"], role, {}};
    if (body.contains("consumers")) {
      if (!body["consumers"].is_array()) return Fail(res, InvalidArgument("consumers: expected a list of paths"));
      for (const json& c : body["consumers"]) {
        if (!c.is_string()) return Fail(res, InvalidArgument("consumers: expected a list of paths"));
        u.consumers.push_back(c);
      }
    }
    std::string token = NewToken("u");
    store::TokenRecord t{Sha256Hex(token), "user", u.name, 0, Now()};
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      if (users_.count(u.name)) {
        // Creating again would silently change their role and consumers and keep their old tokens valid.
        return AlreadyExists("user " + u.name + " already exists; `drover token create` gives them another token");
      }
      for (const std::string& c : u.consumers) {
        if (model_.plan().Find(c) < 0) return NotFound("consumers: " + c + " does not exist in the plan");
      }
      users_[u.name] = u;
      tokens_[t.sha256] = t;
      batch->users.push_back(u);
      batch->tokens.push_back(t);
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    Reply(res, 201, {{"name", u.name}, {"role", u.role}, {"consumers", u.consumers}, {"token", token}});
  });

  router.Post("/api/v1/tokens", kPeople, [this](const Principal& who, const httplib::Request&,
                                                                 httplib::Response& res) {
    std::string token = NewToken("u");
    store::TokenRecord t{Sha256Hex(token), "user", who.name, 0, Now()};
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      tokens_[t.sha256] = t;
      batch->tokens.push_back(t);
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    Reply(res, 201, {{"name", who.name}, {"token", token}});
  });

  // Revokes a user token: your own, or anyone's for an admin. The body names it.
  router.Post("/api/v1/tokens/revoke", kPeople, [this](const Principal& who,
                                                                             const httplib::Request& req,
                                                                             httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("token") || !body["token"].is_string()) {
      return Fail(res, InvalidArgument("token: expected the token to revoke, as a string"));
    }
    std::string hash = Sha256Hex(body["token"].get<std::string>());
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      auto it = tokens_.find(hash);
      bool mine = it != tokens_.end() && it->second.kind == "user" && it->second.user == who.name;
      bool allowed = it != tokens_.end() && it->second.kind == "user" && (mine || who.role == Role::kAdmin);
      if (!allowed) return NotFound("token: no such token of yours");
      tokens_.erase(it);
      batch->revoked_tokens.push_back(hash);
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"revoked", true}});
  });

  router.Get("/api/v1/users", kAdmins, [this](const Principal&, const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    json users = json::array();
    for (const auto& [name, u] : users_) {
      int tokens = 0;
      for (const auto& [hash, t] : tokens_) tokens += t.kind == "user" && t.user == name;
      users.push_back({{"name", name}, {"role", u.role}, {"consumers", u.consumers}, {"tokens", tokens}});
    }
    Reply(res, 200, {{"users", users}});
  });

  // Deletes a user and revokes every token of theirs; their jobs stay.
  router.Delete("/api/v1/users/{name}", kAdmins, [this](const Principal& who, const httplib::Request& req,
                                                        httplib::Response& res) {
    std::string name = req.matches[1];
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      if (!users_.count(name)) return NotFound("user " + name + " does not exist");
      if (name == who.name) return FailedPrecondition("you may not delete yourself; another admin may");
      users_.erase(name);
      batch->removed_users.push_back(name);
      RevokeTokensLocked("user", name, batch);
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"name", name}, {"deleted", true}});
  });

  // The caller's own tokens, by the first 12 hex digits of their SHA-256 (never the token).
  router.Get("/api/v1/tokens", kPeople, [this](const Principal& who, const httplib::Request&,
                                               httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    json tokens = json::array();
    for (const auto& [hash, t] : tokens_) {
      if (t.kind == "user" && t.user == who.name) tokens.push_back({{"id", hash.substr(0, 12)}, {"created", t.created}});
    }
    Reply(res, 200, {{"tokens", tokens}});
  });
}

}  // namespace drover::server
