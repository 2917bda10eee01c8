"""What the marketplace sends us: dumps, user actions, events."""
