"""The simulated inspection system's OPC UA server: its address space, the verdict
logic, the faults it takes, and the thread it runs in (see the package docstring)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from collections import deque
from collections.abc import Collection, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlparse

import structlog
from asyncua import ua
from asyncua.common.callback import CallbackService, CallbackType, ServerItemCallback
from asyncua.common.methods import uamethod
from asyncua.crypto.permission_rules import User
from asyncua.server.server import Server
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import StatusCodes
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from hal.config import OpcUaDeviceConfig
from hal.opcua import certs
from simulators.inspection.address_space import OBJECT, check_nodes, variables
from simulators.inspection.collector import (
    collector_paused,
    simulator_started,
    simulator_stopped,
)
from simulators.inspection.faults import (
    BadMeasurement,
    ChangeCertificate,
    Fault,
    Restart,
    VerdictTimeout,
)
from simulators.inspection.records import Inspection, VerdictGiven
from simulators.inspection.users import OneUser

log = structlog.get_logger("simulators.inspection")

T = TypeVar("T")

Policy = Literal["None", "Basic256Sha256_Sign", "Basic256Sha256_SignAndEncrypt"]

APPLICATION_URI = "urn:station:sim:inspection"
"""Application URI of a simulator that generates its own certificate."""


class SimInspection:
    """The inspection system's OPC UA server, in its own thread."""

    def __init__(
        self,
        config: OpcUaDeviceConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        verdict_delay_s: float = 0.5,
        policies: Sequence[Policy] | None = None,
        certificate: Path | None = None,
        private_key: Path | None = None,
        client_trust_dir: Path | None = None,
        measurements: Collection[str] = (),
    ) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.verdict_delay_s = verdict_delay_s
        self.node_ids = check_nodes(config, measurements)
        self.measurements = frozenset(measurements)
        """The measurement nodes (see `simulators.inspection.address_space`)."""
        self._variables = variables(config, measurements)
        self.policies: tuple[Policy, ...] = tuple(policies or self._policies_of(config))
        self.client_trust_dir = client_trust_dir
        self.path = urlparse(config.url).path or "/"
        self._certificate: x509.Certificate | None = None
        self._key: rsa.RSAPrivateKey | None = None
        if (certificate is None) != (private_key is None):
            raise ValueError("inspection simulator: certificate and private_key go together")
        if certificate is not None and private_key is not None:
            self._certificate = certs.load_certificate(certificate)
            self._key = certs.load_private_key(private_key)
        self._users: OneUser | None = None
        security = config.security
        if security.user is not None and security.password_file is not None:
            try:
                password = Path(security.password_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(
                    f"inspection simulator: password_file {security.password_file}: "
                    f"{exc.strerror or exc} (it accepts user {security.user} with that password)"
                ) from exc
            self._users = OneUser(security.user, password.rstrip("\r\n"))
        self.inspections: list[Inspection] = []
        """Every inspection started, in order (tests read it)."""
        self.verdicts: list[VerdictGiven] = []
        """Every verdict published, in order."""
        self.serving = False
        """The server listens (False while down in a Restart)."""
        self._lock = threading.Lock()
        self._plans: dict[str, deque[str]] = {}
        self._timeouts = 0
        self._bad_pending: list[str] = []
        self._bad_reads: list[str] = []
        self._measurements: list[dict[str, Any]] = []
        self._findings: list[dict[str, Any]] = []
        self._state: dict[str, Any] = {n: value for n, (_, value) in self._variables.items()}
        self._thread: threading.Thread | None = None
        self._exited: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thaw = threading.Event()
        # Owned by the simulator's thread:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._server: Server | None = None
        self._verdict_task: asyncio.Task[None] | None = None
        self._restart_task: asyncio.Task[None] | None = None

    @staticmethod
    def _policies_of(config: OpcUaDeviceConfig) -> list[Policy]:
        security = config.security
        if security.policy == "None":
            return ["None"]
        return [
            "Basic256Sha256_Sign" if security.mode == "Sign" else "Basic256Sha256_SignAndEncrypt"
        ]

    # --- what tests and benches use --------------------------------------------------------

    @property
    def certificate(self) -> x509.Certificate | None:
        """The certificate the server presents now (None: no secured endpoint, or a
        generated one before `start()`)."""
        return self._certificate

    @property
    def application_uri(self) -> str:
        return (
            APPLICATION_URI
            if self._certificate is None
            else certs.application_uri(self._certificate)
        )

    def endpoint_update(self) -> dict[str, Any]:
        """The device config fields that point a client at this server."""
        if not self.port:
            raise RuntimeError("inspection simulator: no port yet, start() it first")
        return {"url": f"opc.tcp://{self.host}:{self.port}{self.path}"}

    def plan(self, vin: str, verdicts: list[str]) -> None:
        """The verdicts `vin` gets at its next inspections, in order (then pass)."""
        for verdict in verdicts:
            if verdict not in ("pass", "fail"):
                raise ValueError(f"plan({vin!r}): verdict must be pass or fail (got {verdict!r})")
        with self._lock:
            self._plans.setdefault(vin, deque()).extend(verdicts)

    def set_result(
        self, measurements: list[dict[str, Any]], findings: list[dict[str, Any]]
    ) -> None:
        """What the next inspections measure and find (the vehicle in front): each
        measurement {name, value, unit}, each finding {code, severity, text}, published in
        the `result` document with the verdict."""
        with self._lock:
            self._measurements = [dict(m) for m in measurements]
            self._findings = [dict(f) for f in findings]

    def set_values(self, values: Mapping[str, float]) -> None:
        """What the measurement nodes hold for the vehicle in front (by node name), served
        from now on (a name that is not a measurement node is a KeyError)."""
        for name in values:
            if name not in self.measurements:
                raise KeyError(f"inspection simulator: {name!r} is not a measurement node")
        for name, value in values.items():
            self._state[name] = float(value)
        if self._loop is not None and not self._exited.done():
            for name, value in values.items():
                asyncio.run_coroutine_threadsafe(self._set(name, float(value)), self._loop)

    async def start(self) -> None:
        """Start the server in its thread; returns once it listens (port known)."""
        if self._thread is not None:
            raise RuntimeError("inspection simulator: already started")
        started: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._exited = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._thread_main, args=(started,), name="sim-inspection", daemon=True
        )
        self._thread.start()
        self.port = await asyncio.wrap_future(started)

    async def stop(self) -> None:
        """Stop the server and its thread (also ends a Freeze)."""
        thread = self._thread
        if thread is None:
            return
        self._thaw.set()
        loop, stop = self._loop, self._stop
        if not self._exited.done() and loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        await asyncio.wrap_future(self._exited)
        thread.join()
        self._thread = None

    async def inject(self, fault: Fault) -> None:
        """Apply a fault. Returns once it has taken effect (for Restart and
        ChangeCertificate: the server is down; it comes back by itself)."""
        if isinstance(fault, VerdictTimeout):
            with self._lock:
                self._timeouts += fault.count
        elif isinstance(fault, BadMeasurement):
            getattr(StatusCodes, fault.status)  # an unknown name fails here
            with self._lock:
                self._bad_pending += [fault.status] * fault.count
        elif isinstance(fault, Restart):
            await self._in_thread(self._restart(fault.down_s))
        elif isinstance(fault, ChangeCertificate):
            await self._in_thread(self._change_certificate(fault))
        else:
            loop = self._running_loop()
            self._thaw.clear()
            loop.call_soon_threadsafe(self._freeze, fault.seconds)
        log.info("sim_inspection_fault", fault=repr(fault))

    # --- the simulator's thread ------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._exited.done():
            raise RuntimeError("inspection simulator: not running")
        return self._loop

    async def _in_thread(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            loop = self._running_loop()
        except RuntimeError:
            coro.close()
            raise
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def _thread_main(self, started: concurrent.futures.Future[int]) -> None:
        simulator_started()
        try:
            asyncio.run(self._main(started))
        except BaseException as exc:  # handed to the caller of start(), or logged
            if not started.done():
                started.set_exception(exc)
            else:
                log.exception("sim_inspection_crashed")
        finally:
            simulator_stopped()
            self._exited.set_result(None)

    async def _main(self, started: concurrent.futures.Future[int]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        begin = time.monotonic()
        if self._certificate is None and any(p != "None" for p in self.policies):
            self._certificate, self._key = certs.generate_certificate(APPLICATION_URI)
        server = await self._build()
        await server.start()
        self._server = server
        self.serving = True
        assert server.bserver is not None
        self.port = server.bserver.port
        log.info(
            "sim_inspection_serving",
            url=self.endpoint_update()["url"],
            policies=list(self.policies),
            startup_s=round(time.monotonic() - begin, 3),
        )
        started.set_result(self.port)
        try:
            await self._stop.wait()
        finally:
            for task in (self._verdict_task, self._restart_task):
                if task is not None:
                    task.cancel()
            await asyncio.gather(
                *(t for t in (self._verdict_task, self._restart_task) if t is not None),
                return_exceptions=True,
            )
            self.serving = False
            if self._server is not None:
                await self._server.stop()
                self._server = None

    async def _build(self) -> Server:
        """A new server with this simulator's endpoints, nodes and current values."""
        server = Server(user_manager=self._users)
        with collector_paused():
            await server.init()
        server.set_endpoint(f"opc.tcp://{self.host}:{self.port}{self.path}")
        server.set_server_name("station inspection simulator")
        await server.set_application_uri(self.application_uri)
        server.set_security_policy(
            [getattr(ua.SecurityPolicyType, p) for p in self._policy_types()]
        )
        if self._certificate is not None and self._key is not None:
            await server.load_certificate(certs.der(self._certificate))
            await server.load_private_key(certs.der_private_key(self._key))
        if self._users is not None:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        if self.client_trust_dir is not None:
            server.set_certificate_validator(
                await certs.peer_validator(self.client_trust_dir, "client")
            )
        top = max(n.NamespaceIndex for n in self.node_ids.values())
        index = await server.register_namespace(APPLICATION_URI)
        while index < top:
            index = await server.register_namespace(f"{APPLICATION_URI}:{index + 1}")
        parent = await server.nodes.objects.add_object(
            self.node_ids.get(OBJECT, f"ns={index};s={OBJECT}"), f"{index}:{OBJECT}"
        )
        for name, node_id in self.node_ids.items():
            if name == OBJECT:
                continue
            variant_type, _ = self._variables[name]
            variable = await parent.add_variable(
                node_id, f"{node_id.NamespaceIndex}:{name}", self._state[name], variant_type
            )
            if name == "vin":
                await variable.set_writable()
        await parent.add_method(
            parent.nodeid.NamespaceIndex,
            "Start",
            self._start_method,
            [ua.VariantType.String],
            [ua.VariantType.Boolean],
        )
        server.subscribe_server_callback(CallbackType.PostWrite, self._on_write)
        server.subscribe_server_callback(CallbackType.PostRead, self._on_read)
        return server

    def _policy_types(self) -> list[str]:
        return ["NoSecurity" if p == "None" else p for p in self.policies]

    async def _restart(self, down_s: float) -> None:
        old, self._server = self._server, None
        self.serving = False
        if self._restart_task is not None:
            self._restart_task.cancel()
        if old is not None:
            await old.stop()
        self._restart_task = asyncio.create_task(
            self._come_back(down_s), name="sim-inspection:restart"
        )

    async def _change_certificate(self, fault: ChangeCertificate) -> None:
        if fault.certificate is not None and fault.private_key is not None:
            self._certificate = certs.load_certificate(fault.certificate)
            self._key = certs.load_private_key(fault.private_key)
        else:
            self._certificate, self._key = certs.generate_certificate(self.application_uri)
        await self._restart(0.0)

    async def _come_back(self, down_s: float) -> None:
        begin = time.monotonic()
        server = await self._build()
        # From here on value changes go to the new server; values that changed
        # while it was being built are written again.
        self._server = server
        for name, value in self._state.items():
            await self._write(server, name, value)
        remaining = down_s - (time.monotonic() - begin)
        if remaining > 0:
            await asyncio.sleep(remaining)
        await server.start()
        self.serving = True
        log.info("sim_inspection_restarted", down_s=round(time.monotonic() - begin, 3))

    def _freeze(self, seconds: float) -> None:
        # Blocks this thread's event loop on purpose: the hung server of the fault.
        self._thaw.wait(seconds)

    # --- inspections -----------------------------------------------------------------------

    async def _write(self, server: Server, name: str, value: Any) -> None:
        variant_type, _ = self._variables[name]
        await server.write_attribute_value(
            self.node_ids[name], ua.DataValue(ua.Variant(value, variant_type))
        )

    async def _set(self, name: str, value: Any) -> None:
        if name not in self._state:
            return
        self._state[name] = value
        if self._server is not None:
            await self._write(self._server, name, value)

    async def _on_write(self, event: ServerItemCallback, _: CallbackService) -> None:
        if not event.is_external:
            return
        vin_id = self.node_ids["vin"]
        for item, status in zip(
            event.request_params.NodesToWrite, event.response_params, strict=True
        ):
            if (
                item.NodeId == vin_id
                and item.AttributeId == AttributeIds.Value
                and status.is_good()
            ):
                await self._begin(str(item.Value.Value.Value), event.user)

    async def _on_read(self, event: ServerItemCallback, _: CallbackService) -> None:
        """A BadMeasurement fault: the values read of measurement nodes get its status."""
        if not event.is_external or not self._bad_reads:
            return
        measured = {self.node_ids[name] for name in self.measurements}
        for number, item in enumerate(event.request_params.NodesToRead):
            if item.NodeId in measured and item.AttributeId == AttributeIds.Value:
                with self._lock:
                    if not self._bad_reads:
                        return
                    status = self._bad_reads.pop(0)
                code = ua.StatusCode(getattr(StatusCodes, status))
                event.response_params[number] = ua.DataValue(StatusCode=code)

    @uamethod
    async def _start_method(self, parent: ua.NodeId, vin: str) -> bool:
        if not vin:
            return False
        await self._set("vin", vin)
        await self._begin(vin, None)
        return True

    async def _begin(self, vin: str, user: User | None) -> None:
        self.inspections.append(Inspection(vin, None if user is None else user.name))
        if self._verdict_task is not None:
            self._verdict_task.cancel()
            self._verdict_task = None
        self._state["vin"] = vin
        await self._set("verdict", "")
        await self._set("result", "")
        await self._set("verdict_vin", "")
        await self._set("status", "inspecting")
        with self._lock:
            never = self._timeouts > 0
            if never:
                self._timeouts -= 1
            self._bad_reads += self._bad_pending  # the sensor fails in this inspection
            self._bad_pending.clear()
        if never:
            log.info("sim_inspection_no_verdict", vin=vin)
            return
        self._verdict_task = asyncio.create_task(self._decide(vin), name=f"sim-inspection:{vin}")

    async def _decide(self, vin: str) -> None:
        # The inspection itself: it takes this long.
        await asyncio.sleep(self.verdict_delay_s)
        with self._lock:
            planned = self._plans.get(vin)
            verdict = planned.popleft() if planned else "pass"
            result = {
                "vin": vin,
                "verdict": verdict,
                "measurements": self._measurements,
                "findings": self._findings,
            }
        await self._set("result", json.dumps(result))  # before the verdict: read after it
        await self._set("verdict_vin", vin)
        await self._set("sequence", (self._state.get("sequence", 0) + 1) % 2**32)
        await self._set("status", "done")
        await self._set("verdict", f"{vin}:{verdict}")
        self.verdicts.append(VerdictGiven(vin, verdict, self.serving))
        log.info("sim_inspection_verdict", vin=vin, verdict=verdict, serving=self.serving)
