// Attaching the programs of a loaded loader::Object, with the links owned by
// that Object: closing the Object (or destroying it, or an exception unwinding
// past it) detaches them before its programs are unloaded.
#pragma once

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

// Attaches every program whose SEC() name implies a spec. Stops at the first
// failure, leaving what it attached so far to the object (close it to undo).
Result<std::vector<Link*>> attach_all(loader::Object& object, const AttachOptions& options = {});

}  // namespace ebpfrun::attach
