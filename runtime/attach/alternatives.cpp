#include "attach/alternatives.h"

#include <bpf/libbpf.h>

#include <memory>

#include <fmt/format.h>

#include "attach/object_links.h"
#include "common/log.h"

namespace ebpfrun::attach {
namespace {

// A program's own copy loaded for one alternative, with its link. The link is
// declared last so that it is destroyed first, while its program is loaded.
class VariantAttachment : public loader::Attachment {
 public:
  VariantAttachment(loader::Object copy, Link link) : copy_(std::move(copy)), link_(std::move(link)) {}
  Link* get() { return &link_; }
  std::vector<uint32_t> link_ids() const override { return {link_.id()}; }
  std::vector<int> program_fds() const override {
    std::vector<int> fds;
    for (const auto& p : copy_.programs())
      if (p.fd >= 0) fds.push_back(p.fd);
    return fds;
  }

 private:
  loader::Object copy_;
  Link link_;
};

// The target a tp_btf / fentry / fexit program was bound to when it was loaded,
// from its SEC() name ("fentry/vfs_read" → "vfs_read").
std::string_view section_target(bpf_program* program) {
  std::string_view section = bpf_program__section_name(program);
  size_t slash = section.find('/');
  return slash == std::string_view::npos ? std::string_view() : section.substr(slash + 1);
}

// Whether the loaded program itself can be attached at `spec`, without a copy.
bool fits_loaded(bpf_program* program, const Spec& spec, const loader::ProgramVariant& want) {
  if (bpf_program__fd(program) < 0) return false;
  auto type = bpf_program__type(program);
  if (want.type == BPF_PROG_TYPE_RAW_TRACEPOINT)
    return type == BPF_PROG_TYPE_RAW_TRACEPOINT || type == BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE;
  if (type != want.type) return false;
  auto expected = bpf_program__expected_attach_type(program);
  if (want.type == BPF_PROG_TYPE_KPROBE)
    return (expected == BPF_TRACE_KPROBE_MULTI) == (want.expected_attach_type == BPF_TRACE_KPROBE_MULTI);
  if (want.type == BPF_PROG_TYPE_TRACING)
    return expected == want.expected_attach_type && section_target(program) == spec.name;
  return true;
}

// The first line of a message: a verifier rejection runs to dozens of lines,
// and the combined error shows one per alternative.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// Sections whose programs libbpf 1.1 binds to a BTF target while loading,
// whatever type they are given: a copy of such a program can only be
// another BTF-bound tracing program.
bool section_binds_btf_target(std::string_view section) {
  for (std::string_view prefix : {"fentry", "fexit", "fmod_ret", "tp_btf", "lsm", "iter", "freplace"})
    if (section.starts_with(prefix) && section.size() > prefix.size() &&
        (section[prefix.size()] == '/' || section[prefix.size()] == '.'))
      return true;
  return false;
}

// Attaches a copy of the program loaded for `spec`.
Result<Link*> attach_copy(loader::Object& object, std::string_view name, const Spec& spec,
                          const loader::ProgramVariant& variant, AttachOptions options) {
  std::string_view section = bpf_program__section_name(object.find_program(name));
  if (variant.type != BPF_PROG_TYPE_TRACING && section_binds_btf_target(section))
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("program '{}' is declared SEC(\"{}\"), which binds it to a kernel function when it "
                                  "is loaded, so it cannot be loaded for {}; declare it with a section that names no "
                                  "BTF target (SEC(\"kprobe/…\"), SEC(\"tracepoint/…\") or a bare SEC(\"kprobe\")) "
                                  "to give it alternatives of other kinds",
                                  name, section, spec.str()));
  auto copy = object.load_variant(name, variant);
  if (!copy)
    return copy.error_info().with_message(fmt::format(
        "program '{}' does not load as a {} program here: {}", name,
        libbpf_bpf_prog_type_str(variant.type) ? libbpf_bpf_prog_type_str(variant.type) : "?", copy.error()));
  options.object = copy->raw();
  options.loaded_for_spec = true;
  auto link = attach_program(copy->find_program(name), spec, options);
  if (!link) return std::move(link).take_error();
  auto holder = std::make_unique<VariantAttachment>(std::move(copy).value(), std::move(link).value());
  Link* handle = holder->get();
  object.keep(std::move(holder));
  return handle;
}

}  // namespace

std::optional<loader::ProgramVariant> variant_for(const Spec& spec) {
  using loader::ProgramVariant;
  switch (spec.kind) {
    case Kind::tracepoint:
      return ProgramVariant{BPF_PROG_TYPE_TRACEPOINT, {}, {}};
    case Kind::raw_tracepoint:
      return ProgramVariant{BPF_PROG_TYPE_RAW_TRACEPOINT, {}, {}};
    case Kind::tp_btf:
      return ProgramVariant{BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, spec.name};
    case Kind::fentry:
      return ProgramVariant{BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, spec.name};
    case Kind::fexit:
      return ProgramVariant{BPF_PROG_TYPE_TRACING, BPF_TRACE_FEXIT, spec.name};
    case Kind::kprobe:
    case Kind::kretprobe:
    case Kind::uprobe:
    case Kind::uretprobe:
    case Kind::usdt:
      return ProgramVariant{BPF_PROG_TYPE_KPROBE, {}, {}};
    case Kind::kprobe_multi:
    case Kind::kretprobe_multi:
      return ProgramVariant{BPF_PROG_TYPE_KPROBE, BPF_TRACE_KPROBE_MULTI, {}};
    case Kind::perf_event:
      return ProgramVariant{BPF_PROG_TYPE_PERF_EVENT, {}, {}};
    case Kind::cgroup:
    case Kind::sk_msg:
    case Kind::sk_skb:
      return std::nullopt;
  }
  return std::nullopt;
}

Result<Link*> attach_first(loader::Object& object, std::string_view program_name, const std::vector<std::string>& specs,
                           AttachOptions options) {
  if (specs.empty())
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("program '{}': the list of attach points is empty", program_name));
  std::vector<Spec> parsed;
  for (const auto& text : specs) {
    auto spec = parse_spec(text);
    if (!spec) return std::move(spec).take_error();
    parsed.push_back(std::move(spec).value());
  }
  if (!object.loaded())
    return make_error(ErrorKind::invalid_argument, fmt::format("BPF object {} is not loaded", object.name()));
  bpf_program* program = object.find_program(program_name);
  // attach_in names the programs the object does have.
  if (!program) return attach_in(object, program_name, specs.front(), options).error_info();

  std::vector<std::pair<std::string, std::string>> refused;  // spec, why
  for (const auto& spec : parsed) {
    auto variant = variant_for(spec);
    Result<Link*> link = !variant || fits_loaded(program, spec, *variant)
                             ? attach_in(object, program_name, spec.str(), options)
                             : attach_copy(object, program_name, spec, *variant, options);
    if (link) {
      std::string note = fmt::format("program '{}' attached as {}", program_name, spec.str());
      for (const auto& [s, why] : refused) note += fmt::format("; not as {}: {}", s, first_line(why));
      log::debug("{}", note);
      object.add_note(std::move(note));
      return link;
    }
    log::debug("program '{}': alternative {} failed: {}", program_name, spec.str(), link.error());
    refused.emplace_back(spec.str(), link.error());
  }
  std::string message =
      fmt::format("cannot attach program '{}' of {}: none of its {} attach points works on this kernel:", program_name,
                  object.name(), refused.size());
  for (const auto& [s, why] : refused) message += fmt::format("\n  {}: {}", s, first_line(why));
  return make_error(ErrorKind::not_supported, message);
}

}  // namespace ebpfrun::attach
