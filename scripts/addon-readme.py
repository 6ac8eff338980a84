#!/usr/bin/env python3
"""Each addon's README.rst, made from its readme/ fragments (DESCRIPTION.md,
CONFIGURE.md, USAGE.md) and manifest, as OCA's oca-gen-addon-readme does.
    python3 scripts/addon-readme.py          # write them
    python3 scripts/addon-readme.py --check  # exit 1 when one is out of date
"""

import ast
import re
import sys
from pathlib import Path

ADDONS = Path(__file__).resolve().parent.parent / "addons"
PARTS = (("DESCRIPTION", None), ("CONFIGURE", "Configuration"), ("USAGE", "Usage"))


def rst(text):
    """The fragments' Markdown is the subset reStructuredText shares, but for inline code."""
    return re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", text)


def readme(addon):
    manifest = ast.literal_eval((addon / "__manifest__.py").read_text())
    title = manifest["name"]
    lines = ["=" * len(title), title, "=" * len(title), "",
             ".. This file is made from readme/DESCRIPTION.md, CONFIGURE.md and USAGE.md (as OCA's",
             "   oca-gen-addon-readme does): change those, then run scripts/addon-readme.py.", "",
             manifest["summary"] + ".", ""]
    for part, heading in PARTS:
        if heading:
            lines += [heading, "=" * len(heading), ""]
        lines += [rst((addon / "readme" / ("%s.md" % part)).read_text().strip()), ""]
    lines += ["License", "=======", "", manifest["license"] + " (see the repository).", ""]
    return "\n".join(lines)


def main():
    stale = []
    for addon in sorted(p.parent.parent for p in ADDONS.glob("*/readme/DESCRIPTION.md")):
        text, target = readme(addon), addon / "README.rst"
        if target.exists() and target.read_text() == text:
            continue
        if "--check" in sys.argv:
            stale.append(str(target))
        else:
            target.write_text(text)
    if stale:
        sys.exit("out of date (run scripts/addon-readme.py): %s" % ", ".join(stale))


if __name__ == "__main__":
    main()
