// The states of jobs and workers, as every part of drover names them: the
// server's model and store hold these enums; the API, the store's columns and
// events spell them with Name() (PENDING, RUNNING, ...; assigned, running,
// exited), and Parse*() reads them back.
#pragma once

#include <optional>
#include <string_view>

namespace drover::api {

// PENDING → STARTING (workers assigned) → RUNNING (all reported running) →
// SUCCEEDED | FAILED | CANCELLED; PREEMPTED is a requeued job waiting to start again.
enum class JobState { kPending, kStarting, kRunning, kSucceeded, kFailed, kCancelled, kPreempted };
// A worker the server wants run (assigned), reported running, or gone (exited).
enum class WorkerState { kAssigned, kRunning, kExited };

inline constexpr JobState kAllJobStates[] = {JobState::kPending,   JobState::kStarting, JobState::kRunning,
                                              JobState::kSucceeded, JobState::kFailed,   JobState::kCancelled,
                                              JobState::kPreempted};

constexpr const char* Name(JobState s) {
  switch (s) {
    case JobState::kPending: return "PENDING";
    case JobState::kStarting: return "STARTING";
    case JobState::kRunning: return "RUNNING";
    case JobState::kSucceeded: return "SUCCEEDED";
    case JobState::kFailed: return "FAILED";
    case JobState::kCancelled: return "CANCELLED";
    case JobState::kPreempted: return "PREEMPTED";
  }
  return "?";
}

constexpr const char* Name(WorkerState s) {
  switch (s) {
    case WorkerState::kAssigned: return "assigned";
    case WorkerState::kRunning: return "running";
    case WorkerState::kExited: return "exited";
  }
  return "?";
}

//! The job state `text` names exactly (upper case), if any.
constexpr std::optional<JobState> ParseJobState(std::string_view text) {
  for (JobState s : kAllJobStates) {
    if (text == Name(s)) return s;
  }
  return std::nullopt;
}

constexpr std::optional<WorkerState> ParseWorkerState(std::string_view text) {
  for (WorkerState s : {WorkerState::kAssigned, WorkerState::kRunning, WorkerState::kExited}) {
    if (text == Name(s)) return s;
  }
  return std::nullopt;
}

constexpr bool IsTerminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCancelled;
}

}  // namespace drover::api
