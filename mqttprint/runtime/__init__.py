"""The imperative shell: serial link threads, event bus, command registry, printer services."""
