"""volunteer's adapters: tables, repositories and migrations."""
