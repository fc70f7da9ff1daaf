"""The reference app's database layer: configuration, the one pool, migrations, schema, queries.

- ``config``: ``DbConfig`` (pool sizes and timeouts, from the environment)
- ``manager``: ``DatabaseManager`` (the pool behind a breaker, retries, metrics)
- ``naive``: ``NaiveDatabase`` (the naive profile's plain pool, the negative control)
- ``migrate`` / ``migration_files``: numbered SQL migrations with checksums
- ``schema``: the columns the code uses, declared once, validated at startup
- ``queries``: the SQL of the API, built from those declared columns
- ``errors``: the exception tree routes map to HTTP answers
"""
