"""Data headers in people's words: which name of the ruleset a header such as 实际完成销量 or 工号 means.

HR exports carry the labels of the appraisal table (原本计划的销售指标, 工号, 姓名, 月份), not the
ruleset's ids. This module only *suggests*: a header is read under another name only when the
ruleset's ``columns:`` maps it. A header matches an input when, with width, case, spaces and
punctuation ignored, it equals the input's ``title`` (or a KPI title scoring that input) or one of
the title's Chinese or English parts, or when a header of at least two Chinese characters is part
of exactly one such label (or holds one). The record keys have the usual Chinese and English
labels of their own (工号 → ``subject``, 姓名 → ``name``, 月份 → ``period``, 备注 → ``note``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from kpi_engine.language.model import Scorecard

KEY_LABELS: dict[str, tuple[str, ...]] = {
    "subject": (
        "工号", "员工号", "员工编号", "人员编号", "职工号", "编号", "代码", "员工代码", "账号", "id", "员工id",
        "employeeid", "staffid", "repid", "subjectid",
    ),
    "name": (
        "姓名", "名字", "员工姓名", "人员姓名", "销售代表", "销售员", "业务员", "销售人员", "name", "employeename",
    ),
    "period": (
        "月份", "月度", "期间", "考核期间", "考核月份", "统计月份", "考核周期", "周期", "季度", "年度", "日期",
        "统计日期", "考核日期", "month", "quarter", "date",
    ),
    "note": ("备注", "说明", "notes", "remark", "remarks"),
    "member": ("成员", "员工", "组员"),
    "parent": ("团队", "所属团队", "上级", "主管", "小组", "部门", "所属部门", "team", "manager"),
}  # fmt: skip
_IGNORED = re.compile(r"[\s\W_]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_LATIN = re.compile(r"[a-z][a-z ]*[a-z]")
_MIN_PART = 2  # characters of a header matched as part of a label (one character says nothing)


def normal(text: str) -> str:
    """A label reduced for comparison: NFKC (full-width forms), lower case, no spaces or punctuation."""
    return _IGNORED.sub("", unicodedata.normalize("NFKC", text).lower())


def _labels(card: Scorecard) -> dict[str, set[str]]:
    """Input name → the normalised labels people may use for it (titles, their parts, KPI titles)."""
    out: dict[str, set[str]] = {}
    kpi_titles: dict[str, list[str]] = {}
    for k in card.kpis:
        if k.title and k.metric in card.inputs:
            kpi_titles.setdefault(k.metric, []).append(k.title)
    for name, spec in card.inputs.items():
        texts = [t for t in (spec.title, *kpi_titles.get(name, ())) if t]
        labels: set[str] = set()
        for text in texts:
            folded = unicodedata.normalize("NFKC", text).lower()
            labels.add(normal(folded))
            labels.update(_CJK.findall(folded))
            labels.update(normal(part) for part in _LATIN.findall(folded) if " " in part or len(part) > 3)  # noqa: PLR2004
        out[name] = {label for label in labels if label}
    return out


def _matches(header: str, label: str) -> bool:
    if header == label:
        return True
    if len(header) < _MIN_PART or not _CJK.fullmatch(header) or not _CJK.fullmatch(label):
        return False
    return header in label or label in header


def guess(header: str, card: Scorecard, keys: Iterable[str] = ("subject", "name", "period", "note")) -> str | None:
    """The ruleset name a data header most likely means, or ``None`` when none (or several) match."""
    folded = normal(header)
    if not folded:
        return None
    for key in keys:
        if folded in KEY_LABELS.get(key, ()):
            return key
    found = {name for name, labels in _labels(card).items() if any(_matches(folded, label) for label in labels)}
    return found.pop() if len(found) == 1 else None


def mapping_hint(pairs: Iterable[tuple[str, str]]) -> str:
    """The ``columns:`` entry that maps headers to names, as a ruleset author writes it."""
    body = ", ".join(f"{header}: {name}" for header, name in pairs)
    return f"map the headers in the ruleset: columns: {{{body}}}"
