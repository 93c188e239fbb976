"""Pure sans-I/O firmware protocol core: bytes and commands in, events and bytes out; time is an argument."""
