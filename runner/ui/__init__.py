"""What a person watching sees: the live display and the terminal summary."""
