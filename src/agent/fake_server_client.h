// FakeServerClient: a scripted server for tests. Register and Sync return the
// queued results first; then Register succeeds with token "agent-token-<n>" and
// Sync answers with `desired`. Every call is recorded. Thread safety: none.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "agent/server_client.h"

namespace drover::agent {

class FakeServerClient : public ServerClient {
 public:
  Result<RegisterResponse> Register(const std::string& join_token,
                                    const RegisterRequest& request) override {
    registrations.emplace_back(join_token, request);
    if (!register_results.empty()) {
      auto r = std::move(register_results.front());
      register_results.pop_front();
      return r;
    }
    return RegisterResponse{request.name, "agent-token-" + std::to_string(registrations.size()),
                            10};
  }
  Result<SyncResponse> Sync(const std::string& agent_token, const SyncRequest& request) override {
    syncs.emplace_back(agent_token, request);
    if (on_sync) on_sync();
    if (!sync_results.empty()) {
      auto r = std::move(sync_results.front());
      sync_results.pop_front();
      return r;
    }
    return desired;
  }

  //! The last sync request.
  const SyncRequest& last() const { return syncs.back().second; }

  std::deque<Result<RegisterResponse>> register_results;
  std::deque<Result<SyncResponse>> sync_results;
  SyncResponse desired;
  std::function<void()> on_sync;  //!< called at each Sync, before it answers
  std::vector<std::pair<std::string, RegisterRequest>> registrations;
  std::vector<std::pair<std::string, SyncRequest>> syncs;
};

}  // namespace drover::agent
