"""Facts about the MyPreferences API, read from `specs/`: paths, enum values,
the LastDateTime format, the PNAUTHINFO3 signature and the shape of a Retrieve page.

The lowest layer but one: it imports nothing of segrun's above `runner.errors`, so the
validator, the client, the sandbox and the docs all read one copy of each fact.
"""
