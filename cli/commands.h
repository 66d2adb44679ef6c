// The ebpfrun command line: each subcommand registers its flags on the CLI11
// app and runs after parsing. Exit codes: 0 ok, 1 runtime error, 2 usage error.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "compiler/compiler.h"

namespace ebpfrun::bindings {
class LuaHost;
}

namespace ebpfrun::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitUsage = 2;

struct GlobalFlags {
  bool verbose = false;
  bool no_cache = false;
  std::string btf_path;
};

// Flags shared by every subcommand that compiles a BPF C file.
struct SourceFlags {
  std::string file;
  std::vector<std::string> include_dirs;
  std::vector<std::string> defines;
  std::vector<std::string> filters;  // FIELD=VALUE
  // `compile --prebuilt`: compile (never take a prebuilt object), with every
  // filter field's check.
  bool for_prebuilt = false;
};

void add_source_flags(CLI::App& command, SourceFlags& flags);

// Reads the file, applies the filters and compiles it; prints diagnostics
// (warnings on success) to stderr. Returns the output either way.
compiler::CompileOutput compile_source(const SourceFlags& flags, const GlobalFlags& global, int& exit_code);

void register_compile(CLI::App& app, const GlobalFlags& global);
// Script mode (ebpfrun SCRIPT.lua | -e | -l | REPL); returns the exit code.
int run_script_mode(int argc, char** argv);
void register_check(CLI::App& app, const GlobalFlags& global);
void register_doctor(CLI::App& app, const GlobalFlags& global);
void register_agent(CLI::App& app, const GlobalFlags& global);

// -l PATTERN: prints the tracepoints matching a glob, with
// "uprobe/PATH:GLOB" a binary's function symbols, with "kprobe/GLOB" or
// "fentry/GLOB" kernel functions (also the REPL's `:probes PATTERN`);
// returns the exit code.
int list_probes(const std::string& pattern);

// The interactive REPL on an existing host; returns the exit code.
int run_repl(bindings::LuaHost& host);

}  // namespace ebpfrun::cli
