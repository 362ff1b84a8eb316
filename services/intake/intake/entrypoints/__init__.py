"""intake's nameko entrypoints: they translate between HTTP and the service layer, nothing more."""
