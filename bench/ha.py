#!/usr/bin/env python3
"""HA on PostgreSQL (issue 8): takeover time after `kill -9` of the active node, and KV v2 read
throughput through a standby (forwarded) against the same reads sent to the active node.

Three release-build Lessor nodes on 127.0.0.1 share one fresh PostgreSQL database
(`ha_enabled`, each with its own port and `api_addr`). The cluster is initialised once (1 share)
and every node unsealed.

- Throughput: wrk runs the same KV v2 read (`GET /v1/secret/data/bench`, root token) against
  the active node and against a standby, alternating which goes first, `--rounds` pairs. The
  standby forwards every request to the active node, so the difference is the price of the
  extra hop (one more HTTP round trip on loopback, plus the proxying itself).
- Takeover: `--kills` times, the active node is killed with SIGKILL and the clock starts; a
  survivor is polled every 10 ms with the same KV read until it answers 200 (through the new
  active node or forwarded to it). Also recorded: when a survivor's `sys/health` first says
  200 (a node became active). The killed node is then restarted and unsealed (it comes back as
  a standby), and the next round waits for one active and two standbys.

Standard library only (plus wrk). Writes bench/results/ha-latest.md and .json. Every target is
127.0.0.1; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import compare as base
from compare import BenchError, Server, http, log

KV_PATH = "/v1/secret/data/bench"


class Node(Server):
    """One HA node: compare.Server's config with HA on, its own `application_name` on its
    storage sessions, and the other nodes trusted to forward the client's address. All nodes
    name the same `database`."""

    def config_text(self, pg, pool, bao_disable_cache):  # noqa: ANN001 (same as the base)
        text = super().config_text(pg, pool, bao_disable_cache)
        url = pg.url(self.database)
        for old, new in (
                (url, f"{url}&application_name={self.name}"),
                (f"  max_parallel = {pool}\n", f'  max_parallel = {pool}\n  ha_enabled = "true"\n'),
                ("  tls_disable = true\n",
                 '  tls_disable = true\n  x_forwarded_for_authorized_addrs = "127.0.0.1/32"\n')):
            if old not in text:
                raise BenchError(f"compare.Server's config no longer has {old!r}")
            text = text.replace(old, new)
        return text


def health(node: Node) -> int | None:
    try:
        status, _ = http("GET", f"{node.addr}/v1/sys/health", timeout=1)
        return status
    except OSError:
        return None


def unseal(node: Node, key: str) -> None:
    status, body = http("PUT", f"{node.addr}/v1/sys/unseal", {"key": key})
    if status != 200 or body.get("sealed") is not False:
        raise BenchError(f"{node.name}: unseal answered {status}: {body}")


def wait_for_roles(nodes: list[Node], seconds: float = 60) -> Node:
    """Waits for exactly one active (200) and every other node standby (429)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        codes = [health(node) for node in nodes]
        if codes.count(200) == 1 and codes.count(429) == len(nodes) - 1:
            return nodes[codes.index(200)]
        time.sleep(0.05)
    raise BenchError(f"no stable active/standby split: {[health(n) for n in nodes]}")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (with 20 samples p99 is the largest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def measure_takeover(nodes: list[Node], key: str, pg: base.Postgres, pool: int,
                     token: str) -> dict:
    active = wait_for_roles(nodes)
    survivors = [node for node in nodes if node is not active]
    probe = survivors[0]
    active.kill()
    killed = time.monotonic()
    became_active = None
    served = None
    while served is None:
        now = time.monotonic() - killed
        if now > 60:
            raise BenchError("no survivor served within 60 s of the kill")
        if became_active is None and any(health(node) == 200 for node in survivors):
            became_active = time.monotonic() - killed
        try:
            status, _ = http("GET", f"{probe.addr}{KV_PATH}", token=token, timeout=1)
        except OSError:
            status = None
        if status == 200:
            served = time.monotonic() - killed
            if became_active is None:
                became_active = served
        else:
            time.sleep(0.01)
    # Bring the killed node back as a standby for the next round.
    active.start(pg, pool, False)
    unseal(active, key)
    wait_for_roles(nodes)
    return {"active_ms": became_active * 1000, "served_ms": served * 1000,
            "probe_was": "standby" if health(probe) == 429 else "active"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base.add_paired_run_args(parser, "ha-latest.md", "direct/standby pairs")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--base-port", type=int, default=8330)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    pg = base.Postgres(args.pg)
    lessor_bin = base.build_lessor(args.skip_build)
    wrk = base.ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="lessor-ha-bench-"))
    database = f"bench_ha_{os.getpid()}"
    nodes = [Node(f"lessor-ha-{i}", lessor_bin, args.base_port + i, database, workdir)
             for i in range(3)]

    def cleanup() -> None:
        for node in nodes:
            node.stop()
        try:
            pg.drop(database)
        except (BenchError, OSError) as error:
            log(f"could not drop {database}: {error}")
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(cleanup)
    base.exit_on_signals()

    started = time.monotonic()
    uptime_before = base.first_line(["uptime"])
    pg.recreate(database)
    try:
        for node in nodes:
            node.start(pg, args.pool, False)
        status, body = http("PUT", f"{nodes[0].addr}/v1/sys/init",
                            {"secret_shares": 1, "secret_threshold": 1})
        if status != 200:
            raise BenchError(f"sys/init answered {status}: {body}")
        key, token = body["keys"][0], body["root_token"]
        for node in nodes:
            node.token = token
            unseal(node, key)
        active = wait_for_roles(nodes)
        status, body = http("POST", f"{active.addr}/v1/sys/mounts/secret",
                            {"type": "kv", "options": {"version": "2"}}, token=token)
        if status not in (200, 204):
            raise BenchError(f"mounting secret/ answered {status}: {body}")
        status, body = http("POST", f"{active.addr}{KV_PATH}", {"data": base.SECRET}, token=token)
        if status != 200:
            raise BenchError(f"writing the secret answered {status}: {body}")

        # Throughput: the same read, direct to the active node and through a standby.
        rows = []
        for round_no in range(args.rounds):
            active = wait_for_roles(nodes)
            standby = next(node for node in nodes if node is not active)
            order = [("direct", active), ("via standby", standby)]
            if round_no % 2:
                order.reverse()
            pair = {}
            for label, target in order:
                if args.warmup:
                    base.wrk_run(wrk, target, KV_PATH, args.concurrency, args.threads,
                                 args.warmup)
                result = base.wrk_run(wrk, target, KV_PATH, args.concurrency, args.threads,
                                      args.duration)
                pair[label] = result
                log(f"KV read {label:11} round {round_no + 1}: {result['rps']:8.0f} req/s  "
                    f"p50 {result['p50_us'] / 1000:6.2f} ms  p99 {result['p99_us'] / 1000:6.2f} ms"
                    f"  errors {result['errors']}")
            rows.append({"round": round_no + 1, **pair})

        # Takeover after kill -9, --kills times.
        takeovers = []
        for kill_no in range(args.kills):
            sample = measure_takeover(nodes, key, pg, args.pool, token)
            takeovers.append(sample)
            log(f"kill {kill_no + 1:2}: active after {sample['active_ms']:6.0f} ms, "
                f"served after {sample['served_ms']:6.0f} ms (probe now {sample['probe_was']})")
    except BenchError:
        for node in nodes:
            node.dump_log()
        raise

    served = [t["served_ms"] for t in takeovers]
    became = [t["active_ms"] for t in takeovers]
    lines = [
        "# Lessor HA: takeover time and forwarding throughput",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Lessor release build, three "
        f"nodes on 127.0.0.1 sharing one PostgreSQL database (max_parallel {args.pool} each).",
        f"- `uptime` before: `{uptime_before}`",
        f"- `uptime` after: `{base.first_line(['uptime'])}`",
        "",
        f"## Takeover after `kill -9` of the active node ({len(takeovers)} kills)",
        "",
        "Standbys try for leadership every second; PostgreSQL frees the advisory lock as soon as "
        "the killed process's session ends. *Active*: a survivor's `sys/health` answers 200. "
        "*Served*: a KV read sent to a survivor (forwarded if it is a standby) answers 200.",
        "",
        "| | p50 ms | p99 ms | min ms | max ms |",
        "|---|--:|--:|--:|--:|",
        f"| active | {percentile(became, 0.5):.0f} | {percentile(became, 0.99):.0f} | "
        f"{min(became):.0f} | {max(became):.0f} |",
        f"| served | {percentile(served, 0.5):.0f} | {percentile(served, 0.99):.0f} | "
        f"{min(served):.0f} | {max(served):.0f} |",
        "",
        "## KV v2 read throughput: direct to the active node vs through a standby",
        "",
        f"wrk {args.threads} threads, c{args.concurrency}, {args.duration} s after {args.warmup} s "
        "warm-up per run, root token, `GET /v1/secret/data/bench`.",
        "",
        "| round | req/s direct | req/s via standby | ratio | p99 ms direct | p99 ms via standby "
        "| errors direct/standby |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        direct, forwarded = row["direct"], row["via standby"]
        lines.append(
            f"| {row['round']} | {direct['rps']:.0f} | {forwarded['rps']:.0f} | "
            f"{forwarded['rps'] / direct['rps']:.2f} | {direct['p99_us'] / 1000:.2f} | "
            f"{forwarded['p99_us'] / 1000:.2f} | {direct['errors']}/{forwarded['errors']} |")
    ratios = [row["via standby"]["rps"] / row["direct"]["rps"] for row in rows]
    lines += [
        "",
        f"- mean throughput via standby / direct = {sum(ratios) / len(ratios):.2f} over "
        f"{len(ratios)} pairs. On one 2-core machine the standby, the active node, PostgreSQL "
        "and wrk share the CPUs, so the forwarded path pays for two brokers' work on the same "
        "cores; on separate hosts the cost is one extra network round trip.",
        "",
        f"Command: `python3 bench/ha.py{' --skip-build' if args.skip_build else ''}` "
        f"({time.monotonic() - started:.0f} s in all).",
    ]
    base.write_report(args.out, "\n".join(lines) + "\n",
                      {"throughput": rows, "takeovers": takeovers})
    return 0


if __name__ == "__main__":
    base.run_main(main)
