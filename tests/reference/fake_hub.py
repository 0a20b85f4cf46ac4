#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub on 127.0.0.1, for tests/integration/hub.sh.

usage: fake_hub.py ROOT PORTFILE [--token T] [--truncate FILE] [--lifetime SECONDS] [--commit C]
                   [--endless FILE] [--huge FILE] [--slow FILE] [--garbage FILE] [--redirect-file FILE]
                   [--loop 1] [--shards N]
Serves ROOT/<org>/<name>/<file> at /<org>/<name>/resolve/<rev>/<file> (also /<name>/...) the
way the Hub does: an X-Repo-Commit header, an ETag, a 302 redirect to /lfs/... for *.safetensors
and *.parquet (as the Hub redirects large files), 404 for missing files; datasets live under
ROOT/datasets/<org>/<name>/ (URLs /datasets/<org>/<name>/resolve/...), and the tree API
/api/datasets/<org>/<name>/tree/<rev>/<dir> lists a directory as the Hub does (a JSON array of
{"type", "path", "size", "oid"}); 401 without the right bearer token
when --token is given, and with --truncate FILE the connection drops half-way through that
file; --commit C sends C as X-Repo-Commit (to test that a hostile value is refused).
Hostile modes (tests/integration/hub.sh checks quant bounds each): --endless FILE streams
zeros without a Content-Length until the client hangs up; --huge FILE declares a
Content-Length of 10^15; --slow FILE sends one byte every half second; --garbage FILE answers
with bytes that are not HTTP; --redirect-file FILE redirects to file:///etc/hostname; --loop 1
redirects every request to itself; --shards N serves no model.safetensors and an index naming
N shard files.
Binds to loopback only, writes the port it got to PORTFILE, and exits by itself after
--lifetime seconds (default 120) or on GET /shutdown."""
import hashlib, http.server, json, os, sys, threading, time

args = sys.argv[1:]
root, portfile = args[0], args[1]
opt = dict(zip(args[2::2], args[3::2]))
token, trunc, lifetime = opt.get("--token"), opt.get("--truncate"), float(opt.get("--lifetime", "120"))
COMMIT = opt.get("--commit", "0123456789abcdef0123456789abcdef01234567")
endless, huge, slow, garbage = opt.get("--endless"), opt.get("--huge"), opt.get("--slow"), opt.get("--garbage")
redirect_file, loop, shards = opt.get("--redirect-file"), opt.get("--loop"), int(opt.get("--shards", "0"))

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/shutdown":
            self.send_response(200); self.end_headers()
            threading.Thread(target=self.server.shutdown).start()
            return
        if token and self.headers.get("Authorization") != "Bearer " + token:
            self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers(); return
        if loop:
            self.send_response(302); self.send_header("Location", self.path); self.send_header("Content-Length", "0")
            self.end_headers(); return
        name = self.path.rsplit("/", 1)[-1]
        try:
            if self.hostile(name):
                return
        except (BrokenPipeError, ConnectionResetError):
            return
        parts = self.path.lstrip("/").split("/")
        if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] == "tree":
            return self.tree(parts)
        lfs = parts[0] == "lfs"
        if lfs:
            rel = "/".join(parts[1:])
        else:
            if "resolve" not in parts:
                self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
            i = parts.index("resolve")
            rel = "/".join(parts[:i] + parts[i + 2:])
        path = os.path.join(root, rel)
        if ".." in rel or not os.path.isfile(path):
            self.send_response(404); self.send_header("Content-Length", "0")
            self.send_header("X-Repo-Commit", COMMIT); self.end_headers(); return
        if not lfs and path.endswith((".safetensors", ".parquet")):
            self.send_response(302); self.send_header("Location", "/lfs/" + rel)
            self.send_header("X-Repo-Commit", COMMIT); self.send_header("Content-Length", "0"); self.end_headers(); return
        data = open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", '"%s"' % hashlib.sha256(data).hexdigest())
        self.send_header("X-Repo-Commit", COMMIT)
        self.end_headers()
        if trunc and os.path.basename(path) == trunc:
            self.wfile.write(data[: len(data) // 2]); self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

def hostile(self, name):
    """The hostile modes; True when the request was answered by one."""
    if shards and name == "model.safetensors":
        self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return True
    if shards and name == "model.safetensors.index.json":
        body = ('{"weight_map": {%s}}' % ",".join('"t%d": "s%07d.safetensors"' % (i, i) for i in range(shards))).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body); return True
    if name == endless:
        self.send_response(200); self.send_header("X-Repo-Commit", COMMIT); self.end_headers()
        chunk = b"\0" * 65536
        while True:
            self.wfile.write(chunk)
    if name == huge:
        self.send_response(200); self.send_header("Content-Length", str(10 ** 15)); self.end_headers()
        self.wfile.write(b"{}"); return True
    if name == slow:
        self.send_response(200); self.send_header("Content-Length", "1000"); self.end_headers()
        for _ in range(1000):
            self.wfile.write(b" "); self.wfile.flush(); time.sleep(0.5)
        return True
    if name == garbage:
        self.wfile.write(b"\x00\xffNOT HTTP\r\n\r\n" * 100); self.close_connection = True; return True
    if name == redirect_file:
        self.send_response(302); self.send_header("Location", "file:///etc/hostname")
        self.send_header("Content-Length", "0"); self.end_headers(); return True
    return False

H.hostile = hostile

def tree(self, parts):
    """/api/datasets/<org>/<name>/tree/<rev>/<dir>: the files and directories directly in <dir>."""
    repo, rel = "/".join(parts[2:4]), "/".join(parts[6:])
    d = os.path.join(root, "datasets", repo, rel)
    if ".." in parts or not os.path.isdir(d):
        self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
    out = []
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        e = {"type": "directory" if os.path.isdir(p) else "file", "path": (rel + "/" + n).lstrip("/"),
             "oid": hashlib.sha1(n.encode()).hexdigest(), "size": 0 if os.path.isdir(p) else os.path.getsize(p)}
        out.append(e)
    body = json.dumps(out).encode()
    self.send_response(200); self.send_header("Content-Length", str(len(body)))
    self.send_header("Content-Type", "application/json"); self.end_headers()
    self.wfile.write(body)

H.tree = tree

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(portfile + ".tmp", portfile)
timer = threading.Timer(lifetime, srv.shutdown)
timer.daemon = True  # GET /shutdown must not wait for it
timer.start()
srv.serve_forever()
