"""test_attack_ltn_task.py - `importgate lightning check` must find the tables TiDB Lightning
would import. Each case is a task file or data directory for which the preflight sees only
staging.ok (not covered: "check-requirements = false: safe") while Lightning, as its sources
say, imports into shop.* which the log backup task "pitr" covers and no rule allows:
- key spelling: Lightning decodes the task with BurntSushi/toml, whose struct decoding takes a
  key that matches no field name exactly by strings.EqualFold (decode.go unifyStruct), so
  [[Routes]], [[mydumper.Files]] and even [[routeſ]] (U+017F folds to "s") are Lightning's
  routes and file rules;
- a symlink in data-source-dir: Lightning's local storage walks with filepath.Walk and hands
  on every entry that is not a directory, symlinks included ("if not a regular file, we need to
  use os.stat to get the real file size", br/pkg/storage/local.go WalkDir);
- a file:// data-source-dir: Lightning takes url.Parse's Path (br/pkg/storage/parse.go
  parseBackend, "local", "file"): %XX decoded, ?query and #fragment dropped."""

import json
import os

import pytest

from policy_helpers import etcd, state  # noqa: F401  (fixtures)
from test_lightning import dump, gw_config, ig

pytestmark = [pytest.mark.gateway_only]


def check(tmp_path, etcd_url, body):
    # pd-addr is the gateway's cluster: what is refused is refused for what the test is about
    (tmp_path / "t.toml").write_text(body + '\n[tidb]\npd-addr = "%s"\n' % etcd_url)
    cfg = gw_config(tmp_path / "gw.yaml", etcd_url, [])
    p = ig("check", "-c", cfg, "--task", str(tmp_path / "t.toml"), "--json")
    return p, (json.loads(p.stdout) if p.stdout else None)


def says_safe(ans):
    return ans is not None and ans["tables_refused"] == 0 and ans["check_requirements_false"]["safe"]


HEAD = '[tikv-importer]\nbackend = "local"\n[mydumper]\ndata-source-dir = "%s"\n'


@pytest.mark.parametrize("extra", [
    '[[Routes]]\nschema-pattern = "staging"\ntarget-schema = "shop"\n',
    '[[ROUTES]]\nschema-pattern = "staging"\ntarget-schema = "shop"\n',
    '[["route\u017f"]]\nschema-pattern = "staging"\ntarget-schema = "shop"\n',
    '[[mydumper.Files]]\npattern = \'(?i)^(?:[^/]*/)*x\\.csv$\'\nschema = "shop"\ntable = "files"\ntype = "csv"\n',
], ids=["Routes", "ROUTES", "unicode-fold", "mydumper.Files"])
def test_key_spelled_in_another_case(tmp_path, etcd, state, extra):  # noqa: F811
    state.task("pitr", ["shop.*"])
    src = dump(tmp_path / "d", ["staging.ok"])
    (tmp_path / "d" / "x.csv").write_text("1,a\n")
    p, ans = check(tmp_path, etcd.url, HEAD % src + extra)
    assert not says_safe(ans), (p.returncode, p.stdout, p.stderr)
    assert p.returncode != 0


def test_symlinked_data_file(tmp_path, etcd, state):  # noqa: F811
    state.task("pitr", ["shop.*"])
    src = dump(tmp_path / "d", ["staging.ok"])
    (tmp_path / "elsewhere.csv").write_text("1,a\n")
    os.symlink(str(tmp_path / "elsewhere.csv"), str(tmp_path / "d" / "shop.orders.000000001.csv"))
    p, ans = check(tmp_path, etcd.url, HEAD % src)
    assert not says_safe(ans), (p.returncode, p.stdout, p.stderr)
    assert ans is not None and "shop.orders" in ["%s.%s" % (t["db"], t["table"]) for t in ans["tables"]]
    assert p.returncode == 1


@pytest.mark.parametrize("suffix", ["%61d", "ad?x", "ad#x"], ids=["percent", "query", "fragment"])
def test_file_url_read_as_url(tmp_path, etcd, state, suffix):  # noqa: F811
    """Lightning reads file://.../bad (covered data); the preflight must not read another
    directory (here one literally named b%61d, bad?x or bad#x holding harmless data)."""
    state.task("pitr", ["shop.*"])
    dump(tmp_path / "bad", ["shop.orders"])
    dump(tmp_path / ("b" + suffix), ["staging.ok"])
    p, ans = check(tmp_path, etcd.url, HEAD % ("file://%s/b%s" % (tmp_path, suffix)))
    assert not says_safe(ans), (p.returncode, p.stdout, p.stderr)
    assert p.returncode != 0


@pytest.mark.parametrize("extra,pd", [
    ('[[routes]]\nschema-pattern = "shop\\u0000x"\ntarget-schema = "staging"\n', "{etcd}"),
    ('', "{etcd}\\u0000,10.0.0.9:2379"),
], ids=["route", "pd-addr"])
def test_nul_in_a_string(tmp_path, etcd, state, extra, pd):  # noqa: F811
    """TOML's \\u0000: BurntSushi/toml (Lightning) keeps the NUL and what follows it in the Go
    string (parse.go asciiEscapeToUnicode accepts any valid rune). Route: Lightning's trie
    selector takes the NUL as a literal byte (pkg/util/table-router), so "shop\\0x" routes no
    schema and shop.orders is imported as shop.orders (covered), while a C string ending at the
    NUL read it as routing shop.* to staging (not covered). pd-addr: Lightning splits on ","
    (lightning/pkg/importer/import.go) and reaches 10.0.0.9, another cluster."""
    state.task("pitr", ["shop.*"])
    src = dump(tmp_path / "d", ["staging.ok", "shop.orders"])
    body = HEAD % src + extra + '\n[tidb]\npd-addr = "%s"\n' % pd.format(etcd=etcd.url)
    (tmp_path / "t.toml").write_text(body)
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [])
    p = ig("check", "-c", cfg, "--task", str(tmp_path / "t.toml"), "--json")
    assert p.returncode == 2 and p.stdout == "", (p.returncode, p.stdout, p.stderr)
    assert "NUL character" in p.stderr
