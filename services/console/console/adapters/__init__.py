"""console's adapters: the read-model tables, repositories, migrations, reference data and dispatch's HTTP API."""
