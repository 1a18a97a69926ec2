import re

from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_engine.report import spreadsheet_safe, terminal_safe
from kpi_engine.report._view import display_width
from kpi_engine.report.table import aligned

# Names people have, and names an attacker sends: CJK, Latin, combining marks, controls, bidi.
ALPHABET = st.sampled_from(
    [
        *"张伟李娜欧阳娜",
        *"abcXYZ019",
        " ",
        "=",
        "+",
        "-",
        "@",
        "\t",
        "\r",
        "\n",
        "\x1b",
        "\x7f",
        "\u0301",
        "\u202e",
        "Ａ",
        "é",
    ]
)
texts = st.text(ALPHABET, max_size=12)


@given(texts)
def test_terminal_safe_leaves_no_control_or_bidi_character(text):
    """After terminal_safe, no C0/C1 control, DEL or bidi override remains; plain text is unchanged."""
    safe = terminal_safe(text)
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", safe)
    if not re.search(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]", text):
        assert safe == text


@given(texts)
def test_spreadsheet_safe_never_leaves_a_formula_start(text):
    """A guarded cell starts with a formula character only when it is a plain number; the text is kept."""
    safe = spreadsheet_safe(text)
    assert safe.endswith(text)
    if safe.startswith(("=", "+", "-", "@", "\t", "\r")):
        assert re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?", safe)


def _cells(line):
    """The line as terminal cells: a wide character fills its cell and leaves a "" in the next."""
    out = []
    for char in line:
        out += [char] + [""] * (display_width(char) - 1)
    return out


NAMES = st.text(
    st.sampled_from([*"张伟李娜欧阳", *"abcXYZ019", " ", "=", "-", "Ａ", "é", "\x1b", "\u202e"]), max_size=10
)


@settings(max_examples=80)
@given(st.lists(st.lists(NAMES, min_size=3, max_size=3), min_size=1, max_size=6))
def test_aligned_columns_start_at_the_same_display_cell(rows):
    """Whatever the names, each cell sits inside its column, counted in terminal cells."""
    rows = [["rank", "名字", "x"], *[[terminal_safe(c) for c in r] for r in rows]]
    lines = aligned(rows, {0}).splitlines()
    widths = [max(display_width(r[i]) for r in rows) for i in range(3)]
    spans = [(0, widths[0]), (widths[0] + 2, widths[0] + 2 + widths[1])]
    spans.append((spans[1][1] + 2, spans[1][1] + 2 + widths[2]))
    assert lines[1] == "  ".join("-" * w for w in widths)
    for row, line in zip(rows, [lines[0], *lines[2:]], strict=True):
        cells = _cells(line)
        for (start, end), cell in zip(spans, row, strict=True):
            assert all(c == " " for c in cells[max(start - 2, 0) : start])
            assert "".join(cells[start:end]).strip() == cell.strip()
        assert len(cells) <= spans[-1][1]
