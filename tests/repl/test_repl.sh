#!/usr/bin/env bash
# Drives the ebpfrun REPL in a real terminal (a private tmux server): values,
# multi-line input, a one-liner stopped by Ctrl-C with exact counts and nothing
# left in the kernel, Ctrl-C at the prompt, Lua errors, tab completion (Lua
# names, probes, a one-liner's fields), :fields, :probes PATTERN, :help,
# :quit and history across sessions. Every wait polls the pane for the text it
# expects; a failing check prints the pane.
# Usage: test_repl.sh PATH/TO/ebpfrun   (root; EBPFRUN_COMPILER_LIB etc. from the environment)
set -euo pipefail
EBPFRUN=${1:?usage: test_repl.sh PATH/TO/ebpfrun}

needs() {  # reason
  if [ "${CI:-}" = true ]; then echo "FAILED: $1, and CI=true forbids skipping"; exit 1; fi
  echo "skipped: $1"
  exit 0
}
[ "$(id -u)" = 0 ] || needs "needs root"
command -v tmux >/dev/null || needs "needs tmux (apt-get install tmux)"
command -v python3 >/dev/null || needs "needs python3 (the getppid workload)"

work=$(mktemp -d)
socket="ebpfrun-repl-test-$$"
session=
tmux_() { tmux -L "$socket" "$@"; }
socket_path=
cleanup() {
  tmux_ kill-server 2>/dev/null || true
  [ -z "$socket_path" ] || rm -f "$socket_path"  # tmux leaves its socket behind
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/home"
export HOME="$work/home"
passed=0 failed=0
repl_pid=

# ---- the terminal

# Each REPL gets a new session of the private server (killing the last session
# would stop the server while the next one starts). The shell around the REPL
# writes its exit status to a file: tmux does not always know it.
sessions=0
start_repl() {
  sessions=$((sessions + 1))
  session="repl$$-$sessions"
  status_file="$work/status-$sessions"
  printf 'set -g history-limit 50000\nset -g remain-on-exit on\n' >"$work/tmux.conf"
  tmux_ -f "$work/tmux.conf" new-session -d -x 200 -y 50 -s "$session" \
    "env HOME=$(printf %q "$HOME") $(printf %q "$EBPFRUN"); echo \$? >$(printf %q "$status_file")"
  shell_pid=$(tmux_ display-message -p -t "$session" '#{pane_pid}')
  socket_path=$(tmux_ display-message -p -t "$session" '#{socket_path}')
  wait_until 10 find_repl_pid || true
}
find_repl_pid() {
  local name
  name=$(basename "$EBPFRUN" | cut -c1-15)
  repl_pid=$(pgrep -P "$shell_pid" -x "$name" | head -n 1)
  [ -n "$repl_pid" ]
}

# The whole pane with its history, wrapped lines joined, trailing blanks gone.
pane() {
  tmux_ capture-pane -p -J -t "$session" -S - -E - | sed 's/[[:space:]]*$//' |
    sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
}
# Remembers where the current (last) line is; since_mark prints from there.
mark() { mark_line=$(pane | wc -l); [ "$mark_line" -ge 1 ] || mark_line=1; }
since_mark() { pane | tail -n +"$mark_line"; }
exit_known() { [ -s "$status_file" ]; }
exited_ok() {
  wait_until 10 exit_known || { exit_how="no exit status"; return 1; }
  exit_how="status $(cat "$status_file")"
  [ "$exit_how" = "status 0" ]
}
pane_dead() { [ "$(tmux_ display-message -p -t "$session" '#{pane_dead}' 2>/dev/null)" = 1 ]; }

type_text() { tmux_ send-keys -t "$session" -l "$1"; }  # literally (no key names)
key() { tmux_ send-keys -t "$session" "$@"; }
enter_line() { type_text "$1"; key Enter; }

# wait_until SECONDS COMMAND...: polls every 0.1 s.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
new_output_has() { since_mark | grep -Eq -- "$1"; }
prompt_ready() { [ "$(pane | tail -n 1)" = "ebpf>" ]; }
# A fresh prompt after the marked line (the command's own line is the first).
prompt_back() { local out; out=$(since_mark); [ "$(wc -l <<<"$out")" -ge 2 ] && [ "$(tail -n 1 <<<"$out")" = "ebpf>" ]; }
expect_new() {  # regex [seconds]
  wait_until "${2:-20}" new_output_has "$1" || { why="no line matching '$1' appeared"; return 1; }
}
expect_prompt() {
  wait_until "${1:-20}" prompt_back || { why="the prompt did not come back"; return 1; }
}
# run_line LINE EXPECTED: types LINE, waits for the prompt and compares the
# text from the command line to the new prompt exactly.
run_line() {
  mark
  enter_line "$1"
  expect_prompt || return 1
  local got
  got=$(since_mark)
  [ "$got" = "$2" ] || { why="expected:"$'\n'"$2"$'\n'"got:"$'\n'"$got"; return 1; }
}

# A step starts at a prompt; after a failed step, one Ctrl-C may bring it back.
at_prompt() {
  [ -z "$session" ] && return 0
  if pane_dead; then why="the REPL is gone"; return 1; fi
  prompt_ready && return 0
  key C-c
  wait_until 3 prompt_ready || { why="the REPL is not at its prompt"; return 1; }
}

step() {  # number, name, function
  why=""
  at_prompt || true
  if [ -z "$why" ] && "$3"; then
    echo "ok      $1 $2"
    passed=$((passed + 1))
  else
    echo "FAILED  $1 $2: ${why:-see the pane}"
    echo "---- pane ----"
    pane | tail -n 40 | sed 's/^/    /'
    echo "--------------"
    failed=$((failed + 1))
  fi
}

# ---- the checks

check_start() {
  start_repl
  mark_line=1
  wait_until 30 prompt_ready || { why="no 'ebpf> ' prompt"; return 1; }
  [ -n "$repl_pid" ] || { why="no ebpfrun process under the pane's shell"; return 1; }
}

check_values() {
  run_line '1 + 2' $'ebpf> 1 + 2\n3\nebpf>' || return 1
  run_line '{a = 1, b = "x", 10, 20}' $'ebpf> {a = 1, b = "x", 10, 20}\n{\n  10,\n  20,\n  a = 1,\n  b = "x"\n}\nebpf>'
}

check_multiline() {
  mark
  enter_line 'for i = 1, 2 do'
  wait_until 10 new_output_has '^  \.\.>$' || { why="no continuation prompt"; return 1; }
  enter_line 'print(i)'
  enter_line 'end'
  expect_prompt || return 1
  local got
  got=$(since_mark)
  [ "$got" = $'ebpf> for i = 1, 2 do\n  ..> print(i)\n  ..> end\n1\n2\nebpf>' ] || { why="got:"$'\n'"$got"; return 1; }
}

# fds of BPF programs and links held by the REPL process.
bpf_fds() { ls -l "/proc/$repl_pid/fd" 2>/dev/null | grep -cE 'anon_inode:bpf[-_](prog|link)' || true; }
prog_ids() {
  local fd
  for fd in /proc/"$repl_pid"/fd/*; do
    [ "$(readlink "$fd" 2>/dev/null)" = "anon_inode:bpf-prog" ] || continue
    awk '/^prog_id:/ { print $2 }' "/proc/$repl_pid/fdinfo/${fd##*/}"
  done
}

check_oneliner() {
  mark
  enter_line 'count("tracepoint/syscalls/sys_enter_getppid", "comm")'
  expect_new '^Attaching 1 probe\.\.\. \(tracepoint/syscalls/sys_enter_getppid\)' 90 || return 1
  local ids
  ids=$(prog_ids)
  [ -n "$ids" ] || { why="the REPL holds no BPF program while count() runs"; return 1; }
  # Exactly 3000 getppid calls under a name no one else uses.
  python3 -c '
import ctypes, os
ctypes.CDLL(None).prctl(15, b"repl_getppid", 0, 0, 0)
for _ in range(3000): os.getppid()
'
  key C-c
  expect_prompt 20 || return 1
  new_output_has '^@\[repl_getppid\]: 3000$' || { why="no '@[repl_getppid]: 3000' in the counts"; return 1; }
  run_line ':probes' $'ebpf> :probes\nnothing attached\nebpf>' || return 1
  [ "$(bpf_fds)" = 0 ] || { why="the REPL still holds BPF program or link fds"; return 1; }
  local id
  for id in $ids; do
    if bpftool prog show id "$id" >/dev/null 2>&1; then why="BPF program $id (oneliner) is still loaded"; return 1; fi
  done
}

check_ctrl_c_at_prompt() {
  mark
  type_text 'lost = 1'
  wait_until 5 new_output_has '^ebpf> lost = 1$' || { why="the typed text did not show"; return 1; }
  key C-c
  expect_prompt || return 1
  run_line 'lost' $'ebpf> lost\nnil\nebpf>' || return 1
  # An unfinished multi-line chunk is abandoned too.
  mark
  enter_line 'if true then'
  wait_until 10 new_output_has '^  \.\.>$' || { why="no continuation prompt"; return 1; }
  key C-c
  expect_prompt || return 1
  run_line '"still here"' $'ebpf> "still here"\n"still here"\nebpf>' || return 1
  # The Ctrl-Cs above must not stop the next run at once.
  run_line 'ebpf.run{ duration = 0.3 }' $'ebpf> ebpf.run{ duration = 0.3 }\n"duration"\nebpf>'
}

check_error() {
  run_line 'error("boom")' $'ebpf> error("boom")\nerror: stdin:1: boom\nebpf>' || return 1
  run_line 'nil + 1' $'ebpf> nil + 1\nerror: stdin:1: attempt to perform arithmetic on a nil value\nebpf>' || return 1
  run_line '6 * 7' $'ebpf> 6 * 7\n42\nebpf>'
}

check_completion() {
  mark
  type_text 'ebpf.comp'
  key Tab
  wait_until 10 new_output_has '^ebpf> ebpf\.compile\($' || { why="ebpf.comp did not complete to ebpf.compile("; return 1; }
  key C-u
  mark
  type_text 'probe = "tracepoint/syscalls/sys_enter_geti'
  key Tab
  wait_until 10 new_output_has '^ebpf> probe = "tracepoint/syscalls/sys_enter_getitimer"$' ||
    { why="the tracepoint name did not complete"; return 1; }
  key Enter
  expect_prompt || return 1
  run_line 'probe' $'ebpf> probe\n"tracepoint/syscalls/sys_enter_getitimer"\nebpf>'
}

# :fields PROBE lists a tracepoint's fields with their types and how a
# one-liner reads them; :probes PATTERN lists probes like -l; inside a
# one-liner's later argument Tab completes the probe's fields.
check_explore() {
  mark
  enter_line ':fields tracepoint/syscalls/sys_enter_openat'
  expect_prompt || return 1
  new_output_has '^filename +const char \* +str\(filename\)$' || { why=":fields did not list filename as str(filename)"; return 1; }
  new_output_has '^ustack +stack ' || { why=":fields did not list ustack"; return 1; }
  mark
  enter_line ':fields tp_btf/sched_switch'
  expect_prompt || return 1
  new_output_has '^next +struct task_struct \* +next->MEMBER, or arg2$' || { why=":fields did not name tp_btf/sched_switch's arguments from BTF"; return 1; }
  run_line ':fields tracepoint/nosuch/probe' $'ebpf> :fields tracepoint/nosuch/probe\nno tracepoint nosuch/probe (see ebpfrun -l \'nosuch:*\')\nebpf>' || return 1
  run_line ':probes syscalls:sys_enter_getppi*' $'ebpf> :probes syscalls:sys_enter_getppi*\ntracepoint/syscalls/sys_enter_getppid\nebpf>' || return 1
  mark
  type_text 'count("tracepoint/syscalls/sys_enter_openat", "str(fi'
  key Tab
  wait_until 10 new_output_has '^ebpf> count\("tracepoint/syscalls/sys_enter_openat", "str\(filename\)"$' ||
    { why="the field did not complete to str(filename)"; return 1; }
  key C-u
  mark
  type_text 'count("tracepoint/syscalls/sys_enter_openat", {"comm", "ust'
  key Tab
  wait_until 10 new_output_has '^ebpf> count\("tracepoint/syscalls/sys_enter_openat", \{"comm", "ustack"$' ||
    { why="ust did not complete to ustack"; return 1; }
  key C-u
  mark
  type_text 'count("tp_btf/sched_switch", "next->real_pa'
  key Tab
  wait_until 10 new_output_has '^ebpf> count\("tp_btf/sched_switch", "next->real_parent"$' ||
    { why="next->real_pa did not complete to the task_struct member real_parent"; return 1; }
  key C-u
  run_line '"done"' $'ebpf> "done"\n"done"\nebpf>'
}

check_help_quit_history() {
  mark
  enter_line ':help'
  expect_prompt || return 1
  new_output_has '^  :probes +what is attached$' || { why=":help did not list the commands"; return 1; }
  new_output_has '^  :fields PROBE ' || { why=":help did not list :fields"; return 1; }
  enter_line ':quit'
  wait_until 10 exit_known || { why=":quit did not end the REPL"; return 1; }
  exited_ok || { why=":quit did not exit with status 0 ($exit_how)"; return 1; }
  local history="$HOME/.ebpfrun_history" line
  for line in '1 + 2' 'for i = 1, 2 do' 'print(i)' 'end' 'error("boom")' ':help' ':quit'; do
    grep -Fxq -- "$line" "$history" || { why="the history file lacks '$line'"; return 1; }
  done
  # A new session recalls the last lines with Up; Ctrl-D leaves with status 0.
  start_repl
  mark_line=1
  wait_until 30 prompt_ready || { why="the second REPL shows no prompt"; return 1; }
  key Up
  wait_until 10 new_output_has '^ebpf> :quit$' || { why="Up did not recall ':quit'"; return 1; }
  key Up
  wait_until 10 new_output_has '^ebpf> :help$' || { why="a second Up did not recall ':help'"; return 1; }
  key C-u C-d
  wait_until 10 exit_known || { why="Ctrl-D did not end the REPL"; return 1; }
  exited_ok || { why="Ctrl-D did not exit with status 0 ($exit_how)"; return 1; }
}

step 1 "start: the prompt shows" check_start
step 2 "expressions and tables are shown" check_values
step 3 "multi-line input" check_multiline
step 4 "count() one-liner: Ctrl-C prints exact counts, detaches, unloads" check_oneliner
step 5 "Ctrl-C at the prompt clears the line and keeps the REPL" check_ctrl_c_at_prompt
step 6 "a Lua error is printed and the REPL continues" check_error
step 7 "tab completion of Lua names and tracepoints" check_completion
step 8 ":fields, :probes PATTERN, completion of a one-liner's fields" check_explore
step 9 ":help, :quit, history across sessions, Ctrl-D" check_help_quit_history
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
