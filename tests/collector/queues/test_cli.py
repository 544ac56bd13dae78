"""``vitals queues check`` and ``vitals queues poll`` through the real command line."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
import redis
from click.testing import CliRunner

from tests.support.services import free_port, require
from vitals.shell.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_check_lists_pollers_and_names_the_line_of_a_mistake(tmp_path: Path) -> None:
    config = tmp_path / "collector.yaml"
    config.write_text("pollers:\n  - {name: streams, type: redis, interval: 15s}\n")
    code, out, _ = run("queues", "check", "--config", str(tmp_path))
    assert code == 0
    assert "1 broker poller(s)" in out and "streams: redis every 15s, stuck after 10m" in out
    config.write_text("pollers:\n  - name: streams\n    type: redis\n    intervall: 15s\n")
    code, _, err = run("queues", "check", "--config", str(tmp_path))
    assert code == 2
    assert f"{config}:4: pollers[0].intervall: unknown field" in err


def test_check_without_a_collector_file(tmp_path: Path) -> None:
    code, out, _ = run("queues", "check", "--config", str(tmp_path))
    assert code == 0 and "no broker pollers" in out


@pytest.mark.brokers
def test_poll_once_prints_each_broker_and_fails_when_one_is_down(tmp_path: Path) -> None:
    require("redis")
    stream = f"vitals-test:{uuid.uuid4().hex[:10]}"
    client = redis.Redis()
    for i in range(3):
        client.xadd(stream, {"n": i})
    client.xgroup_create(stream, "billing", id="0")
    (tmp_path / "collector.yaml").write_text(
        "pollers:\n"
        f"  - {{name: streams, type: redis, streams: ['{stream}']}}\n"
        f"  - {{name: gone, type: redis, timeout: 1s, url: 'redis://127.0.0.1:{free_port()}/0'}}\n"
    )
    try:
        code, out, _ = run("queues", "poll", "--once", "--config", str(tmp_path))
        assert code == 1
        assert "streams (redis): 2 queue(s)" in out
        line = next(line for line in out.splitlines() if "group=billing" in line)
        assert line.split()[:4] == [stream, "group=billing", "3", "0"]  # depth 3, unacked 0
        assert "gone (redis): DOWN - ConnectionError" in out

        code, out, _ = run(
            "queues", "poll", "--once", "--json", "--poller", "streams", "--config", str(tmp_path)
        )
        assert code == 0
        (document,) = [orjson.loads(line) for line in out.splitlines()]
        group = next(q for q in document["queues"] if q.get("group") == "billing")
        assert group["values"]["queue.depth"] == 3 and document["ok"] is True

        code, _, err = run("queues", "poll", "--once", "--poller", "nope", "--config", str(tmp_path))
        assert code == 2 and "no enabled poller named nope" in err
    finally:
        client.delete(stream)
        client.close()
