"""The station's OPC UA server over real sockets, with a real Station (the deviceless
checklist station): who may read, who may call, passwords, certificates, what a
client we did not write sees; and the users file.

One station and its server run for the whole module in their own thread and event
loop (`ServedStation`): asyncua's `Server.init()` takes over a second, so sharing it
keeps the module quick. Each test leaves the station as it found it (running, a
checklist item asked) and uses its own user names, so the journal tells apart what
each test did. Clients are asyncua's own `Client` (not our console client) unless a
test is about our client, so the server is checked against an independent
implementation; `uals` and `uaread` run as separate processes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import shutil
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.server.internal_session import SessionState
from asyncua.ua.uaerrors import UaStatusCodeError

from hal.opcua import certs
from station import cli
from station.config.loader import ConfigError, load_station
from station.config.models import Interface
from station.devices import DeviceSet
from station.interface import NAMESPACE_URI
from station.interface.channel import Channel
from station.interface.client import ClientSecurity, Link, Snapshot, StationClient
from station.interface.logins import Authenticator, hash_password, verify_password
from station.interface.process import Served, prepared
from station.interface.server import StationServer, serve
from station.interface.users import add_user, load_users
from station.journal import Event, Journal
from station.runtime import Station
from station.simulation.ports import free_port

CHECKLIST_STATION = Path(__file__).parent.parent / "stations" / "checklist-only.yaml"
USERS = {
    "alice": "operator",
    "olga": "operator",
    "sam": "supervisor",
    "max": "maintenance",
}
UALS = Path(sys.executable).parent / "uals"
UAREAD = Path(sys.executable).parent / "uaread"

T = TypeVar("T")


def password(user: str) -> str:
    return f"{user}-secret-words"


class ServedStation:
    """A Station and its OPC UA server in a thread of their own, with their own loop."""

    def __init__(self, tmp: Path, interface: Interface) -> None:
        self.tmp = tmp
        self.interface = interface
        self.users_file = tmp / "users.yaml"
        for user, role in USERS.items():
            add_user(self.users_file, user, role, password(user))
        self.pki_dir = tmp / "pki"
        self.endpoint = f"opc.tcp://127.0.0.1:{free_port()}/station"
        self.loop = asyncio.new_event_loop()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="served-station")
        self.station: Station
        self.server: StationServer

    def __enter__(self) -> ServedStation:
        self._thread.start()
        self._ready.result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the served station did not stop"

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        journal = Journal.open(self.tmp / "journal.sqlite3", "diagnosis")
        self.station = Station(
            load_station(CHECKLIST_STATION), journal, DeviceSet(), autostart=True
        )
        self.server = serve(
            self.station,
            self.interface,
            endpoint=self.endpoint,
            users_file=self.users_file,
            pki_dir=self.pki_dir,
        )
        try:
            await self.station.start()
            await self.server.start()
            await self.station.prompts.wait_for("checklist", timeout=10)
        except BaseException as exc:
            self._ready.set_exception(exc)
            raise
        else:
            self._ready.set_result(None)
            await self._stop.wait()
        finally:
            await self.server.stop()
            await self.station.stop()
            await journal.close()

    async def run(self, job: Callable[[Station], Coroutine[Any, Any, T]]) -> T:
        """Run `job(station)` in the station's loop; its result."""
        future = asyncio.run_coroutine_threadsafe(job(self.station), self.loop)
        return await asyncio.wrap_future(future)

    def events(self, kind: str, operator: str | None = None) -> list[Event]:
        events = self.station.journal.events(kinds=[kind])
        return [e for e in events if operator is None or e.operator == operator]

    async def journaled(self, kind: str, operator: str, count: int) -> list[Event]:
        """The `kind` events of `operator`, once there are `count`."""

        async def wait(station: Station) -> None:
            changed = asyncio.Event()
            station.on_change(changed.set)
            async with asyncio.timeout(5):
                while len(self.events(kind, operator)) < count:
                    changed.clear()
                    await changed.wait()

        await self.run(wait)
        return self.events(kind, operator)

    async def checklist_asked(self) -> None:
        """Wait until the station asks a checklist item (between cycles it asks nothing)."""
        await self.run(lambda station: station.prompts.wait_for("checklist", timeout=5))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedStation]:
    # every test's refusals journaled in full, and no wait after wrong passwords: the
    # tests share one server and one client address (throttling has its own tests)
    quiet = Interface(free_wrong_passwords=1000, refusal_window_s=0)
    with ServedStation(tmp_path_factory.mktemp("served"), quiet) as station:
        yield station


async def connect(
    served: ServedStation, user: str | None = None, secret: str | None = None
) -> tuple[Client, int]:
    client = Client(served.endpoint, timeout=5)
    if user is not None:
        client.set_user(user)
        client.set_password(secret if secret is not None else password(user))
    await client.connect()
    return client, await client.get_namespace_index(NAMESPACE_URI)


async def call(
    client: Client, ns: int, parent: str, method: str, *args: object
) -> ua.CallMethodResult:
    request = ua.CallMethodRequest()
    request.ObjectId = ua.NodeId(parent, ns)
    request.MethodId = ua.NodeId(f"{parent}.{method}", ns)
    request.InputArguments = [ua.Variant(a) for a in args]
    (result,) = await client.uaclient.call([request])
    return result


# --- reading ---------------------------------------------------------------------------


async def test_anonymous_browses_and_reads_the_packml_status(served: ServedStation) -> None:
    client, ns = await connect(served)
    try:
        children = await client.nodes.objects.get_children()
        names = [(await c.read_browse_name()).Name for c in children]

        async def value(node_id: str) -> Any:
            return await client.get_node(ua.NodeId(node_id, ns)).read_value()

        state = await value("Station.BaseStateMachine.CurrentState")
        number = await value("Station.Status.StateCurrent")
        mode = await value("Station.Status.UnitModeCurrent")
        kind = await value("Station.Prompt.Kind")
        status = json.loads(await value("Station.Status.Json"))
    finally:
        await client.disconnect()
    assert "diagnosis" in names
    assert (state.Text, number, mode) == ("Execute", 6, 1)  # PackML: Execute 6, Production 1
    assert kind == "checklist"
    assert status["station"] == "diagnosis" and status["state"] == "Execute"
    assert status.keys() == served.station.status().keys()


async def test_values_follow_the_station_at_once(served: ServedStation) -> None:
    client, ns = await connect(served, "sam")
    try:
        subscription = await client.create_subscription(10, None)
        node = client.get_node(ua.NodeId("Station.BaseStateMachine.CurrentState", ns))
        await subscription.subscribe_data_change(node, queuesize=10)
        seen: list[str] = []

        async def until(state: str) -> None:
            async with asyncio.timeout(5):
                async for event in subscription:
                    seen.append(event.value.Text)  # type: ignore[union-attr]
                    if seen[-1] == state:
                        return

        await until("Execute")
        assert (await call(client, ns, "Station.BaseStateMachine", "Hold")).StatusCode.is_good()
        await until("Held")
        assert (await call(client, ns, "Station.BaseStateMachine", "Unhold")).StatusCode.is_good()
        await until("Execute")
    finally:
        await client.disconnect()
    assert seen == ["Execute", "Holding", "Held", "Unholding", "Execute"]
    await served.checklist_asked()


# --- who may act -----------------------------------------------------------------------


async def test_anonymous_calls_and_writes_are_refused_and_the_calls_journaled(
    served: ServedStation,
) -> None:
    client, ns = await connect(served)
    try:
        result = await call(client, ns, "Station.BaseStateMachine", "Stop")
        with pytest.raises(UaStatusCodeError) as written:
            await client.get_node(ua.NodeId("Station.Status.UnitModeName", ns)).write_value(
                ua.DataValue(ua.Variant("maintenance", ua.VariantType.String))
            )
    finally:
        await client.disconnect()
    assert result.StatusCode.name == "BadUserAccessDenied"
    assert result.OutputArguments[0].Value.startswith("anonymous (anonymous) may not stop")
    assert type(written.value).__name__ == "BadUserAccessDenied"
    assert served.station.state.value == "Execute"
    refused = served.events("refused", "anonymous")
    assert [(e.result, e.data["role"]) for e in refused] == [("stop", "anonymous")]


async def test_wrong_password_and_unknown_user_are_refused_and_journaled(
    served: ServedStation,
) -> None:
    for user, secret in (("alice", "not-her-password"), ("mallory", "anything")):
        client = Client(served.endpoint, timeout=5)
        client.set_user(user)
        client.set_password(secret)
        with pytest.raises(UaStatusCodeError) as refused:
            await client.connect()
        assert type(refused.value).__name__ == "BadUserAccessDenied", user
        (login,) = await served.journaled("login_refused", user, 1)
        assert login.data == {"why": "wrong user or password", "source": "127.0.0.1"}


async def test_a_user_added_while_serving_logs_in_and_a_broken_file_keeps_the_users_read(
    served: ServedStation,
) -> None:
    """The server's process checks logins with the users the station read at start and
    reads the file itself only once it changed (`logins.Authenticator`)."""
    with pytest.raises(UaStatusCodeError):
        await connect(served, "nina")
    add_user(served.users_file, "nina", "inspector", password("nina"))
    client, ns = await connect(served, "nina")
    try:
        who = await call(client, ns, "Station.Commands", "WhoAmI")
    finally:
        await client.disconnect()
    assert [v.Value for v in who.OutputArguments] == ["nina", "inspector"]
    good = served.users_file.read_text()
    served.users_file.write_text("users: [\n")
    try:
        client, ns = await connect(served, "nina")  # the users read before stay in force
        await client.disconnect()
    finally:
        served.users_file.write_text(good)


async def test_calls_run_as_the_session_user_and_refusals_carry_the_reason(
    served: ServedStation,
) -> None:
    await served.checklist_asked()
    client, ns = await connect(served, "alice")
    try:
        done = await call(client, ns, "Station.Commands", "ConfirmChecklistItem")
        override = await call(client, ns, "Station.Commands", "Override", "photo_session", "x")
        illegal = await call(client, ns, "Station.BaseStateMachine", "Clear")
        missing = await call(client, ns, "Station.Commands", "EnterVerdict")
        wrong_type = await call(client, ns, "Station.Commands", "AcknowledgeAlarm", 7)
        who = await call(client, ns, "Station.Commands", "WhoAmI")
    finally:
        await client.disconnect()
    assert (done.StatusCode.name, done.OutputArguments[0].Value) == ("Good", "checklist: done")
    assert override.StatusCode.name == "BadUserAccessDenied"
    assert override.OutputArguments[0].Value == (
        "alice (operator) may not override: needs one of supervisor"
    )
    assert illegal.StatusCode.name == "BadInvalidState"
    assert "clear" in illegal.OutputArguments[0].Value
    assert missing.StatusCode.name == "BadArgumentsMissing"
    assert missing.OutputArguments[0].Value == "EnterVerdict: missing Verdict"
    assert wrong_type.StatusCode.name == "BadTypeMismatch"  # OPC UA Part 4, Call
    assert [v.Value for v in who.OutputArguments] == ["alice", "operator"]
    assert len(await served.journaled("checklist_item", "alice", 1)) == 1
    # a role check passed is journaled as a command, then its refusal if the state forbids it
    assert [e.result for e in served.events("command", "alice")] == ["confirm", "clear"]
    assert [e.result for e in served.events("refused", "alice")] == ["override", "clear"]
    await served.checklist_asked()


async def test_arguments_are_checked_by_type_and_refusals_carry_their_own_status(
    served: ServedStation,
) -> None:
    """An Int64 for an Int32 argument is a type mismatch, whatever its value; a value the
    station refuses is answered with the refusal's own status, never BadInternalError."""
    client, ns = await connect(served, "max")

    async def force(name: str, value: int, kind: ua.VariantType) -> ua.CallMethodResult:
        request = ua.CallMethodRequest()
        request.ObjectId = ua.NodeId("Station.Commands", ns)
        request.MethodId = ua.NodeId("Station.Commands.ForceOutput", ns)
        request.InputArguments = [ua.Variant(name, ua.VariantType.String), ua.Variant(value, kind)]
        (result,) = await client.uaclient.call([request])
        return result

    try:
        int64 = await force("stack_red", 1, ua.VariantType.Int64)
        unknown = await force("no_such_output", 1, ua.VariantType.Int32)
    finally:
        await client.disconnect()
    assert int64.StatusCode.name == "BadTypeMismatch"
    assert "Value must be Int32 (got Int64)" in int64.OutputArguments[0].Value
    assert unknown.StatusCode.name == "BadInvalidArgument"
    assert [e.data["reason"] for e in served.events("refused", "max")] == ["invalid_argument"]


# --- security --------------------------------------------------------------------------


async def test_sign_and_encrypt_session_with_a_generated_certificate(
    served: ServedStation, tmp_path: Path
) -> None:
    own = certs.write_certificate(tmp_path / "own", "console", "urn:test:station-console")
    (tmp_path / "trusted").mkdir()
    shutil.copy(served.pki_dir / "own" / "server.der", tmp_path / "trusted" / "station.der")
    shutil.copy(own.certificate, served.pki_dir / "trusted" / "console.der")
    security = ClientSecurity(
        "SignAndEncrypt", own.certificate, own.private_key, tmp_path / "trusted"
    )
    links: list[Link] = []
    snapshots: list[Snapshot] = []
    changed = asyncio.Event()

    def on_link(link: Link) -> None:
        links.append(link)
        changed.set()

    await served.checklist_asked()
    client = StationClient(
        served.endpoint,
        "olga",
        password("olga"),
        security=security,
        on_snapshot=snapshots.append,
        on_link=on_link,
    )
    task = asyncio.create_task(client.run(), name="test-console-client")
    try:
        async with asyncio.timeout(10):
            while not (links and links[-1].connected):
                changed.clear()
                await changed.wait()
        assert await client.call("ConfirmChecklistItem") == "checklist: done"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert (links[-1].user, links[-1].role) == ("olga", "operator")
    assert snapshots and snapshots[-1].status["station"] == "diagnosis"
    assert len(await served.journaled("checklist_item", "olga", 1)) == 1
    await served.checklist_asked()


async def test_an_untrusted_client_certificate_is_refused_and_kept_for_review(
    served: ServedStation, tmp_path: Path
) -> None:
    own = certs.write_certificate(tmp_path, "stranger", "urn:test:stranger")
    client = Client(served.endpoint, timeout=5)
    client.application_uri = "urn:test:stranger"
    await client.set_security_string(
        f"Basic256Sha256,SignAndEncrypt,{own.certificate},{own.private_key}"
    )
    with pytest.raises(UaStatusCodeError) as refused:
        await client.connect()
    assert type(refused.value).__name__ == "BadCertificateUntrusted"
    thumbprint = certs.thumbprint(certs.load_certificate(own.certificate))
    rejected = served.pki_dir / "rejected" / f"{thumbprint}.der"
    assert rejected.read_bytes() == own.certificate.read_bytes()


async def test_only_the_configured_policies_are_offered_on_localhost(tmp_path: Path) -> None:
    with ServedStation(tmp_path, Interface(security=["Basic256Sha256_SignAndEncrypt"])) as only:
        client = Client(only.endpoint, timeout=5)
        endpoints = await client.connect_and_get_server_endpoints()
        startup_s = only.server.startup_s
        port = int(only.endpoint.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(ConnectionRefusedError):  # bound to 127.0.0.1, not to all
            await asyncio.open_connection("127.0.0.2", port)
    offered = {(e.SecurityPolicyUri.rsplit("#", 1)[1], e.SecurityMode.name) for e in endpoints}
    assert offered == {("Basic256Sha256", "SignAndEncrypt")}
    assert startup_s is not None and startup_s < 10


async def test_stopping_closes_a_session_whose_connection_dropped_with_a_subscription(
    tmp_path: Path,
) -> None:
    """asyncua keeps such a session for the client to reactivate and its Server.stop()
    leaves it open; `station.interface.sessions` tracks the sessions through the two
    methods asyncua calls on each (this fails if asyncua stops calling them). The
    server of the station's process, run here in the test's."""
    ours, theirs = socket.socketpair()
    station_end, channel = await Channel.open(ours), await Channel.open(theirs)
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/station"
    settings = {
        "station": "diagnosis",
        "line": "line-1",
        "interface": Interface().model_dump(mode="json"),
        "endpoint": endpoint,
        "logins": Authenticator.open(None).logins(),
        "pki_dir": str(tmp_path / "pki"),
    }
    served = Served(channel, settings, *await prepared())
    await served.start({})
    try:
        client = Client(endpoint, timeout=5)
        await client.connect()
        ns = await client.get_namespace_index(NAMESPACE_URI)
        subscription = await client.create_subscription(100, None)
        await subscription.subscribe_data_change(client.get_node(ua.NodeId("Station.Line", ns)))
        tracked = list(served._sessions.sessions)  # type: ignore[union-attr]
        assert [s.state for s in tracked] == [SessionState.Activated]
        client.uaclient.protocol.disconnect_socket()  # type: ignore[union-attr]
    finally:
        await served.stop()
        await channel.close()
        await station_end.close()
    assert [s.state for s in tracked] == [SessionState.Closed]
    await client.disconnect()  # ends the client's publishing task


# --- a client we did not write ---------------------------------------------------------


async def run_tool(*argv: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(30):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, output.decode()
    return output.decode()


@pytest.mark.skipif(
    not (UALS.exists() and UAREAD.exists()), reason="asyncua's uals/uaread are not installed"
)
async def test_asyncua_command_line_tools_browse_the_station_and_read_its_state(
    served: ServedStation,
) -> None:
    client, ns = await connect(served)
    await client.disconnect()
    listing = await run_tool(str(UALS), "-u", served.endpoint, "-n", "i=85", "-d", "3", "-l")
    assert f"{ns}:diagnosis" in listing
    assert f"ns={ns};s=Station.BaseStateMachine.CurrentState" in listing
    state = await run_tool(
        str(UAREAD), "-u", served.endpoint, "-n", f"ns={ns};s=Station.BaseStateMachine.CurrentState"
    )
    assert "Text='Execute'" in state
    number = await run_tool(
        str(UAREAD), "-u", served.endpoint, "-n", f"ns={ns};s=Station.Status.StateCurrent"
    )
    assert number.strip().splitlines()[-1] == "6"


# --- the users file ---------------------------------------------------------------------


def test_passwords_are_salted_scrypt_hashes() -> None:
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password("s3cret", first) and verify_password("s3cret", second)
    assert not verify_password("s3cret ", first)
    with pytest.raises(ValueError, match="not a password hash"):
        verify_password("s3cret", "md5$abc")


def test_station_user_add_writes_a_private_file_and_keeps_comments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "users.yaml"
    monkeypatch.setattr(sys, "stdin", io.StringIO("alice-first-pw\n"))
    assert cli.main(["user", "add", "alice", "--role", "operator", "--file", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("# line 5 users\n" + path.read_text())
    monkeypatch.setattr(sys, "stdin", io.StringIO("alice-second-pw\n"))
    assert cli.main(["user", "add", "alice", "--role", "supervisor", "--file", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"added alice (operator) in {path}",
        f"updated alice (supervisor) in {path}",
    ]
    assert path.read_text().startswith("# line 5 users\n")
    entry = load_users(path).users["alice"]
    assert entry.role == "supervisor" and verify_password("alice-second-pw", entry.password)
    monkeypatch.setattr(sys, "stdin", io.StringIO("x\n"))
    assert cli.main(["user", "add", "anonymous", "--role", "operator", "--file", str(path)]) == 2
    assert "user name 'anonymous'" in capsys.readouterr().err


def test_a_bad_users_file_is_refused_with_file_line_and_path(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text("users:\n  bob:\n    role: pilot\n    password: hunter2\n")
    with pytest.raises(ConfigError) as error:
        load_users(path)
    lines = [str(i) for i in error.value.issues]
    assert [line.split(": ", 2)[:2] for line in lines] == [
        [f"{path}:3", "users.bob.role"],
        [f"{path}:4", "users.bob.password"],
    ]


def test_a_missing_users_file_is_refused_in_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    with pytest.raises(ConfigError) as error:
        Authenticator.open(path)
    assert [str(i) for i in error.value.issues] == [
        f"{path}:1: <file>: cannot read: No such file or directory"
    ]


def test_a_short_password_is_refused_and_the_minimum_is_the_files(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    with pytest.raises(ValueError, match="1 characters: at least 12"):
        add_user(users, "alice", "operator", "x")
    add_user(users, "alice", "operator", "twelve-chars")
    users.write_text(users.read_text() + "min_password_length: 16\n")
    with pytest.raises(ValueError, match="at least 16"):
        add_user(users, "bob", "operator", "fifteen-chars!!")


def test_a_users_file_others_may_read_is_kept_private_by_user_add_and_not_served(
    tmp_path: Path,
) -> None:
    users = tmp_path / "users.yaml"
    add_user(users, "alice", "operator", password("alice"))
    users.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by every user of this machine"):
        Authenticator.open(users)
    add_user(users, "bob", "operator", password("bob"))  # rewritten private
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert Authenticator.open(users).check("bob", password("bob")) == "operator"


def test_parallel_user_adds_keep_every_user(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    names = [f"user{n}" for n in range(8)]
    command = [sys.executable, "-m", "station.cli", "user", "add"]
    adds = [
        subprocess.Popen(
            [*command, name, "--role", "operator", "--file", str(users)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    for name, add in zip(names, adds, strict=True):
        _, err = add.communicate(f"{name}-password\n", timeout=60)
        assert add.returncode == 0, err
    assert sorted(load_users(users).users) == names


def test_the_example_users_file_loads_with_the_passwords_its_comment_states() -> None:
    path = Path(__file__).parent.parent.parent / "configs" / "users.example.yaml"
    users = load_users(path).users
    assert {name: entry.role for name, entry in users.items()} == {
        "alice": "operator",
        "ivan": "inspector",
        "sam": "supervisor",
        "max": "maintenance",
    }
    for name, entry in users.items():
        assert f"{name} / {name}-example" in path.read_text()
        assert verify_password(f"{name}-example", entry.password), name
