// ServerClient: the agent's two calls to the server (docs/agent-protocol.md).
//
// The agent talks to the server only through this interface, so its loop is
// tested with a FakeServerClient. Each call returns the server's decoded answer
// or an error whose code says what the server meant:
//   kUnavailable       not reached, no answer in time, or 5xx/408/429
//   kUnauthenticated   401: the token is not valid (any more)
//   kPermissionDenied  403: the token may not make this call
//   kNotFound          404: e.g. the host is not registered
//   kInvalidArgument   400: the server rejected a field (its message names it)
//   kInternal          any other status, or a body that does not decode
// The message carries the server's own words ("sync: HTTP 401: ...").
// Thread safety: implementations need not be safe for concurrent calls; the
// agent makes one call at a time.
#pragma once

#include <string>

#include "agent/protocol.h"
#include "common/status.h"

namespace drover::agent {

class ServerClient {
 public:
  virtual ~ServerClient() = default;

  //! POST /api/v1/agent/register with the join token.
  virtual Result<RegisterResponse> Register(const std::string& join_token,
                                            const RegisterRequest& request) = 0;
  //! POST /api/v1/agent/sync with the agent token; may be held by the server up
  //! to request.wait_ms before it answers.
  virtual Result<SyncResponse> Sync(const std::string& agent_token, const SyncRequest& request) = 0;
};

}  // namespace drover::agent
