// Fuzz target: the attach-spec parser (runtime/attach/spec.h).
//
// Input: a spec string such as "uprobe/libc:malloc+0x10". Each input is parsed
// both as a spec and as a libbpf SEC() name. Properties:
//  - a parsed spec prints (Spec::str) as a canonical string that parses back to
//    the same spec, and printing that again gives the same string;
//  - a spec derived from a SEC() name parses;
//  - no message echoes raw control bytes of the input into a terminal.
#include <cstdint>
#include <string>
#include <string_view>

#include "attach/spec.h"
#include "fuzz_check.h"

using namespace ebpfrun;

namespace {

bool same(const attach::Spec& a, const attach::Spec& b) {
  return a.kind == b.kind && a.category == b.category && a.name == b.name && a.binary == b.binary &&
         a.symbol == b.symbol && a.offset == b.offset && a.provider == b.provider && a.event == b.event &&
         a.use_frequency == b.use_frequency && a.sample == b.sample && a.cgroup_type == b.cgroup_type &&
         a.cgroup_path == b.cgroup_path && a.sk_point == b.sk_point && a.map == b.map;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto spec = attach::parse_spec(text);
  if (spec) {
    const std::string canonical = spec->str();
    auto again = attach::parse_spec(canonical);
    FUZZ_CHECK(again.ok(), "the canonical form of a parsed spec does not parse");
    FUZZ_CHECK(same(*spec, *again), "the canonical form parses to a different spec");
    FUZZ_CHECK(again->str() == canonical, "printing a spec is not stable");
    if (spec->kind == attach::Kind::cgroup)
      FUZZ_CHECK(attach::find_cgroup_type(spec->cgroup_type), "unknown cgroup type");
    (void)attach::sockmap_attach_type(*spec);
  } else {
    FUZZ_CHECK(fuzz::printable(spec.error()), "a parse error carries raw control bytes");
  }

  auto from_section = attach::spec_from_section(text);
  if (from_section) {
    FUZZ_CHECK(attach::parse_spec(*from_section).ok(), "a spec derived from a SEC() name does not parse");
  } else {
    FUZZ_CHECK(fuzz::printable(from_section.error()), "a SEC() error carries raw control bytes");
  }
  return 0;
}
