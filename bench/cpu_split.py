"""Where the CPU of one request goes: the Lessor process, the PostgreSQL backends serving its
storage, and those serving the target database of the `database` engine.

Throughput on a shared 2-core machine says little about *why*; CPU time per request does. This
starts one Lessor (release build, PostgreSQL or SQLite storage), mounts the database engine with
the same `app` role as leases.py (CREATE ROLE with a password + GRANT of a group), issues a
few hundred leases, then runs wrk for `--seconds` in one mode — `issue` (GET
database/creds/app) or `renew` (PUT sys/leases/renew over the issued leases) — and reads
utime+stime from /proc before and after: of the broker process and of every PostgreSQL backend,
grouped by database. Prints ms of CPU per request for each group. With `--perf FILE`, also
records `perf record -g` of the broker for the duration.

Standard library only (plus wrk, psql). Every database and role it creates is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import compare as base
import leases

TICK = os.sysconf("SC_CLK_TCK")


def psql(db: str, sql: str) -> str:
    return subprocess.run(["psql", "-X", "-qtA", "-h", "127.0.0.1", "-U", "postgres", "-d", db,
                           "-c", sql], capture_output=True, text=True, check=True).stdout.strip()


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def backends() -> dict[int, str]:
    rows = psql("postgres", "SELECT pid, coalesce(datname, '') FROM pg_stat_activity")
    return {int(pid): db for pid, db in (line.split("|") for line in rows.splitlines())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("issue", "renew"), default="issue")
    parser.add_argument("--storage", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--leases", type=int, default=300, help="issued before the run")
    parser.add_argument("--port", type=int, default=8377)
    parser.add_argument("--perf", help="write `perf record -g` of the broker here")
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()

    binary = base.build_lessor(args.skip_build)
    pid = os.getpid()
    store_db, target_db = f"cpu_store_{pid}", f"cpu_target_{pid}"
    readers, prefix = f"cpu_readers_{pid}", f"cpu{pid}_"
    addr = f"http://127.0.0.1:{args.port}"
    work = Path(tempfile.mkdtemp(prefix="lessor-cpu-"))

    def call(method: str, path: str, body: dict | None = None, token: str = "") -> dict:
        request = urllib.request.Request(f"{addr}/v1/{path}", method=method,
                                         data=json.dumps(body).encode() if body else None)
        if token:
            request.add_header("X-Vault-Token", token)
        with urllib.request.urlopen(request, timeout=30) as answer:
            data = answer.read()
            return json.loads(data) if data else {}

    psql("postgres", f"CREATE DATABASE {store_db}")
    psql("postgres", f"CREATE DATABASE {target_db}")
    psql("postgres", f"CREATE ROLE {readers} NOLOGIN")
    psql(target_db, f"CREATE TABLE probe (id int); GRANT SELECT ON probe TO {readers}")
    if args.storage == "postgresql":
        storage = (f'storage "postgresql" {{\n  connection_url = "postgres://postgres@127.0.0.1:'
                   f'5432/{store_db}?sslmode=disable"\n  max_parallel = 16\n}}\n')
    else:
        storage = f'storage "sqlite" {{\n  path = "{work}/lessor.db"\n}}\n'
    config = work / "lessor.hcl"
    config.write_text(storage + f'listener "tcp" {{\n  address = "127.0.0.1:{args.port}"\n'
                      '  tls_disable = true\n}\nlog_level = "warn"\n')
    process = subprocess.Popen([str(binary), "server", f"-config={config}"],
                               stdout=(work / "lessor.log").open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        for _ in range(200):
            try:
                call("GET", "sys/seal-status")
                break
            except OSError:
                time.sleep(0.1)
        init = call("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
        call("PUT", "sys/unseal", {"key": init["keys"][0]})
        token = init["root_token"]
        call("POST", "sys/mounts/database", {"type": "database"}, token)
        call("POST", "database/config/target", {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": f"postgresql://{{{{username}}}}@127.0.0.1:5432/{target_db}",
            "username": "postgres", "password": "unused-with-trust-auth", "allowed_roles": "*",
            "max_open_connections": 16, "username_template": prefix + "{{random 20}}"}, token)
        call("POST", "database/roles/app", {
            "db_name": "target", "creation_statements": leases.app_creation(readers),
            "revocation_statements": leases.APP_REVOCATION, "default_ttl": "1h",
            "max_ttl": "24h"}, token)
        ids = [call("GET", "database/creds/app", token=token)["lease_id"]
               for _ in range(args.leases)]

        script = work / "run.lua"
        lua = ('wrk.headers["X-Vault-Token"] = os.getenv("BENCH_TOKEN")\n'
               'done = function(summary) io.write("REQ " .. summary.requests .. " NON2XX " .. '
               'summary.errors.status .. "\\n") end\n')
        url = f"{addr}/v1/database/creds/app"
        if args.mode == "renew":
            lua += ("local ids = {" + ",".join(f'"{i}"' for i in ids) + "}\nlocal k = 0\n"
                    "request = function()\n  k = k + 1\n"
                    '  local body = \'{"lease_id":"\' .. ids[(k % #ids) + 1] .. \'","increment":3600}\'\n'
                    '  return wrk.format("PUT", "/v1/sys/leases/renew", {["Content-Type"] = '
                    '"application/json", ["X-Vault-Token"] = os.getenv("BENCH_TOKEN")}, body)\nend\n')
            url = f"{addr}/"
        script.write_text(lua)

        pids = backends()
        before = {p: cpu_seconds(p) for p in pids}
        broker_before = cpu_seconds(process.pid)
        perf = None
        if args.perf:
            perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", args.perf, "-p",
                                     str(process.pid), "--", "sleep", str(args.seconds)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.monotonic()
        out = subprocess.run(["wrk", "-t2", f"-c{args.concurrency}", f"-d{args.seconds}s",
                              "-s", str(script), url], capture_output=True, text=True,
                             env={**os.environ, "BENCH_TOKEN": token}).stdout
        wall = time.monotonic() - started
        if perf:
            perf.wait()
        broker = cpu_seconds(process.pid) - broker_before
        groups: dict[str, float] = {}
        for backend_pid, db in backends().items():
            label = "storage" if db == store_db else "target" if db == target_db else "other"
            groups[label] = groups.get(label, 0.0) + cpu_seconds(backend_pid) - before.get(
                backend_pid, 0.0)
        words = out.split()
        requests, non2xx = int(words[words.index("REQ") + 1]), int(words[words.index("NON2XX") + 1])
        print(f"{args.mode}, {args.storage} storage, c{args.concurrency}: {requests} requests "
              f"in {wall:.1f} s ({requests / wall:.0f}/s, {non2xx} non-2xx), load "
              f"{os.getloadavg()[0]:.1f}")
        print(f"  broker process        {1000 * broker / requests:.2f} ms CPU per request")
        for label in ("storage", "target", "other"):
            print(f"  PostgreSQL, {label:9} {1000 * groups.get(label, 0.0) / requests:.2f} ms")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        for db in (store_db, target_db):
            psql("postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        leases.drop_roles(base.Postgres("postgres://postgres@127.0.0.1:5432"), prefix)
        psql("postgres", f"DROP ROLE IF EXISTS {readers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
