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

// Attaches every program whose SEC() name implies a spec, and every program
// named in `alternatives` at the first of its alternatives that works.
// Programs not loaded (switched off, or optional and refused at load) are
// passed over. A program named in `optional` that cannot be attached is
// skipped with a note; any other failure stops it, leaving what it attached
// so far to the object (close it to undo).
Result<std::vector<Link*>> attach_all(loader::Object& object, const AttachOptions& options = {},
                                      const Alternatives& alternatives = {},
                                      const std::set<std::string>& optional = {});

}  // namespace ebpfrun::attach
