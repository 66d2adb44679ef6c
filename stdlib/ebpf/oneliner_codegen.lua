-- ebpf.oneliner_codegen: the BPF C of the one-liners, built from validated
-- descriptors (ebpf.oneliner_fields) and compiled predicates
-- (ebpf.oneliner_where). Two program shapes:
--   aggregate  a hash map from a key struct (the `by` fields, and a
--              histogram bucket) to {count, sum, min, max} of a value;
--   events     a ring buffer of one struct per event (trace, printf).
-- The filter (`/*FILTER*/` for -p/-c, then `where`) runs first.

local F = require "ebpf.oneliner_fields"

local C = {}

-- C declarations some descriptors need before the program (an extra key
-- kind's stack-trace map, say: descriptor.decl).
local function decls(list)
  local out, seen = {}, {}
  for _, d in ipairs(list) do
    if d.decl and not seen[d.decl] then seen[d.decl] = true; out[#out + 1] = d.decl end
  end
  return table.concat(out, "\n") .. (#out > 0 and "\n" or "")
end

C.HEADER = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char LICENSE[] SEC("license") = "GPL";
]]

local function filter_code(where)
  if not where then return "" end
  local lines = {}
  for _, s in ipairs(where.prelude) do lines[#lines + 1] = "    " .. s end
  lines[#lines + 1] = ("    if (!%s) return 0;"):format(where.cond)
  return table.concat(lines, "\n")
end

-- A wildcard probe (info.matches): the program `name` becomes an inline
-- body taking the match's index (`oneliner_probe`, read by the "probe" key)
-- and one entry point per match, NAME_0 .. NAME_n, each in its match's
-- section (info.sections). The body is the same C for every match, since a wildcard's
-- fields are those every match has at the same place.
function C.fan_out(source, name, info)
  if not info.matches then return source end
  local head = ('SEC("%s")\nint %s(void *ctx)\n{\n'):format(info.section, name)
  local s, e = source:find(head, 1, true)
  assert(s, "fan_out: no program " .. name)
  local close = assert(source:find("\n}\n", e, true))
  local entries = {}
  for i = 1, #info.matches do
    entries[i] = ('SEC("%s")\nint %s_%d(void *ctx) { return %s_body(ctx, %d); }'):format(info.sections[i], name, i - 1, name, i - 1)
  end
  return source:sub(1, s - 1) .. ("static __always_inline int %s_body(void *ctx, __u32 oneliner_probe)\n{\n"):format(name)
    .. source:sub(e + 1, close + 2) .. table.concat(entries, "\n") .. "\n" .. source:sub(close + 3)
end

-- keys: descriptors; value: descriptor or nil (count); bucket: nil, "log2"
-- or {min, max, step} for linear buckets.
function C.aggregate(info, keys, value, bucket, where)
  local members, fills = {}, {}
  for i, d in ipairs(keys) do
    members[#members + 1] = F.member(d, "k" .. i)
    fills[#fills + 1] = F.fill(d, "key.k" .. i)
  end
  if bucket then members[#members + 1] = "__s64 bucket;" end
  if #members == 0 then members[1] = "__u32 none;" end
  local bucket_code = ""
  if bucket == "log2" then
    bucket_code = [[
    if (v < 0) key.bucket = -1;
    else { __u64 u = v; __s64 b = 0; while (u && b < 64) { b++; u >>= 1; } key.bucket = b; }]]
  elseif bucket then
    bucket_code = ([[
    if (v < %dLL) key.bucket = 0;
    else if (v >= %dLL) key.bucket = %d;
    else key.bucket = 1 + (__s64)((__u64)(v - %dLL) / %dULL);]]):format(bucket.min, bucket.max,
      math.ceil((bucket.max - bucket.min) / bucket.step) + 1, bucket.min, bucket.step)
  end
  return C.fan_out(C.HEADER .. decls(keys) .. ([[
struct oneliner_key { %s };
struct oneliner_value { __u64 count; __s64 sum; __s64 min; __s64 max; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, struct oneliner_key); __type(value, struct oneliner_value); } aggregate SEC(".maps");
SEC("%s")
%s
{
    /*FILTER*/
%s
    struct oneliner_key key;
    __builtin_memset(&key, 0, sizeof(key));
    %s
    __s64 v = %s;
%s
    struct oneliner_value *p = bpf_map_lookup_elem(&aggregate, &key);
    if (!p) {
        struct oneliner_value init = { 0, 0, v, v };
        bpf_map_update_elem(&aggregate, &key, &init, BPF_NOEXIST);
        p = bpf_map_lookup_elem(&aggregate, &key);
        if (!p) return 0;
    }
    __sync_fetch_and_add(&p->count, 1);
    __sync_fetch_and_add(&p->sum, v);
    if (v < p->min) p->min = v;
    if (v > p->max) p->max = v;
    return 0;
}
]]):format(table.concat(members, " "), info.section, F.signature(info, "oneliner"), filter_code(where),
    table.concat(fills, "\n    "), value and value.expr or "0", bucket_code), "oneliner", info)
end

-- fields: descriptors, one member f1..fn each.
function C.events(info, fields, where)
  local members, fills = { "__u32 pad;" }, {}
  for i, d in ipairs(fields) do
    members[#members + 1] = F.member(d, "f" .. i)
    fills[#fills + 1] = F.fill(d, "e->f" .. i)
  end
  return C.fan_out(C.HEADER .. decls(fields) .. ([[
struct oneliner_event { %s };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 22); } events SEC(".maps");
SEC("%s")
%s
{
    /*FILTER*/
%s
    struct oneliner_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) return 0;
    %s
    bpf_ringbuf_submit(e, 0);
    return 0;
}
]]):format(table.concat(members, " "), info.section, F.signature(info, "oneliner"), filter_code(where),
    table.concat(fills, "\n    ")), "oneliner", info)
end

-- latency: a start timestamp per thread at probe A, the time since at probe
-- B, in a log2 histogram keyed by the `by` fields (read at B).
function C.latency(info_a, info_b, keys, where)
  local members, fills = { "__s64 bucket;" }, {}
  for i, d in ipairs(keys) do
    members[#members + 1] = F.member(d, "k" .. i)
    fills[#fills + 1] = F.fill(d, "key.k" .. i)
  end
  local source = C.HEADER .. decls(keys) .. ([[
struct oneliner_key { %s };
struct oneliner_value { __u64 count; __s64 sum; __s64 min; __s64 max; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, __u32); __type(value, __u64); } starts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, struct oneliner_key); __type(value, struct oneliner_value); } aggregate SEC(".maps");
SEC("%s")
%s
{
    /*FILTER*/
%s
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    __u64 now = bpf_ktime_get_ns();
    bpf_map_update_elem(&starts, &tid, &now, BPF_ANY);
    return 0;
}
SEC("%s")
%s
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    __u64 *start = bpf_map_lookup_elem(&starts, &tid);
    if (!start) return 0;
    __s64 v = bpf_ktime_get_ns() - *start;
    bpf_map_delete_elem(&starts, &tid);
    struct oneliner_key key;
    __builtin_memset(&key, 0, sizeof(key));
    %s
    { __u64 u = v; __s64 b = 0; while (u && b < 64) { b++; u >>= 1; } key.bucket = b; }
    struct oneliner_value *p = bpf_map_lookup_elem(&aggregate, &key);
    if (!p) {
        struct oneliner_value init = { 0, 0, v, v };
        bpf_map_update_elem(&aggregate, &key, &init, BPF_NOEXIST);
        p = bpf_map_lookup_elem(&aggregate, &key);
        if (!p) return 0;
    }
    __sync_fetch_and_add(&p->count, 1);
    __sync_fetch_and_add(&p->sum, v);
    return 0;
}
]]):format(table.concat(members, " "), info_a.section, F.signature(info_a, "oneliner_start"), filter_code(where),
    info_b.section, F.signature(info_b, "oneliner"), table.concat(fills, "\n    "))
  return C.fan_out(C.fan_out(source, "oneliner_start", info_a), "oneliner", info_b)
end

return C
