"""GridLink's shared library: event contracts (for partners too) and the messaging runtime (for services)."""
