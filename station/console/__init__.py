"""The operator console: a Textual app at the station's terminal (docs/architecture.md section 8).

It runs as its own process and talks to the runtime only through the station's
OPC UA interface (`station.interface.client`), exactly as SCADA does: a console
crash never stops the line, and every action it offers is one of the server's
methods, checked and journaled by the Station with the logged-in user.

The UI is thin (docs/style.md item 10): the app turns the client's callbacks into
messages (`station.console.messages`), keeps one `ConsoleState` (the last status
snapshot, the link, the last command's outcome), and hands it down: each screen
watches it and its widgets are bound to it (`data_bind`). Messages go up: a
screen's action posts `CommandRequested`, which the app runs in a worker, showing
the station's answer. Nothing here decides what the station does.
"""
