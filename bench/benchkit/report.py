"""Markdown helpers and the headline block of bench/README.md (pure)."""

BEGIN = "<!-- headline:begin -->"
END = "<!-- headline:end -->"


def table(headers, rows, align=None):
    """A Markdown table. align: a string of 'l'/'r' per column (default:
    first column left, the rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(sep) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def replace_headline_block(text, block):
    """text with everything between the headline markers (markers
    included) replaced by BEGIN, block, END. ValueError if a marker is
    missing or they are out of order."""
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        raise ValueError("headline markers not found")
    return text[:i] + BEGIN + "\n" + block.rstrip("\n") + "\n" + END + text[j + len(END):]
