"""The I/O edge: reading rulesets and tables from files (the only place that opens them)."""
