"""The ``localreg`` command line, through click's CliRunner.

Bad input must exit 1 with one exact ``Error: ...`` line (2 for usage
errors), never a traceback, and write nothing to the store.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localreg import cli as cli_mod
from localreg import runs, versions
from localreg.cli import ProgressBar, cli, progress
from localreg.store import Store
from tests.conftest import snapshot

REPO = Path(__file__).resolve().parent.parent


def invoke(runner, *args):
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def ok(runner, *args):
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    return result


def error_line(result) -> str:
    return result.stderr.strip().splitlines()[-1]


def assert_error(result, line: str, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    assert error_line(result) == line


def log(runner, path, *extra, name="my-model", type="model", project="demo"):
    return ok(runner, "log", path, "--project", project, "--name", name, "--type", type, *extra)


@pytest.fixture
def model_dir(make_files):
    return make_files({"model.json": '{"layers": 2}', "weights/w.bin": b"\x00\x01" * 100})


@pytest.fixture
def logged(store, runner, model_dir):
    """team/demo/my-model:v0 (aliases latest, staging)."""
    log(runner, model_dir, "--alias", "staging")
    return store


def unchanged(store, runner, args, line, code=1):
    before = snapshot(store)
    result = invoke(runner, *args)
    assert_error(result, line, code)
    assert snapshot(store) == before
    return result


# -- log ---------------------------------------------------------------------------------


def test_log_folder_then_dedup(store, runner, model_dir):
    result = log(runner, model_dir, "--alias", "staging", "--tag", "first try",
                 "--metadata", '{"accuracy": 0.9, "loss": NaN}', "--description", "two files")
    lines = result.output.splitlines()
    assert lines[0] == "Logged team/demo/my-model:v0"
    assert lines[1].startswith("  digest   sha256:")
    assert lines[2] == "  files    2 (213 B)"
    assert lines[3] == "  aliases  latest, staging"
    v = versions.resolve(store, "my-model:v0")
    assert v.metadata == {"accuracy": 0.9, "loss": None}
    assert v.tags == ("first try",)
    assert v.description == "two files"

    again = log(runner, model_dir, "--alias", "prod")
    assert again.output.splitlines()[0] == "Deduplicated: team/demo/my-model:v0 already holds this content"
    assert again.output.splitlines()[1] == lines[1]
    assert versions.resolve(store, "my-model:prod").index == 0


def test_log_file_uri_and_json(store, runner, make_files):
    root = make_files({"data.csv": "a,b\n1,2\n"})
    result = log(runner, os.path.join(root, "data.csv"), name="data", type="dataset")
    assert result.output.startswith("Logged team/demo/data:v0")
    uri = "file://" + os.path.join(root, "data.csv")
    result = ok(runner, "--json", "log", uri, "--project", "other", "--entity", "acme-team",
                "--name", "ref", "--type", "dataset")
    data = json.loads(result.output)
    assert data["qualified_name"] == "acme-team/other/ref:v0"
    assert data["deduplicated"] is False
    assert versions.entries(store, versions.resolve(store, "acme-team/other/ref"))[0].ref == uri


@pytest.mark.parametrize(
    "extra, line",
    [
        (["--alias", "v3"], "Error: invalid alias 'v3': 'vN' names a version and cannot be an alias"),
        (["--alias", "a/b"],
         "Error: invalid alias 'a/b': '/', ':', control characters and surrounding spaces are not allowed"),
        (["--metadata", '{"x": Infinity}'], "Error: metadata.x: infinity is not allowed in metadata"),
        (["--metadata", "[1, 2]"], "Error: metadata must be a dict, not list"),
        (["--tag", "a/b"],
         "Error: Invalid tag 'a/b': use words of letters, digits, '-' and '_' separated by single spaces"),
        (["--entity", "a b"], "Error: invalid entity name 'a b': use only letters, digits, '-', '_' and '.'"),
        (["--name", "a b"], "Error: invalid artifact name 'a b': use only letters, digits, '-', '_' and '.'"),
        (["--type", "job"], "Error: artifact type 'job' is reserved"),
        (["--type", "dataset"],
         "Error: artifact 'my-model' in project team/demo has type 'model'; cannot log a version of type 'dataset'"),
    ],
)
def test_log_bad_input_writes_nothing(logged, runner, model_dir, extra, line):
    args = ["log", model_dir, "--project", "demo", "--name", "my-model", "--type", "model"]
    unchanged(logged, runner, args + extra, line)


def test_log_bad_json_is_a_usage_error(logged, runner, model_dir):
    args = ["log", model_dir, "--project", "demo", "--name", "m", "--type", "model", "--metadata", "{nope"]
    unchanged(logged, runner, args,
              "Error: Invalid value for '--metadata' / '-m': not valid JSON: "
              "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)", code=2)


def test_log_missing_path(logged, runner):
    args = ["log", "no-such-dir", "--project", "demo", "--name", "m", "--type", "model"]
    unchanged(logged, runner, args, "Error: file 'no-such-dir' not found")


def test_log_missing_option_is_usage_error(runner, home):
    result = invoke(runner, "log", ".", "--project", "demo", "--type", "model")
    assert_error(result, "Error: Missing option '--name' / '-n'.", code=2)
    assert not home.exists()


# -- get -----------------------------------------------------------------------------------


def test_get_default_root_and_root(logged, runner, tmp_path, model_dir):
    result = ok(runner, "get", "demo/my-model:staging")
    assert result.output == f"Downloaded team/demo/my-model:v0 (2 files, 213 B) to {os.path.join('artifacts', 'my-model:v0')}\n"
    got = tmp_path / "artifacts" / "my-model:v0"
    assert (got / "weights" / "w.bin").read_bytes() == b"\x00\x01" * 100
    assert (got / "model.json").read_text() == '{"layers": 2}'

    ok(runner, "link", "my-model", "wandb-registry-model/my-model", "--alias", "production")
    result = ok(runner, "--json", "get", "wandb-registry-model/my-model:production", "--root", "out")
    data = json.loads(result.output)
    assert data["root"] == str(tmp_path / "out")
    assert data["version"]["source_qualified_name"] == "team/demo/my-model:v0"
    assert sorted(f["path"] for f in data["files"]) == ["model.json", "weights/w.bin"]
    assert (tmp_path / "out" / "model.json").exists()


@pytest.mark.parametrize(
    "ref, line",
    [
        ("a/b/c/d", "Error: invalid artifact ref 'a/b/c/d': expected name, project/name or entity/project/name"),
        ("my-model:v9", 'Error: artifact "my-model:v9" not found in project team/demo'),
        ("my-model:nope", 'Error: artifact "my-model:nope" not found in project team/demo'),
        ("nope", "Error: artifact 'nope' not found in project team/demo"),
        ("wandb-registry-nope/x", "Error: registry 'nope' not found in organization 'acme'"),
        ("wandb-registry-model/x", "Error: collection 'x' not found in registry acme/wandb-registry-model"),
    ],
)
@pytest.mark.parametrize("command", ["get", "show", "verify"])
def test_bad_refs(logged, runner, tmp_path, command, ref, line):
    unchanged(logged, runner, [command, ref], line)
    assert not (tmp_path / "artifacts").exists()


def test_get_into_unwritable_root(logged, runner, tmp_path):
    (tmp_path / "afile").write_text("x")
    result = invoke(runner, "get", "my-model", "--root", tmp_path / "afile" / "sub")
    assert_error(result, f"Error: Not a directory: {tmp_path / 'afile' / 'sub'}")


# -- ls, show ----------------------------------------------------------------------------------


def test_ls(logged, runner, make_files):
    log(runner, make_files({"a.csv": "1"}), name="data", type="dataset", project="other")
    out = ok(runner, "ls").output.splitlines()
    assert out[0] == "team/demo"
    assert out[1] == "  my-model (model, 1 version)"
    assert out[2].startswith("    v0    sha256:") and out[2].endswith("latest, staging")
    assert out[3] == ""
    assert out[4] == "team/other"
    assert out[5] == "  data (dataset, 1 version)"

    one = ok(runner, "ls", "team/other").output
    assert "my-model" not in one and "data (dataset" in one
    assert ok(runner, "ls", "other").output == one

    data = json.loads(ok(runner, "--json", "ls").output)
    assert [c["path"] for c in data] == ["team/demo/my-model", "team/other/data"]
    assert data[0]["versions"][0]["aliases"] == ["latest", "staging"]


def test_ls_errors(logged, runner):
    unchanged(logged, runner, ["ls", "team/nope"], f"Error: project team/nope not found in store {logged.home}")
    unchanged(logged, runner, ["ls", "a/b/c"], "Error: invalid project 'a/b/c': expected ENTITY/PROJECT or PROJECT")
    unchanged(logged, runner, ["ls", "a b"], "Error: invalid project name 'a b': use only letters, digits, '-', '_' and '.'")


def test_ls_empty(store, runner):
    assert ok(runner, "ls").output == "No artifacts in this store\n"


def test_show_with_links_and_lineage(logged, runner):
    store = logged
    run = runs.start_run(store, run_id="train1", job_type="train")
    v = versions.resolve(store, "my-model")
    ok(runner, "link", "my-model", "wandb-registry-model/my-model", "--alias", "production")
    link = versions.resolve(store, "wandb-registry-model/my-model:production")
    runs.record_use(store, run.pk, link)

    out = ok(runner, "show", "my-model:v0").output
    assert out.splitlines()[0] == "team/demo/my-model:v0 (model)"
    assert "  aliases      latest, staging\n" in out
    assert "  used by      team/demo/train1 (running, train)\n" in out
    assert "    weights/w.bin  200 B  sha256:" in out
    assert "    acme/wandb-registry-model/my-model:v0 (latest, production)\n" in out
    assert "links to" not in out

    out = ok(runner, "show", "wandb-registry-model/my-model:production").output
    assert out.splitlines()[0] == "acme/wandb-registry-model/my-model:v0 (model)"
    assert out.splitlines()[1] == "  links to     team/demo/my-model:v0"

    data = json.loads(ok(runner, "--json", "show", "acme/wandb-registry-model/my-model").output)
    assert data["is_link"] is True
    assert data["source_qualified_name"] == v.qualified_name
    assert data["digest"] == v.digest
    assert [f["path"] for f in data["files"]] == ["model.json", "weights/w.bin"]
    assert [link["qualified_name"] for link in data["links"]] == ["acme/wandb-registry-model/my-model:v0"]
    assert data["logged_by"] is None
    assert [r["path"] for r in data["used_by"]] == ["team/demo/train1"]


def test_show_logged_by(store, runner, model_dir):
    from localreg import ingest

    run = runs.start_run(store, run_id="maker", job_type="build")
    versions.log_version(store, name="built", type="model", entries=ingest.add_paths(store, model_dir),
                         run_pk=run.pk, metadata={"k": 1})
    out = ok(runner, "show", "built").output
    assert "  logged by    team/demo/maker (running, build)\n" in out
    assert '  metadata     {"k": 1}\n' in out


# -- aliases -----------------------------------------------------------------------------------


def test_alias_add_moves_and_rm(logged, runner, make_files):
    log(runner, make_files({"model.json": "v1"}))
    out = ok(runner, "alias", "add", "my-model:v1", "staging").output
    assert out == "team/demo/my-model:v1: aliases latest, staging\n"
    assert versions.resolve(logged, "my-model:v0").aliases == ()
    data = json.loads(ok(runner, "--json", "alias", "rm", "my-model:staging", "staging").output)
    assert data["aliases"] == ["latest"]


@pytest.mark.parametrize(
    "args, line",
    [
        (["add", "my-model", "v3"], "Error: invalid alias 'v3': 'vN' names a version and cannot be an alias"),
        (["add", "my-model", "a/b"],
         "Error: invalid alias 'a/b': '/', ':', control characters and surrounding spaces are not allowed"),
        (["add", "my-model:v7", "prod"], 'Error: artifact "my-model:v7" not found in project team/demo'),
        (["rm", "my-model", "nope"], "Error: alias 'nope' is not on team/demo/my-model:v0"),
        (["rm", "my-model", "latest"], "Error: alias 'latest' is managed by localreg and cannot be removed"),
        (["rm", "my-model", "v0"], "Error: invalid alias 'v0': 'vN' names a version and cannot be an alias"),
        (["add", "my-model", ""], "Error: alias must not be empty"),
    ],
)
def test_alias_errors(logged, runner, args, line):
    unchanged(logged, runner, ["alias", *args], line)


def test_alias_latest_is_managed(logged, runner, make_files):
    log(runner, make_files({"model.json": "v1"}))
    unchanged(logged, runner, ["alias", "add", "my-model:v0", "latest"],
              "Error: alias 'latest' is managed by localreg and stays on the newest version, not team/demo/my-model:v0")
    assert ok(runner, "alias", "add", "my-model:v1", "latest").output == "team/demo/my-model:v1: aliases latest\n"


# -- link, unlink ------------------------------------------------------------------------------


def test_link_and_unlink(logged, runner):
    out = ok(runner, "link", "demo/my-model:v0", "wandb-registry-model/best", "-a", "production", "-a", "candidate").output
    assert out == ("Linked team/demo/my-model:v0 as acme/wandb-registry-model/best:v0 "
                   "(aliases latest, candidate, production)\n")
    data = json.loads(ok(runner, "--json", "link", "my-model", "acme/wandb-registry-model/other").output)
    assert data["qualified_name"] == "acme/wandb-registry-model/other:v0"
    assert data["is_link"] is True

    out = ok(runner, "unlink", "wandb-registry-model/best:production").output
    assert out == "Unlinked acme/wandb-registry-model/best:v0 (source team/demo/my-model:v0 stays)\n"
    assert versions.resolve(logged, "my-model").index == 0
    assert [link.qualified_name for link in versions.links_of(logged, versions.resolve(logged, "my-model"))] == [
        "acme/wandb-registry-model/other:v0"
    ]


def test_link_errors(logged, runner, make_files):
    log(runner, make_files({"a.csv": "1"}), name="data", type="dataset")
    ok(runner, "registry", "create", "anything")
    ok(runner, "link", "my-model", "wandb-registry-anything/shared")
    cases = [
        (["link", "data", "wandb-registry-model/data"],
         "Error: registry 'model' in organization 'acme' does not allow artifact type 'dataset' (allowed: model)"),
        (["link", "data", "wandb-registry-anything/shared"],
         "Error: collection acme/wandb-registry-anything/shared holds type 'model'; "
         "cannot link team/demo/data:v0 of type 'dataset'"),
        (["link", "data", "wandb-registry-nope/data"],
         "Error: registry 'nope' not found in organization 'acme' (registries there: anything, dataset, model)"),
        (["link", "data", "team/demo/data"],
         "Error: cannot link into team/demo/data: it is an artifact sequence (versions logged there), not a "
         "collection of links; choose another collection name"),
        (["link", "data", "wandb-registry-dataset/data:v1"],
         "Error: invalid target path 'wandb-registry-dataset/data:v1': no ':alias' or ':vN' allowed here"),
        (["link", "data", "wandb-registry-dataset/data", "--alias", "v1"],
         "Error: invalid alias 'v1': 'vN' names a version and cannot be an alias"),
        (["link", "nope", "wandb-registry-dataset/data"], "Error: artifact 'nope' not found in project team/demo"),
        (["unlink", "my-model"], "Error: team/demo/my-model:v0 is a source version, not a link; use delete"),
        (["unlink", "wandb-registry-anything/shared:v5"],
         'Error: artifact "shared:v5" not found in registry acme/wandb-registry-anything'),
    ]
    for args, line in cases:
        unchanged(logged, runner, args, line)


# -- registries ---------------------------------------------------------------------------------


def test_registry_create_ls_show(store, runner):
    out = ok(runner, "registry", "create", "evals", "--type", "eval", "--type", "report",
             "--description", "Evaluation runs", "--visibility", "restricted").output
    assert out == "Created registry acme/wandb-registry-evals\n"
    data = json.loads(ok(runner, "--json", "registry", "create", "wandb-registry-misc").output)
    assert data["full_name"] == "wandb-registry-misc"
    assert data["allow_all_artifact_types"] is True

    out = ok(runner, "registry", "ls").output.splitlines()
    assert out[0] == "acme/wandb-registry-dataset  organization  types: dataset  0 collections"
    assert out[2] == "acme/wandb-registry-evals  restricted  types: eval, report  0 collections"
    assert out[3] == "    Evaluation runs"
    assert "acme/wandb-registry-misc  organization  types: all types  0 collections" in out
    names = [r["name"] for r in json.loads(ok(runner, "--json", "registry", "ls").output)]
    assert names == ["dataset", "evals", "misc", "model"]

    out = ok(runner, "registry", "show", "evals").output
    assert out == ("acme/wandb-registry-evals\n  description  Evaluation runs\n  visibility   restricted\n"
                   "  types        eval, report\n  collections: -\n")


def test_registry_show_collections(logged, runner):
    ok(runner, "link", "my-model", "wandb-registry-model/my-model")
    out = ok(runner, "registry", "show", "wandb-registry-model").output
    assert out.endswith("  collections:\n    my-model (model, 1 version)\n")
    data = json.loads(ok(runner, "--json", "registry", "show", "model", "--org", "acme").output)
    assert [c["path"] for c in data["collections"]] == ["acme/wandb-registry-model/my-model"]


def test_registry_errors(store, runner):
    ok(runner, "registry", "create", "evals")
    cases = [
        (["registry", "create", "evals"], "Error: registry 'evals' already exists in organization 'acme'", 1),
        (["registry", "create", "new", "--type", "wandb-x"], "Error: artifact type 'wandb-x' is reserved", 1),
        (["registry", "create", "a b"],
         "Error: invalid registry name 'a b': use only letters, digits, '-', '_' and '.'", 1),
        (["registry", "create", "new", "--visibility", "public"],
         "Error: Invalid value for '--visibility': 'public' is not one of 'organization', 'restricted'.", 2),
        (["registry", "show", "nope"], "Error: registry 'nope' not found in organization 'acme'", 1),
        (["registry", "ls", "--org", "nope"], f"Error: organization 'nope' not found in store {store.home} (organizations: acme)", 1),
    ]
    for args, line, code in cases:
        unchanged(store, runner, args, line, code)


# -- versions ------------------------------------------------------------------------------------


def test_versions(logged, runner, make_files):
    log(runner, make_files({"model.json": "v1"}))
    ok(runner, "link", "my-model:v0", "wandb-registry-model/m")
    ok(runner, "link", "my-model:v1", "wandb-registry-model/m", "--alias", "production")
    out = ok(runner, "versions", "acme/wandb-registry-model/m").output.splitlines()
    assert out[0] == "acme/wandb-registry-model/m (model, 2 versions)"
    assert out[1].split() == ["v0", "-", "team/demo/my-model:v0"]
    assert out[2].split() == ["v1", "latest,", "production", "team/demo/my-model:v1"]
    data = json.loads(ok(runner, "--json", "versions", "wandb-registry-model/m").output)
    assert [(v["version"], v["source_qualified_name"]) for v in data["versions"]] == [
        ("v0", "team/demo/my-model:v0"), ("v1", "team/demo/my-model:v1")]

    out = ok(runner, "versions", "team/demo/my-model").output.splitlines()
    assert out[0] == "team/demo/my-model (model, 2 versions)"
    assert out[1].split()[:2] == ["v0", "staging"]

    unchanged(logged, runner, ["versions", "wandb-registry-model/nope"],
              "Error: collection 'nope' not found in registry acme/wandb-registry-model")
    unchanged(logged, runner, ["versions", "wandb-registry-model/m:v1"],
              "Error: invalid collection path 'wandb-registry-model/m:v1': no ':alias' or ':vN' allowed here")


# -- verify -----------------------------------------------------------------------------------------


def _corrupt_packs(store: Store) -> None:
    fs = store.blobs.fs
    for name, _size, _mtime in list(store.blobs.list_packs()):
        path = store.blobs.pack_path(name)
        data = bytearray(fs.cat_file(path))
        data[0] ^= 0xFF
        with fs.open(path, "wb") as f:
            f.write(bytes(data))


def test_verify(logged, runner, tmp_path):
    out = ok(runner, "verify", "my-model").output
    assert out == "OK: team/demo/my-model:v0 (2 files) match their digests\n"
    ok(runner, "get", "my-model", "--root", "dl")
    assert ok(runner, "verify", "my-model", "--root", "dl").output == (
        "OK: team/demo/my-model:v0 and dl (2 files) match their digests\n"
    )
    (tmp_path / "dl" / "extra.txt").write_text("x")
    (tmp_path / "dl" / "model.json").write_text("changed")
    (tmp_path / "dl" / "weights" / "w.bin").unlink()
    result = invoke(runner, "verify", "my-model", "--root", "dl")
    assert_error(result, "Error: 3 problems found in team/demo/my-model:v0 and dl")
    lines = result.stdout.splitlines()
    assert lines[0] == "dl: extra file 'extra.txt'"
    assert lines[1].startswith("dl: changed file 'model.json': sha256:")
    assert lines[2] == "dl: missing file 'weights/w.bin'"

    result = invoke(runner, "--json", "verify", "my-model", "--root", "dl")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and len(data["problems"]) == 3


def test_verify_corrupt_blob(logged, runner):
    _corrupt_packs(logged)
    result = invoke(runner, "verify", "my-model")
    assert_error(result, "Error: 1 problem found in team/demo/my-model:v0")
    assert all(line.startswith("stored file '") and "is corrupt" in line for line in result.stdout.splitlines())
    result = invoke(runner, "get", "my-model")
    assert result.exit_code == 1
    assert error_line(result).startswith("Error: blob sha256:") and "is corrupt" in error_line(result)


# -- info, init -----------------------------------------------------------------------------------------


def test_info(logged, runner):
    ok(runner, "link", "my-model", "wandb-registry-model/m")
    out = ok(runner, "info").output.splitlines()
    assert out[0] == f"home         {logged.home}"
    assert out[1] == f"blob url     {logged.blob_url}"
    assert out[2:5] == ["org          acme", "entity       team", "project      demo"]
    assert "registries   2" in out and "versions     1" in out and "links        1" in out
    data = json.loads(ok(runner, "--json", "info").output)
    assert (data["versions"], data["links"], data["registries"], data["chunks"]) == (1, 1, 2, 2)
    assert data["bytes"] == 213


def test_read_commands_need_a_store(runner, home):
    message = f"Error: no localreg store at {home}; create one with 'localreg init' or 'localreg quickstart'"
    for args in (["ls"], ["info"], ["show", "x"], ["registry", "ls"], ["alias", "add", "x", "y"]):
        assert_error(invoke(runner, *args), message)
    assert not home.exists()


def test_init(runner, tmp_path):
    where = tmp_path / "new-store"
    out = ok(runner, "--home", where, "init", "--org", "my-org", "--entity", "me", "--project", "p1").output
    assert out.splitlines()[0] == f"Created store at {where}"
    data = json.loads(ok(runner, "--home", where, "--json", "info").output)
    assert (data["org"], data["entity"], data["project"]) == ("my-org", "me", "p1")
    assert data["blob_url"] == str(where / "blobs")
    assert ok(runner, "--home", where, "init", "--org", "my-org").output.splitlines()[0] == (
        f"Store at {where} exists already"
    )
    assert_error(invoke(runner, "--home", where, "init", "--org", "other"),
                 f"Error: a store already exists at {where} and its org is 'my-org'; "
                 "defaults are set only when a store is created")


def test_init_blob_url(runner, tmp_path):
    where = tmp_path / "s"
    ok(runner, "--home", where, "init", "--blob-url", tmp_path / "elsewhere")
    assert json.loads(ok(runner, "--home", where, "--json", "info").output)["blob_url"] == str(tmp_path / "elsewhere")


@pytest.mark.parametrize(
    "args, line",
    [
        (["--org", "a b"], "Error: invalid org name 'a b': use only letters, digits, '-', '_' and '.'"),
        (["--project", "x/y"], "Error: invalid project name 'x/y': use only letters, digits, '-', '_' and '.'"),
        (["--blob-url", "nope://x"], "Error: cannot use blob URL 'nope://x': Protocol not known: nope"),
    ],
)
def test_init_bad_input_creates_nothing(runner, home, args, line):
    assert_error(invoke(runner, "init", *args), line)
    assert not home.exists()


# -- quickstart ----------------------------------------------------------------------------------------


def test_quickstart_twice(runner, home):
    first = ok(runner, "quickstart").output.splitlines()
    assert first[0] == f"Store: {home}"
    assert first[1].startswith("Logged tester/quickstart/sample-dataset:v0 (3 files")
    assert first[2] == "  linked as local/wandb-registry-dataset/sample-dataset:v0 (aliases latest, training)"
    assert first[3] == "Run tester/quickstart/quickstart used local/wandb-registry-dataset/sample-dataset:v0"
    assert first[4].startswith("Logged tester/quickstart/sample-model:v0 (3 files")
    assert first[5] == "  linked as local/wandb-registry-model/sample-model:v0 (aliases latest, production)"
    assert "  localreg show local/wandb-registry-model/sample-model:production" in first
    before = json.loads(ok(runner, "--json", "info").output)

    second = ok(runner, "quickstart").output.splitlines()
    assert second[1].startswith("Already logged (deduplicated) tester/quickstart/sample-dataset:v0")
    assert second[4].startswith("Already logged (deduplicated) tester/quickstart/sample-model:v0")
    assert json.loads(ok(runner, "--json", "info").output) == before
    assert (before["versions"], before["links"], before["runs"]) == (2, 2, 1)

    # the commands it suggests work
    for line in first[first.index("Look at it with:") + 1:]:
        if not line.startswith("  localreg "):
            break
        ok(runner, *line.split()[1:])
    show = json.loads(ok(runner, "--json", "show", "tester/quickstart/sample-dataset").output)
    assert [r["path"] for r in show["used_by"]] == ["tester/quickstart/quickstart"]
    model = json.loads(ok(runner, "--json", "show", "wandb-registry-model/sample-model:production").output)
    assert model["logged_by"]["state"] == "finished"
    assert model["metadata"]["architecture"] == "mlp"


def test_quickstart_with_home_and_json(runner, tmp_path):
    where = tmp_path / "qs home"
    out = ok(runner, "--home", where, "quickstart").output
    assert f"  localreg --home '{where}' ls" in out
    data = json.loads(ok(runner, "--home", where, "--json", "quickstart").output)
    assert data["model"]["deduplicated"] is True
    assert data["model_link"]["aliases"] == ["latest", "production"]


def test_quickstart_without_fixtures(runner, home, tmp_path, monkeypatch):
    monkeypatch.setattr(cli_mod, "FIXTURES", tmp_path / "gone")
    assert_error(invoke(runner, "quickstart"),
                 f"Error: sample data not found in {tmp_path / 'gone'}: "
                 "quickstart needs the fixtures/ folder of a localreg checkout")
    assert not home.exists()


def test_fixtures_are_small_and_reproducible(tmp_path):
    fixtures = REPO / "fixtures"
    files = sorted(p.relative_to(fixtures) for p in fixtures.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert sum((fixtures / p).stat().st_size for p in files) < 100_000
    # regenerate into a copy (never rewrite the checkout other tests read)
    copy = tmp_path / "fixtures"
    copy.mkdir()
    (copy / "make_fixtures.py").write_bytes((fixtures / "make_fixtures.py").read_bytes())
    subprocess.run([sys.executable, "-B", str(copy / "make_fixtures.py")], check=True)
    for p in files:
        # sample data is generated; the seed files are written by hand
        if p.parent != Path(".") and p.parts[0] != "seeds":
            assert (copy / p).read_bytes() == (fixtures / p).read_bytes(), p


# -- plumbing ----------------------------------------------------------------------------------------------


def test_python_dash_m(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "localreg", "--help"], capture_output=True, text=True,
                            env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: python -m localreg [OPTIONS] COMMAND [ARGS]...") or \
        result.stdout.startswith("Usage: localreg [OPTIONS] COMMAND [ARGS]...")
    assert "quickstart" in result.stdout


def test_version_and_unknown_command(runner):
    assert ok(runner, "--version").output.startswith("localreg, version ")
    assert_error(invoke(runner, "nope"), "Error: No such command 'nope'.", code=2)


def test_progress_bar_draws_after_delay():
    out = io.StringIO()
    with ProgressBar("Copying", file=out, delay=0) as bar:
        bar.set_size(4)
        bar.relative_update(1)
        bar.relative_update(3)
        assert bar.bar.pos == 4
    assert bar.bar is None
    assert "Copying" in out.getvalue()

    quiet = io.StringIO()
    with ProgressBar("Slow", file=quiet, delay=3600) as bar:
        bar.set_size(4)
        bar.relative_update(4)
    assert quiet.getvalue() == ""


def test_no_progress_without_terminal():
    with progress("x") as cb:
        assert cb is None


# -- counting words ------------------------------------------------------------------------------


def test_plural_helper():
    from localreg.text import plural

    assert [plural(n, "alias", "aliases") for n in (0, 1, 2)] == ["0 aliases", "1 alias", "2 aliases"]
    assert [plural(n, "blob") for n in (0, 1, 2)] == ["0 blobs", "1 blob", "2 blobs"]
    assert plural(3, "entry", "entries") == "3 entries"


def test_import_counts_aliases_in_english(runner, make_files, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    model = make_files({"w.bin": b"weights"})
    ok(runner, "--home", src, "log", model, "--project", "demo", "--name", "m", "--type", "model",
       "--alias", "staging", "--alias", "prod")
    entity = Store(src).default("entity")
    ok(runner, "--home", src, "export", f"{entity}/demo", "-o", tmp_path / "b.tar")
    out = ok(runner, "--home", dst, "import", tmp_path / "b.tar").stdout
    first = out.splitlines()[0]
    assert first.startswith("Added 1 version, 0 links, 2 aliases, 0 runs and 1 blob ("), first
    assert "aliass" not in out


def test_no_message_builds_a_plural_by_hand():
    """Every message that counts things goes through localreg.text.plural."""
    import re

    offenders = []
    for path in sorted((REPO / "localreg").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(("localreg/web/", "localreg/sdk/")) or rel == "localreg/text.py":
            continue  # the web UI and the SDK are other engineers' modules (render.plural in the UI)
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"[a-z]\(s\)(?=[ ,.;:'\"])|'s' if |\"s\" if |def _plural\b", line):
                offenders.append(f"{rel}:{i}: {line.strip()}")
    assert offenders == []
