// execsnoop: every execve()/execveat() with its full argv and its outcome,
// failed ones included, from the syscall tracepoints (no kprobes needed).
//
// Why the syscall tracepoints: only the syscall entry sees a failed exec at
// all (sched_process_exec fires for successes only), and a failed exec's
// argv can only be read from the caller. The entry stores the call per
// thread; sched_process_exec, in the new program, re-reads a successful
// exec's argv from the new process (see execsnoop_exec); the exit adds the
// return code and sends the event, so one event carries argv and result.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "ebpfrun.h"
#include "ebpfrun_events.h"

#define MAX_ARGS 20  // argv entries the entry reads
#define ARG_LEN  128 // bytes the entry reads of one argument, NUL included
#define ARGS_SIZE                                                                                  \
    (MAX_ARGS * ARG_LEN) // bytes of argv kept (after a success: any number of arguments)
#define FILENAME_LEN 256

#define EXEC_ARGS_TRUNCATED 1 // argv went on past what was kept
#define EXEC_ARG_CUT        2 // an argument filled all its ARG_LEN bytes (it may have been longer)
#define EXEC_AT             4 // execveat() rather than execve()

// One exec. args holds argv as NUL-terminated strings back to back (like
// /proc/PID/cmdline); only the first args_size bytes are sent. argc counts
// the strings the entry read (user space splits args_size bytes instead, as
// a successful exec's argv is re-read in one piece; see execsnoop_exec).
struct exec_event {
    __u64 ts_ns;
    __u32 pid;
    __u32 tid;
    __u32 ppid;
    __u32 uid;
    __s32 ret;
    __u32 argc;
    __u32 args_size;
    __u32 flags;
    char comm[16];
    char filename[FILENAME_LEN];
    char args[ARGS_SIZE];
};

// Calls between entry and exit, by thread id. Not preallocated: entries are
// large and there are seldom more than a few at a time.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u32);
    __type(value, struct exec_event);
} execs SEC(".maps");

// The event is too large for the BPF stack; it is built here and then copied.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct exec_event);
} scratch SEC(".maps");

// 1 MiB: hundreds of the largest events, thousands of typical ones, while the
// consumer drains it within its 1 ms wakeup window. Each MiB here is two of
// the reader's resident memory (the data area is mapped twice), so it is not
// made larger than that needs.
EBPFRUN_RINGBUF_WITH_DROPS(events, 1 << 20);

// The walk over argv, one bpf_loop() iteration per argument. The verifier
// checks the callback once, whatever the number of arguments; an open-coded
// loop had it walk every iteration with a different `off` (375 000 verified
// instructions and 0.3 s of BPF_PROG_LOAD per entry program on 6.18).
struct argv_walk {
    const char *const *argv;
    __u32 off;   // bytes of e->args filled
    __u32 argc;  // arguments read
    __u32 flags; // EXEC_ARG_CUT when an argument filled its ARG_LEN bytes
};

static long read_arg(__u32 index, void *data)
{
    struct argv_walk *walk = data;
    __u32 zero = 0;
    struct exec_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!e)
        return 1;
    const char *arg = NULL;
    if (bpf_probe_read_user(&arg, sizeof(arg), &walk->argv[index]) || !arg)
        return 1;
    __u32 off = walk->off;
    // Bounds the write below for the verifier: off <= ARGS_SIZE - ARG_LEN.
    if (off > ARGS_SIZE - ARG_LEN)
        return 1;
    long n = bpf_probe_read_user_str(&e->args[off], ARG_LEN, arg);
    if (n <= 0)
        return 1;
    if (n == ARG_LEN)
        walk->flags |= EXEC_ARG_CUT;
    walk->off = off + n;
    walk->argc++;
    return 0;
}

static __always_inline int record_entry(const char *filename, const char *const *argv, __u32 flags)
{
    __u32 zero = 0;
    struct exec_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!e)
        return 0;
    __u64 id = bpf_get_current_pid_tgid();
    e->ts_ns = bpf_ktime_get_ns();
    e->pid = id >> 32;
    e->tid = (__u32)id;
    e->uid = (__u32)bpf_get_current_uid_gid();
    e->ret = 0;
    e->filename[0] = 0;
    bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename);

    struct argv_walk walk = {.argv = argv, .flags = flags};
    bpf_loop(MAX_ARGS, read_arg, &walk, 0);
    // All MAX_ARGS slots used: tell whether argv went on.
    if (walk.argc == MAX_ARGS) {
        const char *more = NULL;
        if (!bpf_probe_read_user(&more, sizeof(more), &argv[MAX_ARGS]) && more)
            walk.flags |= EXEC_ARGS_TRUNCATED;
    }
    e->flags = walk.flags;
    e->argc = walk.argc;
    e->args_size = walk.off;
    __u32 tid = e->tid;
    bpf_map_update_elem(&execs, &tid, e, BPF_ANY);
    return 0;
}

// The filter applies after the exec, to the process as it is then (its new
// name for --comm), so that `--comm X` shows the execs of X. The entries
// record every exec, so the exit must delete the record whether or not the
// filter matches.
static __always_inline bool wanted(void)
{
    /*FILTER*/
    return true;
}

static __always_inline int emit_exit(long ret)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct exec_event *e = bpf_map_lookup_elem(&execs, &tid);
    if (!e)
        return 0;
    if (!wanted())
        goto out;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    e->ret = (__s32)ret;
    // After a successful exec this is the new program's name.
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    e->ppid = BPF_CORE_READ(task, real_parent, tgid);
    e->pid = bpf_get_current_pid_tgid() >> 32;
    __u64 size = __builtin_offsetof(struct exec_event, args) + e->args_size;
    if (size > sizeof(*e))
        size = sizeof(*e);
    EBPFRUN_OUTPUT(events, e, size);
out:
    bpf_map_delete_elem(&execs, &tid);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int execsnoop_enter(struct trace_event_raw_sys_enter *ctx)
{
    return record_entry((const char *)ctx->args[0], (const char *const *)ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int execsnoop_enter_at(struct trace_event_raw_sys_enter *ctx)
{
    return record_entry((const char *)ctx->args[1], (const char *const *)ctx->args[2], EXEC_AT);
}

// The exits of execve() and execveat(), whose records have the same layout:
// one program, which scripts/execsnoop.lua also attaches at
// sys_exit_execveat, so that it is loaded and verified once.
SEC("tracepoint/syscalls/sys_exit_execve")
int execsnoop_exit(struct trace_event_raw_sys_exit *ctx)
{
    return emit_exit(ctx->ret);
}

// Runs in the new program, between the exec's entry and exit. Its argv is
// read again here, from the new process's own copy (mm->arg_start..arg_end,
// written by the kernel a moment ago, so its pages are present): the
// caller's strings that the entry read may sit in pages that are not mapped
// (a child after fork() shares file-backed pages only lazily), and a BPF
// tracepoint program cannot fault them in. Failed execs keep the entry's read.
//
// A thread other than the leader that execs takes over the leader's thread
// id (de_thread), so its exit runs under another id than its entry: the
// record moves to the new id here.
SEC("tracepoint/sched/sched_process_exec")
int execsnoop_exec(struct trace_event_raw_sched_process_exec *ctx)
{
    __u32 old_tid = ctx->old_pid, tid = ctx->pid;
    struct exec_event *e = bpf_map_lookup_elem(&execs, &old_tid);
    if (!e)
        return 0;
    if (!e->filename[0])
        bpf_probe_read_kernel_str(e->filename, sizeof(e->filename),
                                  (void *)ctx + (ctx->__data_loc_filename & 0xffff));
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    unsigned long start = BPF_CORE_READ(task, mm, arg_start);
    unsigned long end = BPF_CORE_READ(task, mm, arg_end);
    if (end > start) {
        __u32 size = end - start;
        e->flags &= ~(EXEC_ARGS_TRUNCATED | EXEC_ARG_CUT);
        if (size > ARGS_SIZE) {
            size = ARGS_SIZE;
            e->flags |= EXEC_ARGS_TRUNCATED;
        }
        if (bpf_probe_read_user(e->args, size, (const void *)start) == 0)
            e->args_size = size;
    }
    if (old_tid != tid) {
        e->tid = tid;
        bpf_map_update_elem(&execs, &tid, e, BPF_ANY);
        bpf_map_delete_elem(&execs, &old_tid);
    }
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
