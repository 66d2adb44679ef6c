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

Result<std::vector<Link*>> attach_all(loader::Object& object, const AttachOptions& options,
                                      const Alternatives& alternatives, const std::set<std::string>& optional) {
  const auto programs = object.programs();
  for (const auto& [name, specs] : alternatives)
    if (!object.find_program(name)) {
      std::string names;
      for (const auto& p : programs) names += (names.empty() ? "" : ", ") + p.name;
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("alternatives name program '{}', which BPF object {} does not have; its "
                                    "programs are: {}",
                                    name, object.name(), names));
    }
  std::vector<Link*> links;
  for (const auto& program : programs) {
    auto named = alternatives.find(program.name);
    Result<Link*> link = static_cast<Link*>(nullptr);
    if (named != alternatives.end()) {
      link = attach_first(object, program.name, named->second, options);
    } else {
      if (!program.autoload) {
        log::debug("program '{}' of {} is not loaded; not attaching it", program.name, object.name());
        continue;
      }
      if (!spec_from_section(program.section)) continue;  // e.g. SEC("uprobe") without a target
      link = attach_in(object, program.name, {}, options);
    }
    if (!link && optional.count(program.name)) {
      std::string note =
          fmt::format("optional program '{}' of {} was not attached: {}", program.name, object.name(), link.error());
      log::warn("{}", note);
      object.add_note(std::move(note));
      continue;
    }
    if (!link) return std::move(link).take_error();
    links.push_back(*link);
  }
  return links;
}

}  // namespace ebpfrun::attach
