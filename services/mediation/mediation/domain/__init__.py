"""mediation's domain: dispute cases, channels and their time limits. Plain Python only."""
