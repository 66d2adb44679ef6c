// Kernel struct members and tracepoint arguments from the running kernel's
// BTF (runtime/btf/kernel_structs.h, tracepoint_args.h): what the one-liners'
// paths such as "next->comm" are checked against.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "btf/kernel_structs.h"
#include "btf/tracepoint_args.h"

using namespace ebpfrun;

namespace {

const types::StructMember* find(const std::vector<types::StructMember>& members, const std::string& name) {
  for (const auto& m : members)
    if (m.name == name) return &m;
  return nullptr;
}

}  // namespace

TEST_CASE("task_struct members are described as a one-liner reads them", "[kernel_structs]") {
  auto members = types::struct_members("struct task_struct");
  REQUIRE(members);
  const auto* comm = find(*members, "comm");
  REQUIRE(comm);
  CHECK(comm->kind == "array");
  CHECK(comm->target == "char");
  CHECK(comm->count == 16);
  CHECK(comm->size == 16);
  const auto* parent = find(*members, "real_parent");
  REQUIRE(parent);
  CHECK(parent->kind == "pointer");
  CHECK(parent->target == "struct task_struct");
  CHECK(parent->type == "struct task_struct *");
  const auto* pid = find(*members, "pid");
  REQUIRE(pid);
  CHECK(pid->kind == "int");
  CHECK(pid->size == 4);
  CHECK(pid->is_signed);
  CHECK(pid->type == "pid_t");
  const auto* se = find(*members, "se");
  REQUIRE(se);
  CHECK(se->kind == "struct");
  CHECK(se->target == "struct sched_entity");
}

TEST_CASE("members of anonymous unions are the struct's own; bitfields have their width", "[kernel_structs]") {
  auto members = types::struct_members("sk_buff");  // a bare name is tried as a struct
  REQUIRE(members);
  const auto* dev = find(*members, "dev");  // in an anonymous union in an anonymous struct
  REQUIRE(dev);
  CHECK(dev->kind == "pointer");
  CHECK(dev->target == "struct net_device");
  const auto* pkt_type = find(*members, "pkt_type");
  REQUIRE(pkt_type);
  CHECK(pkt_type->kind == "int");
  CHECK(pkt_type->bits == 3);
  CHECK(find(*members, "") == nullptr);
}

TEST_CASE("an unknown struct is not_found", "[kernel_structs]") {
  auto members = types::struct_members("struct no_such_struct_here");
  REQUIRE_FALSE(members);
  CHECK(members.error_kind() == ErrorKind::not_found);
}

TEST_CASE("sched_switch's arguments are typed pointers to task_struct", "[kernel_structs]") {
  auto args = types::tracepoint_args("sched_switch");
  REQUIRE(args);
  REQUIRE(args->size() >= 3);
  CHECK((*args)[1].name == "prev");
  CHECK((*args)[1].type == "struct task_struct *");
  CHECK((*args)[2].name == "next");
}

TEST_CASE("an event defined from a class gets its class's argument names", "[kernel_structs]") {
  // sched_wakeup and sched_waking share sched_wakeup_template's function.
  for (const char* event : {"sched_wakeup", "sched_waking"}) {
    auto args = types::tracepoint_args(event);
    REQUIRE(args);
    REQUIRE(args->size() == 1);
    CHECK((*args)[0].name == "p");
    CHECK((*args)[0].type == "struct task_struct *");
  }
  auto none = types::tracepoint_args("no_such_event_here");
  REQUIRE_FALSE(none);
  CHECK(none.error_kind() == ErrorKind::not_found);
}
