// bindings — the Lua side of ebpfrun: a LuaJIT state with the `ebpf` module
// (C core `ebpf.core` + the embedded Lua standard library), running scripts
// under a traceback handler. Everything the script loaded is detached and
// unloaded when the host is destroyed, whatever happened.
#pragma once

#include <lua.hpp>

#include <memory>
#include <string>
#include <vector>

#include "bindings/host_context.h"
#include "common/result.h"

namespace ebpfrun::bindings {

struct HostOptions {
  compiler::CompileOptions compile;
  tmpl::FilterSpec global_filter;
  std::string pin_namespace = "default";
  // Extra globals for `-e` one-liners: the functions of ebpf.oneliner.
  bool oneliner_globals = false;
  // Output format requested on the command line ("text" or "json"); scripts read ebpf.options.format.
  std::string format = "text";
  // --stats was given; scripts read ebpf.options.stats (the collectors then print their maps' fill at the end).
  bool stats = false;
};

class LuaHost {
 public:
  static Result<std::unique_ptr<LuaHost>> create(HostOptions options);
  ~LuaHost();
  LuaHost(const LuaHost&) = delete;
  LuaHost& operator=(const LuaHost&) = delete;

  struct Outcome {
    int exit_code = 0;  // 0, or what the script passed to os.exit, or 1 after an error
    std::string error;  // a Lua error with its traceback; empty when none
  };
  // Runs a script file; `args` become the global `arg` (arg[0] = path).
  // os.exit() inside the script ends the run through here, so everything it
  // attached is still detached by the host.
  Outcome run_file(const std::string& path, const std::vector<std::string>& args);
  // Runs a chunk of Lua text.
  Outcome run_string(const std::string& code, const std::string& chunk_name);

  lua_State* state() { return L_; }
  HostContext& context() { return context_; }

 private:
  LuaHost() = default;
  lua_State* L_ = nullptr;
  HostContext context_;
  HostOptions options_;
};

}  // namespace ebpfrun::bindings
