// What an elastic worker does with the membership the server gave it: the
// runner's decisions as a pure function (no threads, signals, clock or I/O),
// so they can be read and tested as a table.
//
//   ended   the job is over elsewhere: stop with an error;
//   leave   this worker is not a member (the scheduler shrank the job): leave
//           after the current step, exit 0;
//   wait    nothing to do yet: the long poll timed out (no newer generation),
//           or newcomers are still starting and this worker keeps training
//           until they are ready;
//   form    form generation G's group with `group` as members, this worker at
//           `rank`, under store prefix `prefix`.
//
// Survivors of a failed step do not wait for newcomers: they form at once as
// the group of the ready members. Two store prefixes per generation, 2G for
// such a ready subset and 2G+1 for the full membership, keep ranks that saw
// different readiness from ever meeting in one rendezvous. The subset's rank
// 0 asks the server for a new generation (`ask_regroup`), at which the
// newcomers it left out join.
#pragma once

#include <cstdint>

#include "train/job_client.h"

namespace drover::train {

struct MembershipDecision {
  enum class Kind { kEnded, kLeave, kWait, kForm };
  Kind kind = Kind::kWait;
  Membership group;          //!< kForm: the members to form with
  int rank = -1;             //!< kForm: this worker's rank among them
  int64_t prefix = 0;        //!< kForm: the rendezvous store prefix
  bool subset = false;       //!< kForm: the ready members only, newcomers left out
  bool ask_regroup = false;  //!< kForm: ask the server for a generation that brings them in
};

//! `m`: the membership just read; `slot`: this worker's id; `known`: the
//! generation its group is formed at; `survivor`: its last step failed and it
//! holds the training state.
MembershipDecision DecideMembership(const Membership& m, int slot, int64_t known, bool survivor);

}  // namespace drover::train
