"""`station console [--endpoint URL] [--user NAME]`: the operator console, attached
to a running station through its OPC UA interface (docs/architecture.md section 8).

`--endpoint` is checked before anything starts: opc.tcp://HOST:PORT[/path].

With `--user`, the password is the first line of `--password-file FILE` (for a
service: a file only its user reads), else $STATION_PASSWORD, else asked on
the terminal before the console starts; with none of these and no terminal on
stdin the command stops and says so. Without `--user`, the console is read
only until someone logs in (key l). It reconnects by itself when the station
restarts.

Security: `--security None` (default; the password is still encrypted with the
server's key when the server offers Basic256Sha256), or `Sign` / `SignAndEncrypt`
with `--pki DIR`: the console's certificate is DIR/own/console.der (generated on
first use; an engineer copies it into the station's pki trusted/ folder), and the
station's certificate must be in DIR/trusted/.

Exit 0 when the operator quits (q); 2, with one line on stderr, on bad options
(an endpoint that is not an opc.tcp URL, a password that cannot be had).
"""

from __future__ import annotations

import argparse
import functools
import getpass
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

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
        "--password-file",
        type=Path,
        metavar="FILE",
        help="the --user's password: the file's first line (default: $STATION_PASSWORD, "
        "else asked on the terminal)",
    )
    parser.add_argument(
        "--security",
        choices=["None", "Sign", "SignAndEncrypt"],
        default="None",
        help="Basic256Sha256 message security (default: None)",
    )
    parser.add_argument(
        "--pki", type=Path, metavar="DIR", help="own/ and trusted/ certificates, for --security"
    )


class BadOption(ValueError):
    """An option the console cannot start with; the message says what to do."""


def check_endpoint(url: str) -> str:
    """`url` if it is opc.tcp://HOST:PORT[/path]; BadOption saying what is wrong otherwise."""
    expected = "expected opc.tcp://HOST:PORT[/path], e.g. opc.tcp://127.0.0.1:4840/station"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "opc.tcp" or not parts.hostname or not port:
        raise BadOption(f"--endpoint {url!r}: {expected}")
    return url


def password_of(args: argparse.Namespace) -> str | None:
    """The --user's password (see the module docstring); None without --user."""
    if args.user is None:
        if args.password_file is not None:
            raise BadOption("--password-file is the password of a --user: give --user NAME too")
        return None
    if args.password_file is not None:
        try:
            path: Path = args.password_file
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise BadOption(
                f"--password-file {args.password_file}: {exc.strerror}: "
                "give a file that this user can read"
            ) from None
        except UnicodeDecodeError:
            raise BadOption(f"--password-file {args.password_file}: not UTF-8 text") from None
        if not lines or not lines[0]:
            raise BadOption(
                f"--password-file {args.password_file}: its first line, the password, is empty"
            )
        return lines[0]
    if from_environment := os.environ.get("STATION_PASSWORD"):
        return from_environment
    if not sys.stdin.isatty():
        raise BadOption(
            f"no password for {args.user} and no terminal to ask it on: "
            "give it in $STATION_PASSWORD or with --password-file FILE"
        )
    try:
        return getpass.getpass(f"password for {args.user}: ")
    except EOFError:
        raise BadOption(f"no password for {args.user}: input ended") from None


def run(args: argparse.Namespace) -> int:
    try:
        if args.security != "None" and args.pki is None:
            raise BadOption(f"--security {args.security} needs --pki DIR")
        endpoint = check_endpoint(args.endpoint)
        password = password_of(args)
    except BadOption as exc:
        print(f"station console: {exc}", file=sys.stderr)
        return 2
    # asyncua and textual load only here, not for every `station` command
    from hal.opcua import certs
    from station.console.app import ConsoleApp, LinkFactory
    from station.interface.client import ClientSecurity, StationClient

    factory: LinkFactory = StationClient
    if args.security != "None":
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
    ConsoleApp(endpoint, args.user, password, link_factory=factory).run()
    return 0
