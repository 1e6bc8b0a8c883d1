"""The devcontainer keys about the container: each mapping, and each refusal by name."""

from __future__ import annotations

from typing import Any

import pytest

from podspawn.errors import PodfileError
from podspawn.podfile.devcontainer import convert_devcontainer
from podspawn.podfile.devcontainer_keys import convert_keys
from podspawn.podfile.load import check_policy, validate
from podspawn.podfile.run_args import parse_run_args


def _keys(**config: Any) -> tuple[dict[str, Any], list[str]]:
    return convert_keys(config)


def test_remote_user_names_the_image_user_that_the_login_user_replaces() -> None:
    assert _keys(remoteUser="vscode") == ({"image_user": "vscode"}, [])
    assert _keys(containerUser="node") == ({"image_user": "node"}, [])


def test_remote_user_wins_over_container_user_with_a_note() -> None:
    out, warnings = _keys(remoteUser="vscode", containerUser="node")
    assert out == {"image_user": "vscode"}
    assert warnings == ["containerUser node is not used: every process of a session runs as "
                        "the login user, who replaces remoteUser vscode"]


def test_root_cannot_be_honoured() -> None:
    out, warnings = _keys(remoteUser="root")
    assert out == {}
    assert warnings == ["remoteUser root cannot be honoured: sessions run as the login user "
                        "(with sudo), never as root"]


def test_mounts_string_and_object_forms() -> None:
    out, warnings = _keys(mounts=[
        "source=cache-${devcontainerId},target=/cache,type=volume",
        "type=bind,source=/srv/data,target=/data,readonly",
        {"source": "node", "target": "/w/node_modules", "type": "volume"},
        "source=${localEnv:HOME}/.ssh,target=/home/vscode/.ssh,type=bind",
    ])
    assert out == {"volumes": ["cache-devcontainer:/cache", "/srv/data:/data:ro",
                               "node:/w/node_modules"]}
    assert warnings == ["mount 'source=${localEnv:HOME}/.ssh,target=/home/vscode/.ssh,type=bind'"
                        " was left out: it uses a variable of the editor's machine, which has "
                        "no meaning on a server"]


def test_a_mount_target_in_the_workspace_folder() -> None:
    out, _ = _keys(workspaceFolder="/w", mounts=[
        "source=nm,target=${containerWorkspaceFolder}/node_modules,type=volume"])
    assert out == {"volumes": ["nm:/w/node_modules"]}


def test_a_tmpfs_mount_is_refused_naming_it() -> None:
    with pytest.raises(PodfileError, match=r"mount 'type=tmpfs,target=/t' is refused"):
        _keys(mounts=["type=tmpfs,target=/t"])


def test_a_bind_outside_the_allowed_roots_is_refused_naming_the_mount() -> None:
    podfile = validate(convert_devcontainer(
        {"image": "i", "mounts": ["source=/etc,target=/host-etc,type=bind"]})[0])
    with pytest.raises(PodfileError) as info:
        check_policy(podfile, allowed_bind_roots=("/srv/share",))
    assert "volumes.0 (/etc:/host-etc): host path /etc is not allowed on this server" \
        in info.value.message
    check_policy(validate({"base": "i", "volumes": ["/srv/share/x:/x"]}),
                 allowed_bind_roots=("/srv/share",))  # positive control


@pytest.mark.parametrize("config", [{"privileged": True}, {"securityOpt": ["seccomp=unconfined"]}])
def test_privileged_and_security_opt_are_refused_by_name(config: dict[str, Any]) -> None:
    with pytest.raises(PodfileError) as info:
        convert_keys(config)
    assert info.value.message.startswith(next(iter(config)))
    assert "refused" in info.value.message


def test_cap_add_is_kept_for_the_policy_check() -> None:
    assert _keys(capAdd=["SYS_PTRACE", "cap_net_admin"]) == (
        {"cap_add": ["SYS_PTRACE", "NET_ADMIN"]}, [])


def test_init_and_shutdown_action_are_ignored_with_a_note() -> None:
    out, warnings = _keys(init=True, shutdownAction="none")
    assert out == {}
    assert [w.split(":")[0] for w in warnings] == ["init is ignored",
                                                   "shutdownAction is ignored"]


def test_host_requirements() -> None:
    out, warnings = _keys(hostRequirements={"cpus": 4, "memory": "4.5gb", "storage": "1tb",
                                            "gpu": True})
    assert out == {"host_requirements": {"cpus": 4, "memory": "4608m", "storage": "1024g",
                                         "gpu": True}}
    assert warnings == []
    with pytest.raises(PodfileError, match=r"hostRequirements\.memory 'lots'"):
        _keys(hostRequirements={"memory": "lots"})


def test_vscode_extensions() -> None:
    out, warnings = _keys(customizations={"vscode": {"extensions": [
        "ms-python.python", "golang.go@0.41.0", "not an id", "ms-python.python"]}})
    assert out == {"extensions": ["ms-python.python", "golang.go@0.41.0"]}
    assert warnings == ["customizations.vscode.extensions entry 'not an id' is not an "
                        "extension id (publisher.name); skipped"]


def test_run_args_safe_subset() -> None:
    parsed = parse_run_args(["-e", "A=1", "--env=B=x=y", "--memory", "2gb", "--cpus=1.5",
                             "-v", "data:/data", "--mount", "source=c,target=/c,type=volume",
                             "--cap-add", "SYS_PTRACE", "--init", "--label", "a=b",
                             "--shm-size=1g"])
    assert parsed.env == {"A": "1", "B": "x=y"}
    assert (parsed.memory, parsed.cpus) == ("2g", 1.5)
    assert parsed.volumes == ["data:/data"]
    assert parsed.mounts == ["source=c,target=/c,type=volume"]
    assert parsed.cap_add == ["SYS_PTRACE"]
    assert parsed.ignored == ["--init", "--label", "--shm-size"]


def test_run_args_map_onto_the_podfile_with_container_env_winning() -> None:
    podfile, _ = convert_devcontainer({"image": "i", "containerEnv": {"A": "2"},
                                       "runArgs": ["-e", "A=1", "-e", "B=1", "-m", "1g",
                                                   "-v", "/srv/x:/x:rw"]})
    assert podfile["env"] == {"A": "2", "B": "1"}
    assert podfile["resources"] == {"memory": "1g"}
    assert podfile["volumes"] == ["/srv/x:/x"]
    validate(podfile)


@pytest.mark.parametrize("args", [
    ["--privileged"], ["--network", "host"], ["--network=host"], ["--pid=host"],
    ["--ipc", "host"], ["--device", "/dev/kvm"], ["--security-opt", "seccomp=unconfined"],
    ["--userns=host"], ["--gpus", "all"], ["-p", "80:80"],
])
def test_unsafe_run_args_are_refused_naming_the_flag(args: list[str]) -> None:
    flag = args[0].partition("=")[0]
    with pytest.raises(PodfileError) as info:
        convert_keys({"runArgs": ["-e", "A=1", *args]})
    assert info.value.message == (f"runArgs {flag} is refused: it would weaken the session's "
                                  "isolation; remove it from devcontainer.json")


@pytest.mark.parametrize(("args", "message"), [
    (["--frobnicate"], "runArgs --frobnicate is not supported by podspawn"),
    (["ubuntu"], "runArgs: 'ubuntu' is not an option"),
    (["--memory"], "runArgs --memory needs a value"),
    (["-e", "HOME"], "runArgs -e 'HOME' must be NAME=value"),
    (["--cpus", "many"], "runArgs --cpus 'many' is not a number of CPUs"),
    ("--privileged", "runArgs must be an array of strings"),
])
def test_bad_run_args_say_what_is_wrong(args: Any, message: str) -> None:
    with pytest.raises(PodfileError) as info:
        parse_run_args(args)
    assert info.value.message.startswith(message)


def test_the_image_tag_follows_the_converted_keys() -> None:
    from podspawn.podfile.recipe import content_hash

    plain = validate(convert_devcontainer({"image": "i"})[0])
    mounted = validate(convert_devcontainer({"image": "i", "mounts": [
        "source=c,target=/c,type=volume"]})[0])
    assert content_hash(plain) != content_hash(mounted)
    assert content_hash(plain) == content_hash(validate(convert_devcontainer(
        {"image": "i", "shutdownAction": "none"})[0]))
