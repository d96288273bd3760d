#!/usr/bin/env python3
"""Dynamic PostgreSQL credentials and leases: Lessor vs OpenBao on the same PostgreSQL.

Owns the lease run of the comparison (issue 3), end to end: the raw PostgreSQL CREATE/DROP ROLE
limit (pgbench), then both servers with the `database` engine at database/ and the same role
SQL: creds issue, renew and revoke under wrk, revoke-prefix of 10k leases, memory per
outstanding lease (100k cheap leases), and seal/unseal-to-serving time with and without those
leases. Report in bench/results/leases-latest.md, raw numbers in leases-latest.json.

Shares the plumbing (servers from config files, PostgreSQL helpers, HTTP) with compare.py.
Standard library only; every target is 127.0.0.1; every load loop is bounded in time and count;
every database, role and process it creates is removed at the end, also on error or Ctrl-C.
See bench/README.md for what the numbers mean and what is unfair about them.
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.client import HTTPConnection, HTTPException
from pathlib import Path

import compare as base
from compare import BenchError, Server, expect, http, log
import lease_report

LUA_SCRIPT = base.BENCH_DIR / "wrk" / "leases.lua"
ROLE_APP = "app"
ROLE_CHEAP = "cheap"
# The same role SQL for both servers. The SELECT on bench_probe comes through a group role:
# granted table by table, every grantee adds an entry to the table's ACL in its pg_class row,
# which cannot be TOASTed, and PostgreSQL refuses the GRANT ("row is too big") at about 680
# roles, far below the 10k/100k outstanding leases measured here (README). Revocation is
# spelled out too, so both run the same statement rather than their different defaults;
# DROP ROLE also removes the membership, and IF EXISTS makes it idempotent.
def app_creation(readers: str) -> list[str]:
    return [
        'CREATE ROLE "{{name}}" WITH LOGIN PASSWORD \'{{password}}\' '
        "VALID UNTIL '{{expiration}}';",
        f'GRANT "{readers}" TO "{{{{name}}}}";',
    ]


APP_REVOCATION = ['DROP ROLE IF EXISTS "{{name}}";']
# Leases that cost PostgreSQL almost nothing, to measure the brokers' own cost per lease.
CHEAP_STATEMENTS = ["SELECT 1"]


class LeaseServer(Server):
    """A compare.Server with the settings this run needs on top of the shared config."""

    prefix: str = ""          # username_template prefix of its app leases
    root_role: str = ""       # its own superuser on the target database
    root_password: str = ""
    unseal_key: str = ""
    request_seconds: int = 300

    def config_text(self, pg, pool, bao_disable_cache):  # noqa: ANN001 (same as the base)
        text = super().config_text(pg, pool, bao_disable_cache)
        # A synchronous revoke-prefix of 10k leases can outlast the 90 s default.
        return text.replace("  tls_disable = true\n", "  tls_disable = true\n"
                            f'  max_request_duration = "{self.request_seconds}s"\n')

    def set_log_level(self, level: str) -> None:
        """OpenBao only: rewrites log_level in its config and reloads it with SIGHUP. It runs
        at warn like Lessor (at info it logs a line per revoked lease), and at info only
        around an unseal, whose "lease restore complete" line is logged at info."""
        if self.name != "OpenBao" or self.process is None:
            return
        config = self.workdir / f"{self.name.lower()}.hcl"
        text = config.read_text()
        config.write_text(re.sub(r'log_level = "\w+"', f'log_level = "{level}"', text))
        marker = "reload triggered"
        seen = self.log_path.read_text(errors="replace").count(marker)
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.log_path.read_text(errors="replace").count(marker) > seen:
                time.sleep(0.2)  # the reload itself follows the banner
                return
            time.sleep(0.05)
        raise BenchError("OpenBao did not acknowledge SIGHUP (log level reload)")


# ---------------------------------------------------------------------------- PostgreSQL


def psql_script(pg: base.Postgres, database: str, sql: str, timeout: float = 300) -> str:
    """Runs a multi-statement script (psql meta-commands allowed) from stdin."""
    parts = urllib.parse.urlparse(pg.base_url)
    cmd = ["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-h", parts.hostname or "127.0.0.1",
           "-p", str(parts.port or 5432), "-U", parts.username or "postgres", "-d", database]
    out = subprocess.run(cmd, input=sql, capture_output=True, text=True, env=pg_env(pg),
                         timeout=timeout)
    if out.returncode != 0:
        raise BenchError(f"psql on {database} failed: {out.stderr.strip()[:500]}")
    return out.stdout.strip()


def pg_env(pg: base.Postgres) -> dict:
    env = dict(os.environ)
    password = urllib.parse.urlparse(pg.base_url).password
    if password:
        env["PGPASSWORD"] = urllib.parse.unquote(password)
    return env


def count_roles(pg: base.Postgres, prefix: str) -> int:
    # left() rather than LIKE: the prefixes contain `_`, a LIKE wildcard.
    return int(pg.psql("postgres", f"SELECT count(*) FROM pg_roles "
                                   f"WHERE left(rolname, {len(prefix)}) = '{prefix}'"))


def drop_roles(pg: base.Postgres, prefix: str) -> None:
    """Drops every role whose name starts with `prefix` (ours only: prefixes carry our pid and
    end in `_`). Their privileges went with the target database, which is dropped first."""
    psql_script(pg, "postgres",
                f"SELECT format('DROP ROLE IF EXISTS %I', rolname) FROM pg_roles "
                f"WHERE left(rolname, {len(prefix)}) = '{prefix}' \\gexec\n", timeout=600)


def setup_target(pg: base.Postgres, target_db: str, servers: list[LeaseServer],
                 cheap_user: str, readers: str) -> None:
    pg.recreate(target_db)
    pg.psql("postgres", f"CREATE ROLE {readers} NOLOGIN")
    pg.psql(target_db, "CREATE TABLE bench_probe (id int PRIMARY KEY, note text); "
                       f"GRANT SELECT ON bench_probe TO {readers}")
    for server in servers:
        pg.psql("postgres", f"CREATE ROLE {server.root_role} LOGIN SUPERUSER "
                            f"PASSWORD '{server.root_password}'")
    # The one existing role every cheap lease names (see the cheap role in README).
    pg.psql("postgres", f"CREATE ROLE {cheap_user} NOLOGIN")


# ---------------------------------------------------------------------------- servers


def prepare(server: LeaseServer, pg: base.Postgres, target_db: str, cheap_user: str,
            readers: str, target_pool: int) -> None:
    """init 1/1, unseal, database/ mount, two connections (app, cheap), two roles."""
    base_url = server.addr
    status, body = http("PUT", f"{base_url}/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
    body = expect(server, "sys/init", status, body, (200,))
    server.token, server.unseal_key = body["root_token"], body["keys"][0]
    status, body = http("PUT", f"{base_url}/v1/sys/unseal", {"key": server.unseal_key})
    expect(server, "sys/unseal", status, body, (200,))
    base.retry(server, "token lookup after unseal",
               lambda: http("GET", f"{base_url}/v1/auth/token/lookup-self", token=server.token))
    call(server, "POST", "sys/mounts/database", {"type": "database"})
    url = f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{target_db}?sslmode=disable"
    common = {"plugin_name": "postgresql-database-plugin", "connection_url": url,
              "username": server.root_role, "password": server.root_password,
              "max_open_connections": target_pool, "verify_connection": True}
    call(server, "POST", "database/config/bench",
         {**common, "allowed_roles": ROLE_APP, "username_template": server.prefix + "{{random 12}}"})
    call(server, "POST", "database/config/cheap",
         {**common, "allowed_roles": ROLE_CHEAP, "username_template": cheap_user})
    call(server, "POST", f"database/roles/{ROLE_APP}",
         {"db_name": "bench", "creation_statements": app_creation(readers),
          "revocation_statements": APP_REVOCATION, "default_ttl": "1h", "max_ttl": "24h"})
    call(server, "POST", f"database/roles/{ROLE_CHEAP}",
         {"db_name": "cheap", "creation_statements": CHEAP_STATEMENTS,
          "revocation_statements": CHEAP_STATEMENTS, "renew_statements": CHEAP_STATEMENTS,
          "default_ttl": "1h", "max_ttl": "24h"})


def check_creds(server: LeaseServer, pg: base.Postgres) -> None:
    """One credential of each role, checked, so a broken setup fails here and not under load."""
    for role in (ROLE_APP, ROLE_CHEAP):
        body = call(server, "GET", f"database/creds/{role}")
        if not body.get("lease_id") or not body.get("data", {}).get("username"):
            raise BenchError(f"{server.name}: creds/{role} returned no lease or username")
    if count_roles(pg, server.prefix) != 1:
        raise BenchError(f"{server.name}: creds/{ROLE_APP} did not create a role in PostgreSQL")


def call(server: Server, method: str, path: str, body: dict | None = None,
         timeout: float = 30) -> dict:
    status, answer = http(method, f"{server.addr}/v1/{path}", body, token=server.token,
                          timeout=timeout)
    return expect(server, f"{method} {path}", status, answer, (200, 204))


# ---------------------------------------------------------------------------- load


def wrk_leases(wrk: str, server: LeaseServer, mode: str, path: str, connections: int,
               threads: int, seconds: int, ids_dir: Path, ids_file: Path | None = None) -> dict:
    """One wrk run. A revoke run ends when every thread has used its share of the ids (the
    Lua script drops a marker file and we send SIGINT, which makes wrk stop and report the
    time really taken), or after `seconds`, whichever comes first."""
    threads = min(threads, connections)
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
           "-s", str(LUA_SCRIPT), f"{server.addr}{path}"]
    done_dir = Path(tempfile.mkdtemp(prefix="done-", dir=ids_dir))
    env = {**os.environ, "BENCH_TOKEN": server.token, "BENCH_MODE": mode,
           "BENCH_THREADS": str(threads), "BENCH_IDS_DIR": str(ids_dir),
           "BENCH_IDS_FILE": str(ids_file or ""), "BENCH_DONE_DIR": str(done_dir)}
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    deadline = time.monotonic() + seconds + 60
    while process.poll() is None and time.monotonic() < deadline:
        if mode == "revoke" and len(list(done_dir.iterdir())) >= threads:
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.01)
    try:
        stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        raise BenchError(f"wrk ({mode}) against {server.name} did not finish") from None
    shutil.rmtree(done_dir, ignore_errors=True)
    if process.returncode != 0:
        raise BenchError(f"wrk ({mode}) against {server.name} failed: {stderr.strip()}")
    first_errors = [line[len("BENCH_ERR "):] for line in stdout.splitlines()
                    if line.startswith("BENCH_ERR ")]
    for line in stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line[len("BENCH_JSON "):])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            result["errors"] = sum(v for k, v in result.items() if k.startswith("errors_"))
            result["first_errors"] = first_errors
            return result
    raise BenchError(f"wrk printed no BENCH_JSON line:\n{stdout}\n{stderr}")


def lease_ids(ids_dir: Path) -> list[str]:
    ids: list[str] = []
    give_up = threading.Event()
    for path in sorted(ids_dir.glob("ids-*.txt")):
        ids.extend(line for line in path.read_text().splitlines() if line)
    return ids


def bulk(server: Server, method: str, path: str, count: int, concurrency: int,
         seconds: float, keep_ids: list | None = None) -> dict:
    """`count` requests from `concurrency` threads over keep-alive connections, stopping early
    at the deadline. For issuing leases by number, which wrk cannot do. With `keep_ids`, the
    lease id of each answer is appended to it."""
    counter = itertools.count()
    lock = threading.Lock()
    tally = {"ok": 0, "failed": 0, "statuses": {}}
    ids: list[str] = []
    give_up = threading.Event()
    deadline = time.monotonic() + seconds
    headers = {"X-Vault-Token": server.token}

    def worker() -> None:
        conn = HTTPConnection("127.0.0.1", server.port, timeout=60)
        ok = failed = 0
        statuses: dict[int, int] = {}
        while next(counter) < count and time.monotonic() < deadline and not give_up.is_set():
            try:
                conn.request(method, path, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                status = response.status
                if keep_ids is not None and status == 200:
                    ids.append(json.loads(raw)["lease_id"])  # list.append is atomic
            except (OSError, HTTPException, ValueError, KeyError):
                status = -1
                conn.close()
                conn = HTTPConnection("127.0.0.1", server.port, timeout=60)
            if status == 200:
                ok += 1
            else:
                failed += 1
                statuses[status] = statuses.get(status, 0) + 1
                # Mostly failing: stop rather than hammer a broken setup until the deadline.
                if failed > 20 and failed > ok:
                    give_up.set()
        conn.close()
        with lock:
            tally["ok"] += ok
            tally["failed"] += failed
            for status, n in statuses.items():
                tally["statuses"][status] = tally["statuses"].get(status, 0) + n

    started = time.monotonic()
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=max(1.0, deadline - time.monotonic()) + 90)
    elapsed = time.monotonic() - started
    tally["seconds"] = elapsed
    tally["rate"] = tally["ok"] / elapsed if elapsed else 0.0
    tally["stopped_by_deadline"] = tally["ok"] + tally["failed"] < count
    tally["statuses"] = {str(k): v for k, v in tally["statuses"].items()}
    if keep_ids is not None:
        keep_ids.extend(ids)
    return tally


def raw_limit(pg: base.Postgres, target_db: str, prefix: str, readers: str, workdir: Path,
              connections: int, seconds: int) -> dict:
    """pgbench over `connections` connections: one iteration = the brokers' creation SQL
    (CREATE ROLE with a password, GRANT of the group) in one transaction, then their
    revocation SQL (DROP ROLE) in another."""
    script = workdir / "create_drop.sql"
    name = f'"{prefix}:r"'
    script.write_text(
        "\\set r random(1, 1000000000000)\n"
        "BEGIN;\n"
        f"CREATE ROLE {name} WITH LOGIN PASSWORD 'Aa1-raw-bench-password-0123456789' "
        "VALID UNTIL '2099-01-01 00:00:00+0000';\n"
        f'GRANT "{readers}" TO {name};\n'
        "COMMIT;\n"
        f"DROP ROLE IF EXISTS {name};\n")
    parts = urllib.parse.urlparse(pg.base_url)
    cmd = ["pgbench", "-n", "-r", f"-c{connections}", f"-j{min(2, connections)}",
           f"-T{seconds}", "-f", str(script), "-h", parts.hostname or "127.0.0.1",
           "-p", str(parts.port or 5432), "-U", parts.username or "postgres", target_db]
    out = subprocess.run(cmd, capture_output=True, text=True, env=pg_env(pg), timeout=seconds + 60)
    text = out.stdout + out.stderr
    result: dict = {"connections": connections, "ok": out.returncode == 0, "tps": 0.0,
                    "latency_ms": 0.0, "statements_ms": {}}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("tps = "):
            result["tps"] = float(stripped.split()[2])
        elif stripped.startswith("latency average = "):
            result["latency_ms"] = float(stripped.split()[3])
        elif stripped.split(" ", 1)[0].replace(".", "", 1).isdigit() and len(stripped.split()) > 2:
            fields = stripped.split(None, 2)
            keyword = fields[2].split()[0].rstrip(";") if len(fields) > 2 else ""
            if keyword in ("CREATE", "GRANT", "REVOKE", "DROP", "COMMIT", "SELECT"):
                key = keyword if keyword not in result["statements_ms"] else keyword + "2"
                result["statements_ms"][key] = float(fields[0])
    if not out.returncode == 0:
        result["error"] = text.strip().splitlines()[-1][:300] if text.strip() else "no output"
    return result


# ---------------------------------------------------------------------------- unseal


def time_unseal(server: LeaseServer, probe_lease: str | None, cap: float) -> dict:
    """Seals, then times from the unseal request that reaches the threshold until the first
    successful lookup-self (and lease lookup, and for OpenBao the end of its lease restore)."""
    server.set_log_level("info")
    call(server, "PUT", "sys/seal")
    log_offset = server.log_path.stat().st_size if server.log_path.exists() else 0
    result: dict = {}
    started = time.monotonic()
    wall_start = time.time()
    status, body = http("PUT", f"{server.addr}/v1/sys/unseal", {"key": server.unseal_key},
                        timeout=cap)
    expect(server, "sys/unseal", status, body, (200,))
    result["unseal_request_ms"] = (time.monotonic() - started) * 1000
    result["to_lookup_self_ms"] = poll_ms(started, cap, lambda: http(
        "GET", f"{server.addr}/v1/auth/token/lookup-self", token=server.token, timeout=cap)[0])
    if probe_lease:
        result["to_lease_lookup_ms"] = poll_ms(started, cap, lambda: http(
            "PUT", f"{server.addr}/v1/sys/leases/lookup", {"lease_id": probe_lease},
            token=server.token, timeout=cap)[0])
    if server.name == "OpenBao":
        result["restore_complete_ms"] = restore_ms(server, log_offset, wall_start, started, cap)
        server.set_log_level("warn")
    return result


def poll_ms(started: float, cap: float, probe) -> float | None:
    while time.monotonic() - started < cap:
        try:
            if probe() == 200:
                return (time.monotonic() - started) * 1000
        except OSError:
            pass
        time.sleep(0.005)
    return None


def restore_ms(server: LeaseServer, offset: int, wall_start: float, started: float,
               cap: float) -> float | None:
    """OpenBao restores every lease after unseal, in the background; it logs
    "lease restore complete" (info level) when done. The log's own timestamp is used."""
    while time.monotonic() - started < cap:
        with server.log_path.open("rb") as handle:
            handle.seek(offset)
            for line in handle.read().decode(errors="replace").splitlines():
                if "lease restore complete" in line:
                    stamp = line.split()[0]
                    try:
                        import datetime as dt
                        when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
                        return (when.timestamp() - wall_start) * 1000
                    except ValueError:
                        return (time.monotonic() - started) * 1000
        time.sleep(0.05)
    return None


# ---------------------------------------------------------------------------- phases


def revoke_prefix(server: LeaseServer, pg: base.Postgres, cap: float) -> dict:
    """Times `sys/leases/revoke-prefix/database/creds/app` (synchronous in both) and, in
    parallel, how long until the last of the server's roles is gone from pg_roles."""
    leases = count_roles(pg, server.prefix)
    answer: dict = {}

    def request() -> None:
        began = time.monotonic()
        status, body = http("PUT", f"{server.addr}/v1/sys/leases/revoke-prefix/database/creds/"
                            f"{ROLE_APP}", {}, token=server.token, timeout=cap)
        answer.update(status=status, seconds=time.monotonic() - began,
                      errors=body.get("errors"))

    started = time.monotonic()
    thread = threading.Thread(target=request, daemon=True)
    thread.start()
    # (seconds since start, roles left) whenever the count changes. The roles still there once
    # the answer came and nothing moved for 2 s have no lease (orphans), or failed to revoke.
    samples = [(0.0, leases)]
    while time.monotonic() - started < cap:
        left = count_roles(pg, server.prefix)
        now = time.monotonic() - started
        if left != samples[-1][1]:
            samples.append((now, left))
        if left == 0 or ("seconds" in answer and now > max(answer["seconds"], samples[-1][0]) + 2):
            break
        time.sleep(0.2)
    gone = samples[-1][0] if len(samples) > 1 else None
    thread.join(timeout=max(1.0, cap - (time.monotonic() - started)))
    left = count_roles(pg, server.prefix)
    status, _ = http("LIST", f"{server.addr}/v1/sys/leases/lookup/database/creds/{ROLE_APP}",
                     token=server.token)
    return {"leases": leases, "request_status": answer.get("status"), "samples": samples,
            "request_seconds": answer.get("seconds"), "request_errors": answer.get("errors"),
            "roles_gone_seconds": gone, "roles_left": left,
            "leases_listed_after": status == 200}


def memory_phase(server: LeaseServer, args) -> dict:
    """RSS before and after `bulk_leases` cheap leases, then unseal time with them."""
    before = server.memory()["VmRSS"]
    issued = bulk(server, "GET", f"/v1/database/creds/{ROLE_CHEAP}", args.bulk_leases,
                  args.bulk_concurrency, args.bulk_seconds)
    after = server.memory()["VmRSS"]
    log(f"{server.name}: {issued['ok']} cheap leases in {issued['seconds']:.1f} s "
        f"({issued['rate']:.0f}/s, {issued['failed']} failed); RSS {base.mib(before)} -> "
        f"{base.mib(after)} MiB")
    probe = call(server, "GET", f"database/creds/{ROLE_CHEAP}")["lease_id"]
    unseal = time_unseal(server, probe, args.unseal_cap)
    log(f"{server.name}: unseal with {issued['ok'] + 1} leases: {fmt_unseal(unseal)}")
    return {"rss_before_kib": before, "rss_after_kib": after, "issue": issued,
            "leases": issued["ok"] + 1, "unseal": unseal,
            "rss_after_unseal_kib": server.memory()["VmRSS"]}


def fmt_unseal(result: dict) -> str:
    return ", ".join(f"{k} {v:.0f}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in result.items())


def ordered(servers: list, turn: int) -> list:
    """Alternates which server goes first, so slow drift in background load (the machine is
    shared) does not always land on the same one."""
    return servers if turn % 2 == 0 else list(reversed(servers))


def run_phases(args, wrk: str, pg: base.Postgres, servers: list[LeaseServer], workdir: Path,
               target_db: str, cheap_user: str, raw_prefix: str, readers: str) -> dict:
    out: dict = {"raw": [], "issue": [], "renew": [], "revoke": [], "prefix": {}, "memory": {},
                 "unseal0": {}, "rss": {}, "topup": {}, "bulk_concurrency": args.bulk_concurrency}
    # Raw PostgreSQL first: pgbench at c64 plus both servers' pools would not fit under a
    # default max_connections of 100 next to other users of this PostgreSQL.
    for connections in args.raw_concurrency:
        result = raw_limit(pg, target_db, raw_prefix, readers, workdir, connections,
                           args.raw_duration)
        out["raw"].append(result)
        log(f"raw PostgreSQL c={connections}: {result['tps']:.0f} create+grant+revoke+drop/s"
            + ("" if result["ok"] else f" (FAILED: {result.get('error')})"))
    drop_roles(pg, raw_prefix)

    for server in servers:
        pg.recreate(server.database)
    pg.psql(servers[1].database, base.OPENBAO_DDL)
    for server in servers:
        server.start(pg, args.pool, False)
        prepare(server, pg, target_db, cheap_user, readers, args.target_pool)
        out["rss"][server.name] = {"idle_kib": server.memory()["VmRSS"]}
        out["unseal0"][server.name] = time_unseal(server, None, args.unseal_cap)
        check_creds(server, pg)
        log(f"{server.name} ready, RSS {base.mib(out['rss'][server.name]['idle_kib'])} MiB; "
            f"unseal with no leases: {fmt_unseal(out['unseal0'][server.name])}")

    ids_dirs = {s.name: workdir / f"ids-{s.name.lower()}" for s in servers}
    for path in ids_dirs.values():
        path.mkdir()
    turn = 0
    issue_path = f"/v1/database/creds/{ROLE_APP}"
    for connections in args.concurrency:
        row = {"concurrency": connections}
        for server in ordered(servers, turn):
            if args.warmup:
                wrk_leases(wrk, server, "issue", issue_path, connections, args.threads,
                           args.warmup, ids_dirs[server.name])
            row[server.name] = wrk_leases(wrk, server, "issue", issue_path, connections,
                                          args.threads, args.duration, ids_dirs[server.name])
            log_row("issue", connections, server, row[server.name])
        out["issue"].append(row)
        turn += 1

    # Renew walks every lease issued so far, over and over (renewing again is legitimate).
    pools = {s.name: lease_ids(ids_dirs[s.name]) for s in servers}
    for connections in args.concurrency:
        row = {"concurrency": connections}
        for server in ordered(servers, turn):
            path = workdir / f"renew-{server.name.lower()}.txt"
            path.write_text("\n".join(pools[server.name]) + "\n")
            row[server.name] = wrk_leases(wrk, server, "renew", "/v1/sys/leases/renew",
                                          connections, args.threads, args.duration,
                                          ids_dirs[server.name], path)
            log_row("renew", connections, server, row[server.name])
        out["renew"].append(row)
        turn += 1

    # Enough live leases for the revoke runs and revoke-prefix, within a time cap.
    for server in ordered(servers, turn):
        want = args.prefix_leases + args.revoke_leases * len(args.concurrency)
        have = count_roles(pg, server.prefix)
        if have < want:
            out["topup"][server.name] = bulk(server, "GET", issue_path, want - have,
                                             args.bulk_concurrency, args.topup_seconds,
                                             keep_ids=pools[server.name])
            t = out["topup"][server.name]
            log(f"{server.name}: issued {t['ok']} more leases in {t['seconds']:.1f} s "
                f"({t['rate']:.0f}/s, {t['failed']} failed)")
    turn += 1

    # Each revoke needs a live lease of its own: each concurrency level gets a slice of the
    # pool, and the run ends when the slice is used up (or at --revoke-duration).
    for i, connections in enumerate(args.concurrency):
        row = {"concurrency": connections}
        for server in ordered(servers, turn):
            pool = pools[server.name]
            size = min(args.revoke_leases, len(pool) // (2 * len(args.concurrency)))
            share, pools[server.name] = pool[:size], pool[size:]
            path = workdir / f"revoke-{server.name.lower()}-{i}.txt"
            path.write_text("\n".join(share) + "\n")
            seconds = args.revoke_duration
            row[server.name] = wrk_leases(wrk, server, "revoke", "/v1/sys/leases/revoke",
                                          connections, args.threads, seconds,
                                          ids_dirs[server.name], path)
            row[server.name].update(pool=size, seconds=seconds)
            log_row("revoke", connections, server, row[server.name])
        out["revoke"].append(row)
        turn += 1

    for server in ordered(servers, turn):
        result = revoke_prefix(server, pg, args.prefix_cap)
        out["prefix"][server.name] = result
        log(f"{server.name}: revoke-prefix of {result['leases']} leases: request "
            f"{result['request_status']} in {result['request_seconds']} s, roles gone after "
            f"{result['roles_gone_seconds']} s, {result['roles_left']} left")
    turn += 1

    for server in ordered(servers, turn):
        out["memory"][server.name] = memory_phase(server, args)
    for server in servers:
        memory = server.memory()
        out["rss"][server.name].update(final_kib=memory["VmRSS"], peak_kib=memory["VmHWM"])
    return out


def log_row(mode: str, connections: int, server: Server, result: dict) -> None:
    log(f"{mode:6} c={connections:<3} {server.name:8} {result['rps']:8.0f} req/s  "
        f"p50 {result['p50_us'] / 1000:7.2f} ms  p99 {result['p99_us'] / 1000:8.2f} ms  "
        f"errors {result['errors']}  overrun {result.get('overrun', 0)}")
    for first in result.get("first_errors", []):
        log(f"    first error: {first}")


# ---------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without database (default: %(default)s)")
    parser.add_argument("--concurrency", type=ints, default=[16, 64],
                        help="wrk connections for issue, renew, revoke (default 16,64)")
    parser.add_argument("--duration", type=int, default=8, help="measured s per issue/renew run")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up s before each issue run")
    parser.add_argument("--revoke-duration", type=int, default=20,
                        help="cap in s on a revoke run (it ends when its leases are used up)")
    parser.add_argument("--revoke-leases", type=int, default=2000,
                        help="leases set aside for each revoke run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--pool", type=int, default=16, help="storage max_parallel, both")
    parser.add_argument("--target-pool", type=int, default=16,
                        help="max_open_connections to the target database, both")
    parser.add_argument("--raw-concurrency", type=ints, default=[1, 16, 64])
    parser.add_argument("--raw-duration", type=int, default=8)
    parser.add_argument("--prefix-leases", type=int, default=10_000)
    parser.add_argument("--topup-seconds", type=float, default=75,
                        help="cap on issuing the leases for revoke and revoke-prefix, per server")
    parser.add_argument("--prefix-cap", type=float, default=240,
                        help="cap on waiting for revoke-prefix, per server")
    parser.add_argument("--bulk-leases", type=int, default=100_000)
    parser.add_argument("--bulk-concurrency", type=int, default=32)
    parser.add_argument("--bulk-seconds", type=float, default=75,
                        help="cap on issuing the cheap leases, per server")
    parser.add_argument("--unseal-cap", type=float, default=180)
    parser.add_argument("--lessor-port", type=int, default=8300)
    parser.add_argument("--bao-port", type=int, default=8400)
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--keep-logs", type=Path, help="copy both server logs here at the end")
    parser.add_argument("--out", type=Path,
                        default=base.BENCH_DIR / "results" / "leases-latest.md")
    args = parser.parse_args()
    if not 1 <= args.duration <= 60 or not 0 <= args.warmup <= 30:
        parser.error("--duration must be 1..60 and --warmup 0..30 seconds")
    if args.bulk_leases > 1_000_000 or args.prefix_leases > 100_000:
        parser.error("--bulk-leases is capped at 1e6 and --prefix-leases at 1e5")
    return args


def main() -> int:
    args = parse_args()
    pg = base.Postgres(args.pg)
    if urllib.parse.urlparse(args.pg).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError("the benchmark only runs against a PostgreSQL on this machine")
    if shutil.which("pgbench") is None:
        raise BenchError("pgbench not found (it ships with the PostgreSQL client tools)")
    lessor_bin = base.build_lessor(args.skip_build)
    bao_bin = base.ensure_bao()
    wrk = base.ensure_wrk()

    workdir = Path(tempfile.mkdtemp(prefix="lessor-lease-bench-"))
    pid = os.getpid()
    target_db, cheap_user, raw_prefix = f"bench_target_{pid}", f"bench_cheap{pid}", f"bench_raw{pid}_"
    readers = f"bench_readers{pid}"
    servers = [
        LeaseServer("Lessor", lessor_bin, args.lessor_port, f"bench_lessor_{pid}", workdir),
        LeaseServer("OpenBao", bao_bin, args.bao_port, f"bench_openbao_{pid}", workdir),
    ]
    for server, short in zip(servers, ("l", "o")):
        server.prefix = f"bench_{short}{pid}_"
        server.root_role = f"bench_root_{server.name.lower()}_{pid}"
        server.root_password = secrets.token_hex(16)
        server.request_seconds = int(args.prefix_cap) + 60

    def cleanup() -> None:
        for server in servers:
            server.stop()
        # Lease roles by prefix (each ends in "_", so another run's pid cannot extend it);
        # the single roles by their exact name.
        singles = [cheap_user, readers] + [s.root_role for s in servers]
        for step in (lambda: pg.drop(target_db),
                     *(lambda p=p: drop_roles(pg, p) for p in
                       [s.prefix for s in servers] + [raw_prefix]),
                     *(lambda n=n: pg.psql("postgres", f"DROP ROLE IF EXISTS {n}")
                       for n in singles),
                     *(lambda s=s: pg.drop(s.database) for s in servers)):
            try:
                step()
            except (BenchError, OSError, subprocess.SubprocessError) as error:
                log(f"cleanup step failed: {error}")
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for server in servers:
                if server.log_path.exists():
                    shutil.copy(server.log_path, args.keep_logs / server.log_path.name)
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(cleanup)
    base.exit_on_signals()

    meta = base.collect_meta(bao_bin, wrk, pg)
    meta["command"] = " ".join(["python3", "bench/leases.py", *sys.argv[1:]])
    meta["uptime_before"] = uptime()
    started = time.monotonic()
    try:
        setup_target(pg, target_db, servers, cheap_user, readers)
        results = run_phases(args, wrk, pg, servers, workdir, target_db, cheap_user, raw_prefix,
                             readers)
    except BenchError:
        for server in servers:
            server.dump_log()
        raise
    meta["uptime_after"] = uptime()
    meta["run_seconds"] = time.monotonic() - started
    meta["bao_log_lines"] = sum(1 for _ in servers[1].log_path.open(errors="replace"))

    report = lease_report.render(args, results, meta)
    raw = {"meta": meta, "args": {k: (str(v) if isinstance(v, Path) else v)
                                  for k, v in vars(args).items()}, "results": results}
    base.write_report(args.out, report, raw)
    return 0


def uptime() -> str:
    return base.first_line(["uptime"])


if __name__ == "__main__":
    base.run_main(main)
