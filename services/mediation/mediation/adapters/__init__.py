"""mediation's adapters: tables, repositories and migrations."""
