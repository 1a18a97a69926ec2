"""Managing the year beyond scorecards (DOMAIN S4, S5): the risk register and territory balance.

Pure functions over validated values, imported from their modules: ``kpi_engine.management.risks``
(``parse_register``, ``assess``) and ``kpi_engine.management.territories`` (``balance``, ``propose``).
"""
