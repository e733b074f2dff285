"""The database: engine and sessions (`db`), models, writes (`write`), read queries, the
persistent dedup index. Imports `extract`, `dedup`, `topics`, `config`, `errors`; never `run`,
`digest` or `cli`."""
