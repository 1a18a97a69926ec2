"""The plan's operations: one module per kind, each with its row kernel and its column kernel.

How an op is written (and how to add one): the row kernel takes one subject's exact values
(``Number`` = ``Decimal | Fraction``, ``None`` for N/A) and the column kernel takes exact columns
(``kpi_engine._columns``: ``Num`` = int64 ``num/den`` with an N/A mask, ``Bool``, ``Text``, and a
``Ctx`` that marks rows whose int64 arithmetic might not be exact, so that the executor redoes
them over Python integers). Write both in the same module, the column kernel right after the row
kernel, with the rule stated once in the module docstring. The row executor must run without the
``columnar`` extra: ``_columns`` imports NumPy on first use, and a module that calls NumPy itself
reads it through ``np = lazy_module("numpy")`` (``kpi_engine._lazy``), never ``import numpy``.
An op that has no column kernel sets ``without_column`` to a sentence naming it, which
``Plan.support("columnar")`` gives the user.
"""
