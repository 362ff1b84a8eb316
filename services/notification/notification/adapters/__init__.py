"""notification's adapters: tables, repositories, migrations and delivery channels."""
