"""Overhead of one file audit device on Lessor (issue 7): KV v2 read and database creds issue,
each measured without and with a `file` audit device on the same running broker.

Lessor only (the question is what auditing costs Lessor, not how it compares with OpenBao).
The broker runs from a config file on PostgreSQL storage like in compare.py; the audit file
lives in the run's temporary directory. Runs alternate off/on/off/on so that drift in
background load does not land on one side; the report gives each pair and the mean ratio.
Standard library only; every target is 127.0.0.1; cleans up its databases and roles.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import tempfile
import time
import urllib.parse
from pathlib import Path

import compare as base
import leases
from compare import BenchError, Server, expect, http, log

KV_PATH = "/v1/secret/data/bench"
CREDS_PATH = "/v1/database/creds/app"


def setup_database_engine(pg: base.Postgres, server: Server, target_db: str, readers: str,
                          prefix: str) -> None:
    pg.recreate(target_db)
    pg.psql("postgres", f"CREATE ROLE {readers} NOLOGIN")
    pg.psql(target_db, f"CREATE TABLE probe (id int); GRANT SELECT ON probe TO {readers}")
    leases.call(server, "POST", "sys/mounts/database", {"type": "database"})
    parts = urllib.parse.urlparse(pg.base_url)
    url = (f"postgresql://{{{{username}}}}@{parts.hostname or '127.0.0.1'}:"
           f"{parts.port or 5432}/{target_db}?sslmode=disable")
    leases.call(server, "POST", "database/config/target", {
        "plugin_name": "postgresql-database-plugin", "connection_url": url,
        "username": parts.username or "postgres", "password": "unused-with-trust-auth",
        "allowed_roles": "*", "max_open_connections": 16,
        "username_template": prefix + "{{random 20}}",
    })
    # The role SQL of leases.py, so creds issue costs PostgreSQL the same in both reports.
    leases.call(server, "POST", f"database/roles/{leases.ROLE_APP}", {
        "db_name": "target", "creation_statements": leases.app_creation(readers),
        "revocation_statements": leases.APP_REVOCATION, "default_ttl": "1h", "max_ttl": "24h",
    })


def set_audit(server: Server, on: bool, audit_file: Path) -> None:
    if on:
        status, body = http("PUT", f"{server.addr}/v1/sys/audit/file", {
            "type": "file", "options": {"file_path": str(audit_file)}}, token=server.token)
    else:
        status, body = http("DELETE", f"{server.addr}/v1/sys/audit/file", token=server.token)
    expect(server, f"audit {'on' if on else 'off'}", status, body, (200, 204))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base.add_paired_run_args(parser, "audit-latest.md", "off/on pairs per scenario")
    parser.add_argument("--lessor-port", type=int, default=8310)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    pg = base.Postgres(args.pg)
    lessor_bin = base.build_lessor(args.skip_build)
    wrk = base.ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="lessor-audit-bench-"))
    suffix = os.getpid()
    server = Server("Lessor", lessor_bin, args.lessor_port, f"bench_audit_{suffix}", workdir)
    target_db, readers, prefix = (f"bench_audit_target_{suffix}", f"bench_audit_readers_{suffix}",
                                  f"ba{suffix}_")
    audit_file = workdir / "audit.log"

    def cleanup() -> None:
        server.stop()
        for database in (server.database, target_db):
            try:
                pg.drop(database)
            except (BenchError, OSError) as error:
                log(f"could not drop {database}: {error}")
        try:
            # One DROP per statement (\gexec): thousands in one transaction exhaust the lock table.
            leases.drop_roles(pg, prefix)
            pg.psql("postgres", f"DROP ROLE IF EXISTS {readers}")
        except BenchError as error:
            log(f"could not drop roles: {error}")
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(cleanup)
    base.exit_on_signals()

    started = time.monotonic()
    uptime_before = base.first_line(["uptime"])
    pg.recreate(server.database)
    server.start(pg, args.pool, False)
    base.prepare(server)
    setup_database_engine(pg, server, target_db, readers, prefix)

    rows = []
    for label, path in (("KV v2 read", KV_PATH), ("creds issue", CREDS_PATH)):
        for round_no in range(args.rounds):
            pair = {}
            for on in (False, True):
                set_audit(server, on, audit_file)
                if args.warmup:
                    base.wrk_run(wrk, server, path, args.concurrency, args.threads, args.warmup)
                result = base.wrk_run(wrk, server, path, args.concurrency, args.threads,
                                      args.duration)
                pair["on" if on else "off"] = result
                log(f"{label:12} round {round_no + 1} audit {'on ' if on else 'off'} "
                    f"{result['rps']:8.0f} req/s  p99 {result['p99_us'] / 1000:7.2f} ms  "
                    f"errors {result['errors']}")
            set_audit(server, False, audit_file)
            rows.append({"scenario": label, "round": round_no + 1, **pair})
    audit_bytes = audit_file.stat().st_size if audit_file.exists() else 0

    lines = [
        "# Lessor: overhead of one file audit device",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Lessor release build, "
        f"PostgreSQL storage (max_parallel {args.pool}), wrk {args.threads} threads, "
        f"c{args.concurrency}, {args.duration} s after {args.warmup} s warm-up per run.",
        f"- `uptime` before: `{uptime_before}`",
        f"- `uptime` after: `{base.first_line(['uptime'])}`",
        "",
        "Each pair runs back to back on the same broker: the device is disabled, then enabled "
        "(`sys/audit/file`, type file, in the run's temp dir), in that order. Ratio = with / "
        "without.",
        "",
        "| scenario | round | req/s off | req/s on | ratio | p99 ms off | p99 ms on | errors off/on |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        off, on = row["off"], row["on"]
        lines.append(
            f"| {row['scenario']} | {row['round']} | {off['rps']:.0f} | {on['rps']:.0f} | "
            f"{on['rps'] / off['rps']:.2f} | {off['p99_us'] / 1000:.2f} | "
            f"{on['p99_us'] / 1000:.2f} | {off['errors']}/{on['errors']} |")
    lines.append("")
    for label in ("KV v2 read", "creds issue"):
        ratios = [r["on"]["rps"] / r["off"]["rps"] for r in rows if r["scenario"] == label]
        lines.append(f"- {label}: mean throughput with audit / without = "
                     f"{sum(ratios) / len(ratios):.2f} over {len(ratios)} pairs")
    lines.append(f"- audit file written: {audit_bytes / 1e6:.1f} MB")
    lines.append("")
    lines.append(f"Command: `python3 bench/audit.py{' --skip-build' if args.skip_build else ''}` "
                 f"({time.monotonic() - started:.0f} s in all).")
    base.write_report(args.out, "\n".join(lines) + "\n", rows)
    return 0


if __name__ == "__main__":
    base.run_main(main)
