"""The fleet night's section of docs/benchmarks.md (bench/fleet.py's results)."""


def fleet_section(fleet: dict | None) -> str:
    if not fleet:
        return "## The fleet on paper\n\nNot run yet (`make fleet`)."
    c, k = fleet["counts"], fleet["costs"]
    best = fleet["fewest_workers"]
    out = [
        "## The fleet on paper",
        "",
        f"`make fleet` (bench/fleet.py) on {fleet['started']} in {fleet['duration_s']} s: "
        f"the real planner (`runs.plan_night`) over {c['servers']:,} servers, "
        f"{c['webhotels']:,} webhotels of {c['customers']:,} customers (disk use log-normal, "
        f"median {fleet['median_mb']:.0f} MB, {fleet['change']:.0%} of the bytes changed a "
        "night, 100 KB a file), then the night "
        "played by bench/fleet_sim.py with the caps of `runs._slot_keys` and the dispatch rule "
        "of `runs.dispatch`. Run times come from this page's incremental runs: "
        f"{k['fixed_s']:.2f} s a run, {k['per_file_s'] * 1e6:.0f} µs a file, "
        f"{1 / k['per_changed_byte_s'] / 1e6 if k['per_changed_byte_s'] else 0:.0f} MB/s of "
        f"changed bytes; a running backup keeps {k['cpu_per_wall']:.2f} of a worker core busy.",
        "",
        f"Planning the night took **{fleet['plan_s']:.0f} s** (window {fleet['window']}, "
        f"{fleet['window_h']:.0f} h).",
        "",
        "| store cap | workers | runs | done in window | night (h) | fits | most at once | "
        "per server | messages | worker busy | worker cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in fleet["rows"]:
        out.append(
            f"| {r['per_store']} | {r['workers']} | {r['runs']:,} | {r['done_in_window']:,} | "
            f"{r['night_h']:.2f} | {'yes' if r['fits'] else '**no**'} | {r['max_running']} | "
            f"{r['max_per_server']} | {r['messages']:,} | {r['utilisation']:.0%} | "
            f"{r['worker_cores']} |"
        )
    out.append("")
    if best:
        out.append(
            f"Fewest workers for the night: **{best['workers']}** (store cap {best['per_store']}),"
            f" done in {best['night_h']:.2f} h."
        )
    else:
        out.append("**No configuration tried fits the window.**")
    return "\n".join(out)
