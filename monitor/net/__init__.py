"""The network edge: every outbound HTTP request (timeouts, size caps, address guard,
politeness), content decoding and URL canonicalisation. Imports only `errors` and `config`."""
