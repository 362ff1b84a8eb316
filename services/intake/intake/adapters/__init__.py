"""intake's adapters: tables, repositories, migrations and the reference-data loader."""
