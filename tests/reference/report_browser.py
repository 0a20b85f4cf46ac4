#!/usr/bin/env python3
"""report_browser.py — opens quant HTML reports in headless Chromium (through chromedriver's
W3C HTTP interface: urllib only, no pip packages) and checks what a reader would see.

  report_browser.py [--shots DIR] [--expect-fail] FILE.html ...

For each file: loads it from file://, reads the browser console (any SEVERE entry — a script
error, console.error, a failed resource — is a failure), the load time (navigation timing, the least of
up to three loads, must be under 1 s), and takes a screenshot of every plot (svg.plot): a plot passes when at least 30
pixels of its data area (a marker's worth) are drawn by a series: coloured, or black, with the plots'
text hidden (grid and frame are grey), i.e. data was drawn, not only a frame.  A count, not a share:
a scatter of a few markers on a wide plot is sparse but not blank.  The plots are cut out of one full-page screenshot at their data
area (the frame), so legends and titles do not count.  --shots DIR also saves a full-page PNG per report.  --expect-fail
inverts the verdict (the checker's own test: a page with a console error and an empty plot)."""
import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from PIL import Image

LOAD_MS = int(os.environ.get("QUANT_REPORT_LOAD_MS", "1000"))  # "opens in under a second"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", "--window-size=1100,900", "--disable-dev-shm-usage"]


def find(*names):
    for n in names:
        p = shutil.which(n) or (n if os.path.exists(n) else None)
        if p:
            return p
    return None


class Driver:
    def __init__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.proc = subprocess.Popen([find("chromedriver", "/usr/bin/chromedriver"), "--port=%d" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % self.port
        for _ in range(100):
            try:
                if self.call("GET", "/status")["value"]["ready"]:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        self.profile = tempfile.mkdtemp(prefix="quant-chromium-")
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": find("chromium", "/usr/bin/chromium"),
                                   "args": CHROME_ARGS + ["--user-data-dir=" + self.profile]},
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        self.sid = self.call("POST", "/session", caps)["value"]["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else (b"{}" if method == "POST" else None)
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.sid, path), body)["value"]

    def close(self):
        try:
            self.call("DELETE", "/session/" + self.sid)
        except Exception:
            pass
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def drawn_pixels(im):
    """pixels drawn by a series: with a hue, or black (#000, the fp32 reference line and one
    marker); the grid (#e4e4e4) and the frame (#444) are neither, and text is hidden"""
    return sum(1 for r, g, b in im.getdata() if max(r, g, b) - min(r, g, b) > 40 or max(r, g, b) < 40)


def check(d, path, shots):
    problems = []
    # the load time is the least of up to three loads: on a shared machine one load can wait
    # for the CPU, which says nothing about the page
    logs = []
    for attempt in range(3):
        d.s("POST", "/url", {"url": "file://" + os.path.abspath(path)})
        got = d.s("POST", "/execute/sync", {"script": """
            const n = performance.getEntriesByType('navigation')[0];
            return {load: n ? n.loadEventEnd - n.startTime : -1, plots: document.querySelectorAll('svg.plot').length,
                    height: document.documentElement.scrollHeight, title: document.title};""", "args": []})
        logs += d.s("POST", "/se/log", {"type": "browser"})
        if attempt == 0 or 0 <= got["load"] < info["load"]:
            info = got
        if 0 <= info["load"] < LOAD_MS:
            break
    for e in logs:
        if e.get("level") == "SEVERE":
            problems.append("console: " + e.get("message", "")[:200])
    if not (0 <= info["load"] < LOAD_MS):
        problems.append("load time %.0f ms (limit %d ms)" % (info["load"], LOAD_MS))
    if info["plots"] == 0:
        problems.append("no svg.plot in the page")
    # the whole page in one screenshot, then each plot's data area (its frame) cut out of it
    d.s("POST", "/window/rect", {"width": 1100, "height": min(int(info["height"]) + 40, 16000)})
    frames = d.s("POST", "/execute/sync", {"script": """
        return Array.from(document.querySelectorAll('svg.plot')).map(s => {
            const f = s.querySelector('rect.frame') || s, r = f.getBoundingClientRect();
            return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]; });""", "args": []})
    if shots:
        os.makedirs(shots, exist_ok=True)
        Image.open(io.BytesIO(base64.b64decode(d.s("GET", "/screenshot")))).save(
            os.path.join(shots, os.path.basename(path) + ".png"))
    # the measured screenshot without the plots' text: what is left inside a frame is grid
    # (light grey) and series (coloured, or black like the fp32 reference line)
    d.s("POST", "/execute/sync", {"script": """
        const s = document.createElement('style');
        s.textContent = 'svg.plot text { visibility: hidden !important; }';
        document.head.appendChild(s);""", "args": []})
    page = Image.open(io.BytesIO(base64.b64decode(d.s("GET", "/screenshot")))).convert("RGB")
    worst = None
    for k, (x, y, w, h) in enumerate(frames):
        n = drawn_pixels(page.crop((int(x) + 2, int(y) + 2, int(x + w) - 2, int(y + h) - 2)))
        worst = n if worst is None else min(worst, n)
        if w < 200 or h < 60 or n < 30:
            problems.append("plot %d: %dx%d data area, %d pixels drawn: blank" % (k + 1, w, h, n))
    d.s("POST", "/window/rect", {"width": 1100, "height": 900})
    print("report_browser: %s: %d plots, load %.0f ms, %d console errors, fewest pixels drawn in a plot %d%s" % (
        path, info["plots"], info["load"], sum(1 for p in problems if p.startswith("console")), worst or 0,
        "" if not problems else " -- " + "; ".join(problems)))
    return problems


def main(argv):
    shots, expect_fail, files = None, False, []
    i = 0
    while i < len(argv):
        if argv[i] == "--shots":
            shots = argv[i + 1]; i += 2
        elif argv[i] == "--expect-fail":
            expect_fail = True; i += 1
        else:
            files.append(argv[i]); i += 1
    d = Driver()
    try:
        # warm-up: the first page a fresh browser opens pays for its start-up
        d.s("POST", "/url", {"url": "file://" + os.path.abspath(files[0])})
        bad = [f for f in files if check(d, f, shots)]
    finally:
        d.close()
    if expect_fail:
        ok = len(bad) == len(files)
        print("report_browser: %s (expected every file to fail, %d of %d did)" % ("ok" if ok else "FAIL", len(bad), len(files)))
    else:
        ok = not bad
        print("report_browser: %s" % ("ok" if ok else "FAIL: " + ", ".join(bad)))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
