#!/usr/bin/env python3
"""report_svgs.py — cuts the plots out of a quant HTML report into standalone SVG files.

  report_svgs.py REPORT.html OUTDIR PREFIX

Writes OUTDIR/PREFIX-<k>.svg for the k-th plot (each <svg> of a report is standalone-valid:
xmlns and presentation attributes only) and prints one markdown line per plot,
![caption](plots/PREFIX-k.svg), for the walkthrough."""
import html
import os
import re
import sys


def main(src, outdir, prefix):
    text = open(src, encoding="utf-8").read()
    os.makedirs(outdir, exist_ok=True)
    figs = re.findall(r"<figure>\s*(<svg\b.*?</svg>)\s*<figcaption>(.*?)</figcaption>", text, re.S)
    for k, (svg, cap) in enumerate(figs, 1):
        name = "%s-%d.svg" % (prefix, k)
        with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
            f.write('<?xml version="1.0" encoding="UTF-8"?>\n' + svg)
        print("![%s](plots/%s)" % (html.unescape(cap).replace("]", ")"), name))


if __name__ == "__main__":
    main(*sys.argv[1:4])
