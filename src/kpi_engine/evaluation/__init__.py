"""Evaluation: validated inputs and a compiled scorecard → scores, totals, grades, ranks and traces."""
