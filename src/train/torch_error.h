// Error text from libtorch exceptions, for the train translation units that
// catch them (process_group.cc, trainer.cc).
#pragma once

#include <string>

namespace drover::train {

//! The first line of an exception's message: c10::Error appends a backtrace.
inline std::string FirstLine(const char* what) {
  std::string msg = what;
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  return msg;
}

}  // namespace drover::train
