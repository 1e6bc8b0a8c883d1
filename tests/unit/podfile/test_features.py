"""devcontainer Features, the pure parts: references, option env, install order, lockfile,
allowlist and the capability/mount policy."""

from __future__ import annotations

import pytest

from podspawn.errors import PodfileError
from podspawn.podfile.features.lockfile import LockEntry, check_locked, parse_lockfile
from podspawn.podfile.features.metadata import parse_metadata
from podspawn.podfile.features.options import env_file, env_name, option_env
from podspawn.podfile.features.order import Node, install_order
from podspawn.podfile.features.refs import parse_features, parse_ref, strip_version
from podspawn.services.features import allowed, check_requests

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("key", "kind", "ident", "location", "reference"), [
    ("ghcr.io/devcontainers/features/go:1", "oci", "ghcr.io/devcontainers/features/go",
     "devcontainers/features/go", "1"),
    ("GHCR.io/Owner/Repo/Node", "oci", "ghcr.io/owner/repo/node", "owner/repo/node", "latest"),
    (f"ghcr.io/o/r/x@{DIGEST}", "oci", "ghcr.io/o/r/x", "o/r/x", DIGEST),
    ("localhost:5000/o/x:2.1", "oci", "localhost:5000/o/x", "o/x", "2.1"),
    ("./my-feature", "local", "./my-feature", ".devcontainer/my-feature", ""),
    ("https://example.com/r/devcontainer-feature-go.tgz", "tarball",
     "https://example.com/r/devcontainer-feature-go.tgz",
     "https://example.com/r/devcontainer-feature-go.tgz", ""),
    ("http://127.0.0.1:8000/devcontainer-feature-go.tgz", "tarball",
     "http://127.0.0.1:8000/devcontainer-feature-go.tgz",
     "http://127.0.0.1:8000/devcontainer-feature-go.tgz", ""),
])
def test_references(key: str, kind: str, ident: str, location: str, reference: str) -> None:
    ref = parse_ref(key)
    assert (ref.kind, ref.id, ref.location, ref.reference) == (kind, ident, location,
                                                               reference)


@pytest.mark.parametrize(("key", "message"), [
    ("../elsewhere", "is not inside .devcontainer/"),
    ("./../../etc", "is not inside .devcontainer/"),
    ("/abs/feature", "is an absolute path"),
    ("http://example.com/devcontainer-feature-go.tgz", "uses http"),
    ("https://example.com/go.tgz", "must be named devcontainer-feature-<id>.tgz"),
    ("https://u:p@example.com/devcontainer-feature-go.tgz", "without credentials"),
    ("not a ref", "is not a local folder"),
    ("ghcr.io/only", "is not a local folder"),
])
def test_bad_references_are_refused_by_name(key: str, message: str) -> None:
    with pytest.raises(PodfileError, match="feature ") as info:
        parse_ref(key)
    assert message in info.value.message


def test_features_values_and_the_version_shorthand() -> None:
    requests = parse_features({"features": {"ghcr.io/o/r/go:1": "1.22", "./a": {"x": True,
                                                                             "n": 3}}})
    assert [dict(r.options) for r in requests] == [{"version": "1.22"}, {"x": True, "n": "3"}]
    with pytest.raises(PodfileError, match="listed twice"):
        parse_features({"features": {"./A": {}, "./a": {}}})
    with pytest.raises(PodfileError, match="option 'x' must be a string or a boolean"):
        parse_features({"features": {"./a": {"x": [1]}}})


def test_strip_version() -> None:
    assert strip_version(f"ghcr.io/o/r/go:1@{DIGEST}") == "ghcr.io/o/r/go"
    assert strip_version("localhost:5000/o/go") == "localhost:5000/o/go"
    assert strip_version("./a/") == "./a"


@pytest.mark.parametrize(("option", "name"), [
    ("version", "VERSION"), ("install-dir", "INSTALL_DIR"), ("9lives", "_LIVES"),
    ("__x", "_X"), ("a.b c", "A_B_C"), ("żółw", "_W"),
])
def test_env_names(option: str, name: str) -> None:
    assert env_name(option) == name


META = parse_metadata({
    "id": "python", "version": "1.0.0",
    "options": {"version": {"type": "string", "enum": ["latest", "3.10"], "default": "latest"},
                "pip": {"type": "boolean", "default": True},
                "optimize": {"type": "boolean", "default": True}},
}, feature="python")


def test_options_are_defaults_plus_the_users_values() -> None:
    env = option_env(META, {"version": "3.10", "pip": False, "extra": "x"}, feature="python")
    assert env == {"EXTRA": "x", "OPTIMIZE": "true", "PIP": "false", "VERSION": "3.10"}
    assert env_file({"A": "it's"}) == "A='it'\"'\"'s'\n"


@pytest.mark.parametrize(("given", "message"), [
    ({"version": "2.7"}, "option 'version' is '2.7'; it must be one of latest, 3.10"),
    ({"pip": "yes"}, "option 'pip' must be true or false"),
    ({"Version": "x", "VERSION": "y"}, "both become VERSION"),
])
def test_bad_options_are_refused(given: dict[str, str | bool], message: str) -> None:
    with pytest.raises(PodfileError) as info:
        option_env(META, given, feature="python")
    assert message in info.value.message


def ids(nodes: list[Node]) -> list[str]:
    return [node.id for node in nodes]


def test_order_without_constraints_is_by_id() -> None:
    nodes = [Node(key=k, id=k) for k in ("c", "a", "b")]
    assert ids(install_order(nodes)) == ["a", "b", "c"]


def test_depends_on_goes_first_recursively() -> None:
    nodes = [Node(key="a", id="a", depends_on=("z",)), Node(key="z", id="z",
                                                              depends_on=("y",)),
             Node(key="y", id="y"), Node(key="b", id="b")]
    assert ids(install_order(nodes)) == ["b", "y", "z", "a"]


def test_installs_after_only_orders_what_is_installed() -> None:
    nodes = [Node(key="a", id="a", installs_after=("b", "missing")), Node(key="b", id="b")]
    assert ids(install_order(nodes)) == ["b", "a"]


def test_override_pulls_forward_but_not_past_dependencies() -> None:
    nodes = [Node(key=k, id=k) for k in ("a", "b")] + [
        Node(key="c", id="c", depends_on=("d",)), Node(key="d", id="d")]
    assert ids(install_order(nodes, ["c", "b"])) == ["b", "a", "d", "c"]
    assert ids(install_order(nodes, ["b", "a"])) == ["b", "a", "d", "c"]
    with pytest.raises(PodfileError, match="names 'nope'"):
        install_order(nodes, ["nope"])


def test_round_stable_sort_tags_then_options() -> None:
    nodes = [Node(key="1", id="x", tag="latest"), Node(key="2", id="x", tag="1.10"),
             Node(key="3", id="x", tag="1.9"),
             Node(key="4", id="x", tag="1.9", options={"a": "1", "b": "2"})]
    assert [n.key for n in install_order(nodes)] == ["4", "3", "2", "1"]


def test_a_cycle_is_refused_naming_the_features() -> None:
    nodes = [Node(key="a", id="a", depends_on=("b",)), Node(key="b", id="b",
                                                              installs_after=("a",))]
    with pytest.raises(PodfileError, match="features a, b depend on each other in a cycle"):
        install_order(nodes)


def test_lockfile_pins_and_mismatch() -> None:
    ref = parse_ref("ghcr.io/o/r/go:1")
    lock = parse_lockfile({"features": {"GHCR.io/o/r/go:1": {
        "version": "1.0.0", "resolved": f"ghcr.io/o/r/go@{DIGEST}", "integrity": DIGEST}}})
    entry = lock[ref.key]
    assert entry.pinned_digest == DIGEST
    check_locked(ref, entry, DIGEST)
    check_locked(ref, None, "sha256:" + "b" * 64)  # not listed: trusted on first use
    with pytest.raises(PodfileError) as info:
        check_locked(ref, entry, "sha256:" + "b" * 64)
    assert info.value.message.startswith(
        "feature 'ghcr.io/o/r/go:1' does not match devcontainer-lock.json")
    with pytest.raises(PodfileError, match="another feature"):
        check_locked(ref, LockEntry(resolved=f"ghcr.io/evil/x@{DIGEST}"), DIGEST)
    with pytest.raises(PodfileError, match="integrity that is not sha256"):
        parse_lockfile({"features": {"x": {"integrity": "md5:1"}}})


@pytest.mark.parametrize(("key", "allow", "expected"), [
    ("./local", [], True),
    ("ghcr.io/o/r/go:1", [], False),
    ("ghcr.io/o/r/go:1", ["ghcr.io/o/r/go"], True),
    ("ghcr.io/o/r/go:1", ["ghcr.io/o/"], True),
    ("ghcr.io/o/r/go:1", ["ghcr.io/o"], True),
    ("ghcr.io/other/go:1", ["ghcr.io/o"], False),
    ("ghcr.io/o/r/gopher:1", ["ghcr.io/o/r/go"], False),
    ("https://h.example/f/devcontainer-feature-a.tgz", ["https://h.example/f/"], True),
    ("https://h.example.evil/devcontainer-feature-a.tgz", ["https://h.example"], False),
])
def test_allowlist(key: str, allow: list[str], expected: bool) -> None:
    assert allowed(parse_ref(key), allow) is expected


def meta(**extra: object) -> object:
    return parse_metadata({"id": "x", "version": "1", **extra}, feature="x")


@pytest.mark.parametrize(("extra", "message"), [
    ({"privileged": True}, "asks for a privileged container"),
    ({"securityOpt": ["seccomp=unconfined"]}, "asks for securityOpt 'seccomp=unconfined'"),
    ({"capAdd": ["SYS_ADMIN"]}, "asks for capability 'SYS_ADMIN'"),
    ({"mounts": [{"type": "bind", "source": "/etc", "target": "/x"}]},
     "bind-mounts '/etc'"),
    ({"mounts": ["source=/root,target=/x,type=bind"]}, "bind-mounts '/root'"),
])
def test_policy_refuses_by_name(extra: dict[str, object], message: str) -> None:
    with pytest.raises(PodfileError) as info:
        check_requests(meta(**extra), parse_ref("./x"), cap_add=["KILL"],  # type: ignore[arg-type]
                       bind_roots=[])
    assert info.value.message.startswith("feature './x' ")
    assert message in info.value.message


def test_policy_control_what_sessions_get_passes() -> None:
    check_requests(meta(capAdd=["CAP_KILL"],  # type: ignore[arg-type]
                        mounts=[{"type": "volume", "source": "v", "target": "/v"}]),
                   parse_ref("./x"), cap_add=["KILL"], bind_roots=[])


def _tar(*members: tuple[str, str]) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, link in members:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = 2
                tar.addfile(info, io.BytesIO(b"ok"))
    return out.getvalue()


@pytest.mark.parametrize("members", [
    [("../escape", "")], [("/etc/x", "")], [("a/../../x", "")],
    [("link", "../../etc")], [("link", "/etc/shadow")], [("d/link", "../../x")],
])
def test_a_tar_leaving_its_folder_is_refused(tmp_path, members) -> None:  # type: ignore[no-untyped-def]
    from podspawn.services.feature_fetch import extract

    with pytest.raises(PodfileError, match="not a plain file or folder inside the feature"):
        extract(_tar(*members), str(tmp_path / "t"), feature="f")
    assert not (tmp_path / "escape").exists()


def test_a_tar_inside_its_folder_unpacks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from podspawn.services.feature_fetch import extract

    extract(_tar(("./install.sh", ""), ("d/link", "../install.sh")), str(tmp_path), feature="f")
    assert (tmp_path / "d" / "link").read_text() == "ok"


def test_the_features_tag_covers_content_options_and_order() -> None:
    from podspawn.podfile.features.layers import FeaturePlan, ResolvedFeature

    def feature(key: str, digest: str, env: dict[str, str]) -> ResolvedFeature:
        return ResolvedFeature(ref=parse_ref(key), meta=meta(containerEnv={"K": key}),  # type: ignore[arg-type]
                               digest=digest, folder="/x", env=env)

    a, b = feature("./a", "local:1", {"V": "1"}), feature("./b", "local:2", {})
    plan = FeaturePlan(base="debian:bookworm", features=(a, b))
    assert plan.tag.startswith("podspawn/features:")
    text = plan.dockerfile()
    assert text.startswith("FROM debian:bookworm\nUSER root\n")
    assert text.index('ENV K="./a"') < text.index("01-x") < text.index('ENV K="./b"')
    assert "ENTRYPOINT" not in text
    others = [FeaturePlan(base="debian:bookworm", features=(b, a)),
              FeaturePlan(base="debian:trixie", features=(a, b)),
              FeaturePlan(base="debian:bookworm",
                          features=(feature("./a", "local:3", {"V": "1"}), b)),
              FeaturePlan(base="debian:bookworm",
                          features=(feature("./a", "local:1", {"V": "2"}), b))]
    assert len({plan.digest, *(other.digest for other in others)}) == 5
    assert FeaturePlan(base="debian:bookworm", features=(a, b)).digest == plan.digest


def _local_feature_checkout(root, mounts):  # type: ignore[no-untyped-def]
    import json

    feature = root / ".devcontainer" / "cache-feature"
    feature.mkdir(parents=True)
    (feature / "devcontainer-feature.json").write_text(json.dumps(
        {"id": "cache-feature", "version": "1.0.0", "mounts": mounts}))
    (feature / "install.sh").write_text("#!/bin/sh\ntrue\n")
    (root / ".devcontainer" / "devcontainer.json").write_text(json.dumps(
        {"image": "debian:bookworm", "workspaceFolder": "/workspaces/app",
         "mounts": ["source=own,target=/own,type=volume"],
         "features": {"./cache-feature": {}}}))


def _resolved(root):  # type: ignore[no-untyped-def]
    from podspawn.config.schema import ServerConfig, StateConfig
    from podspawn.podfile.load import load_podfile
    from podspawn.services.features import apply_features

    config = ServerConfig(state=StateConfig(db_path=str(root / "state" / "state.db")))
    return apply_features(config, str(root), load_podfile(root))


def test_a_features_mounts_join_the_podfiles_volumes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _local_feature_checkout(tmp_path, [
        {"type": "volume", "source": "dind-${devcontainerId}", "target": "/var/lib/docker"},
        "source=cache,target=${containerWorkspaceFolder}/.cache,type=volume,readonly",
        "source=hist,target=${localEnv:HOME}/h,type=volume"])
    loaded = _resolved(tmp_path)
    assert loaded.podfile.volumes == ("own:/own", "dind-devcontainer:/var/lib/docker",
                                      "cache:/workspaces/app/.cache:ro")
    assert any("${localEnv:HOME}" in warning for warning in loaded.warnings)


def test_a_features_bad_mount_is_refused_naming_the_feature(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _local_feature_checkout(tmp_path, ["source=bad name!,target=/x,type=volume"])
    with pytest.raises(PodfileError, match=r"feature './cache-feature'.*volume name"):
        _resolved(tmp_path)
