// Spec parsing, SEC() names, nearest names and binary/symbol lookup: no BPF.
#include <unistd.h>

#include <catch2/catch.hpp>

#include "attach/attach_support.h"
#include "attach/kernel_names.h"
#include "attach/nearest.h"
#include "attach/perf_events.h"
#include "attach/spec.h"
#include "attach/symbols.h"

using namespace ebpfrun;
using namespace ebpfrun::attach;

namespace {

Spec parsed(const char* text) {
  auto spec = parse_spec(text);
  INFO(text << ": " << (spec ? std::string() : spec.error()));
  REQUIRE(spec);
  return spec.value();
}

std::string parse_error(const char* text) {
  auto spec = parse_spec(text);
  INFO(text);
  REQUIRE_FALSE(spec);
  return spec.error();
}

}  // namespace

TEST_CASE("attach: tracing specs parse into their parts", "[attach][spec]") {
  auto tp = parsed("tracepoint/syscalls/sys_enter_openat");
  CHECK(tp.kind == Kind::tracepoint);
  CHECK(tp.category == "syscalls");
  CHECK(tp.name == "sys_enter_openat");
  CHECK(parsed("tp/sched/sched_switch").str() == "tracepoint/sched/sched_switch");

  auto raw = parsed("raw_tp/sched_switch");
  CHECK(raw.kind == Kind::raw_tracepoint);
  CHECK(raw.name == "sched_switch");
  CHECK(raw.str() == "raw_tracepoint/sched_switch");
  CHECK(parsed("raw_tracepoint/sched_switch").str() == "raw_tracepoint/sched_switch");
  CHECK(parsed("tp_btf/sched_switch").kind == Kind::tp_btf);
  CHECK(parsed("fentry/do_unlinkat").kind == Kind::fentry);
  CHECK(parsed("  tp_btf/sched_switch \n").str() == "tp_btf/sched_switch");
}

TEST_CASE("attach: uprobe, uretprobe and usdt specs parse path, symbol, offset and probe", "[attach][spec]") {
  auto up = parsed("uprobe//usr/bin/bash:readline+0x10");
  CHECK(up.kind == Kind::uprobe);
  CHECK(up.binary == "/usr/bin/bash");
  CHECK(up.symbol == "readline");
  CHECK(up.offset == 16);
  CHECK(up.str() == "uprobe//usr/bin/bash:readline+0x10");
  CHECK(parsed("uprobe/libc:malloc+24").offset == 24);

  auto ret = parsed("uretprobe/libc.so.6:malloc");
  CHECK(ret.kind == Kind::uretprobe);
  CHECK(ret.binary == "libc.so.6");
  CHECK(ret.symbol == "malloc");
  CHECK(ret.offset == 0);

  auto usdt = parsed("usdt//opt/app/bin/server:myapp:request_start");
  CHECK(usdt.kind == Kind::usdt);
  CHECK(usdt.binary == "/opt/app/bin/server");
  CHECK(usdt.provider == "myapp");
  CHECK(usdt.name == "request_start");
  CHECK(usdt.str() == "usdt//opt/app/bin/server:myapp:request_start");
}

TEST_CASE("attach: kprobe, perf_event, cgroup and sockmap specs parse", "[attach][spec]") {
  auto kp = parsed("kprobe/do_sys_openat2+8");
  CHECK(kp.kind == Kind::kprobe);
  CHECK(kp.symbol == "do_sys_openat2");
  CHECK(kp.offset == 8);
  CHECK(parsed("kretprobe/do_sys_openat2").kind == Kind::kretprobe);
  auto multi = parsed("kprobe.multi/vfs_*");
  CHECK(multi.kind == Kind::kprobe_multi);
  CHECK(multi.symbol == "vfs_*");
  CHECK(multi.str() == "kprobe.multi/vfs_*");
  CHECK(parsed("kretprobe.multi/tcp_v?_connect").str() == "kretprobe.multi/tcp_v?_connect");
  CHECK(parse_error("kprobe.multi/").find("kprobe.multi needs a function name or glob") != std::string::npos);
  CHECK(parse_error("kprobe.multi/a b").find("kprobe.multi needs a function name or glob") != std::string::npos);

  auto perf = parsed("perf_event/cpu-clock");
  CHECK(perf.event == "cpu-clock");
  CHECK(perf.use_frequency);
  CHECK(perf.sample == 99);
  CHECK(perf.str() == "perf_event/cpu-clock:freq=99");
  auto period = parsed("perf_event/page-faults:period=1000");
  CHECK_FALSE(period.use_frequency);
  CHECK(period.sample == 1000);
  CHECK(parsed("perf_event/cpu-clock:freq=49").sample == 49);

  auto cg = parsed("cgroup/sock_ops:/sys/fs/cgroup/unified/app");
  CHECK(cg.kind == Kind::cgroup);
  CHECK(cg.cgroup_type == "sock_ops");
  CHECK(cg.cgroup_path == "/sys/fs/cgroup/unified/app");
  CHECK(parsed("cgroup/connect4:/x").cgroup_type == "connect4");
  REQUIRE(find_cgroup_type("skb_egress") != nullptr);
  CHECK(find_cgroup_type("skb_egress")->attach_type == BPF_CGROUP_INET_EGRESS);

  auto msg = parsed("sk_msg/sock_hash");
  CHECK(msg.kind == Kind::sk_msg);
  CHECK(msg.map == "sock_hash");
  CHECK(sockmap_attach_type(msg) == BPF_SK_MSG_VERDICT);
  auto skb = parsed("sk_skb/stream_verdict/sock_map");
  CHECK(skb.sk_point == "stream_verdict");
  CHECK(skb.map == "sock_map");
  CHECK(sockmap_attach_type(skb) == BPF_SK_SKB_STREAM_VERDICT);
  CHECK(sockmap_attach_type(parsed("sk_skb/stream_parser/m")) == BPF_SK_SKB_STREAM_PARSER);
}

TEST_CASE("attach: malformed specs say what is wrong and list the accepted forms", "[attach][spec]") {
  auto e = parse_error("tracepoint/sched");
  CHECK(e.find("malformed attach spec \"tracepoint/sched\"") != std::string::npos);
  CHECK(e.find("CATEGORY/NAME") != std::string::npos);
  CHECK(e.find("uprobe/PATH:SYMBOL[+OFFSET]") != std::string::npos);  // the list of forms
  CHECK(e.find("perf_event/EVENT") != std::string::npos);

  CHECK(parse_error("bogus/x").find("unknown kind \"bogus\"") != std::string::npos);
  // Control bytes of the input are shown escaped, never sent raw to a terminal
  // (found by tests/fuzz/fuzz_attach_spec).
  CHECK(parse_error("tracepoint/\x1b[2J/x y").find("malformed attach spec \"tracepoint/\\x1b[2J/x y\"") !=
        std::string::npos);
  CHECK(parse_error("cgroup/bo\x1agus:/x").find("\x1a") == std::string::npos);
  CHECK(parse_error("tracepoint").find("needs a target") != std::string::npos);
  CHECK(parse_error("").find("malformed") != std::string::npos);
  CHECK(parse_error("tracepoint/a/b/c").find("CATEGORY/NAME") != std::string::npos);
  CHECK(parse_error("uprobe/malloc").find("PATH:SYMBOL") != std::string::npos);
  CHECK(parse_error("uprobe/libc:").find("symbol") != std::string::npos);
  CHECK(parse_error("uprobe/libc:malloc+xyz").find("offset") != std::string::npos);
  CHECK(parse_error("uretprobe/libc:malloc+4").find("return probe takes no +OFFSET") != std::string::npos);
  CHECK(parse_error("usdt/bin:probe").find("PATH:PROVIDER:NAME") != std::string::npos);
  CHECK(parse_error("perf_event/cpu-clock:freq=0").find("freq=N or period=N") != std::string::npos);
  CHECK(parse_error("perf_event/cpu-clock:rate=5").find("freq=N or period=N") != std::string::npos);
  CHECK(parse_error("cgroup/sock_ops").find("CGROUP_PATH") != std::string::npos);
  CHECK(parse_error("cgroup/sockops:/x").find("unknown cgroup attach type \"sockops\"") != std::string::npos);
  CHECK(parse_error("sk_skb/verdictx/m").find("stream_verdict/MAP") != std::string::npos);
  CHECK(parse_error("raw_tp/a b").find("blanks") != std::string::npos);
}

TEST_CASE("attach: spec_from_section gives the spec a libbpf SEC() name implies", "[attach][spec]") {
  auto implied = [](const char* section) {
    auto spec = spec_from_section(section);
    INFO(section << ": " << (spec ? std::string() : spec.error()));
    REQUIRE(spec);
    return spec.value();
  };
  CHECK(implied("tracepoint/sched/sched_process_exec") == "tracepoint/sched/sched_process_exec");
  CHECK(implied("tp/sched/sched_switch") == "tracepoint/sched/sched_switch");
  CHECK(implied("raw_tp/sched_switch") == "raw_tracepoint/sched_switch");
  CHECK(implied("raw_tracepoint.w/sched_switch") == "raw_tracepoint/sched_switch");
  CHECK(implied("tp_btf/sched_switch") == "tp_btf/sched_switch");
  CHECK(implied("fentry/do_unlinkat") == "fentry/do_unlinkat");
  CHECK(implied("fexit.s/do_unlinkat") == "fexit/do_unlinkat");
  CHECK(implied("uprobe//bin/bash:readline") == "uprobe//bin/bash:readline");
  CHECK(implied("uprobe.s/libc.so.6:malloc") == "uprobe/libc.so.6:malloc");
  CHECK(implied("uretprobe//bin/bash:readline") == "uretprobe//bin/bash:readline");
  CHECK(implied("usdt/libc.so.6:libc:setjmp") == "usdt/libc.so.6:libc:setjmp");
  CHECK(implied("kprobe/do_sys_openat2") == "kprobe/do_sys_openat2");
  CHECK(implied("kretprobe/do_sys_openat2") == "kretprobe/do_sys_openat2");
  CHECK(implied("kprobe.multi/vfs_*") == "kprobe.multi/vfs_*");
  CHECK(implied("kretprobe.multi/vfs_*") == "kretprobe.multi/vfs_*");
  CHECK(implied("ksyscall/openat") == "kprobe/__x64_sys_openat");
  CHECK(implied("kretsyscall/openat") == "kretprobe/__x64_sys_openat");

  auto no_default = [](const char* section) {
    auto spec = spec_from_section(section);
    INFO(section);
    REQUIRE_FALSE(spec);
    return spec.error();
  };
  CHECK(no_default("perf_event").find("perf_event/cpu-clock:freq=99") != std::string::npos);
  CHECK(no_default("uprobe").find("uprobe/PATH:SYMBOL") != std::string::npos);
  CHECK(no_default("usdt").find("usdt/PATH:PROVIDER:NAME") != std::string::npos);
  CHECK(no_default("kprobe").find("kprobe/SYMBOL") != std::string::npos);
  CHECK(no_default("sockops").find("cgroup/sock_ops:CGROUP_PATH") != std::string::npos);
  CHECK(no_default("cgroup_skb/egress").find("cgroup/skb_egress:CGROUP_PATH") != std::string::npos);
  CHECK(no_default("cgroup/connect4").find("cgroup/connect4:CGROUP_PATH") != std::string::npos);
  CHECK(no_default("sk_msg").find("sk_msg/MAP") != std::string::npos);
  CHECK(no_default("sk_skb/stream_verdict").find("sk_skb/stream_verdict/MAP") != std::string::npos);
  CHECK(no_default("xdp").find("not a kind ebpfrun can attach automatically") != std::string::npos);
  CHECK(no_default("perf_event").find("does not say where to attach") != std::string::npos);
}

TEST_CASE("attach: nearest names rank by edit distance, then by containment", "[attach][spec]") {
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("same", "same") == 0);
  std::vector<std::string> names = {"sys_enter_openat", "sys_exit_openat", "sys_enter_open", "sys_enter_read"};
  auto close = nearest("sys_enter_opnat", names);
  REQUIRE_FALSE(close.empty());
  CHECK(close.front() == "sys_enter_openat");
  CHECK(nearest("openat", names) == std::vector<std::string>{"sys_exit_openat", "sys_enter_openat"});
  CHECK(nearest("zzzzzzzz", names).empty());
  CHECK(join_alternatives({"a", "b", "c"}, "'", "'") == "'a', 'b' or 'c'");
}

TEST_CASE("attach: kprobe symbols map to the tracepoints that see the same event", "[attach][spec]") {
  using V = std::vector<std::string>;
  CHECK(tracepoints_instead_of_kprobe("do_sys_openat2", false) == V{"syscalls/sys_enter_openat"});
  CHECK(tracepoints_instead_of_kprobe("do_sys_openat2", true) == V{"syscalls/sys_exit_openat"});
  CHECK(tracepoints_instead_of_kprobe("__x64_sys_read", false) == V{"syscalls/sys_enter_read"});
  CHECK(tracepoints_instead_of_kprobe("__x64_sys_read", true) == V{"syscalls/sys_exit_read"});
  CHECK(tracepoints_instead_of_kprobe("vfs_write", false) == V{"syscalls/sys_enter_write"});
  CHECK(tracepoints_instead_of_kprobe("tcp_v4_connect", true) == V{"sock/inet_sock_set_state"});
  // Rules that need to read tracefs (root only, and mounted).
  if (::access("/sys/kernel/tracing/events/sched", R_OK) == 0) {
    CHECK(tracepoints_instead_of_kprobe("tcp_retransmit_skb", false) == V{"tcp/tcp_retransmit_skb"});
    CHECK(tracepoints_instead_of_kprobe("kfree_skb", false) == V{"skb/kfree_skb"});
    CHECK(tracepoints_instead_of_kprobe("__x64_sys_no_such_call", false).empty());
  }
}

TEST_CASE("attach: perf event names resolve and misspellings get suggestions", "[attach][spec]") {
  auto clock = find_perf_event("cpu-clock");
  REQUIRE(clock);
  CHECK(clock->type == 1);  // PERF_TYPE_SOFTWARE
  CHECK(clock->config == 0);
  auto cycles = find_perf_event("cycles");
  REQUIRE(cycles);
  CHECK(cycles->type == 0);  // PERF_TYPE_HARDWARE
  auto typo = find_perf_event("cpu-clok");
  REQUIRE_FALSE(typo);
  CHECK(typo.error().find("did you mean cpu-clock") != std::string::npos);
  auto cpus = online_cpus();
  REQUIRE(cpus);
  CHECK(cpus->size() == static_cast<size_t>(sysconf(_SC_NPROCESSORS_ONLN)));
}

TEST_CASE("attach: binaries resolve like the dynamic linker and ELF symbols are read", "[attach][spec]") {
  auto libc = resolve_binary("libc");
  REQUIRE(libc);
  CHECK(libc->ends_with("/libc.so.6"));
  auto libc6 = resolve_binary("libc.so.6");
  REQUIRE(libc6);
  CHECK(*libc6 == *libc);
  auto sh = resolve_binary("sh");
  REQUIRE(sh);
  CHECK(sh->ends_with("/sh"));
  auto missing = resolve_binary("/nonexistent/bin/thing");
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == "binary /nonexistent/bin/thing does not exist");
  auto unknown = resolve_binary("libdefinitely_not_here");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().find("ldconfig -p") != std::string::npos);

  const std::string target = test::attach::Target::path();
  auto symbols = function_symbols(target);
  REQUIRE(symbols);
  CHECK(std::binary_search(symbols->begin(), symbols->end(), "ebpfrun_target_add"));
  CHECK(std::binary_search(symbols->begin(), symbols->end(), "main"));
  CHECK(check_function_symbol(*libc, "malloc"));
  auto typo = check_function_symbol(target, "ebpfrun_target_ad");
  REQUIRE_FALSE(typo);
  CHECK(typo.error().find("did you mean \"ebpfrun_target_add\"") != std::string::npos);

  auto probes = usdt_probes(target);
  REQUIRE(probes);
  REQUIRE(probes->size() == 1);
  CHECK(probes->front().provider == "ebpfrun_test");
  CHECK(probes->front().name == "tick");
  auto wrong_probe = check_usdt_probe(target, "ebpfrun_test", "tock");
  REQUIRE_FALSE(wrong_probe);
  CHECK(wrong_probe.error().find("did you mean \"ebpfrun_test:tick\"") != std::string::npos);
}
