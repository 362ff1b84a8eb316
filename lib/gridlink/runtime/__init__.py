"""The thin messaging runtime every GridLink service uses: outbox, idempotent consumers, retries, dead letters,
metrics, health, configuration and database sessions. Service domain code never imports it."""
