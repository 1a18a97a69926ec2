"""Time: periods of every kind, explicit time zones and instants. No clock is ever read."""
