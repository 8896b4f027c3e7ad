"""The operating system as segrun uses it: durable writes (write aside, fsync,
rename, fsync the folder) and the allocator's settings.

Knows nothing of specs, HTTP or exports.
"""
