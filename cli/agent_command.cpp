// `ebpfrun agent [CONFIG.lua]`: the collectors as an always-on Prometheus
// exporter. This file wires the parts together: flags, the capability check,
// the HTTP server (cli/agent/http_server.h), the Lua host that runs
// stdlib/ebpf/agent.lua (configuration, collection, reload), and the small
// `host` table that script calls back for what only C++ can do: bind the
// port, talk to systemd, drop capabilities, hold the BPF stats fd.
#include <malloc.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include <csignal>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "bindings/lua_host.h"
#include "bindings/lua_support.h"
#include "cli/agent/http_server.h"
#include "cli/agent/privileges.h"
#include "cli/agent/sd_notify.h"
#include "cli/commands.h"
#include "common/files.h"
#include "common/log.h"
#include "metrics/store.h"
#include "system/capabilities.h"
#include "system/preflight.h"
#include "system/stats.h"

#ifndef EBPFRUN_LLVM_VERSION
#define EBPFRUN_LLVM_VERSION "unknown"
#endif

namespace ebpfrun::cli {
namespace {

struct AgentFlags {
  std::string config;
  bool check = false;
  std::string listen;
  std::string collectors;
  std::string drop_labels;  // used when given: otherwise the configuration's (default "pid")
  bool drop_labels_given = false;
  std::vector<std::string> pids, tids, comms, uids, cgroups;
  double interval = 0;
  bool bpf_stats = false;
  std::string scripts_dir;
};

// Where the shipped collector scripts are: --scripts-dir, $EBPFRUN_SCRIPTS_DIR,
// then beside the executable (an installed share/ebpfrun/scripts, or the
// source tree's scripts/ next to build/).
std::string find_scripts_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("EBPFRUN_SCRIPTS_DIR"); env && *env) return env;
  std::string exe = system::current_executable();
  std::string dir = exe.substr(0, exe.rfind('/'));
  for (const char* candidate : {"/../share/ebpfrun/scripts", "/../scripts", "/scripts"}) {
    std::string path = dir + candidate;
    if (files::exists(path + "/syscalls.lua")) return path;
  }
  return dir + "/../share/ebpfrun/scripts";
}

// What the agent script calls back. Each function returns true or nil, err and
// never raises: nothing here can unwind through the Lua state.
struct AgentHost {
  metrics::SnapshotStore store;
  metrics::BuildInfo build;
  std::unique_ptr<agent::HttpServer> server;
  std::optional<system::StatsSession> stats;
  std::string listen_override;
};

AgentHost* host_of(lua_State* L) { return static_cast<AgentHost*>(lua_touserdata(L, lua_upvalueindex(1))); }

int push_failure(lua_State* L, const std::string& message) {
  lua_pushnil(L);
  lua_pushlstring(L, message.data(), message.size());
  return 2;
}

int host_listen(lua_State* L) {
  AgentHost* host = host_of(L);
  const char* text = lua_tostring(L, 1);
  std::string error, bound;
  {
    auto address = agent::parse_listen(text ? text : "");
    if (!address) {
      error = address.error();
    } else {
      if (!address->loopback())
        log::warn(
            "serving on {}, not a loopback address: whoever can reach it can read process names and "
            "activity (bind 127.0.0.1 and scrape through a proxy, or restrict it with a firewall)",
            address->text());
      auto server = agent::HttpServer::start(*address, host->store, host->build);
      if (!server) {
        error = server.error();
      } else {
        host->server = std::move(server).value();
        agent::ListenAddress actual = *address;
        actual.port = host->server->port();
        bound = actual.text();
      }
    }
  }
  if (!error.empty()) return push_failure(L, error);
  lua_pushlstring(L, bound.data(), bound.size());
  return 1;
}

int host_notify(lua_State* L) {
  const char* state = lua_tostring(L, 1);
  lua_pushboolean(L, state && agent::sd_notify(state));
  return 1;
}

int host_drop_privileges(lua_State* L) {
  std::string error;
  {
    auto dropped = agent::drop_capabilities();
    if (!dropped)
      error = dropped.error();
    else if (!dropped->empty())
      log::debug("dropped capabilities {} (kept CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH for SIGHUP reloads)",
                 *dropped);
  }
  if (!error.empty()) return push_failure(L, error);
  lua_pushboolean(L, 1);
  return 1;
}

// Returns freed heap pages to the kernel. Each collection replaces snapshots
// and their rendered text wholesale, which leaves large free blocks inside
// the heap that malloc would otherwise keep as resident memory.
int host_release_memory(lua_State*) {
  malloc_trim(0);
  return 0;
}

int host_enable_bpf_stats(lua_State* L) {
  AgentHost* host = host_of(L);
  std::string error;
  {
    auto enabled = system::StatsSession::enable();
    if (!enabled)
      error = enabled.error();
    else
      host->stats.emplace(std::move(enabled).value());
  }
  if (!error.empty()) return push_failure(L, error);
  lua_pushboolean(L, 1);
  return 1;
}

void push_host_table(lua_State* L, AgentHost* host) {
  lua_newtable(L);
  const std::pair<const char*, lua_CFunction> functions[] = {{"listen", host_listen},
                                                             {"notify", host_notify},
                                                             {"drop_privileges", host_drop_privileges},
                                                             {"enable_bpf_stats", host_enable_bpf_stats},
                                                             {"release_memory", host_release_memory}};
  for (const auto& [name, fn] : functions) {
    lua_pushlightuserdata(L, host);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
  }
}

void push_string_list(lua_State* L, const char* key, const std::vector<std::string>& values) {
  if (values.empty()) return;
  lua_createtable(L, static_cast<int>(values.size()), 0);
  for (size_t i = 0; i < values.size(); ++i) {
    lua_pushlstring(L, values[i].data(), values[i].size());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, key);
}

void push_args(lua_State* L, const AgentFlags& flags) {
  lua_newtable(L);
  if (!flags.config.empty()) bindings::set_string(L, "config", flags.config);
  if (!flags.listen.empty()) bindings::set_string(L, "listen", flags.listen);
  if (!flags.collectors.empty()) bindings::set_string(L, "collectors", flags.collectors);
  if (flags.interval > 0) bindings::set_number(L, "interval", flags.interval);
  if (flags.bpf_stats) bindings::set_bool(L, "bpf_stats", true);
  if (flags.drop_labels_given) bindings::set_string(L, "drop_labels", flags.drop_labels);
  bindings::set_string(L, "scripts_dir", find_scripts_dir(flags.scripts_dir));
  lua_newtable(L);
  push_string_list(L, "pid", flags.pids);
  push_string_list(L, "tid", flags.tids);
  push_string_list(L, "comm", flags.comms);
  push_string_list(L, "uid", flags.uids);
  push_string_list(L, "cgroup", flags.cgroups);
  lua_setfield(L, -2, "filter");
}

metrics::BuildInfo build_info() {
  metrics::BuildInfo build;
  build.version = EBPFRUN_VERSION;
  build.libbpf = fmt::format("{}.{}", libbpf_major_version(), libbpf_minor_version());
  build.llvm = EBPFRUN_LLVM_VERSION;
  utsname name{};
  if (::uname(&name) == 0) build.kernel = name.release;
  return build;
}

int run_agent(const AgentFlags& flags, const GlobalFlags& global) {
  // glibc gives each thread that allocates its own malloc arena (up to 8 per
  // core), and the HTTP workers allocate rendered bodies of ~100 bytes per
  // series: with 16 workers, freed bodies stay spread over many arenas and
  // the agent's RSS at 10k series nearly doubles (measured: 62 MiB against
  // 36 MiB with two arenas, at no measurable cost in scrape time). Set before
  // any thread starts.
  mallopt(M_ARENA_MAX, 2);
  if (!flags.config.empty() && !files::exists(flags.config)) {
    log::error("configuration {} does not exist", flags.config);
    return kExitRuntimeError;
  }
  if (!flags.check) {
    if (auto ok = agent::check_agent_capabilities(); !ok) {
      log::error("{}", ok.error());
      return kExitRuntimeError;
    }
    system::PreflightOptions preflight;
    preflight.btf_path = global.btf_path;
    if (auto checked = system::preflight_for_run(preflight); !checked) {
      log::error("{}", checked.error());
      return kExitRuntimeError;
    }
  }
  AgentHost agent_host;
  agent_host.build = build_info();
  bindings::HostOptions options;
  options.compile.btf_path = global.btf_path;
  options.compile.use_cache = !global.no_cache;
  options.format = "json";
  auto host = bindings::LuaHost::create(options);
  if (!host) {
    log::error("{}", host.error());
    return kExitRuntimeError;
  }
  (*host)->context().metrics = &agent_host.store;
  (*host)->context().extra_signals = {SIGHUP};
  lua_State* L = (*host)->state();
  push_args(L, flags);
  lua_setglobal(L, "EBPFRUN_AGENT_ARGS");
  push_host_table(L, &agent_host);
  lua_setglobal(L, "EBPFRUN_AGENT_HOST");
  const char* code = flags.check ? "return os.exit(require('ebpf.agent').check(EBPFRUN_AGENT_ARGS))"
                                 : "return os.exit(require('ebpf.agent').main(EBPFRUN_AGENT_ARGS, EBPFRUN_AGENT_HOST))";
  auto outcome = (*host)->run_string(code, "=agent");
  if (!outcome.error.empty()) log::error("{}", outcome.error);
  // Stop serving before the host (and with it every BPF object) goes.
  agent_host.server.reset();
  return outcome.exit_code;
}

}  // namespace

void register_agent(CLI::App& app, const GlobalFlags& global) {
  auto flags = std::make_shared<AgentFlags>();
  CLI::App* command = app.add_subcommand(
      "agent",
      "Run collectors continuously as a Prometheus exporter: /metrics, /-/healthy, /-/ready and an index page on "
      "127.0.0.1:9435. SIGHUP re-reads CONFIG; SIGTERM/SIGINT stop (everything detached). See docs/agent.md.");
  command->add_option("config", flags->config, "configuration: a Lua file returning a table (see docs/agent.md)")
      ->type_name("CONFIG.lua");
  command->add_flag("--check", flags->check,
                    "validate the configuration, resolve every collector and lint every metric name, load nothing; "
                    "exit 0 or 1 with one line per problem");
  command
      ->add_option("--listen", flags->listen,
                   "serve on ADDR:PORT (default 127.0.0.1:9435; a non-loopback address is served with a warning)")
      ->type_name("ADDR:PORT");
  command
      ->add_option("--collectors", flags->collectors,
                   "run only these collectors (default: syscalls,network,fileio,scheduler,memory,tcpstate)")
      ->type_name("A,B,...");
  CLI::Option* drop_labels =
      command->add_option("--drop-labels", flags->drop_labels,
                          "remove these labels and aggregate by the rest (default: pid, since every process would be a "
                          "new series; '' keeps every label)");
  drop_labels->type_name("A,B,...");
  command->add_option("--pid", flags->pids, "trace only this process (repeatable)")->type_name("PID");
  command->add_option("--tid", flags->tids, "trace only this thread (repeatable)")->type_name("TID");
  command->add_option("--comm", flags->comms, "trace only processes with this name (repeatable)")->type_name("NAME");
  command->add_option("--uid", flags->uids, "trace only this user (repeatable)")->type_name("UID");
  command->add_option("--cgroup", flags->cgroups, "trace only this cgroup v2 (path or id; repeatable)")
      ->type_name("PATH|ID");
  command->add_option("--interval", flags->interval, "seconds between collections (default 5)")
      ->type_name("SECONDS")
      ->check(CLI::PositiveNumber);
  command->add_flag("--bpf-stats", flags->bpf_stats,
                    "export per-program run counts and run time (enables kernel BPF statistics for as long as the "
                    "agent runs; costs every BPF program on the host a few ns per run)");
  command->add_option("--scripts-dir", flags->scripts_dir, "where the shipped collector scripts are")->type_name("DIR");
  command->callback([flags, &global, drop_labels] {
    flags->drop_labels_given = drop_labels->count() > 0;
    int code = run_agent(*flags, global);
    if (code != kExitOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace ebpfrun::cli
