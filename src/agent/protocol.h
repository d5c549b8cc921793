// The agent <-> server messages of docs/agent-protocol.md (v1), as the agent
// names them. They are defined once, with their codecs, in api/wire.h (the
// server decodes what the agent encodes with the same code).
#pragma once

#include "api/wire.h"

namespace drover::agent {

using api::DesiredWorker;
using api::GpuInfo;
using api::LogChunk;
using api::RegisterRequest;
using api::RegisterResponse;
using api::SyncRequest;
using api::SyncResponse;
using api::ToString;
using api::WorkerKey;
using api::WorkerReport;
using WorkerState = api::ProcessState;

}  // namespace drover::agent
