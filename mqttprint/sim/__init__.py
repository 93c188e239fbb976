"""Built-in Marlin 2.1-like firmware simulator: a pure model plus pty and in-process adapters."""
