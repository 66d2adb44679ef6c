// The interactive REPL: `ebpfrun` with no script. Lua with the `ebpf` module
// (global `ebpf`) and the one-liner helpers preloaded; readline editing with
// persistent history, multi-line input, completion of Lua names and of probe
// names inside strings, and a few `:` commands.
//
// This file reads lines, handles Ctrl-C and evaluates chunks. Completion is in
// repl_completion.cpp, and what walks Lua values (showing results, the `:`
// commands, the help text) is the embedded Lua module ebpf.repl
// (stdlib/ebpf/repl.lua), because that is simpler in Lua than in C++.
//
// Ctrl-C: at the prompt it abandons the line (and any unfinished multi-line
// chunk). While ebpf.run is running, the event loop owns SIGINT (blocked and
// read from its signalfd), so the run stops, detaches what it attached and the
// REPL continues. While other Lua code runs, a hook raises "interrupted".
// The line is read with readline's callback interface around ppoll(), which is
// the only place SIGINT is unblocked at the prompt: a signal handler never
// has to touch readline's state, and no Ctrl-C is lost between two calls.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "bindings/lua_host.h"
#include "bindings/lua_support.h"
#include "cli/commands.h"
#include "cli/repl_completion.h"

namespace ebpfrun::cli {
namespace {

volatile sig_atomic_t g_sigint = 0;
lua_State* volatile g_interruptible = nullptr;  // set while Lua runs with SIGINT unblocked
bindings::HostContext* g_context = nullptr;
int g_run_ref = LUA_NOREF;  // ebpf.run

// Whether ebpf.run is among the active frames: there a Ctrl-C must stop the
// run (so that it detaches) instead of raising through it.
bool run_on_stack(lua_State* L) {
  lua_Debug frame;
  for (int level = 0; lua_getstack(L, level, &frame); ++level) {
    lua_getinfo(L, "f", &frame);
    lua_rawgeti(L, LUA_REGISTRYINDEX, g_run_ref);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (same) return true;
  }
  return false;
}

// Runs in Lua, soon after a Ctrl-C: inside ebpf.run it stops the run (which
// then detaches as usual); elsewhere it raises.
void interrupt_hook(lua_State* L, lua_Debug*) {
  lua_sethook(L, nullptr, 0, 0);
  if (run_on_stack(L)) {
    g_sigint = 0;
    if (g_context && g_context->loop) g_context->loop->stop();
    return;
  }
  luaL_error(L, "interrupted");
}

void on_sigint(int) {
  lua_State* L = g_interruptible;
  if (L && g_sigint) {
    // The hook did not fire: JIT-compiled code (library loops) never calls it.
    constexpr char kMessage[] = "\nebpfrun: the Lua code does not stop; Ctrl-C again ends ebpfrun\n";
    [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    std::signal(SIGINT, SIG_DFL);
  }
  g_sigint = 1;
  // lua.c does the same: lua_sethook is safe to call from a signal handler.
  if (L) lua_sethook(L, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

void install_sigint_handler() {
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);  // no SA_RESTART: ppoll must return
}

void set_sigint_blocked(bool blocked) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

// Takes a pending (blocked) SIGINT, so that a Ctrl-C meant for something that
// already ended does not stop the next ebpf.run at once.
void discard_pending_sigint() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  const timespec zero{};
  while (sigtimedwait(&set, nullptr, &zero) > 0) {
  }
  g_sigint = 0;
}

// ---- reading a line

std::optional<std::string> g_line;
bool g_eof = false;

void on_line(char* line) {
  if (line) {
    g_line = line;
    std::free(line);
  } else {
    g_eof = true;
  }
  rl_callback_handler_remove();
}

enum class Read { line, interrupted, eof };

Read read_line(const char* prompt, std::string& out) {
  g_line.reset();
  g_eof = false;
  std::fflush(stdout);
  rl_callback_handler_install(prompt, on_line);
  sigset_t waiting;  // the current mask without SIGINT: Ctrl-C only wakes ppoll
  pthread_sigmask(SIG_SETMASK, nullptr, &waiting);
  sigdelset(&waiting, SIGINT);
  while (!g_line && !g_eof) {
    pollfd fd{STDIN_FILENO, POLLIN, 0};
    int ready = ppoll(&fd, 1, nullptr, &waiting);
    if (ready < 0 && g_sigint) {
      g_sigint = 0;
      std::fputs("^C", stdout);  // before the cleanup, which returns to column 0
      std::fflush(stdout);
      rl_free_line_state();
      rl_callback_sigcleanup();
      rl_cleanup_after_signal();
      rl_callback_handler_remove();
      std::fputs("\n", stdout);
      return Read::interrupted;
    }
    if (ready < 0 && errno != EINTR) {
      rl_callback_handler_remove();
      return Read::eof;
    }
    if (ready > 0) rl_callback_read_char();
  }
  if (g_eof) return Read::eof;
  out = *g_line;
  return Read::line;
}

// ---- evaluation

// The global that holds the ebpf.repl module. Typed chunks are wrapped in
// calls to its functions (see parse), and a chunk reaches only globals.
constexpr const char* kReplGlobal = "_EBPFRUN_REPL";

// The same key as os.exit in the host (bindings/lua_host.cpp): set before it
// unwinds with its sentinel error.
constexpr const char* kExitCodeKey = "ebpfrun.exit_code";

enum class Parse { ready, incomplete, error };

// A syntax error that only says the chunk ended too early ("... near '<eof>'").
bool ends_early(lua_State* L) {
  std::string message = lua_tostring(L, -1);
  const std::string eof = "'<eof>'";
  return message.size() >= eof.size() && message.compare(message.size() - eof.size(), eof.size(), eof) == 0;
}

// Leaves the loaded function (or the syntax error) on the stack. An expression
// runs as `return _EBPFRUN_REPL.values(<chunk>\n)` so that its values can be
// shown, and an error in it still points at the chunk (no tail call).
Parse parse(lua_State* L, const std::string& chunk) {
  std::string expression = "return " + chunk;
  bool is_expression = luaL_loadbuffer(L, expression.data(), expression.size(), "=stdin") == 0;
  bool expression_early = !is_expression && ends_early(L);
  lua_pop(L, 1);
  if (is_expression) {
    expression = std::string("return ") + kReplGlobal + ".values(" + chunk + "\n)";
    if (luaL_loadbuffer(L, expression.data(), expression.size(), "=stdin") == 0) return Parse::ready;
    lua_pop(L, 1);
  }
  if (luaL_loadbuffer(L, chunk.data(), chunk.size(), "=stdin") == 0) return Parse::ready;
  if (ends_early(L) || expression_early) {
    lua_pop(L, 1);
    return Parse::incomplete;
  }
  return Parse::error;
}

// The error with its traceback, less the frames every REPL error has (the
// chunk itself, error/assert): an error raised right in the typed chunk shows
// as one line.
std::string trim_traceback(const std::string& error) {
  size_t header = error.find("\nstack traceback:");
  if (header == std::string::npos) return error;
  std::string frames, kept;
  size_t start = header + 17;  // at the "\n" before the first frame
  while (start < error.size()) {
    size_t end = error.find('\n', start + 1);
    std::string frame = error.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? error.size() : end;
    if (frame.find("in main chunk") != std::string::npos) break;
    if (frame.find("in function 'error'") != std::string::npos ||
        frame.find("in function 'assert'") != std::string::npos)
      continue;
    kept += frame;
  }
  return kept.empty() ? error.substr(0, header) : error.substr(0, header) + "\nstack traceback:" + kept;
}

bool any_reader(bindings::HostContext& context) {
  return std::any_of(context.objects.begin(), context.objects.end(),
                     [](const auto& state) { return !state->readers.empty(); });
}

// Runs the function on top of the stack and shows its values. Returns the
// os.exit code when the chunk called os.exit.
std::optional<int> evaluate(bindings::LuaHost& host) {
  lua_State* L = host.state();
  auto& context = host.context();
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kExitCodeKey);
  int base = lua_gettop(L);
  // Typed code is interpreted, not JIT-compiled, so that the hook can stop
  // any loop in it (compiled code never calls hooks).
  luaJIT_setmode(L, -1, LUAJIT_MODE_ALLFUNC | LUAJIT_MODE_OFF);
  // SIGINT reaches on_sigint while the chunk runs. An event loop that exists
  // already would read it from its signalfd, but only while blocked in
  // ebpf.run: Lua code elsewhere could not be interrupted. A loop created
  // during the chunk takes SIGINT over (blocks it) for the rest of the chunk.
  install_sigint_handler();
  discard_pending_sigint();
  g_interruptible = L;
  set_sigint_blocked(false);
  std::string error = bindings::protected_call(L, 0, LUA_MULTRET);
  g_interruptible = nullptr;
  set_sigint_blocked(true);
  install_sigint_handler();  // on_sigint may have given up on this chunk (SIG_DFL)
  lua_sethook(L, nullptr, 0, 0);
  discard_pending_sigint();
  std::optional<int> exit_code;
  if (!error.empty()) {
    lua_getfield(L, LUA_REGISTRYINDEX, kExitCodeKey);
    if (lua_isnumber(L, -1))
      exit_code = static_cast<int>(lua_tonumber(L, -1));
    else
      std::fprintf(stderr, "error: %s\n", trim_traceback(error).c_str());
    // What the failed chunk loaded but never got to keep (an interrupted
    // ebpf.compile) is closed by its __gc: collect it now, not some time later.
    lua_gc(L, LUA_GCCOLLECT, 0);
  } else if (int results = lua_gettop(L) - base + 1; results > 0) {
    lua_getglobal(L, kReplGlobal);
    lua_getfield(L, -1, "print");
    lua_remove(L, -2);
    lua_insert(L, base);
    std::string shown = bindings::protected_call(L, results, 0);
    if (!shown.empty()) std::fprintf(stderr, "error: %s\n", shown.c_str());
  }
  lua_settop(L, 0);
  std::fflush(stdout);
  // A loop without readers is done with. Dropping it gives SIGINT and SIGTERM
  // back, and the next ebpf.run starts a fresh loop that ends on "signal".
  if (context.loop && !any_reader(context)) context.loop.reset();
  return exit_code;
}

// Runs a `:` command other than :quit (which ends the loop here) through
// ebpf.repl.command, which also prints the help text.
void run_command(bindings::LuaHost& host, const std::string& name) {
  lua_State* L = host.state();
  lua_getglobal(L, kReplGlobal);
  lua_getfield(L, -1, "command");
  lua_remove(L, -2);
  lua_pushlstring(L, name.data(), name.size());
  std::string error = bindings::protected_call(L, 1, 0);
  if (!error.empty()) std::fprintf(stderr, "error: %s\n", error.c_str());
  lua_settop(L, 0);
}

std::string history_path() {
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.ebpfrun_history";
}

// Each line typed goes to the history file at once, so that a session that
// ends abruptly still leaves its lines for the next one.
void remember(const std::string& line, const std::string& path) {
  if (line.find_first_not_of(" \t") == std::string::npos) return;
  HIST_ENTRY* last = history_length > 0 ? history_get(history_base + history_length - 1) : nullptr;
  if (last && line == last->line) return;
  add_history(line.c_str());
  if (int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600); fd >= 0) ::close(fd);
  append_history(1, path.c_str());
}

// Sets the global `global` to require(module). Returns the Lua error (with
// its traceback) when the module fails to load, else an empty string.
std::string require_as_global(lua_State* L, const char* module, const char* global) {
  int top = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  std::string error = bindings::protected_call(L, 1, 1);
  if (error.empty()) lua_setglobal(L, global);
  lua_settop(L, top);
  return error;
}

}  // namespace

int run_repl(bindings::LuaHost& host) {
  lua_State* L = host.state();
  // The help text promises `ebpf` as a global; the module's global is the one
  // typed chunks are wrapped in (see parse).
  for (auto [module, global] : {std::pair{"ebpf", "ebpf"}, std::pair{"ebpf.repl", kReplGlobal}}) {
    if (std::string error = require_as_global(L, module, global); !error.empty()) {
      std::fprintf(stderr, "ebpfrun: error: %s\n", error.c_str());
      return kExitRuntimeError;
    }
  }
  g_context = &host.context();
  lua_getglobal(L, "ebpf");
  lua_getfield(L, -1, "run");
  g_run_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  rl_readline_name = "ebpfrun";
  rl_catch_signals = 0;  // SIGINT is ours (see read_line)
  install_repl_completion(L);
  const std::string history = history_path();
  using_history();
  read_history(history.c_str());
  install_sigint_handler();
  set_sigint_blocked(true);
  std::printf("ebpfrun %s REPL — :help for help, Ctrl-D to leave\n", EBPFRUN_VERSION);

  int exit_code = kExitOk;
  std::string chunk;
  for (;;) {
    std::string line;
    Read read = read_line(chunk.empty() ? "ebpf> " : "  ..> ", line);
    if (read == Read::eof) break;
    if (read == Read::interrupted) {
      chunk.clear();
      continue;
    }
    remember(line, history);
    if (chunk.empty() && line.find_first_not_of(" \t") == std::string::npos) continue;
    if (chunk.empty() && line[0] == ':') {
      std::string name = line.substr(1, line.find_last_not_of(" \t"));
      if (name == "quit" || name == "q") break;
      if (name.rfind("probes ", 0) == 0) {
        list_probes(name.substr(name.find_first_not_of(' ', 7)));
        continue;
      }
      run_command(host, name);
      continue;
    }
    chunk += chunk.empty() ? line : "\n" + line;
    Parse parsed = parse(L, chunk);
    if (parsed == Parse::incomplete) continue;
    chunk.clear();
    if (parsed == Parse::error) {
      std::fprintf(stderr, "error: %s\n", lua_tostring(L, -1));
      lua_settop(L, 0);
      continue;
    }
    if (auto code = evaluate(host)) {
      exit_code = *code;
      break;
    }
  }
  std::puts("");
  history_truncate_file(history.c_str(), 1000);
  return exit_code;
}

}  // namespace ebpfrun::cli
