"""The Markdown report of bench/leases.py: turns the raw numbers of one run into tables.

Kept apart from leases.py so that the load and the presentation can change separately. Ratios are
Lessor / OpenBao everywhere, as in compare.py's report.
"""

from __future__ import annotations

L, O = "Lessor", "OpenBao"


def ratio(a: float | None, b: float | None) -> str:
    return f"{max(a / b, 0.0):.2f}" if a is not None and b else "n/a"


def ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    if abs(value) < 0.5 * 10 ** -digits:
        value = 0.0  # not "-0" for a delta that is noise around zero
    return f"{value:,.{digits}f}"


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f}"


def render(args, results: dict, meta: dict) -> str:
    lines = header(args, meta)
    lines += load_table(results)
    lines += raw_table(results)
    lines += prefix_table(results)
    lines += memory_table(results)
    lines += unseal_table(results)
    lines += ["", f"Command: `{meta['command']}` ({meta['run_seconds']:.0f} s in all).", ""]
    return "\n".join(lines)


def header(args, meta: dict) -> list[str]:
    lines = [
        "# Lessor vs OpenBao: dynamic PostgreSQL credentials and leases",
        "",
        f"Run {meta['when']} on {meta['host']} ({meta['cpus']} CPUs). "
        f"Lessor {meta['lessor_version']} (release build), {meta['bao_version']}, "
        f"{meta['wrk_version']}, {meta['pg_version']}.",
        "",
        f"- `uptime` before: `{meta['uptime_before']}`",
        f"- `uptime` after: `{meta['uptime_after']}`",
        "",
        f"Both servers: PostgreSQL storage (own fresh database each, max_parallel = {args.pool}), "
        f"TLS off, no audit device, `database` engine at `database/`, each with its own superuser "
        f"on one shared target database, max_open_connections = {args.target_pool}, the same "
        "creation and revocation SQL (README). Log level warn for both (OpenBao at info "
        "only around its unseals, to see its lease restore end).",
        "",
    ]
    load = meta["uptime_before"].split("load average:")[-1].split(",")[0].strip()
    try:
        busy = float(load) >= 1.0
    except ValueError:
        busy = False
    if busy:
        lines += [f"**Warning:** the machine was busy before the run (1-minute load {load} on "
                  f"{meta['cpus']} CPUs); absolute numbers are depressed and noisy.", ""]
    lines += ["Ratios are Lessor / OpenBao: above 1 means Lessor does more for rates; below 1 "
              "means Lessor is faster (time) or smaller (memory).", ""]
    return lines


def load_table(results: dict) -> list[str]:
    lines = [
        "## Issue, renew, revoke (wrk, closed loop)",
        "",
        "issue = `GET database/creds/app` (a real login role: CREATE ROLE with a password + "
        "GRANT of a group role that may read bench_probe); renew = `PUT sys/leases/renew` "
        "(ALTER ROLE … VALID UNTIL); revoke = `PUT sys/leases/revoke` (DROP ROLE), each "
        "revoke on a distinct live lease. Each run: wrk, 2 threads, N keep-alive connections; "
        "issue runs after a warm-up.",
        "",
        "| operation | conc. | Lessor req/s | OpenBao req/s | ratio | Lessor p50 ms | "
        "OpenBao p50 ms | ratio | Lessor p99 ms | OpenBao p99 ms | ratio | errors L/O | note |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for mode in ("issue", "renew", "revoke"):
        for row in results[mode]:
            a, b = row[L], row[O]
            note = ""
            if mode == "revoke":
                note = (f"{a['requests']}/{b['requests']} revokes of {a['pool']}/{b['pool']} "
                        f"leases in {a['duration_us'] / 1e6:.1f}/{b['duration_us'] / 1e6:.1f} s")
                if a.get("overrun") or b.get("overrun"):
                    note += (f"; {a['overrun']}/{b['overrun']} sent after the leases ran out "
                             "(revoke an already revoked lease)")
            lines.append(
                f"| {mode} | {row['concurrency']} | {a['rps']:.0f} | {b['rps']:.0f} "
                f"| {ratio(a['rps'], b['rps'])} | {ms(a['p50_us'])} | {ms(b['p50_us'])} "
                f"| {ratio(a['p50_us'], b['p50_us'])} | {ms(a['p99_us'])} | {ms(b['p99_us'])} "
                f"| {ratio(a['p99_us'], b['p99_us'])} | {a['errors']}/{b['errors']} | {note} |")
    return lines + [""]


def raw_table(results: dict) -> list[str]:
    lines = [
        "## Raw PostgreSQL limit (pgbench, same run, same target database)",
        "",
        "One iteration = the brokers' SQL without the brokers: `CREATE ROLE … LOGIN PASSWORD … "
        "VALID UNTIL` + `GRANT <group> TO …` in one transaction, then `DROP ROLE IF EXISTS` "
        "(autocommit). No HTTP, no broker storage, no encryption, no lease bookkeeping.",
        "",
        "| connections | iterations/s | mean latency ms | CREATE ROLE ms | GRANT ms | "
        "COMMIT ms | DROP ROLE ms | status |",
        "|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for raw in results["raw"]:
        st = raw["statements_ms"]
        lines.append(
            f"| {raw['connections']} | {raw['tps']:.0f} | {raw['latency_ms']:.2f} "
            f"| {num(st.get('CREATE'), 2)} | {num(st.get('GRANT'), 2)} "
            f"| {num(st.get('COMMIT'), 2)} | {num(st.get('DROP'), 2)} "
            f"| {'ok' if raw['ok'] else 'FAILED: ' + raw.get('error', '')} |")
    lines += [
        "",
        "Broker issue + revoke against that limit: one full credential lifecycle costs one "
        "issue and one revoke, so the broker's lifecycle rate is 1 / (1/issue + 1/revoke), "
        "from the wrk rows above at the same concurrency.",
        "",
        "| conc. | raw iterations/s | Lessor lifecycles/s | Lessor / raw | "
        "OpenBao lifecycles/s | OpenBao / raw |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    raw_by_conc = {raw["connections"]: raw["tps"] for raw in results["raw"] if raw["ok"]}
    for issue, revoke in zip(results["issue"], results["revoke"]):
        conc = issue["concurrency"]
        raw = raw_by_conc.get(conc)
        cycle = {name: lifecycle(issue[name]["rps"], revoke[name]["rps"]) for name in (L, O)}
        lines.append(f"| {conc} | {num(raw)} | {num(cycle[L])} | {ratio(cycle[L], raw)} "
                     f"| {num(cycle[O])} | {ratio(cycle[O], raw)} |")
    return lines + [""]


def lifecycle(issue: float, revoke: float) -> float | None:
    return 1 / (1 / issue + 1 / revoke) if issue and revoke else None


def prefix_table(results: dict) -> list[str]:
    p = results["prefix"]
    a, b = p[L], p[O]

    def rate(r: dict) -> float | None:
        gone = r["leases"] - r["roles_left"]
        return gone / r["roles_gone_seconds"] if r["roles_gone_seconds"] else None

    def topup(name: str) -> str:
        t = results["topup"].get(name)
        return "none needed" if t is None else f"{t['ok']} in {t['seconds']:.1f} s ({t['rate']:.0f}/s)"

    return [
        "## revoke-prefix (`PUT sys/leases/revoke-prefix/database/creds/app`, root token)",
        "",
        "All app leases left after the runs above (issued by the issue runs and a top-up "
        "towards the target count, within a time cap; minus those the revoke runs used); "
        "then one synchronous revoke-prefix, while pg_roles is polled "
        "every 0.2 s until the server's roles are gone (or, once the request has answered, "
        "stop changing for 2 s: what is left then had no lease or failed to revoke).",
        "",
        "| | Lessor | OpenBao | ratio |",
        "|---|--:|--:|--:|",
        f"| leases (roles in pg_roles before) | {a['leases']} | {b['leases']} | |",
        f"| leases issued after the renew runs (c{results['bulk_concurrency']}, Python client) "
        f"| {topup(L)} | {topup(O)} | |",
        f"| request answered (s) | {num(a['request_seconds'], 1)} ({a['request_status']}) "
        f"| {num(b['request_seconds'], 1)} ({b['request_status']}) "
        f"| {ratio(a['request_seconds'], b['request_seconds'])} |",
        f"| until the last role went from pg_roles (s) | {num(a['roles_gone_seconds'], 1)} "
        f"| {num(b['roles_gone_seconds'], 1)} "
        f"| {ratio(a['roles_gone_seconds'], b['roles_gone_seconds'])} |",
        f"| leases revoked per second | {num(rate(a))} | {num(rate(b))} "
        f"| {ratio(rate(a), rate(b))} |",
        f"| roles left after (no lease, or revocation failed) | {a['roles_left']} "
        f"| {b['roles_left']} | |",
        f"| leases still listed after | {a['leases_listed_after']} | {b['leases_listed_after']} | |",
        "",
    ]


def memory_table(results: dict) -> list[str]:
    m, rss = results["memory"], results["rss"]
    a, b = m[L], m[O]

    def per_lease(r: dict) -> float | None:
        return (r["rss_after_kib"] - r["rss_before_kib"]) * 1024 / r["leases"] if r["leases"] else None

    return [
        "## Memory per outstanding lease",
        "",
        "Cheap leases: role `cheap` whose statements are all `SELECT 1` and whose connection's "
        "`username_template` is one fixed, existing role, so PostgreSQL does almost nothing and "
        "the broker's own cost per lease shows. Issued as fast as possible (32 threads, Python "
        "`http.client`), bounded in count and time. VmRSS from /proc/PID/status.",
        "",
        "| | Lessor | OpenBao | ratio |",
        "|---|--:|--:|--:|",
        f"| RSS idle, after setup (MiB) | {mib(rss[L]['idle_kib'])} | {mib(rss[O]['idle_kib'])} "
        f"| {ratio(rss[L]['idle_kib'], rss[O]['idle_kib'])} |",
        f"| RSS before the cheap leases (MiB) | {mib(a['rss_before_kib'])} "
        f"| {mib(b['rss_before_kib'])} | {ratio(a['rss_before_kib'], b['rss_before_kib'])} |",
        f"| outstanding leases issued | {a['leases']:,} | {b['leases']:,} | |",
        f"| issue rate, cheap (leases/s) | {a['issue']['rate']:.0f} | {b['issue']['rate']:.0f} "
        f"| {ratio(a['issue']['rate'], b['issue']['rate'])} |",
        f"| failed issue requests | {a['issue']['failed']} | {b['issue']['failed']} | |",
        f"| RSS with the leases (MiB) | {mib(a['rss_after_kib'])} | {mib(b['rss_after_kib'])} "
        f"| {ratio(a['rss_after_kib'], b['rss_after_kib'])} |",
        f"| RSS growth per lease (bytes) | {num(per_lease(a))} | {num(per_lease(b))} "
        f"| {ratio(per_lease(a), per_lease(b))} |",
        f"| RSS after seal + unseal with the leases (MiB) | {mib(a['rss_after_unseal_kib'])} "
        f"| {mib(b['rss_after_unseal_kib'])} "
        f"| {ratio(a['rss_after_unseal_kib'], b['rss_after_unseal_kib'])} |",
        f"| peak RSS over the run (VmHWM, MiB) | {mib(rss[L]['peak_kib'])} "
        f"| {mib(rss[O]['peak_kib'])} | {ratio(rss[L]['peak_kib'], rss[O]['peak_kib'])} |",
        "",
    ]


def unseal_table(results: dict) -> list[str]:
    z, m = results["unseal0"], results["memory"]
    rows = [
        ("no leases: unseal request (ms)", z[L].get("unseal_request_ms"),
         z[O].get("unseal_request_ms")),
        ("no leases: unseal → first lookup-self 200 (ms)", z[L].get("to_lookup_self_ms"),
         z[O].get("to_lookup_self_ms")),
        ("no leases: unseal → OpenBao lease restore complete (ms)", None,
         z[O].get("restore_complete_ms")),
    ]
    n = f"{m[L]['leases']:,} / {m[O]['leases']:,} leases"
    u = {name: m[name]["unseal"] for name in (L, O)}
    rows += [
        (f"{n}: unseal request (ms)", u[L].get("unseal_request_ms"), u[O].get("unseal_request_ms")),
        (f"{n}: unseal → first lookup-self 200 (ms)", u[L].get("to_lookup_self_ms"),
         u[O].get("to_lookup_self_ms")),
        (f"{n}: unseal → first sys/leases/lookup 200 (ms)", u[L].get("to_lease_lookup_ms"),
         u[O].get("to_lease_lookup_ms")),
        (f"{n}: unseal → OpenBao lease restore complete (ms)", None,
         u[O].get("restore_complete_ms")),
    ]
    lines = [
        "## Unseal to serving",
        "",
        "`sys/seal`, then the clock runs from sending the unseal request that reaches the "
        "threshold (1 of 1) until the first 200 of each probe (polled every 5 ms). OpenBao "
        "restores every lease into memory after unseal; the end of that comes from its log "
        "line `lease restore complete` (its own timestamp).",
        "",
        "| | Lessor | OpenBao | ratio |",
        "|---|--:|--:|--:|",
    ]
    for label, a, b in rows:
        lines.append(f"| {label} | {num(a, 1)} | {num(b, 1)} | {ratio(a, b)} |")
    return lines + [""]
