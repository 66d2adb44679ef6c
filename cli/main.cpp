// ebpfrun — run eBPF probes written as Lua scripts with BPF C compiled at run time.
#include <cstdio>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/log.h"
#include "loader/object.h"

#ifndef EBPFRUN_VERSION
#define EBPFRUN_VERSION "unknown"
#endif

namespace {

// The subcommands; anything else is script mode (a script, -e, -l, the REPL).
bool is_subcommand_invocation(int argc, char** argv) {
  static const char* const kSubcommands[] = {"compile", "check", "doctor", "agent"};
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--btf") {
      ++i;  // its value
      continue;
    }
    if (arg.rfind("-", 0) == 0) continue;
    for (const char* name : kSubcommands)
      if (arg == name) return true;
    return false;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ebpfrun;
  loader::raise_open_file_limit();
  if (!is_subcommand_invocation(argc, argv)) return cli::run_script_mode(argc, argv);
  CLI::App app{"ebpfrun — embedded scripting runtime for eBPF probes", "ebpfrun"};
  app.set_version_flag("--version", std::string("ebpfrun ") + EBPFRUN_VERSION);
  cli::GlobalFlags global;
  app.add_flag("-v,--verbose", global.verbose, "show details: compile timings, cache decisions, libbpf messages");
  app.add_flag("--no-cache", global.no_cache,
               "use no cached artefact (compiled objects, vmlinux.h, precompiled header) and no prebuilt object");
  app.add_option("--btf", global.btf_path, "kernel BTF file to take types from (default /sys/kernel/btf/vmlinux)")
      ->type_name("PATH");
  app.require_subcommand(1);
  app.fallthrough();
  cli::register_compile(app, global);
  cli::register_check(app, global);
  cli::register_doctor(app, global);
  cli::register_agent(app, global);
  app.parse_complete_callback([&global] {
    if (global.verbose) log::set_level(log::Level::debug);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return cli::kExitUsage;
  }
  return cli::kExitOk;
}
