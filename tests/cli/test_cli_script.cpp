// ebpfrun's script mode as a user runs it: `ebpfrun SCRIPT.lua`, -e, -l, -p,
// -c, -f, -v, --btf, --no-cache, --stats, --help, --version; the exit codes of
// every usage and runtime error; and that nothing a script loaded stays in the
// kernel afterwards.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <regex>
#include <sstream>

#include <catch2/catch.hpp>

#include "support/test_support.h"

using namespace ebpfrun;
using test::run;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

test::ProcessResult ebpfrun_run(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
  args.insert(args.begin(), test::ebpfrun_binary());
  return run(args, env);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// "KEY\tCOUNT" lines printed by the test scripts, by key.
std::map<std::string, long> counts_of(const std::string& out) {
  std::map<std::string, long> counts;
  for (const auto& line : lines_of(out)) {
    size_t tab = line.find('\t');
    if (tab == std::string::npos || line.rfind("reason", 0) == 0) continue;
    counts[line.substr(0, tab)] = std::stol(line.substr(tab + 1));
  }
  return counts;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A child process of the test running `body` until the object goes away.
class Background {
 public:
  explicit Background(const std::function<void()>& body) {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      body();
      ::_exit(0);
    }
  }
  ~Background() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
};

// Calls getppid() about 500 times a second.
void getppid_loop() {
  for (;;) {
    ::syscall(SYS_getppid);
    ::usleep(2000);
  }
}

// Execs programs (sh, echo, sleep) every few milliseconds.
void exec_loop() {
  ::execl("/bin/sh", "sh", "-c", "while :; do /bin/echo >/dev/null; sleep 0.02; done", static_cast<char*>(nullptr));
  ::_exit(127);
}

std::string own_comm() {
  std::ifstream in("/proc/self/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

// A script counting getppid() calls per process in a map; prints "PID\tCOUNT"
// lines after running for arg[1] seconds. Its /*FILTER*/ takes -p and -c.
std::string pid_count_script(const std::string& program) {
  std::string text = R"(local ebpf = require "ebpf"
local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, __u32); __type(value, __u64); } cli_per_pid SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int PROGRAM(void *ctx)
{
    /*FILTER*/
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    __u64 one = 1, *v = bpf_map_lookup_elem(&cli_per_pid, &pid);
    if (v) __sync_fetch_and_add(v, 1); else bpf_map_update_elem(&cli_per_pid, &pid, &one, BPF_NOEXIST);
    return 0;
}
]] })
assert(obj:attach_all())
ebpf.run { duration = tonumber(arg[1]) or 1 }
for pid, n in obj:map("cli_per_pid"):pairs() do print(pid, n) end
)";
  return std::regex_replace(text, std::regex("PROGRAM"), program);
}

// A script counting execs per comm; prints "reason\tWHY" and "COMM\tCOUNT".
constexpr const char* kExecCountScript = R"(local ebpf = require "ebpf"
local ffi = require "ffi"
local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct comm_key { char comm[16]; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, struct comm_key); __type(value, __u64); } cli_exec_counts SEC(".maps");
SEC("tracepoint/sched/sched_process_exec")
int cli_exec_count(void *ctx)
{
    /*FILTER*/
    struct comm_key key = {};
    bpf_get_current_comm(key.comm, sizeof(key.comm));
    __u64 one = 1, *v = bpf_map_lookup_elem(&cli_exec_counts, &key);
    if (v) __sync_fetch_and_add(v, 1); else bpf_map_update_elem(&cli_exec_counts, &key, &one, BPF_NOEXIST);
    return 0;
}
]] })
assert(obj:attach_all())
print("reason", ebpf.run { duration = tonumber(arg[1]) or 10 })
for k, n in obj:map("cli_exec_counts"):pairs() do print(ffi.string(k.comm), n) end
)";

// A script that loads and attaches a program named PROGRAM, says so, then does TAIL.
std::string attach_then(const std::string& program, const std::string& tail) {
  std::string text = R"(local ebpf = require "ebpf"
local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
SEC("tracepoint/syscalls/sys_enter_getppid")
int PROGRAM(void *ctx) { return 0; }
]] })
assert(obj:attach_all())
print("attached")
)";
  return std::regex_replace(text, std::regex("PROGRAM"), program) + tail + "\n";
}

size_t files_under(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::end(it);
       it.increment(ec))
    if (it->is_regular_file()) ++n;
  return n;
}

// True once no program (or map) of that name is in the kernel. The kernel
// frees a map an RCU grace period after the last program using it, so a map
// of a process that just exited may linger for a moment; a leaked one stays.
bool program_gone(const std::string& name) {
  for (int i = 0; i < 200 && test::kernel_has_program(name); ++i) ::usleep(10000);
  return !test::kernel_has_program(name);
}
bool map_gone(const std::string& name) {
  for (int i = 0; i < 200 && test::kernel_has_map(name); ++i) ::usleep(10000);
  return !test::kernel_has_map(name);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The cgroup -c made, from the -v log line "-c: started ... in cgroup DIR (id N)".
std::string traced_cgroup(const std::string& err) {
  std::smatch m;
  if (!std::regex_search(err, m, std::regex("-c: started .* in cgroup (\\S+) \\(id"))) return "";
  return m[1];
}

// ---------------------------------------------------------------------------
// Usage errors (exit 2) need no privilege: they are found before the
// preflight. Anything that runs Lua passes the preflight first, so needs root.

// One bad command line per row: its arguments ("SCRIPT" stands for a script
// that would run fine, "SRC/" for the source tree), the exit code, and a
// fragment of the one message it must print. Adding a case is adding a row.
struct BadInput {
  std::vector<std::string> argv;
  int exit_code;
  std::string message;
  bool prints_usage = false;  // the usage line follows the message
};

const std::vector<BadInput> kUsageErrors = {
    {{"/no/such/script.lua"}, 2, "script /no/such/script.lua does not exist", true},
    {{"--frobnicate", "SCRIPT"}, 2, "unknown option --frobnicate", true},
    {{"-f", "yaml", "SCRIPT"}, 2, "yaml"},
    {{"-p", "abc", "SCRIPT"}, 2, "abc"},
    {{"-p", "99999999", "SCRIPT"}, 2, "-p 99999999: not a process id (pids run from 1 to"},
    {{"-p", "0", "SCRIPT"}, 2, "-p 0: not a process id"},
    {{"-p", "-5", "SCRIPT"}, 2, ""},
    {{"-p", "99999999999", "SCRIPT"}, 2, "99999999999"},
    {{"-c", "", "-e", "print(1)"}, 2, "-c needs a command to run", true},
    {{"-c", "  ", "-e", "print(1)"}, 2, "-c needs a command to run", true},
    {{"--btf"}, 2, "--btf"},
    {{}, 2, "no script given", true},  // test::run gives the child /dev/null as stdin
    {{"-e", "print('e ran')", "SCRIPT"}, 2, "not both", true},
};

// Lua-side usage errors (stdlib/ebpf/args.lua) run after the preflight, so
// they need the privileges of a run.
const std::vector<BadInput> kScriptUsageErrors = {
    {{"SRC/scripts/syscalls.lua", "--top", "-3"}, 2, "option '--top' must be greater than 0, got '-3'"},
    {{"SRC/scripts/syscalls.lua", "--top", "0"}, 2, "option '--top' must be greater than 0, got '0'"},
    {{"SRC/scripts/syscalls.lua", "--pid", "99999999999"}, 2, "option '--pid' must be at most"},
    {{"SRC/scripts/syscalls.lua", "--pid", "99999999"}, 2, "option '--pid' must be at most"},
    {{"SRC/scripts/syscalls.lua", "--tid", "99999999"}, 2, "option '--tid' must be at most"},
    {{"SRC/scripts/syscalls.lua", "--interval", "-1"}, 2, "option '--interval' must be greater than 0"},
};

size_t occurrences(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t pos = text.find(part); pos != std::string::npos; pos = text.find(part, pos + 1)) ++n;
  return n;
}

void check_bad_input(const BadInput& row, const std::string& script) {
  std::vector<std::string> argv;
  for (const auto& a : row.argv) {
    if (a == "SCRIPT")
      argv.push_back(script);
    else if (a.rfind("SRC/", 0) == 0)
      argv.push_back(test::source_dir() + "/" + a.substr(4));
    else
      argv.push_back(a);
  }
  std::string shown;
  for (const auto& a : row.argv) shown += " '" + a + "'";
  INFO("ebpfrun" << shown);
  auto r = ebpfrun_run(argv);
  INFO(r.err);
  CHECK(r.exit_code == row.exit_code);
  CHECK(r.out.empty());
  CHECK(contains(r.err, row.message));
  // One message, said once (a usage error used to be printed twice).
  if (!row.message.empty()) CHECK(occurrences(r.err, row.message) == 1);
  if (row.prints_usage) CHECK(contains(r.err, "usage: ebpfrun"));
}

}  // namespace

TEST_CASE("bad command lines are usage errors with one message", "[cli][script]") {
  test::TempDir dir;
  dir.write("ok.lua", "print('ran')\n");
  for (const auto& row : kUsageErrors) check_bad_input(row, dir.file("ok.lua"));
}

TEST_CASE("bad script arguments are usage errors with one message", "[cli][script][root]") {
  if (!test::have_root()) return;  // script arguments are parsed after the privilege preflight
  for (const auto& row : kScriptUsageErrors) check_bad_input(row, "");
}

TEST_CASE("a Lua syntax error exits 1 naming the file and line", "[cli][script][root]") {
  if (!test::have_root()) return;  // every run starts with the privilege preflight
  test::TempDir dir;
  dir.write("syntax.lua", "print('first line')\nlocal = 3\n");
  auto r = ebpfrun_run({dir.file("syntax.lua")});
  CHECK(r.exit_code == 1);
  CHECK(contains(r.err, dir.file("syntax.lua") + ":2:"));
  CHECK(r.out.empty());  // nothing of the script ran
}

TEST_CASE("a Lua runtime error exits 1 with its traceback", "[cli][script][root]") {
  if (!test::have_root()) return;  // every run starts with the privilege preflight
  test::TempDir dir;
  dir.write("boom.lua",
            "local function explode() error('boom here') end\nprint('before')\nexplode()\nprint('after')\n");
  auto r = ebpfrun_run({dir.file("boom.lua")});
  CHECK(r.exit_code == 1);
  CHECK(r.out == "before\n");
  CHECK(contains(r.err, dir.file("boom.lua") + ":1: boom here"));
  CHECK(contains(r.err, "stack traceback:"));
  CHECK(contains(r.err, "in function 'explode'"));
  CHECK(contains(r.err, dir.file("boom.lua") + ":3: in main chunk"));
  CHECK(occurrences(r.err, "stack traceback:") == 1);
}

TEST_CASE("os.exit in a script sets the exit code", "[cli][script][root]") {
  if (!test::have_root()) return;  // every run starts with the privilege preflight
  test::TempDir dir;
  dir.write("exit.lua", "print('before')\nos.exit(3)\nprint('after')\n");
  auto r = ebpfrun_run({dir.file("exit.lua")});
  CHECK(r.exit_code == 3);
  CHECK(r.out == "before\n");
  CHECK(r.err.empty());
  CHECK(ebpfrun_run({"-e", "os.exit(false)"}).exit_code == 1);
  CHECK(ebpfrun_run({"-e", "os.exit(true)"}).exit_code == 0);
  CHECK(ebpfrun_run({"-e", "os.exit(0)"}).exit_code == 0);
}

// ---------------------------------------------------------------------------
// Arguments, -e, -f, --help, --version

TEST_CASE("script arguments reach the script as arg and ...", "[cli][script][root]") {
  if (!test::have_root()) return;  // every run starts with the privilege preflight
  test::TempDir dir;
  dir.write("args.lua",
            "print(arg[0])\nprint(#arg)\nfor i = 1, #arg do print(arg[i]) end\n"
            "print(select('#', ...))\nprint(table.concat({...}, ','))\n");
  const std::string script = dir.file("args.lua");

  auto r = ebpfrun_run({script, "one", "-v", "--two", "3"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == script + "\n4\none\n-v\n--two\n3\n4\none,-v,--two,3\n");
  CHECK_FALSE(contains(r.err, "debug:"));  // -v after the script is the script's

  auto separated = ebpfrun_run({"-f", "json", "--", script, "a", "-b"});
  INFO(separated.err);
  REQUIRE(separated.exit_code == 0);
  CHECK(separated.out == script + "\n2\na\n-b\n2\na,-b\n");

  // After the script everything is the script's, "--" included.
  auto passed = ebpfrun_run({script, "--", "x"});
  REQUIRE(passed.exit_code == 0);
  CHECK(passed.out == script + "\n2\n--\nx\n2\n--,x\n");

  auto none = ebpfrun_run({script});
  REQUIRE(none.exit_code == 0);
  CHECK(none.out == script + "\n0\n0\n\n");
}

TEST_CASE("ebpfrun -e runs Lua text", "[cli][script][root]") {
  if (!test::have_root()) return;  // every run starts with the privilege preflight
  auto r = ebpfrun_run({"-e", "print(1+1)"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "2\n");
  auto error = ebpfrun_run({"-e", "error('from -e')"});
  CHECK(error.exit_code == 1);
  CHECK(contains(error.err, "-e:1: from -e"));
}

TEST_CASE("ebpfrun -f json is visible to scripts as ebpf.options.format", "[cli][script][root]") {
  if (!test::have_root()) return;  // every run starts with the privilege preflight
  test::TempDir dir;
  dir.write("format.lua", "print(require('ebpf').options.format)\n");
  auto json = ebpfrun_run({"-f", "json", dir.file("format.lua")});
  INFO(json.err);
  CHECK(json.exit_code == 0);
  CHECK(json.out == "json\n");
  auto text = ebpfrun_run({dir.file("format.lua")});
  CHECK(text.exit_code == 0);
  CHECK(text.out == "text\n");
  auto long_flag = ebpfrun_run({"--format", "json", "-e", "print(require('ebpf').options.format)"});
  CHECK(long_flag.exit_code == 0);
  CHECK(long_flag.out == "json\n");
}

TEST_CASE("ebpfrun --help lists every script-mode flag and --version prints the version", "[cli][script]") {
  auto help = ebpfrun_run({"--help"});
  CHECK(help.exit_code == 0);
  for (const char* flag : {"-e", "-l,--list", "-p,--pid", "-c,--command", "-f,--format", "-v,--verbose", "--no-cache",
                           "--btf", "--stats", "--version", "usage: ebpfrun"}) {
    INFO(flag);
    CHECK(contains(help.out, flag));
  }
  auto version = ebpfrun_run({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(std::regex_match(version.out, std::regex("ebpfrun \\S+\n")));
}

// ---------------------------------------------------------------------------
// -l

TEST_CASE("ebpfrun -l lists tracepoints matching a glob", "[cli][script][root]") {
  if (!test::have_root()) return;  // tracefs is root's
  auto r = ebpfrun_run({"-l", "syscalls:sys_enter_open*"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto lines = lines_of(r.out);
  CHECK(std::find(lines.begin(), lines.end(), "tracepoint/syscalls/sys_enter_openat") != lines.end());
  for (const auto& line : lines) {
    INFO(line);
    CHECK(line.rfind("tracepoint/syscalls/sys_enter_open", 0) == 0);
  }
  auto slash = ebpfrun_run({"-l", "syscalls/*_openat"});
  REQUIRE(slash.exit_code == 0);
  CHECK(slash.out == "tracepoint/syscalls/sys_enter_openat\ntracepoint/syscalls/sys_exit_openat\n");
}

TEST_CASE("ebpfrun -l uprobe/BINARY:GLOB lists a binary's function symbols", "[cli][script]") {
  auto r = ebpfrun_run({"-l", "uprobe/libc:mallo*"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto lines = lines_of(r.out);
  REQUIRE_FALSE(lines.empty());
  bool malloc_listed = false;
  for (const auto& line : lines) {
    INFO(line);
    CHECK(std::regex_match(line, std::regex("uprobe//\\S*libc\\S*:mallo\\w*")));
    malloc_listed = malloc_listed || (line.size() > 7 && line.substr(line.size() - 7) == ":malloc");
  }
  CHECK(malloc_listed);
}

TEST_CASE("ebpfrun -l kprobe/GLOB and fentry/GLOB list kernel functions, vfs_read among them", "[cli][script][root]") {
  if (!test::have_root()) return;  // kallsyms shows names (and tracefs is readable) to root
  for (std::string kind : {"kprobe", "kretprobe", "fentry", "fexit"}) {
    auto r = ebpfrun_run({"-l", kind + "/vfs_*"});
    INFO(kind << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    auto lines = lines_of(r.out);
    CHECK(std::find(lines.begin(), lines.end(), kind + "/vfs_read") != lines.end());
    CHECK(std::find(lines.begin(), lines.end(), kind + "/vfs_write") != lines.end());
    for (const auto& line : lines) {
      INFO(line);
      CHECK(line.rfind(kind + "/vfs_", 0) == 0);
    }
    CHECK(std::is_sorted(lines.begin(), lines.end()));
    CHECK(std::adjacent_find(lines.begin(), lines.end()) == lines.end());
  }
  // A pattern no function matches lists nothing, as -l does for tracepoints.
  for (const char* pattern : {"kprobe/no_such_function_ebpfrun_*", "fentry/no_such_function_ebpfrun_*"}) {
    auto none = ebpfrun_run({"-l", pattern});
    INFO(pattern << ": " << none.err);
    CHECK(none.exit_code == 0);
    CHECK(none.out.empty());
  }
  auto tracepoints = ebpfrun_run({"-l", "syscalls/no_such_tracepoint_*"});
  CHECK(tracepoints.exit_code == 0);
  CHECK(tracepoints.out.empty());
}

TEST_CASE("ebpfrun -l on a binary that does not exist exits 1 naming it", "[cli][script]") {
  auto r = ebpfrun_run({"-l", "uprobe/no/such/binary:x"});
  CHECK(r.exit_code == 1);
  CHECK(contains(r.err, "no/such/binary does not exist"));
  CHECK(r.out.empty());
}

// ---------------------------------------------------------------------------
// Runs that load BPF programs

TEST_CASE("os.exit and a Lua error after attaching leave nothing in the kernel", "[cli][script][root]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  dir.write("exit.lua", attach_then("cli_exit_prog", "os.exit(3)\nprint('not reached')"));
  auto exited = ebpfrun_run({dir.file("exit.lua")});
  INFO(exited.err);
  CHECK(exited.exit_code == 3);
  CHECK(exited.out == "attached\n");
  CHECK(program_gone("cli_exit_prog"));

  dir.write("error.lua", attach_then("cli_error_prog", "local function late() error('late failure') end\nlate()"));
  auto failed = ebpfrun_run({dir.file("error.lua")});
  CHECK(failed.exit_code == 1);
  CHECK(failed.out == "attached\n");
  CHECK(contains(failed.err, "late failure"));
  CHECK(contains(failed.err, "stack traceback:"));
  CHECK(program_gone("cli_error_prog"));
}

TEST_CASE("an error in an event handler exits 1 and detaches everything", "[cli][script][root]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  dir.write("handler.lua", R"(local ebpf = require "ebpf"
local ffi = require "ffi"
ffi.cdef "int getppid(void);"
local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct event { __u32 pid; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } cli_handler_rb SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int cli_handler_err(void *ctx)
{
    struct event *e = bpf_ringbuf_reserve(&cli_handler_rb, sizeof(*e), 0);
    if (!e) return 0;
    e->pid = bpf_get_current_pid_tgid() >> 32;
    bpf_ringbuf_submit(e, 0);
    return 0;
}
]] })
assert(obj:attach_all())
obj:ringbuf("cli_handler_rb", "struct event"):on(function(e) error("handler saw pid " .. e.pid) end)
ffi.C.getppid()
ebpf.run { duration = 5 }
print("not reached")
)");
  auto r = ebpfrun_run({dir.file("handler.lua")});
  CHECK(r.exit_code == 1);
  CHECK(contains(r.err, "error in an event handler (everything was detached)"));
  CHECK(contains(r.err, "handler saw pid "));
  CHECK(occurrences(r.err, "stack traceback:") == 1);  // the handler's, not a second one of the re-raise
  CHECK(r.out.empty());
  CHECK(program_gone("cli_handler_err"));
  CHECK(map_gone("cli_handler_rb"));
}

TEST_CASE("a compile error or an attach failure in a script exits 1", "[cli][script][root]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  dir.write("broken.lua", R"(local ebpf = require "ebpf"
local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
int broken(void) { return undeclared_name; }
]] })
)");
  auto broken = ebpfrun_run({dir.file("broken.lua")});
  CHECK(broken.exit_code == 1);
  CHECK(contains(broken.err, dir.file("broken.lua") + ":4:"));  // the C's line in the Lua file
  CHECK(contains(broken.err, "undeclared_name"));

  dir.write("attach.lua", R"(local ebpf = require "ebpf"
local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
SEC("tracepoint/syscalls/sys_enter_getppid")
int cli_attach_fail(void *ctx) { return 0; }
]] })
assert(obj:attach("cli_attach_fail", "tracepoint/no_such_category/no_such_event"))
)");
  auto attach = ebpfrun_run({dir.file("attach.lua")});
  CHECK(attach.exit_code == 1);
  CHECK(contains(attach.err, "no_such_category"));
  CHECK(program_gone("cli_attach_fail"));
}

TEST_CASE("ebpfrun -e one-liners count events and stop after their duration", "[cli][script][root]") {
  if (!test::have_root()) return;
  Background caller(getppid_loop);
  auto r = ebpfrun_run({"-e", "count('tracepoint/syscalls/sys_enter_getppid', 'comm', { duration = 1 })"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(r.out, m, std::regex("@\\[" + own_comm() + "\\]: (\\d+)\n")));
  CHECK(std::stol(m[1]) >= 50);  // ~500 calls in the second
  for (const auto& line : lines_of(r.out)) {
    INFO(line);
    CHECK(std::regex_match(line, std::regex("@\\[.*\\]: \\d+")));
  }
  CHECK(contains(r.err, "Attaching 1 probe..."));
  CHECK(program_gone("oneliner"));
}

TEST_CASE("every one-liner helper runs under -e", "[cli][script][root]") {
  if (!test::have_root()) return;
  Background caller(getppid_loop);  // getppid and clock_nanosleep, ~500 times a second each
  const std::string pid = std::to_string(caller.pid());
  auto oneliner = [&](const std::string& code) {
    auto r = ebpfrun_run({"-p", pid, "-e", code});
    INFO(code);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    return r.out;
  };
  std::smatch m;

  std::string total = oneliner("count('tracepoint/syscalls/sys_enter_getppid', nil, { duration = 0.5 })");
  REQUIRE(std::regex_match(total, m, std::regex("@: (\\d+)\n")));
  CHECK(std::stol(m[1]) >= 20);

  std::string by_pid = oneliner("count('tracepoint/syscalls/sys_enter_getppid', 'pid', { duration = 0.5 })");
  REQUIRE(std::regex_match(by_pid, m, std::regex("@\\[" + pid + "\\]: (\\d+)\n")));
  CHECK(std::stol(m[1]) >= 20);

  for (const char* probe : {"tracepoint/raw_syscalls/sys_enter", "raw_tp/sys_enter"}) {
    std::string by_syscall = oneliner(std::string("count('") + probe + "', 'syscall', { duration = 0.5 })");
    REQUIRE(std::regex_search(by_syscall, m, std::regex("(^|\n)@\\[getppid\\]: (\\d+)\n")));
    CHECK(std::stol(m[2]) >= 20);
  }

  std::string hist = oneliner("hist('tracepoint/syscalls/sys_enter_getppid', 'pid', { duration = 0.5 })");
  CHECK(hist.rfind("@pid:\n", 0) == 0);
  // Every event has the same value, so one bucket holds them all.
  std::vector<long> nonzero;
  for (const auto& line : lines_of(hist))
    if (std::regex_match(line, m, std::regex("\\[[^\\])]*[\\])]\\s+(\\d+) \\|.*")) && std::stol(m[1]) > 0)
      nonzero.push_back(std::stol(m[1]));
  REQUIRE(nonzero.size() == 1);
  CHECK(nonzero[0] >= 20);

  std::string traced =
      oneliner("trace('tracepoint/syscalls/sys_enter_getppid', '%s %d', { 'comm', 'pid' }, { duration = 0.5 })");
  auto lines = lines_of(traced);
  CHECK(lines.size() >= 20);
  for (const auto& line : lines) {
    INFO(line);
    CHECK(line == own_comm() + " " + pid);
  }
  CHECK(program_gone("oneliner"));
}

TEST_CASE("ebpfrun -p limits every compiled program to that process", "[cli][script][root]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  dir.write("pids.lua", pid_count_script("cli_pid_count"));
  Background first(getppid_loop), second(getppid_loop);
  const std::string p1 = std::to_string(first.pid()), p2 = std::to_string(second.pid());

  // Unfiltered, the script sees both helpers: the filter is what narrows it.
  auto all = counts_of(ebpfrun_run({dir.file("pids.lua"), "0.5"}).out);
  CHECK(all.count(p1) == 1);
  CHECK(all.count(p2) == 1);

  auto one = ebpfrun_run({"-p", p1, dir.file("pids.lua"), "1"});
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  auto counts = counts_of(one.out);
  REQUIRE(counts.size() == 1);
  CHECK(counts.begin()->first == p1);
  CHECK(counts.begin()->second >= 50);

  auto both = ebpfrun_run({"--pid", p1, "-p", p2, dir.file("pids.lua"), "1"});
  INFO(both.err);
  REQUIRE(both.exit_code == 0);
  counts = counts_of(both.out);
  CHECK(counts.size() == 2);
  CHECK(counts[p1] >= 50);
  CHECK(counts[p2] >= 50);

  // One-liners take -p too.
  auto oneliner = ebpfrun_run(
      {"-p", p2, "-e", "require('ebpf.oneliner').duration = 1; count('tracepoint/syscalls/sys_enter_getppid', 'pid')"});
  INFO(oneliner.err);
  REQUIRE(oneliner.exit_code == 0);
  auto lines = lines_of(oneliner.out);
  REQUIRE(lines.size() == 1);
  CHECK(std::regex_match(lines[0], std::regex("@\\[" + p2 + "\\]: \\d+")));

  CHECK(program_gone("cli_pid_count"));
  CHECK(map_gone("cli_per_pid"));
  CHECK(program_gone("oneliner"));
}

TEST_CASE("ebpfrun -c traces the command and its children only and the run ends with it", "[cli][script][root]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  dir.write("execs.lua", kExecCountScript);
  Background others(exec_loop);

  // Unfiltered, the other process's execs are seen: -c is what hides them.
  auto all = ebpfrun_run({dir.file("execs.lua"), "0.5"});
  INFO(all.err);
  REQUIRE(all.exit_code == 0);
  CHECK(counts_of(all.out)["echo"] >= 1);

  auto start = std::chrono::steady_clock::now();
  auto r = ebpfrun_run({"-v", "-c", "sh -c \"sleep 0.2; /bin/true; /bin/true\"", dir.file("execs.lua"), "10"});
  double took = seconds_since(start);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(took < 5);  // ended with the command, not after the script's 10 s
  CHECK(contains(r.out, "reason\tstopped\n"));
  // sh twice (the -c shell, then the inner sh), sleep once, true twice.
  std::map<std::string, long> expected{{"sh", 2}, {"sleep", 1}, {"true", 2}};
  CHECK(counts_of(r.out) == expected);

  // The command's cgroup (and a private cgroup2 mount, if one was made) is gone.
  std::string cgroup = traced_cgroup(r.err);
  REQUIRE_FALSE(cgroup.empty());
  CHECK_FALSE(std::filesystem::exists(cgroup));
  CHECK_FALSE(contains(read_text("/proc/self/mounts"), "ebpfrun-cgroup2-"));
  CHECK(program_gone("cli_exec_count"));
  CHECK(map_gone("cli_exec_counts"));
}

TEST_CASE("ebpfrun -c stops a command and its children when the run ends first", "[cli][script][root]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  dir.write("execs.lua", kExecCountScript);
  // A shell that ignores SIGTERM, with a child in the background and one in
  // the foreground: all of them must go, and their cgroup with them.
  auto start = std::chrono::steady_clock::now();
  auto r = ebpfrun_run({"-v", "-c", "trap '' TERM; sleep 30 & sleep 30; wait", dir.file("execs.lua"), "0.5"});
  double took = seconds_since(start);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.out, "reason\tduration\n"));
  CHECK(took < 5);
  CHECK(counts_of(r.out)["sleep"] == 2);
  std::string cgroup = traced_cgroup(r.err);
  REQUIRE_FALSE(cgroup.empty());
  CHECK_FALSE(std::filesystem::exists(cgroup));  // only possible once every process in it is gone
  CHECK(program_gone("cli_exec_count"));
}

TEST_CASE("ebpfrun -c exits with the command's status, like timeout(1)", "[cli][script][root]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  dir.write("execs.lua", kExecCountScript);
  auto failed = ebpfrun_run({"-c", "sleep 0.1; exit 7", dir.file("execs.lua"), "10"});
  INFO(failed.err);
  CHECK(failed.exit_code == 7);
  CHECK(contains(failed.out, "reason\tstopped\n"));
  auto killed = ebpfrun_run({"-c", "sleep 0.1; kill -TERM $$", dir.file("execs.lua"), "10"});
  INFO(killed.err);
  CHECK(killed.exit_code == 128 + SIGTERM);
  auto fine = ebpfrun_run({"-c", "sleep 0.1", dir.file("execs.lua"), "10"});
  CHECK(fine.exit_code == 0);
  // The run ending first is ebpfrun's own status, not the killed command's.
  auto first = ebpfrun_run({"-c", "sleep 30", dir.file("execs.lua"), "0.3"});
  CHECK(first.exit_code == 0);
}

TEST_CASE("ebpfrun -c mounts a private cgroup2 when none is mounted and removes it", "[cli][script][root]") {
  if (!test::have_root()) return;
  if (!std::filesystem::exists("/usr/bin/unshare")) {
    WARN("skipped: needs unshare(1) from util-linux");
    return;
  }
  test::TempDir dir;
  dir.write("execs.lua", kExecCountScript);
  // In a mount namespace of its own with every cgroup2 mount removed, ebpfrun
  // must make its own mount; afterwards no such mount is left in there either.
  dir.write("wrap.sh",
            "for m in $(awk '$3==\"cgroup2\"{print $2}' /proc/self/mounts); do umount -l \"$m\"; done\n"
            "\"$1\" -v -c 'sh -c \"sleep 0.2; /bin/true\"' \"$2\" 10\n"
            "echo \"rc=$?\"\n"
            "echo \"left=$(grep -c ebpfrun-cgroup2 /proc/self/mounts)\"\n");
  auto r = run({"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", dir.file("wrap.sh"),
                test::ebpfrun_binary(), dir.file("execs.lua")});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "reason\tstopped\n"));
  CHECK(contains(r.out, "\nsleep\t1\n"));
  CHECK(contains(r.out, "\ntrue\t1\n"));
  CHECK(contains(r.out, "rc=0\n"));
  CHECK(contains(r.out, "left=0\n"));
  std::string cgroup = traced_cgroup(r.err);
  REQUIRE(cgroup.rfind("/tmp/ebpfrun-cgroup2-", 0) == 0);
  CHECK_FALSE(std::filesystem::exists(cgroup.substr(0, cgroup.rfind('/'))));  // the mount point too
  CHECK(program_gone("cli_exec_count"));
}

TEST_CASE("ebpfrun -v shows compile details and --no-cache neither reads nor writes the cache", "[cli][script][root]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  dir.write("cached.lua", attach_then("cli_cache_prog", ""));
  const std::vector<std::string> env{"XDG_CACHE_HOME=" + dir.file("cache")};
  const std::string objects = dir.file("cache") + "/ebpfrun/objects";

  auto quiet = ebpfrun_run({"--no-cache", dir.file("cached.lua")}, env);
  INFO(quiet.err);
  REQUIRE(quiet.exit_code == 0);
  CHECK(quiet.out == "attached\n");
  CHECK_FALSE(contains(quiet.err, "debug:"));
  CHECK(files_under(objects) == 0);

  auto first = ebpfrun_run({"-v", dir.file("cached.lua")}, env);
  REQUIRE(first.exit_code == 0);
  CHECK(contains(first.err, "compiled " + dir.file("cached.lua") + " in "));
  CHECK_FALSE(contains(first.err, "object cache hit"));
  CHECK(files_under(objects) >= 1);

  auto second = ebpfrun_run({"-v", dir.file("cached.lua")}, env);
  REQUIRE(second.exit_code == 0);
  CHECK(contains(second.err, "(object cache hit)"));

  auto bypass = ebpfrun_run({"-v", "--no-cache", dir.file("cached.lua")}, env);
  REQUIRE(bypass.exit_code == 0);
  CHECK_FALSE(contains(bypass.err, "object cache hit"));
  CHECK(contains(bypass.err, "cache disabled"));
  CHECK(program_gone("cli_cache_prog"));
}

TEST_CASE("ebpfrun --btf takes the kernel's types from a given file and names a missing one", "[cli][script][root]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  dir.write("btf.lua", attach_then("cli_btf_prog", ""));
  auto good = ebpfrun_run({"--btf", "/sys/kernel/btf/vmlinux", dir.file("btf.lua")});
  INFO(good.err);
  CHECK(good.exit_code == 0);
  CHECK(good.out == "attached\n");

  auto missing = ebpfrun_run({"--btf", "/nonexistent/vmlinux", dir.file("btf.lua")});
  CHECK(missing.exit_code == 1);
  CHECK(contains(missing.err, "/nonexistent/vmlinux"));
  CHECK(contains(missing.err, "--btf"));
  CHECK(missing.out.empty());
  CHECK(program_gone("cli_btf_prog"));
}

TEST_CASE("ebpfrun --stats reports the run's programs with their run counts", "[cli][script][root]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  dir.write("stats.lua", attach_then("cli_stats_prog",
                                     "local ffi = require 'ffi'\nffi.cdef 'int getppid(void);'\n"
                                     "for _ = 1, 7 do ffi.C.getppid() end\n"
                                     "require('ebpf').run { duration = 0.1 }"));
  auto r = ebpfrun_run({"--stats", dir.file("stats.lua")});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "attached\n");
  std::vector<std::string> header, row;
  for (const auto& line : lines_of(r.err)) {
    std::istringstream words(line);
    std::vector<std::string> tokens{std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
    if (std::find(tokens.begin(), tokens.end(), "RUNS") != tokens.end()) header = tokens;
    if (std::find(tokens.begin(), tokens.end(), "cli_stats_prog") != tokens.end()) row = tokens;
  }
  REQUIRE_FALSE(header.empty());
  REQUIRE_FALSE(row.empty());
  size_t runs = static_cast<size_t>(std::find(header.begin(), header.end(), "RUNS") - header.begin());
  REQUIRE(runs < row.size());
  CHECK(std::stol(row[runs]) >= 7);  // the script's own calls, at least
  CHECK(program_gone("cli_stats_prog"));
}
