"""What the API, the workers and the reaper share: settings, identifiers, errors."""
