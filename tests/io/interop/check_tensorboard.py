#!/usr/bin/env python3
"""check_tensorboard.py: volt's TensorBoard event files read by TensorBoard
itself (the `tensorboard` package). Driven by tests/io/test_tensorboard_python.c;
three modes:

  check_tensorboard.py probe
      exit 0 when tensorboard imports, 3 otherwise (prints why): the test
      skips then.
  check_tensorboard.py expected RUN_DIR EXPECTED_JSON
      loads RUN_DIR with EventAccumulator and checks against EXPECTED_JSON
      ({"scalars": {tag: [[step, value], ...]}, "hparams": {name: value},
      "status": "STATUS_SUCCESS"}): the same scalar tags, and for each the
      same steps and values (as float32, what an event holds); the hparams
      plugin's session_start_info holds the same hyperparameters and its
      session_end_info the status; and the HPARAMS tab's own backend (the
      plugin's /experiment and /session_groups routes) lists the run with
      those hyperparameters, its scalar tags as metrics and the status.
  check_tensorboard.py csv RUN_DIR
      the same scalar checks against the metrics.csv the CSV logger wrote
      into RUN_DIR during the same runs of a trainer (fit, then test: the
      CSV logger keeps every row): every column but "step" is a tag, with a
      (step, value) point per non-empty cell; and the run's one event file
      holds at most one session_start_info and one session_end_info, the
      end SUCCESS when there is a start.
In every mode RUN_DIR holds exactly one event file: a logger appends every
run of its trainer to one file.
Exit 0 when everything matches, 1 with the first difference otherwise.
"""
import csv
import json
import os
import struct
import sys


def fail(msg):
    print(f"check_tensorboard: FAIL: {msg}")
    sys.exit(1)


def probe():
    try:
        from tensorboard.backend.event_processing import event_accumulator  # noqa: F401
        from tensorboard.plugins.hparams import metadata  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any failure means "not usable"
        print(f"check_tensorboard: no usable tensorboard: {e}")
        sys.exit(3)
    sys.exit(0)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", float(x)))[0]


def event_files(run_dir):
    return sorted(n for n in os.listdir(run_dir) if n.startswith("events.out.tfevents."))


def check_sessions(run_dir):
    """Every record of the file (TensorBoard's reader checks the framing and
    CRCs), counting the hparams plugin's session summaries."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import api_pb2, metadata

    path = os.path.join(run_dir, event_files(run_dir)[0])
    starts, ends = 0, []
    for ev in EventFileLoader(path).Load():
        for v in ev.summary.value:
            if v.tag == metadata.SESSION_START_INFO_TAG:
                starts += 1
            elif v.tag == metadata.SESSION_END_INFO_TAG:
                data = metadata.parse_session_end_info_plugin_data(
                    v.metadata.plugin_data.content)
                ends.append(api_pb2.Status.Name(data.status))
    if starts > 1 or len(ends) > 1 or len(ends) != starts:
        fail(f"{starts} session_start_info and {len(ends)} session_end_info summaries "
             f"({ends}) in {path}, expected at most one of each, paired")
    if ends and ends[0] != "STATUS_SUCCESS":
        fail(f"session_end_info status {ends[0]}, expected STATUS_SUCCESS")
    print(f"check_tensorboard: {starts} HPARAMS session, status {ends}")


def load(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    names = event_files(run_dir)
    if len(names) != 1:
        fail(f"{len(names)} events.out.tfevents.* files in {run_dir}, expected one: {names}")
    ea = EventAccumulator(run_dir, size_guidance={"scalars": 0})  # 0: keep every point
    ea.Reload()
    if ea.file_version != 2:
        fail(f"file_version {ea.file_version}, expected 2 (brain.Event:2)")
    return ea


def check_scalars(ea, want):
    got_tags = sorted(ea.Tags()["scalars"])
    if got_tags != sorted(want):
        fail(f"scalar tags {got_tags}, expected {sorted(want)}")
    for tag, points in want.items():
        got = [(e.step, e.value) for e in ea.Scalars(tag)]
        exp = [(int(s), f32(v)) for s, v in points]
        if got != exp:
            fail(f"{tag}: read {got}, expected {exp}")
    print(f"check_tensorboard: {len(want)} scalar tags match: {', '.join(sorted(want))}")


def value_of(v):
    kind = v.WhichOneof("kind")
    return getattr(v, kind) if kind else None


def check_hparams(ea, want_hp, want_status):
    from tensorboard.plugins.hparams import api_pb2, metadata

    content = ea.PluginTagToContent(metadata.PLUGIN_NAME)
    if metadata.SESSION_START_INFO_TAG not in content:
        fail(f"no {metadata.SESSION_START_INFO_TAG} summary (hparams tags: {list(content)})")
    ssi = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    got = {k: value_of(v) for k, v in ssi.hparams.items()}
    if got != want_hp:
        fail(f"session_start_info hparams {got}, expected {want_hp}")
    if ssi.start_time_secs <= 0:
        fail(f"session_start_info start_time_secs {ssi.start_time_secs}")
    sei = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    status = api_pb2.Status.Name(sei.status)
    if status != want_status:
        fail(f"session_end_info status {status}, expected {want_status}")
    print(f"check_tensorboard: hparams {got}, {status}")


def hparams_tab(logdir):
    """The HPARAMS tab's data, from the plugin's own routes."""
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import hparams_plugin
    from werkzeug.test import Client

    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    dp = data_provider.MultiplexerDataProvider(mux, logdir)
    apps = hparams_plugin.HParamsPlugin(
        base_plugin.TBContext(logdir=logdir, multiplexer=mux, data_provider=dp)
    ).get_plugin_apps()

    def post(route, body):
        r = Client(apps[route]).post("/", json=body)
        if r.status_code != 200:
            fail(f"hparams plugin {route}: HTTP {r.status_code}: {r.data[:200]!r}")
        return json.loads(r.data)

    statuses = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
    exp = post("/experiment", {"experimentName": ""})
    groups = post("/session_groups", {"experimentName": "", "allowedStatuses": statuses,
                                      "colParams": [], "startIndex": 0, "sliceSize": 100})
    return exp, groups


def check_hparams_tab(run_dir, want_hp, want_tags, want_status):
    logdir, run = os.path.split(os.path.normpath(run_dir))
    try:
        exp, groups = hparams_tab(logdir)
    except (ImportError, AttributeError, TypeError) as e:
        print(f"check_tensorboard: NOTE: the hparams plugin's internals changed ({e!r}); "
              "HPARAMS tab check not run")
        return
    names = sorted(h["name"] for h in exp.get("hparamInfos", []))
    if names != sorted(want_hp):
        fail(f"HPARAMS columns {names}, expected {sorted(want_hp)}")
    metrics = sorted(m["name"]["tag"] for m in exp.get("metricInfos", []))
    if metrics != sorted(want_tags):
        fail(f"HPARAMS metrics {metrics}, expected {sorted(want_tags)}")
    mine = [g for g in groups.get("sessionGroups", []) if g["name"] == run]
    if len(mine) != 1:
        fail(f"HPARAMS session groups {[g['name'] for g in groups.get('sessionGroups', [])]} "
             f"lack {run}")
    if mine[0]["hparams"] != want_hp:
        fail(f"HPARAMS row of {run}: {mine[0]['hparams']}, expected {want_hp}")
    status = mine[0]["sessions"][0]["status"]
    if status != want_status:
        fail(f"HPARAMS status of {run}: {status}, expected {want_status}")
    print(f"check_tensorboard: HPARAMS tab: {run} with {names}, metrics {metrics}, {status}")


def expected_mode(run_dir, json_path):
    with open(json_path) as f:
        want = json.load(f)
    ea = load(run_dir)
    check_scalars(ea, want["scalars"])
    check_hparams(ea, want["hparams"], want["status"])
    check_hparams_tab(run_dir, want["hparams"], list(want["scalars"]), want["status"])


def csv_mode(run_dir):
    want = {}
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        for row in csv.DictReader(f):
            for col, cell in row.items():
                if col != "step" and cell != "":
                    want.setdefault(col, []).append((int(row["step"]), float(cell)))
    if not want:
        fail(f"{run_dir}/metrics.csv holds no metrics")
    check_scalars(load(run_dir), want)
    check_sessions(run_dir)


def main(argv):
    if len(argv) == 2 and argv[1] == "probe":
        probe()
    elif len(argv) == 4 and argv[1] == "expected":
        expected_mode(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "csv":
        csv_mode(argv[2])
    else:
        fail("usage: check_tensorboard.py probe | expected RUN_DIR JSON | csv RUN_DIR")
    print("check_tensorboard: OK")


if __name__ == "__main__":
    main(sys.argv)
