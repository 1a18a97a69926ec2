"""Payouts: from appraisals and credited deals to exact, explainable, replayable payouts.

A pay plan (YAML, ``parse_pay_plan``) reads the appraisal of a scorecard, the credited deals of
an attribution run and a people file, and ``pay`` turns them into payout lines, each with its
trace. Pure: reading files is ``kpi_engine.io``'s (``load_pay_plan``); writing is ``report``'s.
"""

from __future__ import annotations

from kpi_engine.payout.build import check_pay_plan_text, parse_pay_plan, pay_plan_schema
from kpi_engine.payout.engine import pay, prepare_inputs
from kpi_engine.payout.model import Cap, Component, Draw, Gate, PayPlan
from kpi_engine.payout.results import PayLine, PayRun, PersonPay, Segment

__all__ = [
    "Cap",
    "Component",
    "Draw",
    "Gate",
    "PayLine",
    "PayPlan",
    "PayRun",
    "PersonPay",
    "Segment",
    "check_pay_plan_text",
    "parse_pay_plan",
    "pay",
    "pay_plan_schema",
    "prepare_inputs",
]
