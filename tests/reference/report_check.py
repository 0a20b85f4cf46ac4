#!/usr/bin/env python3
"""report_check.py — checks a quant HTML report without a browser.

  report_check.py FILE.html [--expect 'TITLE-PART=SERIES|SERIES...'] ... [--max-bytes N] [--figures N]

The HTML must parse with html.parser and close every element it opens (void elements aside);
each <svg> must be well-formed XML (xml.etree) with a title, a non-empty x-axis label and y-axis
label (unless the plot says data-yaxis="none"), at least one series with data, and a caption in
its <figure>.  --expect: the plot whose title contains TITLE-PART exists and has a series named
each SERIES (substring match) drawn with at least one point.  Prints a line per report; exits 1
on the first problem."""
import html.parser
import re
import sys
import xml.etree.ElementTree as ET

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
NS = "{http://www.w3.org/2000/svg}"


class Nesting(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.captions, self.fig_open = [], [], [], False
        self.in_caption, self.caption = False, ""

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        self.stack.append((tag, self.getpos()))
        if tag == "figcaption":
            self.in_caption, self.caption = True, ""

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            top = self.stack[-1] if self.stack else ("nothing", (0, 0))
            self.errors.append("line %d: </%s> closes <%s> opened at line %d" % (self.getpos()[0], tag, top[0], top[1][0]))
            return
        self.stack.pop()
        if tag == "figcaption":
            self.in_caption = False
            self.captions.append(self.caption.strip())

    def handle_data(self, data):
        if self.in_caption:
            self.caption += data


def fail(msg):
    print("report_check: FAIL " + msg)
    sys.exit(1)


def main(argv):
    path, expects, max_bytes, n_figs = None, [], None, None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--expect":
            expects.append(argv[i + 1]); i += 2
        elif a == "--max-bytes":
            max_bytes = int(argv[i + 1]); i += 2
        elif a == "--figures":
            n_figs = int(argv[i + 1]); i += 2
        else:
            path = a; i += 1
    raw = open(path, "rb").read()
    if max_bytes is not None and len(raw) > max_bytes:
        fail("%s: %d bytes > %d" % (path, len(raw), max_bytes))
    text = raw.decode("utf-8")
    if not text.startswith("<!DOCTYPE html>"):
        fail("%s: no <!DOCTYPE html>" % path)
    p = Nesting()
    p.feed(text)
    p.close()
    if p.errors:
        fail("%s: %s" % (path, p.errors[0]))
    if p.stack:
        fail("%s: <%s> opened at line %d is never closed" % (path, p.stack[-1][0], p.stack[-1][1][0]))
    if re.search(r"<script|https?://(?!www\.w3\.org/2000/svg)", text):
        fail("%s: scripts or network references in a report" % path)
    svgs = re.findall(r"<svg\b.*?</svg>", text, re.S)
    plots = {}
    for s in svgs:
        try:
            root = ET.fromstring(s)
        except ET.ParseError as e:
            fail("%s: an SVG is not well-formed XML: %s" % (path, e))
        title = (root.findtext(NS + "title") or "").strip()
        if not title:
            fail("%s: an SVG without a title" % path)
        labels = {t.get("class"): (t.text or "").strip() for t in root.iter(NS + "text") if t.get("class") in ("xlabel", "ylabel")}
        if not labels.get("xlabel"):
            fail("%s: plot '%s' has no x-axis label" % (path, title))
        if not labels.get("ylabel") and root.get("data-yaxis") != "none":
            fail("%s: plot '%s' has no y-axis label" % (path, title))
        series = {}
        for g in root.iter(NS + "g"):
            if g.get("class") == "series":
                series[g.get("data-name") or ""] = int(g.get("data-n") or 0)
        if not any(n > 0 for n in series.values()):
            fail("%s: plot '%s' draws no data" % (path, title))
        plots[title] = series
    if len(p.captions) != len(svgs) or not all(p.captions):
        fail("%s: %d plots but %d non-empty captions" % (path, len(svgs), sum(1 for c in p.captions if c)))
    if n_figs is not None and len(svgs) != n_figs:
        fail("%s: %d plots, expected %d" % (path, len(svgs), n_figs))
    for e in expects:
        part, _, names = e.partition("=")
        hits = [t for t in plots if part in t]
        if not hits:
            fail("%s: no plot titled like '%s' (plots: %s)" % (path, part, "; ".join(plots)))
        for name in filter(None, names.split("|")):
            if not any(name in sn and n > 0 for t in hits for sn, n in plots[t].items()):
                fail("%s: plot '%s' has no series '%s' with data (series: %s)" % (path, hits[0], name, ", ".join(plots[hits[0]])))
    print("report_check: %s: %d bytes, %d plots, all well-formed and labelled" % (path, len(raw), len(svgs)))


if __name__ == "__main__":
    main(sys.argv[1:])
