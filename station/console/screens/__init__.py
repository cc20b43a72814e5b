"""The console's screens: the station at a glance, alarms, events, live I/O (one
mode each), and the modal dialogs (login, text entry, disposition)."""
