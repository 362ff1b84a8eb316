"""console's domain: folding events into a case summary, map figures, supervision lists and performance reports."""
