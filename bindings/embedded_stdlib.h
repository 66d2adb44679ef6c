// The Lua standard library (stdlib/**/*.lua), compiled into the binary so that
// `require "ebpf.hist"` works wherever ebpfrun is installed. Generated at build
// time from stdlib/ as LuaJIT bytecode with debug information (see
// bindings/CMakeLists.txt); luaL_loadbuffer takes bytecode as it takes source.
#pragma once

#include <string_view>
#include <vector>

namespace ebpfrun::bindings {

struct EmbeddedLua {
  std::string_view path;    // relative to stdlib/, e.g. "ebpf/hist.lua"
  std::string_view source;  // LuaJIT bytecode of the file
};

const std::vector<EmbeddedLua>& embedded_stdlib();

}  // namespace ebpfrun::bindings
