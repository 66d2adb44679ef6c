// Attaching the programs of a loaded loader::Object, with the links owned by
// that Object: closing the Object (or destroying it, or an exception unwinding
// past it) detaches them before its programs are unloaded.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "attach/attach.h"
#include "loader/object.h"

namespace ebpfrun::attach {

// Attaches program `program_name` of `object` at `spec`; an empty spec means
// the one its SEC() name implies. The returned Link is owned by the object and
// valid while it is open; Link::detach() on it detaches early.
Result<Link*> attach_in(loader::Object& object, std::string_view program_name, std::string_view spec = {},
                        AttachOptions options = {});

// Programs named with attach alternatives (alternatives.h), in order of preference.
using Alternatives = std::map<std::string, std::vector<std::string>>;

// What attach_all does beyond attaching each program where its SEC() name
// says.
struct AttachPlan {
  AttachOptions options;
  // Programs attached at the first of their alternatives that works instead.
  Alternatives alternatives;
  // Programs that may fail to attach: skipped with a note.
  std::set<std::string> optional;
  // Programs also attached at these further points, each as the SEC() name
  // is: one program serving tracepoints of the same layout (accept and
  // accept4's exits) is loaded and verified once, not once per tracepoint.
  Alternatives also_attach;
};

// Attaches every program whose SEC() name implies a spec, and every program
// named in `plan.alternatives` at the first of its alternatives that works,
// then each program's `plan.also_attach` points. Programs not loaded
// (switched off, or optional and refused at load) are passed over. A program
// named in `plan.optional` that cannot be attached is skipped with a note;
// any other failure stops it, leaving what it attached so far to the object
// (close it to undo). Naming a program the object lacks is an error.
Result<std::vector<Link*>> attach_all(loader::Object& object, const AttachPlan& plan = {});

}  // namespace ebpfrun::attach
