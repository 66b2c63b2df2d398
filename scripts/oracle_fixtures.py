#!/usr/bin/env python3
"""Pick a representative subset of a cantools oracle output (oracle_decode.py) as a test fixture.

Usage: oracle_fixtures.py ORACLE.jsonl OUT.jsonl

Lines are copied verbatim (format unchanged) and kept in log order. Selected:
  * per message id: up to 30 frames spread evenly over that id's frames in the log
    (first, last and evenly spaced between; all frames when there are 30 or fewer);
  * per signal (of each message): the first frame where the signal takes its minimum
    observed value and the first frame where it takes its maximum observed value.
The oracle's refused frames (ORACLE.errors.jsonl, next to ORACLE.jsonl) go to
OUT.errors.jsonl: up to 20 per message id, chosen the same way. No errors file is
written when the oracle refused nothing.
Prints one JSON summary line.
"""
import json
import os
import sys

PER_ID = 30
ERRORS_PER_ID = 20


def spread(n, k):
    """Indices of up to k items spread evenly over n items, first and last included."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def errors_path(path):
    return path[:-len('.jsonl')] + '.errors.jsonl' if path.endswith('.jsonl') else path + '.errors.jsonl'


def select_by_id(records, k):
    by_id = {}
    for i, r in enumerate(records):
        by_id.setdefault((r['id'], r['ext']), []).append(i)
    chosen = set()
    for idxs in by_id.values():
        chosen.update(idxs[j] for j in spread(len(idxs), k))
    return chosen, len(by_id)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    with open(src) as f:
        lines = f.readlines()
    records = [json.loads(line) for line in lines]

    chosen, n_ids = select_by_id(records, PER_ID)
    n_spread = len(chosen)
    extremes = {}  # (id, ext, signal) -> [min_value, min_index, max_value, max_index]
    for i, r in enumerate(records):
        for name, v in r['signals'].items():
            key = (r['id'], r['ext'], name)
            e = extremes.get(key)
            if e is None:
                extremes[key] = [v, i, v, i]
                continue
            if v < e[0]:
                e[0], e[1] = v, i
            if v > e[2]:
                e[2], e[3] = v, i
    for e in extremes.values():
        chosen.update((e[1], e[3]))

    with open(out, 'w') as f:
        f.writelines(lines[i] for i in sorted(chosen))

    summary = dict(source=os.path.basename(src), frames_in=len(records), message_ids=n_ids,
                   signals=len(extremes), spread_frames=n_spread,
                   frames_out=len(chosen), bytes_out=os.path.getsize(out))

    err_src, err_out = errors_path(src), errors_path(out)
    err_lines = open(err_src).readlines() if os.path.exists(err_src) else []
    if os.path.exists(err_out):
        os.remove(err_out)
    if err_lines:
        err_records = [json.loads(line) for line in err_lines]
        err_chosen, n_err_ids = select_by_id(err_records, ERRORS_PER_ID)
        with open(err_out, 'w') as f:
            f.writelines(err_lines[i] for i in sorted(err_chosen))
        summary.update(errors_in=len(err_records), error_ids=n_err_ids, errors_out=len(err_chosen))
    else:
        summary.update(errors_in=0, errors_out=0)
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
