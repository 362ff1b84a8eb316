"""volunteer: the resident-order loop (点单 → 派单 → 接单 → 评单) with an hours and points ledger."""
