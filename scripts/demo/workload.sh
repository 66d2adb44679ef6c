#!/bin/sh
# The main job's workload (./setup.sh demo): a few seconds of what a small
# service does, so that every collector has something to show. It runs under
# `ebpfrun -c`, which traces it and its children only:
#   - an HTTP server on 127.0.0.1 (python3's http.server, as "http-server")
#     serving a 2 MiB file, fetched 8 times by a client ("http-client"):
#     network bytes, TCP state transitions;
#   - file I/O: dd writes 4 MiB, gzip compresses it, sha256sum reads it back;
#   - processes: 100 short-lived ones (ls, a shell loop);
#   - page faults: every program above, and sort over 200,000 lines.
# Uses only tools that a fresh Debian machine with setup.sh's packages has.
set -eu
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
dir=$(mktemp -d "${TMPDIR:-/tmp}/ebpfrun-demo.XXXXXX")
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; rm -rf "$dir"' EXIT
cd "$dir"
# A process is named after the file it was started from: the server and the
# client get names of their own instead of both being "python3".
ln -s "$PYTHON" http-server
ln -s "$PYTHON" http-client

# An HTTP server on a free port of 127.0.0.1; it writes the port to a file.
head -c 2097152 /dev/urandom >payload.bin
./http-server - "$dir" <<'EOF' &
import functools, http.server, os, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=sys.argv[1]))
with open(sys.argv[1] + "/port.tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(sys.argv[1] + "/port.tmp", sys.argv[1] + "/port")
server.serve_forever()
EOF
server=$!

# File I/O while the server starts.
dd if=/dev/urandom of=data.bin bs=64k count=64 status=none
gzip -1 -c data.bin >data.bin.gz
sha256sum data.bin data.bin.gz >/dev/null
seq 1 200000 | sort -r >sorted.txt

while [ ! -s port ]; do sleep 0.05; done
./http-client - "$(cat port)" <<'EOF'
import sys, urllib.request
for _ in range(8):
    with urllib.request.urlopen("http://127.0.0.1:%s/payload.bin" % sys.argv[1]) as r:
        assert len(r.read()) == 2097152
EOF

# Short-lived processes.
i=0
while [ $i -lt 100 ]; do
  ls / >/dev/null
  i=$((i + 1))
done
