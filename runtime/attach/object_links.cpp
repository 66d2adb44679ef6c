#include "attach/object_links.h"

#include <bpf/libbpf.h>

#include <memory>

#include <fmt/format.h>

#include "attach/alternatives.h"
#include "common/log.h"

namespace ebpfrun::attach {
namespace {

// Lets a Link live in the Object's list of attachments without the loader
// depending on this component.
class LinkAttachment : public loader::Attachment {
 public:
  explicit LinkAttachment(Link link) : link_(std::move(link)) {}
  Link* get() { return &link_; }
  std::vector<uint32_t> link_ids() const override { return {link_.id()}; }

 private:
  Link link_;
};

}  // namespace

Result<Link*> attach_in(loader::Object& object, std::string_view program_name, std::string_view spec,
                        AttachOptions options) {
  if (!object.loaded())
    return make_error(ErrorKind::invalid_argument, fmt::format("BPF object {} is not loaded", object.name()));
  bpf_program* program = object.find_program(program_name);
  if (!program) {
    std::string names;
    for (const auto& p : object.programs()) names += (names.empty() ? "" : ", ") + p.name;
    return make_error(ErrorKind::not_found, fmt::format("BPF object {} has no program '{}'; its programs are: {}",
                                                        object.name(), program_name, names));
  }
  std::string chosen(spec);
  if (chosen.empty()) {
    auto implied = spec_from_section(bpf_program__section_name(program));
    if (!implied)
      return implied.error_info().with_message(fmt::format("program '{}' (section {}) needs an attach spec: {}",
                                                           program_name, bpf_program__section_name(program),
                                                           implied.error()));
    chosen = *implied;
  }
  if (!options.object) options.object = object.raw();
  auto link = attach_program(program, chosen, options);
  if (!link) return std::move(link).take_error();
  auto holder = std::make_unique<LinkAttachment>(std::move(link).value());
  Link* handle = holder->get();
  object.keep(std::move(holder));
  return handle;
}

namespace {

// An error when `named` holds a program `object` lacks; `what` names the list.
Status check_names(loader::Object& object, const Alternatives& named, std::string_view what) {
  for (const auto& [name, specs] : named)
    if (!object.find_program(name)) {
      std::string names;
      for (const auto& p : object.programs()) names += (names.empty() ? "" : ", ") + p.name;
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("{} name program '{}', which BPF object {} does not have; its programs are: {}",
                                    what, name, object.name(), names));
    }
  return ok_status();
}

}  // namespace

Result<std::vector<Link*>> attach_all(loader::Object& object, const AttachPlan& plan) {
  if (auto known = check_names(object, plan.alternatives, "alternatives"); !known) return std::move(known).take_error();
  if (auto known = check_names(object, plan.also_attach, "also_attach"); !known) return std::move(known).take_error();
  for (const auto& [name, specs] : plan.also_attach)
    if (plan.alternatives.count(name))
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("program '{}' has both alternatives and also_attach points; give one", name));
  std::vector<Link*> links;
  // A failure of an optional program is a note; any other stops it all.
  auto attached = [&](const std::string& name, Result<Link*> link) -> Status {
    if (!link && plan.optional.count(name)) {
      std::string note =
          fmt::format("optional program '{}' of {} was not attached: {}", name, object.name(), link.error());
      log::warn("{}", note);
      object.add_note(std::move(note));
      return ok_status();
    }
    if (!link) return std::move(link).take_error();
    links.push_back(*link);
    return ok_status();
  };
  for (const auto& program : object.programs()) {
    auto named = plan.alternatives.find(program.name);
    if (named != plan.alternatives.end()) {
      if (auto done = attached(program.name, attach_first(object, program.name, named->second, plan.options)); !done)
        return std::move(done).take_error();
      continue;
    }
    if (!program.autoload) {
      log::debug("program '{}' of {} is not loaded; not attaching it", program.name, object.name());
      continue;
    }
    std::vector<std::string> points;
    if (spec_from_section(program.section)) points.emplace_back();  // the SEC() name's; not e.g. a bare SEC("uprobe")
    if (auto also = plan.also_attach.find(program.name); also != plan.also_attach.end())
      points.insert(points.end(), also->second.begin(), also->second.end());
    for (const auto& point : points)
      if (auto done = attached(program.name, attach_in(object, program.name, point, plan.options)); !done)
        return std::move(done).take_error();
  }
  return links;
}

}  // namespace ebpfrun::attach
