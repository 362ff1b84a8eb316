"""volunteer's nameko entrypoints: they translate between the wire and the service layer, nothing more."""
