"""Extraction: page HTML to article text and metadata (trafilatura), documents and seed files
read for `inspect`/`seed`. Imports `net`, `config`, `errors`; never `store`, `run` or `cli`."""
