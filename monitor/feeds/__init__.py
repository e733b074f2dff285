"""Feeds: parse RSS/Atom/RDF bytes into entries, keep each feed's fetch state and schedule,
OPML in and out. Imports `net`, `store` (feed rows), `config`, `errors`; never `run` or `cli`."""
