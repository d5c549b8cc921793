// The cluster as a whole: health, metrics, hosts, consumers and the plan.
#include <sstream>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "server/http_util.h"
#include "server/server.h"
#include "spec/plan_parser.h"

namespace drover::server {

void Server::ClusterRoutes(Router& router) {
  // Liveness, for load balancers and scripts: anyone, no token.
  router.Open("GET", "/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });

  router.Get("/metrics", kPeople, [this](const Principal&, const httplib::Request&, httplib::Response& res) {
    std::ostringstream o;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::map<JobState, int> by_state;
      for (const auto& [id, j] : model_.jobs()) ++by_state[j.rec.state];
      o << "# HELP drover_jobs Jobs by state.\n# TYPE drover_jobs gauge\n";
      for (JobState s : api::kAllJobStates) {
        o << "drover_jobs{state=\"" << api::Name(s) << "\"} " << by_state[s] << "\n";
      }
      o << "# HELP drover_consumer_gpus_allocated GPUs held per consumer (subtree).\n"
           "# TYPE drover_consumer_gpus_allocated gauge\n";
      const auto& usage = model_.usage();
      for (int c = 0; c < model_.plan().size() && c < static_cast<int>(usage.size()); ++c) {
        o << "drover_consumer_gpus_allocated{consumer=\"" << model_.plan().node(c).path << "\"} "
          << usage[c].allocated << "\n";
      }
      int up = 0;
      for (const auto& [n, host] : model_.hosts()) up += host.rec.state == "up";
      o << "# HELP drover_hosts_up Hosts whose agent is in contact.\n# TYPE drover_hosts_up gauge\n"
        << "drover_hosts_up " << up << "\n";
    }
    res.set_content(metrics_.Render(o.str()), "text/plain; version=0.0.4");
  });

  // -- hosts, plan, consumers --------------------------------------------------
  router.Get("/api/v1/hosts", kPeople, [this](const Principal&, const httplib::Request&,
                                                              httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    json hosts = json::array();
    const std::map<std::string, int64_t> in_use = model_.GpusInUse();
    for (const auto& [name, host] : model_.hosts()) {
      auto used_it = in_use.find(name);
      const int64_t used = used_it == in_use.end() ? 0 : used_it->second;
      hosts.push_back({{"name", name}, {"state", host.rec.state}, {"drained", host.rec.cordoned},
                       {"in_doubt", host.in_doubt.empty() ? json(nullptr) : json(host.in_doubt)},
                       {"capacity", ResourcesJson(host.rec.capacity)}, {"gpus_used", used},
                       {"last_seen", host.rec.last_seen}, {"gpus", json::parse(host.rec.gpus_json, nullptr, false)}});
    }
    Reply(res, 200, {{"hosts", hosts}});
  });

  // Maintenance, as kubectl drain / uncordon: a drained host gets no work and
  // what runs there moves (elastic jobs shrink, rigid ones are requeued).
  for (bool drain : {true, false}) {
    router.Post(std::string("/api/v1/hosts/{name}/") + (drain ? "drain" : "uncordon"), kAdmins,
                [this, drain](const Principal& who, const httplib::Request& req, httplib::Response& res) {
      std::string name = req.matches[1];
      Status st = Mutate([&](store::WriteBatch* batch) -> Status {
        DROVER_RETURN_IF_ERROR(model_.SetCordoned(name, drain, Now(), batch));
        Trigger();
        return Status::Ok();
      });
      if (!st.ok()) return Fail(res, st);
      spdlog::info("host {} {} by {}", name, drain ? "drained" : "uncordoned", who.name);
      Reply(res, 200, {{"host", name}, {"drained", drain}});
    });
  }

  // Revoking a host: its agent's credential stops working at once, the host
  // is down for the scheduler (its work moves), the agent is refused if it
  // registers again (it stops its workers and exits), and so is any agent
  // under that name, even with the join token, until an admin admits it.
  router.Post("/api/v1/hosts/{name}/revoke", kAdmins, [this](const Principal& who, const httplib::Request& req,
                                                             httplib::Response& res) {
    std::string name = req.matches[1];
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      DROVER_RETURN_IF_ERROR(model_.SetRevoked(name, true, Now(), batch));
      RevokeTokensLocked("agent", name, batch);
      Trigger();
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    spdlog::warn("host {} revoked by {}: its agent's token no longer works", name, who.name);
    Reply(res, 200, {{"host", name}, {"state", "revoked"}});
  });
  router.Post("/api/v1/hosts/{name}/admit", kAdmins, [this](const Principal& who, const httplib::Request& req,
                                                            httplib::Response& res) {
    std::string name = req.matches[1];
    Status st = Mutate([&](store::WriteBatch* batch) { return model_.SetRevoked(name, false, Now(), batch); });
    if (!st.ok()) return Fail(res, st);
    spdlog::info("host {} admitted again by {}: an agent may register under its name", name, who.name);
    Reply(res, 200, {{"host", name}, {"state", "down"}});
  });

  auto consumers_json = [this]() {
    json out = json::array();
    const ConsumerTree& t = model_.plan();
    const auto& usage = model_.usage();
    for (int c = 0; c < t.size(); ++c) {
      const ConsumerNode& n = t.node(c);
      int64_t owned = n.plan.owned;
      if (c == 0) {  // the root owns the cluster: every GPU of a host that is up
        owned = 0;
        for (const auto& [name, h] : model_.hosts()) owned += h.rec.state == "up" ? h.rec.capacity.gpus : 0;
      }
      json row = {{"path", n.path}, {"owned", owned}, {"share", n.plan.share},
                  {"limit", n.plan.limit ? json(*n.plan.limit) : json(nullptr)},
                  {"lend", n.plan.lend}, {"borrow", n.plan.borrow}, {"reclaim_grace", n.plan.reclaim_grace}};
      const std::string user = model_.RunAs(n.path, env_ctx_);
      row["run_as"] = user.empty() ? json(nullptr) : json(user);
      if (c < static_cast<int>(usage.size())) {
        const sched::ConsumerUsage& u = usage[c];
        row.update({{"demand", u.demand}, {"entitlement", u.entitlement}, {"allocated", u.allocated},
                    {"borrowed", u.borrowed}, {"lent", u.lent}, {"pending", u.pending}});
      } else {
        row.update({{"demand", 0}, {"entitlement", 0}, {"allocated", 0}, {"borrowed", 0}, {"lent", 0}, {"pending", 0}});
      }
      out.push_back(row);
    }
    return out;
  };

  router.Get("/api/v1/consumers", kPeople, [this, consumers_json](
                                     const Principal&, const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    Reply(res, 200, {{"consumers", consumers_json()}});
  });

  router.Get("/api/v1/plan", kPeople, [this](const Principal&, const httplib::Request&,
                                                            httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    Reply(res, 200, {{"yaml", model_.plan_yaml()}});
  });

  // ?dry_run=1 checks the plan as applying it would, and changes nothing.
  router.Put("/api/v1/plan", kAdmins, [this](const Principal&, const httplib::Request& req, httplib::Response& res) {
    Result<ConsumerTree> tree = ParsePlan(req.body, FileLabel(req, "plan.yaml"));
    if (!tree.ok()) return Fail(res, tree.status());
    // Owned GPUs are guarantees: promising more than the hosts have is allowed
    // (hosts may be on their way) but said out loud.
    auto warnings = [&] {
      json out = json::array();
      int64_t cluster = 0, owned = 0;
      for (const auto& [name, h] : model_.hosts()) cluster += h.rec.state == "up" ? h.rec.capacity.gpus : 0;
      for (int c = 1; c < tree->size(); ++c) owned += tree->node(c).parent == 0 ? tree->node(c).plan.owned : 0;
      if (!model_.hosts().empty() && owned > cluster) {
        out.push_back("the plan's consumers own " + std::to_string(owned) + " GPUs but the hosts that are up have " +
                      std::to_string(cluster) + ": guarantees above that cannot be kept");
      }
      return out;
    };
    json said;
    if (FlagParam(req, "dry_run")) {
      std::lock_guard<std::mutex> lock(mu_);
      if (Status st = model_.CheckPlan(*tree); !st.ok()) return Fail(res, st);
      return Reply(res, 200, {{"consumers", tree->size() - 1}, {"warnings", warnings()}, {"dry_run", true}});
    }
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      DROVER_RETURN_IF_ERROR(model_.ApplyPlan(*tree, req.body, batch));
      said = warnings();
      Trigger();
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"consumers", tree->size() - 1}, {"warnings", said}});
  });
}

}  // namespace drover::server
