"""The Open Bandit Dataset sample replayed through the public HTTP API of the stack `make run`
starts, in time order, with the service's panels scored off-policy against the clicks logged
under a uniform random policy (benchmarks/replay_bandit.py says how the log maps to the API).

Before each impression of the random policy's log the marketplace asks for a v1 panel and a
list of 10 for the impression's visitor; each engine is asked the same with `engine_version`;
then a clicked impression is sent as a `click` event. Retraining runs as in production with
the intervals of benchmarks/replay.py (REPLAY_SETTINGS). The report: clicks per impression
of the service's panels (IPS, 95% interval) beside the random policy that logged the data, a
popularity of clicks the client counts on the same stream, each engine, and the click rate
the Bernoulli Thompson sampling policy really got in its own log of the same week; latency
per endpoint; every model version.

    .venv/bin/python benchmarks/replay_obd.py                  # campaign `all` (80 items), 10,000 impressions
    .venv/bin/python benchmarks/replay_obd.py --campaign men   # 34 items; `women`: 46
    .venv/bin/python benchmarks/replay_obd.py --limit 500      # a quick run

The sample is fetched once into var/data/obd (app/sample_data/open_bandit_files.py, from the obp 0.4.1 wheel).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app.sample_data.open_bandit_files import fetch_open_bandit_sample  # noqa: E402
from benchmarks import replay_bandit  # noqa: E402
from benchmarks.harness import load_average  # noqa: E402
from benchmarks.replay import (  # noqa: E402
    ENGINES,
    PROBES,
    SERVICE,
    Client,
    Clock,
    ModelWatch,
    ask,
    latency_table,
    model_lines,
    post_dump,
    replay_stack,
    slowest_lines,
    wait_for_stack,
)
from benchmarks.replay_bandit import ClickPopularity, Impression, PanelClicks  # noqa: E402
from benchmarks.replay_protocol import iso  # noqa: E402

LIST_SIZE = 10


def requests_for(impression: Impression, moment: str, engine: str | None = None) -> tuple[dict, dict]:
    return (replay_bandit.panel_request(impression, moment, engine),
            replay_bandit.panel_request(impression, moment, engine, k=LIST_SIZE))


def replay(client: Client, impressions: list[Impression], items: list[int], engines: tuple[str, ...],
           max_seconds: float, models: ModelWatch) -> dict[str, PanelClicks]:
    clock = Clock()
    popularity = ClickPopularity(items)
    ways = {"service": PanelClicks(), "popularity of clicks (client)": PanelClicks(),
            **{f"{engine} (engine_version)": PanelClicks() for engine in engines}}
    started = time.monotonic()
    for done, impression in enumerate(impressions):
        if time.monotonic() - started > max_seconds:
            print(f"stopped after {max_seconds:g} s (--max-minutes): {done} impressions replayed", flush=True)
            break
        moment = iso(clock.next())
        ways["service"].add(impression, *ask(client, requests_for(impression, moment), SERVICE))
        for engine in engines:
            ways[f"{engine} (engine_version)"].add(
                impression, *ask(client, requests_for(impression, moment, engine), PROBES)[:2])
        top = popularity.top(LIST_SIZE)
        ways["popularity of clicks (client)"].add(impression, top[:3], top)
        if impression.clicked:
            client.call("POST", "/events", replay_bandit.click_event(impression, iso(clock.next())),
                        label="POST /events")
        popularity.record(impression)
        models.poll()
        if (done + 1) % 1000 == 0:
            print(f"  {done + 1} impressions, {time.monotonic() - started:.0f} s, load {load_average()}", flush=True)
    return ways


def percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def quality_table(ways: dict[str, PanelClicks], logged: list[Impression], bts: list[Impression]) -> list[str]:
    lines = ["| panels of | clicks per impression (IPS, 95% interval) | minus the random policy's (paired) | "
             "impressions matched | clicked items in the panel / list of 10 | answered by |",
             "|---|---|---|---|---|---|"]
    for name, way in ways.items():
        rate, lift = way.click_rate(), way.versus_logged()
        clicked, in_panel, in_list = way.click_hits()
        served = ", ".join(f"{engine} {count / way.impressions:.0%}" for engine, count in
                           sorted(way.served_by.items(), key=lambda item: -item[1]))
        lines.append(f"| {name} | {percent(rate.value)} [{percent(rate.low)}, {percent(rate.high)}] | "
                     f"{100 * lift.value:+.2f} [{100 * lift.low:+.2f}, {100 * lift.high:+.2f}] pts | "
                     f"{way.matched} of {way.impressions} | {in_panel} / {in_list} of {clicked} | {served} |")
    for name, log in (("random policy (logged, on its own log)", logged),
                      ("Bernoulli TS (logged, on its own log of the same week)", bts)):
        rate = replay_bandit.logged_click_rate(log)
        lines.append(f"| {name} | {percent(rate.value)} [{percent(rate.low)}, {percent(rate.high)}] | | "
                     f"{len(log)} | | |")
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaign", choices=replay_bandit.CAMPAIGNS, default="all")
    parser.add_argument("--obd-dir", type=Path, default=ROOT / "var" / "data")
    parser.add_argument("--limit", type=int, help="replay only the first N impressions (a quick run)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="engines asked with engine_version ('' none)")
    parser.add_argument("--url", help="an already running stack (started with REPLAY_SETTINGS) instead of our own")
    parser.add_argument("--max-minutes", type=float, default=60, help="stop the replay after this long")
    parser.add_argument("--keep", action="store_true", help="keep the stack's directory (logs, database)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    print(f"load average at start: {load_average()}", flush=True)
    obd = fetch_open_bandit_sample(args.obd_dir)
    data = replay_bandit.load(obd, args.campaign)
    bts = replay_bandit.read_impressions(replay_bandit.log_path(obd, "bts", args.campaign))
    impressions = data.impressions[:args.limit] if args.limit else data.impressions
    engines = tuple(e for e in args.engines.split(",") if e)
    print(f"{data.name}: {len(data.dump['services'])} services, {len(impressions)} impressions replayed, "
          f"{sum(i.clicked for i in impressions)} clicked", flush=True)
    with replay_stack(args.url, "replay-obd-", args.keep) as (url, proc):
        client = Client(url)
        wait_for_stack(client, proc)
        result = post_dump(client, data.dump, wait_training=False)
        print(f"snapshot {result.get('snapshot_id')} active after {time.monotonic() - began:.0f} s", flush=True)
        models = ModelWatch(client)
        replay_started = time.monotonic()
        items = [s["id"] for s in data.dump["services"]]
        ways = replay(client, impressions, items, engines, 60 * args.max_minutes, models)
        replay_seconds = time.monotonic() - replay_started
        models.poll(force=True)
        versions = list(models.versions.values())
        replayed = impressions[:ways["service"].impressions]
        report = ["", *quality_table(ways, replayed, bts), "", *latency_table(client), "", "Slowest requests:",
                  *slowest_lines(client), "", "Model versions:", *model_lines(versions), "",
                  f"replay {replay_seconds:.0f} s, wall time {time.monotonic() - began:.0f} s; "
                  f"load average at the end: {load_average()}"]
        print("\n".join(report), flush=True)
        if args.json:
            args.json.write_text(json.dumps({
                "data": data.name, "replayed": len(replayed),
                "ways": {name: {"click_rate": vars(way.click_rate()), "versus_logged": vars(way.versus_logged()),
                                "matched": way.matched, "click_hits": way.click_hits(), "served_by": way.served_by}
                         for name, way in ways.items()},
                "latency_seconds": client.seconds, "statuses": {k: dict(v) for k, v in client.statuses.items()},
                "models": versions, "replay_seconds": replay_seconds}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
