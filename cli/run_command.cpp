// Script mode: `ebpfrun SCRIPT.lua [args]`, `ebpfrun -e 'LUA'`, `ebpfrun -l`,
// and (with no script on a terminal) the REPL.
#include <unistd.h>

#include <fnmatch.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "attach/kernel_functions.h"
#include "attach/kernel_names.h"
#include "attach/symbols.h"
#include "bindings/lua_host.h"
#include "cli/commands.h"
#include "cli/traced_command.h"
#include "common/files.h"
#include "common/log.h"
#include "system/introspection.h"
#include "system/preflight.h"
#include "system/stats.h"

namespace ebpfrun::cli {
namespace {

// -l 'kprobe/GLOB', 'kretprobe/GLOB': kernel functions kprobes can go on;
// -l 'fentry/GLOB', 'fexit/GLOB': those in the kernel's BTF. Returns -1 when
// the pattern is of neither kind.
int list_kernel_functions(const std::string& pattern) {
  size_t slash = pattern.find('/');
  std::string kind = pattern.substr(0, slash);
  const bool kprobe = kind == "kprobe" || kind == "kretprobe";
  const bool btf = kind == "fentry" || kind == "fexit";
  if (!kprobe && !btf) return -1;
  std::string glob = slash == std::string::npos || slash + 1 == pattern.size() ? "*" : pattern.substr(slash + 1);
  auto names = kprobe ? attach::kprobe_functions(glob) : attach::btf_functions(glob);
  if (!names) {
    log::error("{}", names.error());
    return kExitRuntimeError;
  }
  std::string out;
  for (const auto& name : *names) out += kind + "/" + name + "\n";
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace

// -l [PATTERN]: tracepoints matching a glob ("syscalls:*open*", "sched/*"), or
// with "uprobe/PATH:GLOB" the function symbols of a binary, or kernel
// functions (list_kernel_functions).
int list_probes(const std::string& pattern) {
  if (int listed = list_kernel_functions(pattern); listed >= 0) return listed;
  if (pattern.rfind("uprobe/", 0) == 0 || pattern.rfind("uretprobe/", 0) == 0) {
    std::string rest = pattern.substr(pattern.find('/') + 1);
    size_t colon = rest.rfind(':');
    std::string binary = colon == std::string::npos ? rest : rest.substr(0, colon);
    std::string glob = colon == std::string::npos ? "*" : rest.substr(colon + 1);
    auto path = attach::resolve_binary(binary);
    if (!path) {
      log::error("{}", path.error());
      return kExitRuntimeError;
    }
    auto symbols = attach::function_symbols(*path);
    if (!symbols) {
      log::error("{}", symbols.error());
      return kExitRuntimeError;
    }
    for (const auto& s : *symbols)
      if (::fnmatch(glob.c_str(), s.c_str(), 0) == 0) fmt::print("uprobe/{}:{}\n", *path, s);
    return kExitOk;
  }
  auto tracefs = attach::tracefs();
  if (!tracefs) {
    log::error("{}", tracefs.error());
    return kExitRuntimeError;
  }
  std::string glob = pattern.empty() ? "*" : pattern;
  for (char& c : glob)
    if (c == ':') c = '/';
  if (glob.rfind("tracepoint/", 0) == 0) glob = glob.substr(11);
  for (const auto& category : attach::tracepoint_categories(*tracefs))
    for (const auto& name : attach::tracepoints_in(*tracefs, category)) {
      std::string full = category + "/" + name;
      if (::fnmatch(glob.c_str(), full.c_str(), 0) == 0) fmt::print("tracepoint/{}\n", full);
    }
  return kExitOk;
}

namespace {

constexpr const char* kUsage =
    "usage: ebpfrun [OPTIONS] SCRIPT.lua [SCRIPT ARGS...]\n"
    "       ebpfrun [OPTIONS] -e 'LUA'\n"
    "       ebpfrun -l [PATTERN | uprobe/PATH:GLOB | kprobe/GLOB | fentry/GLOB]\n"
    "       ebpfrun compile FILE.bpf.c -o OUT.o | check FILE.bpf.c | doctor   (see ebpfrun compile --help)\n"
    "       ebpfrun                      (interactive REPL on a terminal)\n";

// --stats: the run's programs with the kernel's run counts and run time.
void print_run_stats(bindings::HostContext& context) {
  system::OwnedObjects owned;
  std::string notes;
  for (const auto& state : context.objects) {
    for (const auto& program : state->object.programs())
      if (program.fd >= 0) owned.program_fds.push_back(program.fd);
    // Copies of programs loaded for attach alternatives, and the links, so
    // that the table shows where each program is attached.
    for (int fd : state->object.attachment_program_fds()) owned.program_fds.push_back(fd);
    for (uint32_t id : state->object.attachment_link_ids()) owned.link_ids.push_back(id);
    for (const auto& note : state->object.notes()) notes += "  " + note + "\n";
  }
  if (owned.program_fds.empty()) return;
  auto inventory = system::describe(owned);
  if (!inventory) {
    log::warn("--stats: {}", inventory.error());
    return;
  }
  std::fputs(system::format_inventory(*inventory).c_str(), stderr);
  if (!notes.empty()) std::fputs(("notes:\n" + notes).c_str(), stderr);
}

// -p PID: a process that exists now. Tracing a pid that does not exist would
// silently show nothing, and one above pid_max can never exist.
Status validate_pid(long long pid) {
  long long pid_max = 4194304;  // PID_MAX_LIMIT, when /proc does not say
  if (auto text = files::read("/proc/sys/kernel/pid_max")) pid_max = std::atoll(text->c_str());
  if (pid <= 0 || pid > pid_max)
    return make_error(fmt::format("-p {}: not a process id (pids run from 1 to {} here)", pid, pid_max));
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
    return make_error(fmt::format("-p {}: no such process", pid));
  return ok_status();
}

}  // namespace

int run_script_mode(int argc, char** argv) {
  CLI::App app{
      std::string("ebpfrun — run eBPF probes written as Lua scripts, with BPF C compiled at run time\n\n") + kUsage,
      "ebpfrun"};
  app.set_version_flag("--version", std::string("ebpfrun ") + EBPFRUN_VERSION);
  app.prefix_command();
  GlobalFlags global;
  std::string code, format = "text";
  std::optional<std::string> command;
  std::vector<int> pids;
  std::optional<std::string> list_pattern;
  bool stats = false;
  app.add_flag("-v,--verbose", global.verbose, "show details: compile timings, cache decisions, libbpf messages");
  app.add_flag("--no-cache", global.no_cache,
               "use no cached artefact: compiled objects, vmlinux.h, precompiled header");
  app.add_option("--btf", global.btf_path, "kernel BTF file to take types from")->type_name("PATH");
  app.add_option("-e", code, "run LUA; one-liner helpers count(), sum(), hist(), trace(), latency(), ... are available")
      ->type_name("LUA");
  app.add_option(
         "-l,--list", list_pattern,
         "list tracepoints matching PATTERN, uprobe/PATH:GLOB symbols, or kernel functions (kprobe/GLOB, fentry/GLOB)")
      ->expected(0, 1)
      ->type_name("PATTERN");
  // One PID per -p, so that `-p 42 script.lua` leaves the script to the positionals.
  app.add_option("-p,--pid", pids, "trace only this process (repeatable)")->type_name("PID")->allow_extra_args(false);
  app.add_option("-c,--command", command,
                 "start CMD (with /bin/sh -c), trace only it and its children, stop when it exits; ebpfrun then "
                 "exits with CMD's status (128+N if signal N killed it). CMD and everything it started end with "
                 "the run, however ebpfrun ends")
      ->type_name("CMD");
  app.add_option("-f,--format", format, "output format of the shipped printers")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--stats", stats, "enable the kernel's BPF run-time statistics for the run");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (global.verbose) log::set_level(log::Level::debug);
  if (list_pattern) return list_probes(*list_pattern);

  std::vector<std::string> rest = app.remaining();
  std::string script;
  // The options end at the script (or at "--"); whatever is left before that
  // and looks like an option is one we do not know.
  bool separated = !rest.empty() && rest.front() == "--";
  if (separated) rest.erase(rest.begin());
  if (!separated && !rest.empty() && rest.front().size() > 1 && rest.front()[0] == '-') {
    log::error("unknown option {}; see ebpfrun --help", rest.front());
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  if (!code.empty() && !rest.empty()) {
    log::error("give either a script or -e, not both ('{}' follows -e)", rest.front());
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  if (code.empty() && !rest.empty()) {
    script = rest.front();
    rest.erase(rest.begin());
    if (!files::exists(script)) {
      log::error("script {} does not exist", script);
      std::fputs(kUsage, stderr);
      return kExitUsage;
    }
  }
  // A usage error, so it is reported before any check of the machine.
  if (code.empty() && script.empty() && !::isatty(STDIN_FILENO)) {
    log::error("no script given; give SCRIPT.lua or -e 'LUA', or start ebpfrun on a terminal for the REPL");
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }

  // Everything a run needs (capabilities, tracefs/bpffs mounted, BTF), checked
  // up front so that a missing piece is one clear sentence, not an errno later.
  system::PreflightOptions preflight;
  preflight.btf_path = global.btf_path;
  if (auto checked = system::preflight_for_run(preflight); !checked) {
    log::error("{}", checked.error());
    return kExitRuntimeError;
  }

  bindings::HostOptions options;
  options.compile.btf_path = global.btf_path;
  options.compile.use_cache = !global.no_cache;
  options.format = format;
  options.stats = stats;
  options.oneliner_globals = !code.empty() || script.empty();
  if (command && command->find_first_not_of(" \t\n") == std::string::npos) {
    log::error("-c needs a command to run, e.g. -c 'ls /tmp'");
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  for (int pid : pids) {
    if (auto valid = validate_pid(pid); !valid) {
      log::error("{}", valid.error());
      return kExitUsage;
    }
    if (auto added = tmpl::add_filter_value(options.global_filter, "pid", std::to_string(pid)); !added) {
      log::error("{}", added.error());
      return kExitUsage;
    }
  }
  std::optional<TracedCommand> traced;
  if (command) {
    auto started = TracedCommand::start(*command);
    if (!started) {
      log::error("{}", started.error());
      return kExitRuntimeError;
    }
    traced.emplace(std::move(started).value());
    (void)tmpl::add_filter_value(options.global_filter, "cgroup", std::to_string(traced->cgroup_id()));
  }
  std::optional<system::StatsSession> stats_session;
  if (stats) {
    auto enabled = system::StatsSession::enable();
    if (!enabled) {
      log::error("{}", enabled.error());
      return kExitRuntimeError;
    }
    stats_session.emplace(std::move(enabled).value());
  }

  auto host = bindings::LuaHost::create(options);
  if (!host) {
    log::error("{}", host.error());
    return kExitRuntimeError;
  }
  if (traced) {
    (*host)->context().before_first_poll = [&traced] { traced->release(); };
    (*host)->context().command_exited = [&traced] { return traced->exited(); };
  }
  bindings::LuaHost::Outcome outcome;
  if (!code.empty())
    outcome = (*host)->run_string(code, "=-e");
  else if (!script.empty())
    outcome = (*host)->run_file(script, rest);
  else
    return run_repl(**host);
  // A one-liner's misuse (ebpf.oneliner raises "usage: count: argument 2: ...")
  // is a usage error of the command line: its one sentence, no traceback, exit 2.
  if (!code.empty() && outcome.error.rfind("usage: ", 0) == 0) {
    log::error("{}", outcome.error.substr(0, outcome.error.find('\n')));
    return kExitUsage;
  }
  if (!outcome.error.empty()) log::error("{}", outcome.error);
  if (stats_session) print_run_stats((*host)->context());
  // Like time(1) and timeout(1): a run that ended because the command ended
  // reports the command's status, so `ebpfrun -c 'make' -e ...` fails when make does.
  if (traced && outcome.error.empty() && outcome.exit_code == 0 && traced->exited()) return traced->exit_status();
  return outcome.exit_code;
}

}  // namespace ebpfrun::cli
