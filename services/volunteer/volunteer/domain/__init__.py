"""volunteer's domain: orders and their loop. Plain Python only."""
