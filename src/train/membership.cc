#include "train/membership.h"

#include <vector>

namespace drover::train {

MembershipDecision DecideMembership(const Membership& m, int slot, int64_t known, bool survivor) {
  using Kind = MembershipDecision::Kind;
  MembershipDecision d;
  if (m.Terminal()) {
    d.kind = Kind::kEnded;
    return d;
  }
  if (m.RankOf(slot) < 0) {
    d.kind = Kind::kLeave;
    return d;
  }
  if (m.generation <= known) return d;  // a long poll that timed out
  d.group = m;
  if (!m.AllReady()) {
    if (!survivor) return d;  // keep training; the watcher signals once all are ready
    std::erase_if(d.group.members, [](const Member& mem) { return !mem.ready; });
    d.subset = true;
  }
  d.kind = Kind::kForm;
  d.rank = d.group.RankOf(slot);
  d.prefix = 2 * m.generation + (d.subset ? 0 : 1);
  d.ask_regroup = d.subset && d.rank == 0;
  return d;
}

}  // namespace drover::train
