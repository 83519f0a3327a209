#!/usr/bin/env python3
"""Builds the promtool unit test of the alerting rules from a real run's metrics, and checks that
the rules and the dashboard query only metrics that run produced.

    make-test.py CAPTURE TEMPLATE RULES DASHBOARD OUTPUT

CAPTURE: node_exporter's /metrics while it served the daemon's textfile (Prometheus text format;
only drippay_kiosk_* and node_textfile_* lines are used). TEMPLATE: monitoring/tests/alerts.template.yml
(see its header). RULES, DASHBOARD: the shipped files. OUTPUT: the promtool test file to write.
Exits 1 naming every metric, label or series that the capture does not have.
"""
import json
import os
import re
import sys

import yaml

INSTANCE = {"instance": "kiosk-1:9100", "job": "node"}
# Series a test may feed that are not node_exporter's textfile output: Prometheus's own `up`, and
# the systemd collector's restart count (optional on the machines, documented in the README).
NOT_FROM_THE_TEXTFILE = {"up", "node_systemd_service_restart_total"}
# Functions, keywords and the like that look like metric names in PromQL.
PROMQL_WORDS = {
    "sum", "by", "on", "and", "or", "unless", "without", "group_left", "group_right", "ignoring", "bool",
    "offset", "time", "vector", "increase", "rate", "changes", "last_over_time", "max_over_time",
    "min_over_time", "histogram_quantile", "max", "min", "avg", "count", "clamp_min", "clamp_max",
    "label_replace", "topk", "sort", "sort_desc", "absent", "scalar", "le", "instance", "job", "state",
    "status", "endpoint", "outcome", "file", "name", "Inf", "delta", "deriv", "abs", "round",
}

SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def fail(message):
    print(f"make-test.py: {message}", file=sys.stderr)
    sys.exit(1)


def parse_labels(text, where):
    labels, position = {}, 0
    while position < len(text.strip()):
        match = LABEL.match(text, position)
        if not match:
            fail(f"{where}: cannot read the labels {{{text}}}")
        labels[match.group(1)] = re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), match.group(2))
        position = match.end()
    return labels


def read_capture(path):
    """The captured series: {(name, frozenset(labels)): value}."""
    series = {}
    with open(path, encoding="utf-8") as capture:
        for number, line in enumerate(capture, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            match = SERIES.match(line)
            if not match:
                fail(f"{path}:{number}: not a sample line: {line}")
            name = match.group(1)
            if not (name.startswith("drippay_kiosk_") or name.startswith("node_textfile_")):
                continue
            labels = parse_labels(match.group(3) or "", f"{path}:{number}")
            series[(name, frozenset(labels.items()))] = float(match.group(4))
    if not any(name.startswith("drippay_kiosk_") for name, _ in series):
        fail(f"{path} holds no drippay_kiosk_* series: did node_exporter read the daemon's textfile?")
    return series


def number(value):
    """A promtool expanding-notation value: no exponent, no needless fraction."""
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0")


def series_text(name, labels):
    def quoted(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    inner = ", ".join(f"{key}={quoted(value)}" for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def parse_series(text, where):
    match = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}$', text.strip())
    if not match:
        fail(f"{where}: write the series as name{{labels}}: {text}")
    return match.group(1), parse_labels(match.group(2), where)


def label_names(capture):
    names = {}
    for name, labels in capture:
        names.setdefault(name, set()).add(frozenset(key for key, _ in labels))
    return names


def metrics_in(expression):
    return {word for word in re.findall(r'[a-zA-Z_][a-zA-Z0-9_:]*', re.sub(r'"[^"]*"', '""', expression))
            if (word.startswith("drippay_kiosk_") or word.startswith("node_") or word == "up") and ":" not in word}


def check_queries(where, expressions, known):
    missing = sorted({(metric, text) for text in expressions for metric in metrics_in(text) if metric not in known})
    for metric, text in missing:
        print(f"make-test.py: {where} queries {metric}, which the real run did not produce: {text.strip()[:120]}",
              file=sys.stderr)
    return not missing


def dashboard_expressions(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query") and isinstance(value, str):
                found.append(value)
            elif key == "query" and isinstance(value, dict) and isinstance(value.get("query"), str):
                found.append(value["query"])
            else:
                dashboard_expressions(value, found)
    elif isinstance(node, list):
        for item in node:
            dashboard_expressions(item, found)
    return found


def main():
    if len(sys.argv) != 6:
        fail("usage: make-test.py CAPTURE TEMPLATE RULES DASHBOARD OUTPUT")
    capture_path, template_path, rules_path, dashboard_path, output_path = sys.argv[1:]
    capture = read_capture(capture_path)
    names = label_names(capture)
    known = set(names) | NOT_FROM_THE_TEXTFILE
    textfiles = sorted({dict(labels)["file"] for name, labels in capture if name == "node_textfile_mtime_seconds"})
    textfile = next((f for f in textfiles if f.endswith("drippay_kiosk.prom")), None)
    if textfile is None:
        fail(f"{capture_path}: node_exporter reported no mtime for drippay_kiosk.prom (files: {textfiles})")

    with open(rules_path, encoding="utf-8") as rules_file:
        rules = yaml.safe_load(rules_file)
    ok = check_queries(rules_path, [rule["expr"] for group in rules["groups"] for rule in group["rules"]], known)
    descriptions = {rule["alert"]: rule["annotations"]["description"]
                    for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    with open(dashboard_path, encoding="utf-8") as dashboard_file:
        dashboard = json.load(dashboard_file)
    panels = dashboard.get("panels", [])
    if not panels:
        fail(f"{dashboard_path}: no panels")
    ok = check_queries(dashboard_path, dashboard_expressions(dashboard, []), known) and ok

    with open(template_path, encoding="utf-8") as template_file:
        template = yaml.safe_load(template_file.read().replace("@TEXTFILE@", textfile))
    template["rule_files"] = [os.path.abspath(os.path.join(os.path.dirname(template_path), rule))
                              for rule in template["rule_files"]]
    for test in template["tests"]:
        where = f"{template_path}: test '{test['name']}'"
        given = {}
        for entry in test.get("input_series", []):
            name, labels = parse_series(entry["series"], where)
            if name not in NOT_FROM_THE_TEXTFILE:
                own = frozenset(key for key in labels if key not in INSTANCE)
                if name not in names:
                    print(f"make-test.py: {where} feeds {name}, which the real run did not produce", file=sys.stderr)
                    ok = False
                elif own not in names[name]:
                    print(f"make-test.py: {where} feeds {name} with labels {sorted(own)}; the real run has "
                          f"{[sorted(s) for s in names[name]]}", file=sys.stderr)
                    ok = False
            given[(name, frozenset(labels.items()))] = entry
        # Each expected alert's static description comes from the rules file; its summary, which
        # carries the values, is written out in the template.
        for check in test.get("alert_rule_test", []):
            for alert in check.get("exp_alerts", []):
                annotations = alert.setdefault("exp_annotations", {})
                if "summary" not in annotations:
                    print(f"make-test.py: {where} at {check['eval_time']}: write the expected summary of "
                          f"{check['alertname']}", file=sys.stderr)
                    ok = False
                annotations.setdefault("description", descriptions[check["alertname"]])
        settings = test.pop("textfile", None)
        if settings is None:
            continue
        samples = settings["minutes"] * 60 // int(re.match(r"(\d+)m$", test["interval"]).group(1)) // 60
        captured = []
        for (name, labels), value in sorted(capture.items(), key=lambda item: series_text(item[0][0], dict(item[0][1]))):
            full = dict(labels) | INSTANCE
            if (name, frozenset(full.items())) in given:
                continue
            captured.append({"series": series_text(name, full), "values": f"{number(value)}x{samples}"})
        test["input_series"] = captured + test.get("input_series", [])
    if not ok:
        sys.exit(1)
    with open(output_path, "w", encoding="utf-8") as output:
        output.write(f"# Generated by monitoring/tests/make-test.py from {template_path} and {capture_path}.\n")
        yaml.safe_dump(template, output, sort_keys=False, width=200)
    print(f"make-test.py: {len(capture)} captured series, {len(template['tests'])} tests -> {output_path}")


main()
