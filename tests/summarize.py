"""Adds up the suite's results: cmocka cases (from meson's test log), pytest cases (JUnit
XML), fuzz targets, lint and the dependency check (tests/check-deps.sh), and prints the
closing line "N passed, N failed". Exit status 1 when anything failed or nothing ran."""

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def unit_counts(build):
    passed = failed = 0
    log = Path(build) / "meson-logs" / "testlog.json"
    if not log.exists():
        return 0, 1
    for line in log.read_text().splitlines():
        t = json.loads(line)
        out = (t.get("stdout", "") or "") + (t.get("stderr", "") or "")  # cmocka: summary on stderr
        p = sum(int(m) for m in re.findall(r"\[  PASSED  \] (\d+) test", out))
        f = sum(int(m) for m in re.findall(r"\[  FAILED  \] (\d+) test", out))
        if t.get("result") != "OK" and f == 0:
            f = 1  # crashed, timed out or sanitizer report: the executable counts as a failure
        if p == 0 and f == 0:
            p = 1 if t.get("result") == "OK" else 0  # a non-cmocka test executable
        passed += p
        failed += f
    return passed, failed


def pytest_counts(out, name="pytest.xml", required=True):
    xml = Path(out) / name
    if not xml.exists():
        return (0, 1, 0) if required else (0, 0, 0)
    root = ET.parse(xml).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    total = fails = skipped = 0
    for s in suites:
        total += int(s.get("tests", 0))
        fails += int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
    return total - fails - skipped, fails, skipped


def word_counts(out, name):
    """ok/fail lines written by tests/run.sh (fuzz targets, lint)."""
    f = Path(out) / name
    if not f.exists():
        return 0, 0
    lines = f.read_text().split()
    return lines.count("ok"), lines.count("fail")


def main():
    build, out = sys.argv[1], sys.argv[2]
    up, uf = unit_counts(build)
    pp, pf, ps = pytest_counts(out)
    if pp + pf + ps == 0:
        pf = 1  # pytest collected nothing (a usage error, a PYTEST_ARGS that matches nothing)
    fp, ff = word_counts(out, "fuzz.txt")
    lp, lf = word_counts(out, "lint.txt")
    dp, df = word_counts(out, "deps.txt")  # tests/check-deps.sh
    if dp + df == 0:
        df = 1  # the step always runs: no result means it did not
    # ThreadSanitizer: absent when skipped (TSAN=0); a failed build is written to tsan.txt
    tp, tf, ts = pytest_counts(out, "pytest-tsan.xml", required=False)
    tf += word_counts(out, "tsan.txt")[1]
    print("unit: %d passed, %d failed; integration: %d passed, %d failed, %d skipped; "
          "fuzz: %d passed, %d failed; lint: %d passed, %d failed; deps: %d passed, %d failed; "
          "tsan: %d passed, %d failed, %d skipped"
          % (up, uf, pp, pf, ps, fp, ff, lp, lf, dp, df, tp, tf, ts))
    passed, failed = up + pp + fp + lp + dp + tp, uf + pf + ff + lf + df + tf
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
