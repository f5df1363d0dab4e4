"""The warehouse: schema, migrations and idempotent upserts."""
