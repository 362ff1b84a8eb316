"""The benchmark's output: the printed table and ratios, the JSON document and the PNG plot (var/bench/)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.stats import ratio
from bench.targets import machine_ceiling


def _ms(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value * 1000:.0f}"


def table(name: str, steps: list[dict]) -> str:
    """One row per rate; `cpu ms` is the CPU all the pipeline's processes spent per delivered report, `sql` the SQL
    statements they ran per delivered report (a count, so it does not move with the machine's speed), and
    `machine` the calibration workload's milliseconds just before the step (`bench/calibrate.py`; lower is faster)."""
    lines = [
        f"{name}",
        f"  {'rate/s':>7} {'sent':>6} {'done':>6} {'thru/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        f" {'max ms':>7} {'cpu ms':>7} {'sql':>5} {'machine':>7}  verdict",
    ]
    for s in steps:
        verdict = "sustained" if s["sustained"] else "backlog: " + "; ".join(s["reasons"])
        statements = s.get("statements_per_report")
        machine = s.get("machine_ms")
        lines.append(
            f"  {s['target_rate']:>7g} {s['sent']:>6} {s['completed']:>6} {s['throughput']:>7.1f}"
            f" {_ms(s['p50']):>7} {_ms(s['p95']):>7} {_ms(s['p99']):>7} {_ms(s['max']):>7}"
            f" {sum(s.get('cpu_ms_per_report', {}).values()):>7.0f}"
            f" {f'{sum(statements.values()):.1f}' if statements else '—':>5}"
            f" {f'{machine:.0f}' if machine is not None else '—':>7}  {verdict}"
        )
    return "\n".join(lines)


# Each measured pipeline, as the tables name it.
NAMES = {
    "gridlink": "GridLink",
    "plain": "plain nameko pipeline",
    "core": "GridLink doing the plain pipeline's work (inbox only, no console, no reporter's contact)",
    "scaleout": "GridLink, 2× dispatch and notification",
}


def ratios(results: dict) -> dict:
    """GridLink's sustained rate against each ceiling (a report costs several publishes and commits, see docs), and
    against the plain pipeline both as it is and doing the plain pipeline's work; only what the run measured."""
    out = {}
    plain = results.get("plain", {}).get("highest_sustained")
    if plain is not None and "core" in results:  # the same work as the plain pipeline: the guarantees' price alone
        out["gridlink doing the plain pipeline's work / plain"] = ratio(results["core"]["highest_sustained"], plain)
    if "gridlink" not in results:
        return out
    ours = results["gridlink"]["highest_sustained"]
    if plain is not None:
        out["gridlink / plain nameko pipeline"] = ratio(ours, plain)
    if "scaleout" in results:
        out["two replicas / one replica"] = ratio(results["scaleout"]["highest_sustained"], ours)
    ceilings = results.get("ceilings", {})
    if "rabbitmq" in ceilings:
        rmq = ceilings["rabbitmq"]
        out["gridlink / rabbitmq publish+confirm (per message)"] = ratio(ours, rmq["publish_confirmed_per_message"])
        out["gridlink / rabbitmq publish+confirm (windowed)"] = ratio(ours, rmq["publish_confirmed_windowed"])
        out["gridlink / rabbitmq consume+ack"] = ratio(ours, rmq["consume_acked"])
    if "postgresql" in ceilings:
        out["gridlink / postgresql single-row commits"] = ratio(ours, ceilings["postgresql"]["single_row_commits"])
    return out


# The judged pipelines, as the targets' lines name them (the tables' names are too long to line up).
SHORT_NAMES = {"gridlink": "whole platform", "core": "core run"}
MET = {True: "met", False: "NOT MET", None: "not measured"}


def targets(results: dict) -> str:
    """The run's verdict on each of issue 9's targets (`bench/targets.py`), one line a target and pipeline."""
    lines = ["issue 9's targets (core run: GridLink doing the plain pipeline's work):"]
    for v in results.get("targets", []):
        lines.append(f"  {v['target']:<44} {SHORT_NAMES[v['pipeline']]:<15} {v['measured']:<26} {MET[v['met']]}")
    ceiling = machine_ceiling(results)
    if ceiling:
        lines.append(f"  ({ceiling})")
    return "\n".join(lines)


def write(results: dict, out_dir: Path, stamp: str) -> tuple[Path, Path | None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"bench-{stamp}.json"
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    (out_dir / "latest.json").write_text(json_path.read_text(encoding="utf-8"), encoding="utf-8")
    png_path = plot(results, out_dir / f"bench-{stamp}.png")
    return json_path, png_path


def plot(results: dict, path: Path) -> Path | None:
    """Latency (p50 and p99, log scale) against offered rate, one colour per pipeline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colours = {"gridlink": "tab:blue", "plain": "tab:grey", "core": "tab:orange", "scaleout": "tab:green"}
    labels = {
        "gridlink": "GridLink",
        "plain": "plain nameko",
        "core": "GridLink, plain's work",
        "scaleout": "GridLink, 2× dispatch+notification",
    }
    drawn = False
    for key, colour in colours.items():
        steps = [s for s in results.get(key, {}).get("steps", []) if s["p50"] is not None]
        if not steps:
            continue
        rates = [s["offered_rate"] for s in steps]
        ax.plot(rates, [s["p50"] * 1000 for s in steps], "o-", color=colour, label=f"{labels[key]} p50")
        ax.plot(rates, [s["p99"] * 1000 for s in steps], "s--", color=colour, label=f"{labels[key]} p99")
        for s in steps:
            if not s["sustained"]:
                ax.annotate("backlog", (s["offered_rate"], s["p99"] * 1000), color=colour, fontsize=8)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.axhline(1000, color="tab:red", linewidth=0.8, linestyle=":", label="1 s")
    ax.set_yscale("log")
    ax.set_xscale("log")
    from matplotlib.ticker import FormatStrFormatter

    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.set_xlabel("offered rate (reports/s, open loop, log scale)")
    ax.set_ylabel("end-to-end latency (ms)")
    fig.text(0.01, 0.01, "POST /reports → the grid worker's assignment message recorded", fontsize=8, color="dimgrey")
    ax.set_title(f"GridLink bench {results['meta']['started']} ({results['meta']['cpus']} CPUs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    (path.parent / "latest.png").write_bytes(path.read_bytes())
    return path


def calibration(results: dict) -> str:
    """The machine's speed during the run (bench/calibrate.py), for comparing runs made at different hours."""
    times = results["meta"].get("calibration_ms")
    if not times:
        return "not calibrated (a run from before bench/calibrate.py)"
    spans = ", ".join(f"{times[k]:g} ms at the {k}" for k in ("start", "end") if k in times)
    return f"the fixed Python workload took {spans} (lower is faster)"


def markdown(results: dict) -> str:
    """The figures as Markdown tables, for docs/performance.md: `python -m bench.report var/bench/latest.json`."""
    out = [
        f"Run of {results['meta']['started']} at commit {results['meta']['commit']}, {results['meta']['cpus']} CPUs, "
        f"load average at start {', '.join(f'{x:.1f}' for x in results['meta']['load_average_at_start'])}; "
        f"{calibration(results)}.",
        "",
    ]
    for key, name in NAMES.items():
        if key not in results:
            continue
        out += [
            f"**{name}** — highest rate sustained: {results[key]['highest_sustained']:g}/s",
            "",
            "| rate/s | sent | delivered | p50 ms | p95 ms | p99 ms | max ms | CPU ms/report | DB txns/report"
            " | verdict |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for s in results[key]["steps"]:
            verdict = "sustained" if s["sustained"] else "backlog: " + "; ".join(s["reasons"])
            out.append(
                f"| {s['target_rate']:g} | {s['sent']} | {s['completed']} | {_ms(s['p50'])} | {_ms(s['p95'])} |"
                f" {_ms(s['p99'])} | {_ms(s['max'])} | {sum(s.get('cpu_ms_per_report', {}).values()):.0f} |"
                f" {sum(s.get('transactions_per_report', {}).values()):.1f} | {verdict} |"
            )
        if "effects_per_report" in results[key]:
            out.append(f"\nRows per report {{rows: reports}}: {results[key]['effects_per_report']}")
        out.append("")
    if "ceilings" in results:
        out.append(f"Ceilings: {json.dumps(results['ceilings'])}\n")
    for label, value in results.get("ratios", {}).items():
        out.append(f"- {label}: {value if value is not None else '—'}")
    if results.get("targets"):
        out += ["", "| target | pipeline | measured | verdict |", "|---|---|---|---|"]
        out += [
            f"| {v['target']} | {SHORT_NAMES[v['pipeline']]} | {v['measured']} | {MET[v['met']]} |"
            for v in results["targets"]
        ]
        ceiling = machine_ceiling(results)
        if ceiling:
            out.append(f"\n{ceiling[0].upper()}{ceiling[1:]}.")
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    print(markdown(json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "var/bench/latest.json").read_text())))
