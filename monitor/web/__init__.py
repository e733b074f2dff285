"""The local web view: Datasette on the SQLite database, read-only, with the shipped metadata,
canned queries, a dashboard and Atom feeds of new stories. May import config, store, topics,
errors and digest (its text cleaning, shared with the feeds); only `cli` imports it."""
