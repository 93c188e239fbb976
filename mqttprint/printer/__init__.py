"""Pure printer domain: state snapshots reduced from protocol events, job line sources."""
