"""dispatch's domain: cases, their lifecycle, routing and deadlines. Plain Python only."""
