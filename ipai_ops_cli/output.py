"""What the CLI prints: tables for people, JSON with --json."""

import json


def table(rows, columns):
    if not rows:
        return "(none)"
    values = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(v[i]) for v in values)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)).rstrip() for vals in values]
    return "\n".join(lines)


def cell(value):
    if value is False or value is None:
        return "-"
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int):
        return str(value[1])
    if isinstance(value, float):
        return "%.1f" % value
    return str(value)


def emit(args, data, text):
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text)


def print_lines(args, lines):
    for line in lines:
        if args.json:
            print(json.dumps(line, sort_keys=True, default=str), flush=True)
        else:
            print("%s %-5s %s" % (line["timestamp"], line["level"].upper(), line["message"] or ""), flush=True)
