// The web console's files (web/src and its vendored chart library), built
// into the server so the console needs no second service: generated at build
// time by embed_assets.cmake.
#pragma once

#include <string_view>
#include <vector>

namespace drover::server {

struct ConsoleAsset {
  std::string_view name;   //!< file name: "index.html", "app.js", "uPlot.esm.js", ...
  std::string_view bytes;
};

const std::vector<ConsoleAsset>& ConsoleAssets();

}  // namespace drover::server
