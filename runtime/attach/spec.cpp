#include "attach/spec.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <optional>

namespace ebpfrun::attach {
namespace {

constexpr std::array kCgroupTypes = {
    CgroupType{"sock_ops", BPF_CGROUP_SOCK_OPS, BPF_PROG_TYPE_SOCK_OPS, "sockops"},
    CgroupType{"skb_ingress", BPF_CGROUP_INET_INGRESS, BPF_PROG_TYPE_CGROUP_SKB, "cgroup_skb/ingress"},
    CgroupType{"skb_egress", BPF_CGROUP_INET_EGRESS, BPF_PROG_TYPE_CGROUP_SKB, "cgroup_skb/egress"},
    CgroupType{"sock_create", BPF_CGROUP_INET_SOCK_CREATE, BPF_PROG_TYPE_CGROUP_SOCK, "cgroup/sock_create"},
    CgroupType{"sock_release", BPF_CGROUP_INET_SOCK_RELEASE, BPF_PROG_TYPE_CGROUP_SOCK, "cgroup/sock_release"},
    CgroupType{"post_bind4", BPF_CGROUP_INET4_POST_BIND, BPF_PROG_TYPE_CGROUP_SOCK, "cgroup/post_bind4"},
    CgroupType{"post_bind6", BPF_CGROUP_INET6_POST_BIND, BPF_PROG_TYPE_CGROUP_SOCK, "cgroup/post_bind6"},
    CgroupType{"bind4", BPF_CGROUP_INET4_BIND, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/bind4"},
    CgroupType{"bind6", BPF_CGROUP_INET6_BIND, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/bind6"},
    CgroupType{"connect4", BPF_CGROUP_INET4_CONNECT, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/connect4"},
    CgroupType{"connect6", BPF_CGROUP_INET6_CONNECT, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/connect6"},
    CgroupType{"sendmsg4", BPF_CGROUP_UDP4_SENDMSG, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/sendmsg4"},
    CgroupType{"sendmsg6", BPF_CGROUP_UDP6_SENDMSG, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/sendmsg6"},
    CgroupType{"recvmsg4", BPF_CGROUP_UDP4_RECVMSG, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/recvmsg4"},
    CgroupType{"recvmsg6", BPF_CGROUP_UDP6_RECVMSG, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/recvmsg6"},
    CgroupType{"getpeername4", BPF_CGROUP_INET4_GETPEERNAME, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/getpeername4"},
    CgroupType{"getpeername6", BPF_CGROUP_INET6_GETPEERNAME, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/getpeername6"},
    CgroupType{"getsockname4", BPF_CGROUP_INET4_GETSOCKNAME, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/getsockname4"},
    CgroupType{"getsockname6", BPF_CGROUP_INET6_GETSOCKNAME, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/getsockname6"},
    CgroupType{"sysctl", BPF_CGROUP_SYSCTL, BPF_PROG_TYPE_CGROUP_SYSCTL, "cgroup/sysctl"},
    CgroupType{"getsockopt", BPF_CGROUP_GETSOCKOPT, BPF_PROG_TYPE_CGROUP_SOCKOPT, "cgroup/getsockopt"},
    CgroupType{"setsockopt", BPF_CGROUP_SETSOCKOPT, BPF_PROG_TYPE_CGROUP_SOCKOPT, "cgroup/setsockopt"},
    CgroupType{"dev", BPF_CGROUP_DEVICE, BPF_PROG_TYPE_CGROUP_DEVICE, "cgroup/dev"},
};

constexpr std::array<std::string_view, 3> kSkSkbPoints = {"stream_verdict", "stream_parser", "verdict"};

#if defined(__aarch64__)
constexpr std::string_view kSyscallPrefix = "__arm64_sys_";
#else
constexpr std::string_view kSyscallPrefix = "__x64_sys_";
#endif

// A spec as shown in a message: control bytes escaped, so that a stray escape
// sequence or NUL in the input cannot garble the terminal (found by
// tests/fuzz/fuzz_attach_spec).
std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

Error malformed(std::string_view text, std::string_view why) {
  return make_error(ErrorKind::invalid_argument, fmt::format("malformed attach spec \"{}\": {}. Accepted forms:\n{}",
                                                             printable(text), printable(why), accepted_forms()));
}

// A name that may appear in a spec: not empty and no blanks or slashes.
bool plain(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/') return false;
  return true;
}

bool parse_number(std::string_view s, uint64_t& out) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && end == s.data() + s.size();
}

// SYMBOL[+OFFSET] into spec.symbol / spec.offset.
std::optional<std::string> parse_symbol(std::string_view s, bool offset_allowed, Spec& spec) {
  size_t plus = s.find('+');
  spec.symbol = std::string(s.substr(0, plus));
  if (!plain(spec.symbol) || spec.symbol.find(':') != std::string::npos)
    return "the symbol name is missing or contains blanks";
  if (plus == std::string_view::npos) return std::nullopt;
  if (!offset_allowed) return "a return probe takes no +OFFSET";
  if (!parse_number(s.substr(plus + 1), spec.offset)) return "the offset after '+' must be a number such as 16 or 0x10";
  return std::nullopt;
}

std::optional<std::string> parse_perf_event(std::string_view rest, Spec& spec) {
  size_t colon = rest.find(':');
  spec.event = std::string(rest.substr(0, colon));
  if (!plain(spec.event)) return "the perf event name is missing (for example cpu-clock)";
  while (colon != std::string_view::npos) {
    rest.remove_prefix(colon + 1);
    colon = rest.find(':');
    std::string_view option = rest.substr(0, colon);
    size_t eq = option.find('=');
    std::string_view key = option.substr(0, eq);
    uint64_t value = 0;
    if (eq == std::string_view::npos || !parse_number(option.substr(eq + 1), value) || value == 0)
      return fmt::format("perf event option \"{}\" must be freq=N or period=N with N > 0", option);
    if (key == "freq") {
      spec.use_frequency = true;
    } else if (key == "period") {
      spec.use_frequency = false;
    } else {
      return fmt::format("unknown perf event option \"{}\" (use freq=N or period=N)", key);
    }
    spec.sample = value;
  }
  return std::nullopt;
}

// Parses `rest` (the part after "KIND/") into spec; returns why it is malformed.
std::optional<std::string> parse_rest(std::string_view rest, Spec& spec) {
  switch (spec.kind) {
    case Kind::tracepoint: {
      size_t slash = rest.find('/');
      if (slash == std::string_view::npos) return "a tracepoint needs CATEGORY/NAME";
      spec.category = std::string(rest.substr(0, slash));
      spec.name = std::string(rest.substr(slash + 1));
      if (!plain(spec.category) || !plain(spec.name)) return "a tracepoint needs CATEGORY/NAME";
      return std::nullopt;
    }
    case Kind::raw_tracepoint:
    case Kind::tp_btf:
    case Kind::fentry:
    case Kind::fexit:
      spec.name = std::string(rest);
      if (!plain(spec.name)) return "the name is missing or contains '/' or blanks";
      return std::nullopt;
    case Kind::uprobe:
    case Kind::uretprobe: {
      size_t colon = rest.rfind(':');
      if (colon == std::string_view::npos || colon == 0) return "a uprobe needs PATH:SYMBOL";
      spec.binary = std::string(rest.substr(0, colon));
      return parse_symbol(rest.substr(colon + 1), spec.kind == Kind::uprobe, spec);
    }
    case Kind::usdt: {
      size_t second = rest.rfind(':');
      size_t first =
          second == std::string_view::npos || second == 0 ? std::string_view::npos : rest.rfind(':', second - 1);
      if (first == std::string_view::npos || first == 0) return "a USDT probe needs PATH:PROVIDER:NAME";
      spec.binary = std::string(rest.substr(0, first));
      spec.provider = std::string(rest.substr(first + 1, second - first - 1));
      spec.name = std::string(rest.substr(second + 1));
      if (!plain(spec.provider) || !plain(spec.name)) return "a USDT probe needs PATH:PROVIDER:NAME";
      return std::nullopt;
    }
    case Kind::kprobe:
    case Kind::kretprobe:
      return parse_symbol(rest, spec.kind == Kind::kprobe, spec);
    case Kind::kprobe_multi:
    case Kind::kretprobe_multi:
      // A glob such as "vfs_*" (libbpf matches it against available_filter_functions).
      spec.symbol = std::string(rest);
      if (!plain(spec.symbol) || spec.symbol.find(':') != std::string::npos)
        return "kprobe.multi needs a function name or glob, e.g. kprobe.multi/vfs_*";
      return std::nullopt;
    case Kind::perf_event:
      return parse_perf_event(rest, spec);
    case Kind::cgroup: {
      size_t colon = rest.find(':');
      spec.cgroup_type = std::string(rest.substr(0, colon));
      if (!find_cgroup_type(spec.cgroup_type))
        return fmt::format("unknown cgroup attach type \"{}\" (known: {})", spec.cgroup_type, cgroup_type_names());
      if (colon == std::string_view::npos || colon + 1 == rest.size())
        return "a cgroup attach needs TYPE:CGROUP_PATH, the path of a cgroup v2 directory";
      spec.cgroup_path = std::string(rest.substr(colon + 1));
      return std::nullopt;
    }
    case Kind::sk_msg:
      spec.map = std::string(rest);
      if (!plain(spec.map)) return "sk_msg needs the name of a sockmap or sockhash: sk_msg/MAP";
      return std::nullopt;
    case Kind::sk_skb: {
      size_t slash = rest.find('/');
      spec.sk_point = std::string(rest.substr(0, slash));
      bool known = false;
      for (auto point : kSkSkbPoints) known = known || point == spec.sk_point;
      if (!known || slash == std::string_view::npos)
        return "sk_skb needs stream_verdict/MAP, stream_parser/MAP or verdict/MAP";
      spec.map = std::string(rest.substr(slash + 1));
      if (!plain(spec.map)) return "sk_skb needs the name of a sockmap or sockhash after the attach point";
      return std::nullopt;
    }
  }
  return "unknown kind";
}

struct Prefix {
  std::string_view text;
  Kind kind;
  std::string_view form;  // what a complete spec of this kind looks like
};
constexpr std::array kPrefixes = {
    Prefix{"tracepoint", Kind::tracepoint, "tracepoint/CATEGORY/NAME"},
    Prefix{"tp", Kind::tracepoint, "tracepoint/CATEGORY/NAME"},
    Prefix{"raw_tracepoint", Kind::raw_tracepoint, "raw_tracepoint/NAME"},
    Prefix{"raw_tp", Kind::raw_tracepoint, "raw_tracepoint/NAME"},
    Prefix{"tp_btf", Kind::tp_btf, "tp_btf/NAME"},
    Prefix{"fentry", Kind::fentry, "fentry/FUNCTION"},
    Prefix{"fexit", Kind::fexit, "fexit/FUNCTION"},
    Prefix{"uprobe", Kind::uprobe, "uprobe/PATH:SYMBOL[+OFFSET]"},
    Prefix{"uretprobe", Kind::uretprobe, "uretprobe/PATH:SYMBOL"},
    Prefix{"usdt", Kind::usdt, "usdt/PATH:PROVIDER:NAME"},
    Prefix{"kprobe", Kind::kprobe, "kprobe/SYMBOL[+OFFSET]"},
    Prefix{"kretprobe", Kind::kretprobe, "kretprobe/SYMBOL"},
    Prefix{"kprobe.multi", Kind::kprobe_multi, "kprobe.multi/PATTERN"},
    Prefix{"kretprobe.multi", Kind::kretprobe_multi, "kretprobe.multi/PATTERN"},
    Prefix{"perf_event", Kind::perf_event, "perf_event/cpu-clock:freq=99"},
    Prefix{"cgroup", Kind::cgroup, "cgroup/TYPE:CGROUP_PATH"},
    Prefix{"sk_msg", Kind::sk_msg, "sk_msg/MAP"},
    Prefix{"sk_skb", Kind::sk_skb, "sk_skb/stream_verdict/MAP"},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

const char* accepted_forms() {
  return "  tracepoint/CATEGORY/NAME (or tp/...)   e.g. tracepoint/syscalls/sys_enter_openat\n"
         "  raw_tracepoint/NAME (or raw_tp/NAME)   e.g. raw_tracepoint/sched_switch\n"
         "  tp_btf/NAME                            e.g. tp_btf/sched_switch\n"
         "  fentry/FUNCTION, fexit/FUNCTION\n"
         "  uprobe/PATH:SYMBOL[+OFFSET]            PATH is a file or a library name, e.g. uprobe/libc:malloc\n"
         "  uretprobe/PATH:SYMBOL\n"
         "  usdt/PATH:PROVIDER:NAME\n"
         "  kprobe/SYMBOL[+OFFSET], kretprobe/SYMBOL\n"
         "  kprobe.multi/PATTERN, kretprobe.multi/PATTERN   e.g. kprobe.multi/vfs_*\n"
         "  perf_event/EVENT[:freq=N|:period=N]    e.g. perf_event/cpu-clock:freq=99\n"
         "  cgroup/TYPE:CGROUP_PATH                e.g. cgroup/sock_ops:/sys/fs/cgroup/unified/app\n"
         "  sk_msg/MAP, sk_skb/stream_verdict/MAP, sk_skb/stream_parser/MAP";
}

const CgroupType* find_cgroup_type(std::string_view name) {
  for (const auto& type : kCgroupTypes)
    if (name == type.name) return &type;
  return nullptr;
}

std::string cgroup_type_names() {
  std::string out;
  for (const auto& type : kCgroupTypes) out += (out.empty() ? "" : ", ") + std::string(type.name);
  return out;
}

bpf_attach_type sockmap_attach_type(const Spec& spec) {
  if (spec.kind == Kind::sk_msg) return BPF_SK_MSG_VERDICT;
  if (spec.sk_point == "stream_parser") return BPF_SK_SKB_STREAM_PARSER;
  if (spec.sk_point == "verdict") return BPF_SK_SKB_VERDICT;
  return BPF_SK_SKB_STREAM_VERDICT;
}

Result<Spec> parse_spec(std::string_view text) {
  text = trim(text);
  size_t slash = text.find('/');
  std::string_view prefix = text.substr(0, slash);
  for (const auto& p : kPrefixes) {
    if (p.text != prefix) continue;
    if (slash == std::string_view::npos) return malformed(text, fmt::format("\"{}\" needs a target after '/'", prefix));
    Spec spec;
    spec.kind = p.kind;
    if (auto why = parse_rest(text.substr(slash + 1), spec)) return malformed(text, *why);
    return spec;
  }
  return malformed(text, fmt::format("unknown kind \"{}\"", prefix));
}

std::string Spec::str() const {
  auto with_offset = [this](std::string s) { return offset ? fmt::format("{}+{:#x}", s, offset) : s; };
  switch (kind) {
    case Kind::tracepoint:
      return fmt::format("tracepoint/{}/{}", category, name);
    case Kind::raw_tracepoint:
      return "raw_tracepoint/" + name;
    case Kind::tp_btf:
      return "tp_btf/" + name;
    case Kind::fentry:
      return "fentry/" + name;
    case Kind::fexit:
      return "fexit/" + name;
    case Kind::uprobe:
      return with_offset(fmt::format("uprobe/{}:{}", binary, symbol));
    case Kind::uretprobe:
      return fmt::format("uretprobe/{}:{}", binary, symbol);
    case Kind::usdt:
      return fmt::format("usdt/{}:{}:{}", binary, provider, name);
    case Kind::kprobe:
      return with_offset("kprobe/" + symbol);
    case Kind::kretprobe:
      return "kretprobe/" + symbol;
    case Kind::kprobe_multi:
      return "kprobe.multi/" + symbol;
    case Kind::kretprobe_multi:
      return "kretprobe.multi/" + symbol;
    case Kind::perf_event:
      return fmt::format("perf_event/{}:{}={}", event, use_frequency ? "freq" : "period", sample);
    case Kind::cgroup:
      return fmt::format("cgroup/{}:{}", cgroup_type, cgroup_path);
    case Kind::sk_msg:
      return "sk_msg/" + map;
    case Kind::sk_skb:
      return fmt::format("sk_skb/{}/{}", sk_point, map);
  }
  return {};
}

Result<std::string> spec_from_section(std::string_view section) {
  auto no_default = [section](std::string_view form) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("SEC(\"{}\") does not say where to attach, so the program cannot be attached "
                                  "automatically; attach it with an explicit spec such as {}",
                                  printable(section), form));
  };
  for (const auto& type : kCgroupTypes)
    if (section == type.section) return no_default(fmt::format("cgroup/{}:CGROUP_PATH", type.name));
  if (section == "cgroup/skb") return no_default("cgroup/skb_ingress:CGROUP_PATH or cgroup/skb_egress:CGROUP_PATH");
  if (section == "cgroup/sock") return no_default("cgroup/sock_create:CGROUP_PATH");
  if (section == "perf_event") return no_default("perf_event/cpu-clock:freq=99");
  if (section == "sk_msg") return no_default("sk_msg/MAP (the sockmap or sockhash to attach to)");
  for (auto point : kSkSkbPoints)
    if (section == fmt::format("sk_skb/{}", point)) return no_default(fmt::format("sk_skb/{}/MAP", point));

  // libbpf's variants that differ only in load flags (.s sleepable, .w writable).
  std::string text(section);
  for (std::string_view variant :
       {"raw_tp.w/", "raw_tracepoint.w/", "uprobe.s/", "uretprobe.s/", "fentry.s/", "fexit.s/"})
    if (text.starts_with(variant)) text.erase(variant.find('.'), 2);
  if (text.starts_with("ksyscall/")) text = "kprobe/" + std::string(kSyscallPrefix) + text.substr(9);
  if (text.starts_with("kretsyscall/")) text = "kretprobe/" + std::string(kSyscallPrefix) + text.substr(12);

  std::string_view kind = std::string_view(text).substr(0, text.find('/'));
  for (const auto& p : kPrefixes) {
    if (p.text != kind) continue;
    auto spec = parse_spec(text);
    if (spec) return spec->str();
    return no_default(p.form);
  }
  return make_error(ErrorKind::invalid_argument,
                    fmt::format("SEC(\"{}\") is not a kind ebpfrun can attach automatically; attach the program "
                                "with an explicit spec. Accepted forms:\n{}",
                                printable(section), accepted_forms()));
}

}  // namespace ebpfrun::attach
