"""The plant link's connection: refused credentials and an untrusted broker certificate
raise a clear alarm, retries go on with backoff, and nothing is lost once fixed; the
`uplink:` section's validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from mqtt_broker import PASSWORD, USER, Broker, Subscriber, requires_mosquitto, write_ca
from pydantic import ValidationError
from uplink_rig import TOPIC, Recorder, append, expected, make_uplink, parsed

from station.journal import Journal
from station.uplink.config import Uplink as UplinkConfig

pytest_plugins = ["mqtt_fixtures"]


@requires_mosquitto
async def test_wrong_password_alarms_and_nothing_is_lost_once_fixed(
    password_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    recorder = Recorder()
    events = await append(journal, 25)
    password_file = tmp_path / "password"
    password_file.write_text("wrong\n")
    settings = {"username": USER, "password_file": str(password_file)}
    async with (
        Subscriber(password_broker, TOPIC, login=True) as sub,
        make_uplink(password_broker, tmp_path, recorder, **settings),
    ):
        await recorder.until(lambda: "uplink:link" in recorder.active)
        assert "refused the station's credentials" in recorder.active["uplink:link"]
        assert sub.received == []
        password_file.write_text(f"{PASSWORD}\n")
        received = await sub.until(25)
        await recorder.until(lambda: "uplink:link" not in recorder.active)
    await journal.close()
    assert parsed(received) == [expected(e, replay=True) for e in events]


@requires_mosquitto
async def test_untrusted_broker_certificate_alarms_and_nothing_is_lost_once_fixed(
    tls_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    assert tls_broker.ca_file is not None
    recorder = Recorder()
    events = await append(journal, 25)
    ca_file, _ = write_ca(tmp_path, "another-ca")
    async with (
        Subscriber(tls_broker, TOPIC) as sub,
        make_uplink(tls_broker, tmp_path, recorder, ca_file=str(ca_file)),
    ):
        await recorder.until(lambda: "uplink:link" in recorder.active)
        assert "certificate is not trusted" in recorder.active["uplink:link"]
        ca_file.write_bytes(tls_broker.ca_file.read_bytes())
        received = await sub.until(25)
    await journal.close()
    assert parsed(received) == [expected(e, replay=True) for e in events]


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"broker": "tcp://plant:1883"}, "must be mqtt://HOST:PORT"),
        ({"broker": "mqtt://plant:0"}, "port must be 1..65535"),
        ({"broker": "mqtts://plant:8883"}, "needs ca_file"),
        ({"broker": "mqtt://plant:1883", "ca_file": "ca.pem"}, "need an mqtts:// broker"),
        ({"broker": "mqtt://plant:1883", "username": "u"}, "go together"),
        ({"broker": "mqtt://plant:1883", "keepalive_s": 1}, "greater than or equal to 5"),
        ({"broker": "mqtt://plant:1883", "group_id": "a/b"}, "should match pattern"),
        ({"broker": "mqtt://plant:1883", "backoff_min_s": 5, "backoff_max_s": 1}, "must be >="),
        ({"broker": "mqtt://plant:1883", "bogus": 1}, "Extra inputs are not permitted"),
    ],
)
def test_config_refuses(settings: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        UplinkConfig.model_validate(settings)


def test_config_defaults_and_schema_descriptions() -> None:
    config = UplinkConfig(broker="mqtts://[::1]:8883", ca_file="ca.pem")
    assert (config.topic_prefix, config.group_id, config.edge_node_id) == ("plant", None, None)
    properties = UplinkConfig.model_json_schema()["properties"]
    assert all(field.get("description") for field in properties.values())
