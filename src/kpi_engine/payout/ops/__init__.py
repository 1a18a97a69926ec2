"""Pay operations: each one's row kernel (exact, per person, with its trace) and column kernel side by side."""
