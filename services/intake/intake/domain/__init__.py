"""intake's domain: reports, where they are, and what they are about. Plain Python only."""
