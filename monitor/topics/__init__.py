"""Topic tagging: the topic schema (`seeds/topics.toml`) and the tagger, a pure stage.
Imports `config` and `errors` only."""
