#include "api/states.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace drover::api {
namespace {

TEST(StatesTest, EveryStateRoundTripsThroughItsName) {
  std::set<std::string> names;
  for (JobState s : kAllJobStates) {
    EXPECT_EQ(ParseJobState(Name(s)), s);
    names.insert(Name(s));
  }
  EXPECT_EQ(names.size(), 7u);
  for (WorkerState s : {WorkerState::kAssigned, WorkerState::kRunning, WorkerState::kExited}) {
    EXPECT_EQ(ParseWorkerState(Name(s)), s);
  }
  EXPECT_FALSE(ParseJobState("running"));  // the stored and served spelling is exact
  EXPECT_FALSE(ParseJobState("BOGUS"));
  EXPECT_FALSE(ParseWorkerState("RUNNING"));
}

TEST(StatesTest, OnlySucceededFailedAndCancelledAreTerminal) {
  std::set<JobState> terminal;
  for (JobState s : kAllJobStates) {
    if (IsTerminal(s)) terminal.insert(s);
  }
  EXPECT_EQ(terminal, (std::set<JobState>{JobState::kSucceeded, JobState::kFailed, JobState::kCancelled}));
}

}  // namespace
}  // namespace drover::api
