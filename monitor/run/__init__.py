"""Running the pipeline: one polling cycle (`pipeline`, its feed and page halves in
`feedstages` and `pages`), extraction processes, the daemon, queue workers, the poll lock
and the application context. Imports every stage; never `cli`."""
