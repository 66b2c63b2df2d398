#!/usr/bin/env python3
"""Compare Tomoe's decoded CAN frames with the cantools oracle's, frame by frame.

Usage:
  oracle_compare.py ORACLE.jsonl TOMOE.jsonl [--errors ORACLE.errors.jsonl]
                    [--name NAME] [--max-report N]

ORACLE.jsonl is what oracle_decode.py wrote (one object per decoded frame); its refused
frames are read from ORACLE.errors.jsonl (default: next to ORACLE.jsonl; a missing file
means none). TOMOE.jsonl is `tomoe can decode` output: one object per decoded frame,
{"t", "channel", "id", "message", "signals": {name: number}}; other fields are ignored.

Frames are matched by (t, channel, id) in log order: the k-th frame with a given key on
one side is paired with the k-th frame with that key on the other, and the pairs must come
in the same order on both sides. For each pair the message name and the set of signal
names must be the same, and every signal value must be equal as an IEEE double (exact
equality: both sides compute raw * scale + offset in double precision; NaN equals NaN;
two integers are also compared exactly, which only matters beyond 2**53).

Fails (exit 1) on: any mismatch; a frame the oracle decoded that Tomoe lacks; a frame
Tomoe decoded that the oracle neither decoded nor refused; frames out of order; a line
of TOMOE.jsonl that is not a JSON frame object. Frames the oracle refused (e.g. shorter
than the DBC length) may be absent from or present in Tomoe's output: their count is
reported, they never fail the comparison. Exit 2 on usage or input errors.
"""
import argparse
import json
import math
import os
import sys
from collections import defaultdict, deque


def load_jsonl(path, what):
    """Returns (records, bad) where bad is a list of (line number, reason)."""
    records, bad = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError as e:
                bad.append((n, f'{what}: not JSON: {e}'))
                continue
            if not isinstance(r, dict):
                bad.append((n, f'{what}: not a JSON object'))
                continue
            missing = [k for k in ('t', 'channel', 'id') if k not in r]
            if missing:
                bad.append((n, f'{what}: missing {", ".join(missing)}'))
                continue
            try:
                r['_key'] = (float(r['t']), str(r['channel']), int(r['id']))
            except (TypeError, ValueError) as e:
                bad.append((n, f'{what}: bad t/channel/id: {e}'))
                continue
            r['_line'] = n
            records.append(r)
    return records, bad


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def same_value(a, b):
    if not (is_number(a) and is_number(b)):
        return False
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    return fa == fb


def fmt_frame(r):
    return f"t={r['t']!r} channel={r['channel']} id={r['id']} (0x{int(r['id']):X})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('oracle')
    ap.add_argument('tomoe')
    ap.add_argument('--errors', help='oracle refused frames (default: ORACLE.errors.jsonl)')
    ap.add_argument('--name', help='label for the summary (default: ORACLE file name)')
    ap.add_argument('--max-report', type=int, default=20,
                    help='print at most this many problems of each kind (default 20)')
    a = ap.parse_args()

    name = a.name or os.path.basename(a.oracle)
    errors_path = a.errors
    if errors_path is None:
        base = a.oracle[:-len('.jsonl')] if a.oracle.endswith('.jsonl') else a.oracle
        errors_path = base + '.errors.jsonl'

    try:
        oracle, bad_oracle = load_jsonl(a.oracle, 'oracle')
        refused, bad_refused = (load_jsonl(errors_path, 'oracle errors')
                                if os.path.exists(errors_path) else ([], []))
        tomoe, bad_tomoe = load_jsonl(a.tomoe, 'tomoe')
    except OSError as e:
        print(f'{name}: cannot read input: {e}', file=sys.stderr)
        return 2
    if bad_oracle or bad_refused:
        for n, why in (bad_oracle + bad_refused)[:a.max_report]:
            print(f'{name}: oracle line {n}: {why}', file=sys.stderr)
        return 2

    problems = defaultdict(list)  # kind -> messages

    def report(kind, text):
        problems[kind].append(text)

    for n, why in bad_tomoe:
        report('bad tomoe lines', f'line {n}: {why}')

    # Pair the k-th occurrence of each key on both sides.
    oracle_by_key = defaultdict(deque)
    for i, r in enumerate(oracle):
        oracle_by_key[r['_key']].append(i)
    refused_by_key = defaultdict(int)
    for r in refused:
        refused_by_key[r['_key']] += 1

    paired = []  # (oracle index, tomoe record)
    refused_present = 0
    for r in tomoe:
        q = oracle_by_key.get(r['_key'])
        if q:
            paired.append((q.popleft(), r))
        elif refused_by_key.get(r['_key'], 0) > 0:
            refused_by_key[r['_key']] -= 1
            refused_present += 1
        else:
            report('only in tomoe', f"{fmt_frame(r)} message={r.get('message')!r} (tomoe line {r['_line']})")

    only_oracle = sorted(i for q in oracle_by_key.values() for i in q)
    for i in only_oracle:
        r = oracle[i]
        report('only in oracle', f"{fmt_frame(r)} message={r['message']!r} (oracle line {r['_line']})")

    last = -1
    for i, r in paired:
        if i < last:
            report('out of order', f"{fmt_frame(r)}: tomoe line {r['_line']} is oracle line {oracle[i]['_line']}, "
                                   f"but comes after oracle line {oracle[last]['_line']}")
        last = max(last, i)

    mismatched_frames = 0
    mismatched_values = 0
    for i, t in paired:
        o = oracle[i]
        where = f"{fmt_frame(o)} message={o['message']}"
        bad = False
        if t.get('message') != o['message']:
            report('message name', f"{where}: tomoe message={t.get('message')!r}")
            bad = True
        ts = t.get('signals')
        if not isinstance(ts, dict):
            report('signal mismatch', f'{where}: tomoe has no "signals" object')
            mismatched_frames += 1
            continue
        os_ = o['signals']
        for s in sorted(set(os_) - set(ts)):
            report('signal mismatch', f'{where} signal={s}: missing in tomoe (oracle {os_[s]!r})')
            mismatched_values += 1
            bad = True
        for s in sorted(set(ts) - set(os_)):
            report('signal mismatch', f'{where} signal={s}: not in oracle (tomoe {ts[s]!r})')
            mismatched_values += 1
            bad = True
        for s in os_:
            if s in ts and not same_value(os_[s], ts[s]):
                report('signal mismatch', f'{where} signal={s}: oracle {os_[s]!r} tomoe {ts[s]!r}')
                mismatched_values += 1
                bad = True
        if bad:
            mismatched_frames += 1

    refused_absent = len(refused) - refused_present
    for kind, items in problems.items():
        for text in items[:a.max_report]:
            print(f'{name}: {kind}: {text}')
        if len(items) > a.max_report:
            print(f'{name}: {kind}: ... and {len(items) - a.max_report} more')

    failed = bool(problems)
    summary = dict(pair=name, oracle_frames=len(oracle), tomoe_frames=len(tomoe),
                   frames_compared=len(paired), only_in_oracle=len(only_oracle),
                   only_in_tomoe=len(problems.get('only in tomoe', [])),
                   mismatched_frames=mismatched_frames, mismatched_values=mismatched_values,
                   message_name_mismatches=len(problems.get('message name', [])),
                   out_of_order=len(problems.get('out of order', [])),
                   bad_tomoe_lines=len(bad_tomoe),
                   oracle_refused=len(refused), refused_present_in_tomoe=refused_present,
                   refused_absent_from_tomoe=refused_absent,
                   result='FAIL' if failed else 'ok')
    print(f"{name}: {summary['result']}: {summary['frames_compared']} frames compared, "
          f"{summary['only_in_oracle']} only in oracle, {summary['only_in_tomoe']} only in tomoe, "
          f"{mismatched_frames} mismatched frames ({mismatched_values} values); "
          f"oracle refused {len(refused)} ({refused_present} present in tomoe, {refused_absent} absent)")
    print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
