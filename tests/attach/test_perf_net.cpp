// perf_event sampling, cgroup sock_ops and sk_msg onto a sockhash.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "attach/attach.h"
#include "attach/attach_support.h"
#include "attach/perf_events.h"
#include "support/test_support.h"

using namespace ebpfrun;
using namespace ebpfrun::test::attach;
using ebpfrun::attach::attach_program;
using ebpfrun::attach::AttachOptions;

namespace {

// A fresh cgroup v2 directory, inside the existing cgroup2 mount or inside one
// the test mounts (and unmounts) itself.
class Cgroup2Dir {
 public:
  Cgroup2Dir() {
    std::ifstream mounts("/proc/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
      std::istringstream fields(line);
      std::string device, dir, type;
      if (fields >> device >> dir >> type && type == "cgroup2") {
        root_ = dir;
        break;
      }
    }
    if (root_.empty()) {
      root_ = temp_.path();
      REQUIRE(::mount("none", root_.c_str(), "cgroup2", 0, nullptr) == 0);
      mounted_ = true;
    }
    path_ = root_ + "/ebpfrun-attach-" + std::to_string(::getpid());
    REQUIRE(::mkdir(path_.c_str(), 0755) == 0);
  }
  ~Cgroup2Dir() {
    ::rmdir(path_.c_str());
    if (mounted_) ::umount2(root_.c_str(), 0);
  }
  const std::string& path() const { return path_; }

 private:
  test::TempDir temp_;
  std::string root_;
  std::string path_;
  bool mounted_ = false;
};

std::vector<uint32_t> attached_ids(int target_fd, bpf_attach_type type) {
  uint32_t ids[16] = {};
  uint32_t count = 16;
  REQUIRE(bpf_prog_query(target_fd, type, 0, nullptr, ids, &count) == 0);
  return std::vector<uint32_t>(ids, ids + count);
}

// A TCP listener on 127.0.0.1 and its port.
int listen_loopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t length = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0);
  port = ntohs(addr.sin_port);
  return fd;
}

int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

uint64_t samples_of(const loader::Object& object, pid_t pid) {
  auto counts = read_counts(map(object, "att_samples"));
  auto it = counts.find(static_cast<uint32_t>(pid));
  return it == counts.end() ? 0 : it->second;
}

}  // namespace

TEST_CASE("attach: perf_event cpu-clock sampling on every CPU sees a busy process", "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_test_object("perf.bpf.c");
    ids = kernel_ids(object);
    auto link = attach_program(program(object, "att_sample"), "perf_event/cpu-clock:freq=99");
    INFO((link ? std::string() : link.error()));
    REQUIRE(link);
    CHECK(link->size() == attach::online_cpus()->size());
    Target busy({"busy", "600"});
    busy.go();
    pid_t pid = busy.pid();
    REQUIRE(busy.wait() == 0);
    uint64_t samples = samples_of(object, pid);
    CHECK(samples > 0);
    CHECK(samples <= 99);  // one thread for 0.6 s at 99 Hz cannot be sampled more often
    link->detach();
    CHECK_FALSE(link->attached());
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: perf_event scoped to a pid samples only that process", "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_test_object("perf.bpf.c");
    ids = kernel_ids(object);
    Target busy({"busy", "400"});
    AttachOptions options;
    options.pid = busy.pid();
    auto link = attach_program(program(object, "att_sample"), "perf_event/task-clock:freq=199", options);
    INFO((link ? std::string() : link.error()));
    REQUIRE(link);
    CHECK(link->size() == 1);
    busy.go();
    REQUIRE(busy.wait() == 0);
    auto counts = read_counts(map(object, "att_samples"));
    REQUIRE(counts.size() == 1);
    CHECK(counts.begin()->first == static_cast<uint32_t>(options.pid));
    CHECK(counts.begin()->second > 0);

    auto typo = attach_program(program(object, "att_sample"), "perf_event/cpu-clok");
    REQUIRE_FALSE(typo);
    CHECK(typo.error() ==
          "cannot attach perf_event/cpu-clok:freq=99: unknown perf event \"cpu-clok\"; "
          "did you mean cpu-clock?");
    // Hardware events depend on the machine: either they work or the error says why.
    auto cycles = attach_program(program(object, "att_sample"), "perf_event/cycles:period=1000000");
    if (cycles)
      CHECK(cycles->size() == attach::online_cpus()->size());
    else
      CHECK(cycles.error().find("the hardware event cycles is not supported on this machine") != std::string::npos);
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: cgroup sock_ops attaches to a cgroup v2 directory, sees its connects, and detaches",
          "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_test_object("net.bpf.c");
    ids = kernel_ids(object);
    bpf_program* prog = program(object, "att_sockops");
    Cgroup2Dir cgroup;
    int cgroup_fd = ::open(cgroup.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(cgroup_fd >= 0);
    auto link = attach_program(prog, "cgroup/sock_ops:" + cgroup.path());
    INFO((link ? std::string() : link.error()));
    REQUIRE(link);
    CHECK(link->id() != 0);
    CHECK(attached_ids(cgroup_fd, BPF_CGROUP_SOCK_OPS) == std::vector<uint32_t>{program_id(prog)});

    // A child joins the cgroup and makes one TCP connection.
    uint16_t port = 0;
    int listener = listen_loopback(port);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      int procs = ::open((cgroup.path() + "/cgroup.procs").c_str(), O_WRONLY);
      std::string me = std::to_string(::getpid());
      if (procs < 0 || ::write(procs, me.data(), me.size()) != static_cast<ssize_t>(me.size())) ::_exit(2);
      ::close(procs);
      ::_exit(connect_loopback(port) >= 0 ? 0 : 3);
    }
    int accepted = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    if (accepted >= 0) ::close(accepted);
    ::close(listener);

    auto ops = read_counts(map(object, "att_sockops_seen"));
    CHECK(ops[3] == 1);  // BPF_SOCK_OPS_TCP_CONNECT_CB
    CHECK(ops[4] == 1);  // BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB

    link->detach();
    CHECK(attached_ids(cgroup_fd, BPF_CGROUP_SOCK_OPS).empty());
    ::close(cgroup_fd);

    auto v1 = attach_program(prog, "cgroup/sock_ops:/proc");
    REQUIRE_FALSE(v1);
    CHECK(v1.error().find("/proc is not a cgroup v2 directory") != std::string::npos);
    CHECK(v1.error().find("cgroup2") != std::string::npos);
    auto absent = attach_program(prog, "cgroup/sock_ops:/nonexistent/cgroup");
    REQUIRE_FALSE(absent);
    CHECK(absent.error().find("does not exist") != std::string::npos);
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: sk_msg attaches to a sockhash by name, runs on sends, and detaches", "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_test_object("net.bpf.c");
    ids = kernel_ids(object);
    bpf_program* prog = program(object, "att_sk_msg");
    int hash_fd = bpf_map__fd(map(object, "att_sockhash"));

    auto without_object = attach_program(prog, "sk_msg/att_sockhash");
    REQUIRE_FALSE(without_object);
    CHECK(without_object.error().find("does not use a map named \"att_sockhash\"") != std::string::npos);
    AttachOptions options;
    options.object = object.raw();
    auto not_sockmap = attach_program(prog, "sk_msg/att_msgs", options);
    REQUIRE_FALSE(not_sockmap);
    CHECK(not_sockmap.error().find("is a array map") != std::string::npos);
    auto typo = attach_program(prog, "sk_msg/att_sockhsh", options);
    REQUIRE_FALSE(typo);
    CHECK(typo.error().find("did you mean \"att_sockhash\"") != std::string::npos);

    auto link = attach_program(prog, "sk_msg/att_sockhash", options);
    INFO((link ? std::string() : link.error()));
    REQUIRE(link);
    CHECK(link->id() == 0);  // BPF_PROG_ATTACH, not a BPF link
    CHECK(attached_ids(hash_fd, BPF_SK_MSG_VERDICT) == std::vector<uint32_t>{program_id(prog)});

    uint16_t port = 0;
    int listener = listen_loopback(port);
    int client = connect_loopback(port);
    REQUIRE(client >= 0);
    int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(server >= 0);
    uint32_t key = 1;
    uint64_t sock = static_cast<uint64_t>(client);
    REQUIRE(bpf_map_update_elem(hash_fd, &key, &sock, BPF_ANY) == 0);
    auto send_and_receive = [&] {
      REQUIRE(::send(client, "hi", 2, 0) == 2);
      char buf[8];
      REQUIRE(::recv(server, buf, sizeof buf, 0) == 2);
    };
    for (int i = 0; i < 3; ++i) send_and_receive();
    auto msgs = read_counts(map(object, "att_msgs"));
    CHECK(msgs[0] == 3);

    // Sockets already in the map keep the program they were added with (kernel
    // behaviour); a socket added after the detach runs nothing.
    link->detach();
    CHECK(attached_ids(hash_fd, BPF_SK_MSG_VERDICT).empty());
    REQUIRE(bpf_map_delete_elem(hash_fd, &key) == 0);
    ::close(client);
    ::close(server);
    client = connect_loopback(port);
    REQUIRE(client >= 0);
    server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(server >= 0);
    sock = static_cast<uint64_t>(client);
    REQUIRE(bpf_map_update_elem(hash_fd, &key, &sock, BPF_ANY) == 0);
    send_and_receive();
    CHECK(read_counts(map(object, "att_msgs"))[0] == 3);
    ::close(client);
    ::close(server);
    ::close(listener);
  }
  CHECK(leftovers(ids).empty());
}
