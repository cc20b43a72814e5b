"""The console's widgets, one a file; each renders its part of a `ConsoleState`."""
