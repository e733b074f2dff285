"""Running the pipeline: one polling cycle (`pipeline`), extraction processes, the daemon,
queue workers, the poll lock and the application context. Imports every stage; never `cli`."""
