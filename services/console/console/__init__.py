"""console: the command centre's web console — live grid map, boards, case view, supervision and reports."""
