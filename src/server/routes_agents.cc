// Agents: registration with the join token, and each host's sync (its
// workers' state and output in, the workers it should run out, long-polled).
#include <chrono>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "server/agent_messages.h"
#include "server/http_util.h"
#include "server/server.h"

namespace drover::server {

void Server::AgentRoutes(Router& router) {
  router.Post("/api/v1/agent/register", {Role::kJoin}, [this](const Principal&, const httplib::Request& req,
                                                              httplib::Response& res) {
    Result<store::HostRecord> decoded = DecodeRegistration(req.body);
    if (!decoded.ok()) return Fail(res, decoded.status());
    store::HostRecord host = std::move(decoded).value();
    std::string token = NewToken("a");
    store::TokenRecord t{Sha256Hex(token), "agent", host.name, 0, Now()};
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      // An agent registering again replaces its previous token.
      for (auto it = tokens_.begin(); it != tokens_.end();) {
        if (it->second.kind == "agent" && it->second.user == host.name) {
          batch->revoked_tokens.push_back(it->first);
          it = tokens_.erase(it);
        } else {
          ++it;
        }
      }
      tokens_[t.sha256] = t;
      batch->tokens.push_back(t);
      model_.RegisterHost(host, req.remote_addr == "::1" ? "127.0.0.1" : req.remote_addr, Now(), batch);
      Trigger();
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    spdlog::info("host {} registered: {}", host.name, host.capacity.ToString());
    Reply(res, 200, {{"host", host.name}, {"agent_token", token}, {"heartbeat_timeout_s", opt_.heartbeat_timeout}});
  });

  router.Post("/api/v1/agent/sync", {Role::kAgent}, [this](const Principal& who, const httplib::Request& req,
                                                           httplib::Response& res) {
    Result<SyncReport> decoded = DecodeSyncReport(req.body);
    if (!decoded.ok()) return Fail(res, decoded.status());
    const std::vector<ReportedWorker>& report = decoded->workers;
    logs_->Append(who.name, decoded->logs);  // before the exits they explain are recorded
    if (decoded->leaving) {
      Status st = Mutate([&](store::WriteBatch* batch) -> Status {
        DROVER_RETURN_IF_ERROR(model_.HostLeaving(who.name, Now(), batch));
        Trigger();
        return Status::Ok();
      });
      if (!st.ok()) return Fail(res, st);
      spdlog::info("host {} is leaving: down now", who.name);
      return Reply(res, 200, {{"workers", json::array()}, {"kill_grace_s", 10}});
    }
    std::vector<DesiredWorker> desired;
    bool answer_now = false;
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      if (!model_.hosts().count(who.name)) return NotFound("host " + who.name + " is not registered");
      desired = model_.Sync(who.name, report, Now(), env_ctx_, batch);
      bool changed = !batch->empty();
      if (changed) Trigger();
      answer_now = changed || model_.NeedsChange(who.name, report);
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    if (!answer_now) {
      std::unique_lock<std::mutex> lock(mu_);
      uint64_t seen = version_;
      std::vector<ReportedWorker> running;
      for (const auto& r : report) {
        if (!r.exited && !r.stopping) running.push_back(r);
      }
      changed_.wait_for(lock, std::chrono::milliseconds(decoded->wait_ms), [&] {
        return stopping_ || (version_ != seen && model_.NeedsChange(who.name, running));
      });
      desired = model_.Desired(who.name, env_ctx_);
    }
    json out = json::array();
    for (const DesiredWorker& d : desired) {
      out.push_back({{"job", d.job}, {"rank", d.rank}, {"generation", d.generation}, {"argv", d.argv},
                     {"env", d.env}, {"gpus", d.gpus}});
    }
    Reply(res, 200, {{"workers", out}, {"kill_grace_s", 10}});
  });
}

}  // namespace drover::server
