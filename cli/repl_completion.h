// Tab completion for the REPL: probe names inside a Lua string, Lua names
// (a.b.c, obj:method) outside one.
//
// It is separate from the read/eval loop (repl.cpp) because it only plugs
// into readline's completion hooks and reads the Lua state; it never runs Lua
// code, so completing a name can have no side effect on the session.
#pragma once

struct lua_State;

namespace ebpfrun::cli {

// Makes readline complete against the globals of L (and tracepoint names
// from tracefs inside strings). L must outlive every later readline call;
// the REPL installs this once, with the state it evaluates in.
void install_repl_completion(lua_State* L);

}  // namespace ebpfrun::cli
