"""The local web view: Datasette on the SQLite database, read-only, with the shipped metadata,
canned queries, a dashboard and Atom feeds of new stories. May import config, store, errors and
topics; only `cli` imports it."""
