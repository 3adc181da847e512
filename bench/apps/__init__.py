"""Programs the benchmarks run: the bare Textual baseline app and the child process that launches an app headless."""
