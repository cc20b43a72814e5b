"""Log in as a user of the station (or go on read only)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from station.console.messages import LoginSubmitted


class LoginScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Cancel")]
    DEFAULT_CSS = """
    LoginScreen { align: center middle; }
    LoginScreen > Vertical {
        width: 60; height: auto; border: thick $primary; background: $surface; padding: 1 2;
    }
    LoginScreen Input { margin-bottom: 1; }
    LoginScreen #login-error { color: $error; text-style: bold; }
    LoginScreen Horizontal { height: auto; }
    LoginScreen Button { margin-right: 1; }
    """

    def __init__(self, user: str | None = None, error: str = "") -> None:
        super().__init__()
        self.user = user
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Log in to the station")
            yield Label(self.error, id="login-error")
            yield Input(self.user or "", placeholder="user", id="login-user")
            yield Input(placeholder="password", password=True, id="login-password")
            with Horizontal():
                yield Button("Log in", variant="primary", id="login-submit")
                yield Button("Read only", id="login-anonymous")
                yield Button("Cancel", id="login-cancel")

    def on_mount(self) -> None:
        self.query_one("#login-password" if self.user else "#login-user", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "login-user":
            self.query_one("#login-password", Input).focus()
        else:
            self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "login-submit":
            self._submit()
        elif event.button.id == "login-anonymous":
            self.app.post_message(LoginSubmitted(None, None))
            self.dismiss()
        else:
            self.dismiss()

    def _submit(self) -> None:
        user = self.query_one("#login-user", Input).value.strip()
        if not user:
            self.query_one("#login-error", Label).update("type a user name")
            return
        password = self.query_one("#login-password", Input).value
        self.app.post_message(LoginSubmitted(user, password))
        self.dismiss()
