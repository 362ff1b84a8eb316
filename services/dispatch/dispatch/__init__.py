"""dispatch: opens a case for every accepted report and routes it through the tiers."""
