"""Configuration: `config.toml` + environment parsed once into frozen, typed settings
(`load`), and the settings types of every stage (`sections`, `dedup`). Imports only `errors`."""
