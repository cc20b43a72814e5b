"""`station console [--endpoint URL] [--user NAME]`: the operator console, attached
to a running station through its OPC UA interface (ARCHITECTURE.md section 8).

With `--user`, the password is taken from $STATION_PASSWORD, else asked on the
terminal before the console starts; without, the console is read only until
someone logs in (key l). It reconnects by itself when the station restarts.

Security: `--security None` (default; the password is still encrypted with the
server's key when the server offers Basic256Sha256), or `Sign` / `SignAndEncrypt`
with `--pki DIR`: the console's certificate is DIR/own/console.der (generated on
first use; an engineer copies it into the station's pki trusted/ folder), and the
station's certificate must be in DIR/trusted/.

Exit 0 when the operator quits (q); 2 on bad options.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import os
import socket
import sys
from pathlib import Path

from station.config.models import Interface


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        default=Interface().endpoint,
        metavar="URL",
        help="the station's OPC UA endpoint (default: %(default)s)",
    )
    parser.add_argument("--user", metavar="NAME", help="log in as NAME (default: read only)")
    parser.add_argument(
        "--security",
        choices=["None", "Sign", "SignAndEncrypt"],
        default="None",
        help="Basic256Sha256 message security (default: None)",
    )
    parser.add_argument(
        "--pki", type=Path, metavar="DIR", help="own/ and trusted/ certificates, for --security"
    )


def run(args: argparse.Namespace) -> int:
    # asyncua and textual load only here, not for every `station` command
    from hal.opcua import certs
    from station.console.app import ConsoleApp, LinkFactory
    from station.interface.client import ClientSecurity, StationClient

    factory: LinkFactory = StationClient
    if args.security != "None":
        if args.pki is None:
            print(f"station console: --security {args.security} needs --pki DIR", file=sys.stderr)
            return 2
        own = args.pki / "own"
        files = certs.CertificateFiles(own / "console.der", own / "console.key.pem")
        if not files.certificate.exists():
            uri = f"urn:{socket.gethostname()}:station-controller:console"
            files = certs.write_certificate(own, "console", uri)
            print(f"console certificate written to {files.certificate}: trust it at the station")
        (args.pki / "trusted").mkdir(parents=True, exist_ok=True)
        security = ClientSecurity(
            args.security, files.certificate, files.private_key, args.pki / "trusted"
        )
        factory = functools.partial(StationClient, security=security)
    password = None
    if args.user is not None:
        password = os.environ.get("STATION_PASSWORD") or getpass.getpass(
            f"password for {args.user}: "
        )
    ConsoleApp(args.endpoint, args.user, password, link_factory=factory).run()
    return 0
