"""The Kubernetes manifests and the dask-jobqueue example of jobs/: parsed, cross-checked, no
credentials anywhere."""

from __future__ import annotations

import ast
import py_compile
import re
from pathlib import Path

import pytest
import yaml

from dkmeans.config import is_secret_key, load_config, parse_size

JOBS = Path(__file__).resolve().parents[2] / "jobs"
K8S = JOBS / "kubernetes"
SECRET_NAME = re.compile(r"(secret|token|password|passwd|credential|access_key|api_key)", re.I)


def docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d is not None]


def one(name: str, kind: str) -> dict:
    [doc] = [d for d in docs(name) if d["kind"] == kind]
    return doc


def containers(pod_spec: dict) -> list[dict]:
    return pod_spec.get("initContainers", []) + pod_spec["containers"]


def all_containers() -> list[dict]:
    cron = one("cronjob.yaml", "CronJob")
    dask = one("daskcluster.yaml", "DaskCluster")["spec"]
    return (containers(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"])
            + containers(dask["scheduler"]["spec"]) + containers(dask["worker"]["spec"]))


def k8s_quantity(value: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 10**3, "M": 10**6,
             "G": 10**9, "T": 10**12}
    number, unit = re.fullmatch(r"(\d+)([KMGT]i?)?", str(value)).groups()
    return int(number) * units.get(unit, 1)


@pytest.mark.parametrize("name, kinds", [
    ("cronjob.yaml", [("batch/v1", "CronJob")]),
    ("daskcluster.yaml", [("kubernetes.dask.org/v1", "DaskCluster")]),
    ("configmap-job.yaml", [("v1", "ConfigMap")]),
])
def test_every_manifest_parses_with_the_expected_kinds(name, kinds):
    found = docs(name)
    assert [(d["apiVersion"], d["kind"]) for d in found] == kinds
    for d in found:
        assert d["metadata"]["name"] and d["metadata"]["namespace"] == "dkmeans"


def test_cronjob():
    cron = one("cronjob.yaml", "CronJob")["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert len(cron["schedule"].split()) == 5
    job = cron["jobTemplate"]["spec"]
    assert isinstance(job["backoffLimit"], int) and job["backoffLimit"] >= 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    assert container["command"] == ["dkmeans", "run", "/config/job.yaml"]
    assert "args" not in container
    for section in ("requests", "limits"):
        assert container["resources"][section]["memory"]
    # a config error (exit 2) fails the Job at once instead of retrying
    [rule] = job["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["values"] == [2]
    assert rule["onExitCodes"]["containerName"] == container["name"]


def test_cronjob_mounts_the_configmap_as_config_job_yaml():
    pod = one("cronjob.yaml", "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [mount] = pod["containers"][0]["volumeMounts"]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    configmap = one("configmap-job.yaml", "ConfigMap")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    [item] = volume["configMap"]["items"]
    assert f"{mount['mountPath']}/{item['path']}" == "/config/job.yaml"
    assert item["key"] in configmap["data"]


def test_s3_credentials_come_from_a_secret_in_every_pod():
    for container in all_containers():
        if container["name"] == "scheduler":
            continue  # the scheduler never touches the data
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})}
        from_secret = [e["secretRef"]["name"] for e in container.get("envFrom", [])
                       if "secretRef" in e]
        assert from_secret or {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(refs), \
            container["name"]
        assert all(r["name"] and r["key"] for r in refs.values())


def _walk(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, str(i)))
    else:
        yield path, node


def test_no_literal_credentials_anywhere():
    files = sorted(p for p in JOBS.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert len(files) >= 6
    for path in files:
        text = path.read_text()
        assert not re.search(r"\bAKIA[0-9A-Z]{16}\b", text), path  # an AWS access key id
        assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text), path
        assert not re.search(r"(?i)aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{20,}",
                             text), path
    for name in ("cronjob.yaml", "daskcluster.yaml", "configmap-job.yaml"):
        for doc in docs(name):
            assert doc["kind"] != "Secret", f"{name} must not carry a Secret's values"
            # in manifests, `key` names an entry of a Secret or ConfigMap: not a credential
            for path, value in _walk(doc):
                if SECRET_NAME.search(path[-1]) and isinstance(value, str):
                    assert value.startswith("${"), f"{name}: {'.'.join(path)} is inlined"
            # in job configs, `key`, `secret`, `token`... are (s3fs) credentials
            for text in doc.get("data", {}).values():
                for path, value in _walk(yaml.safe_load(text)):
                    if is_secret_key(path[-1]) and isinstance(value, str):
                        assert value.startswith("${"), f"{name}: {'.'.join(path)} is inlined"
        for container in (all_containers() if name != "configmap-job.yaml" else []):
            for entry in container.get("env", []):
                if SECRET_NAME.search(entry["name"]):
                    assert "value" not in entry, f"{entry['name']} inlined in {name}"


def _job_config_text() -> str:
    return one("configmap-job.yaml", "ConfigMap")["data"]["job.yaml"]


def _cronjob_env() -> dict[str, str]:
    pod = one("cronjob.yaml", "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return {e["name"]: e.get("value", "<from a secret>") for e in pod["containers"][0]["env"]}


def test_job_config_validates_with_the_cronjob_environment():
    text = _job_config_text()
    needed = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))  # no default given
    env = _cronjob_env()
    assert needed <= set(env), f"the CronJob does not set {needed - set(env)}"
    config = load_config(text, environ=env)
    assert config.input.url.startswith("s3://") and config.output.url.startswith("s3://")
    assert config.input.storage_options == {"endpoint_url": env["S3_ENDPOINT"]}
    assert config.input.storage_options.keys() == config.output.storage_options.keys()


def test_job_config_points_at_the_daskcluster_scheduler_service():
    dask = one("daskcluster.yaml", "DaskCluster")
    name, namespace = dask["metadata"]["name"], dask["metadata"]["namespace"]
    [port] = [p["port"] for p in dask["spec"]["scheduler"]["service"]["ports"]
              if p["name"] == "tcp-comm"]
    config = load_config(_job_config_text(), environ=_cronjob_env())
    assert config.cluster.address == \
        f"tcp://{name}-scheduler.{namespace}.svc.cluster.local:{port}"
    assert namespace == one("configmap-job.yaml", "ConfigMap")["metadata"]["namespace"]


def test_daskcluster_worker_memory_limit_matches_its_container():
    spec = one("daskcluster.yaml", "DaskCluster")["spec"]
    [worker] = spec["worker"]["spec"]["containers"]
    args = worker["args"]
    assert args[:2] == ["dask", "worker"]
    memory_limit = parse_size(args[args.index("--memory-limit") + 1])
    assert memory_limit == k8s_quantity(worker["resources"]["limits"]["memory"])
    assert memory_limit == k8s_quantity(worker["resources"]["requests"]["memory"])
    threads = int(args[args.index("--nthreads") + 1])
    assert threads <= k8s_quantity(worker["resources"]["limits"]["cpu"])
    assert isinstance(spec["worker"]["replicas"], int)
    [scheduler] = spec["scheduler"]["spec"]["containers"]
    assert scheduler["args"] == ["dask", "scheduler"]
    ports = {p["name"]: p["containerPort"] for p in scheduler["ports"]}
    assert ports["tcp-comm"] == 8786
    service = spec["scheduler"]["service"]
    assert service["selector"] == {"dask.org/cluster-name": "dkmeans",
                                   "dask.org/component": "scheduler"}
    images = {c["image"] for c in all_containers()}
    assert len(images) == 1, f"client, scheduler and workers must share one image: {images}"


def test_jobqueue_example_compiles_and_imports_lazily(tmp_path):
    path = JOBS / "jobqueue_example.py"
    py_compile.compile(str(path), cfile=str(tmp_path / "example.pyc"), doraise=True)
    tree = ast.parse(path.read_text())
    top_level = set()
    for node in tree.body:  # module-level imports only: the rest must wait for main()
        if isinstance(node, ast.Import):
            top_level |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            top_level.add((node.module or "").split(".")[0])
    assert top_level <= {"__future__", "argparse", "logging", "sys"}, top_level
    source = path.read_text()
    assert "SLURMCluster(" in source and "run_job(config, client=client)" in source
