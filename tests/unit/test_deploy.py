"""The deployment files (deploy/, Dockerfile) stay consistent with the code.

No services and no Docker: compose.yml, the Kustomize manifests and the Terraform files are
parsed and checked against what the code defines — every ``LAKESMITH__…`` variable names a
``Settings`` field (and the compose/k8s values load as ``Settings``), every command is a
real CLI command with real options naming a built-in contract, every streaming workload
has a worker, topics and buckets are the contracts', replicas stay within partitions.
``kubectl kustomize`` and ``terraform fmt -check`` run when the tools are on PATH.
Helpers: deploy_files.py beside this file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from deploy_files import (
    DEPLOY,
    K8S_BASE,
    K8S_OVERLAY,
    METRICS_PORT,
    REPO,
    TERRAFORM,
    by_kind,
    check_variables,
    command_context,
    compose,
    dotenv,
    environment,
    interpolate,
    kafka_partitions,
    lakesmith_services,
    manifests,
    pod_spec,
    streaming_contracts,
    worker_dataset,
)
from typer import _click as click

from lakesmith.config import load_settings
from lakesmith.contracts.loader import builtin_contracts

# --- compose ---------------------------------------------------------------------------------


def test_compose_variables_are_settings_and_load() -> None:
    doc = compose()
    env_file = dotenv(DEPLOY / ".env.example")
    services = lakesmith_services(doc)
    assert services, "no service runs the lakesmith image"
    hosts = set(doc["services"])
    for name, service in services.items():
        env = environment(service)
        assert check_variables(list(env), f"compose.yml {name}") >= 5
        values = {k: interpolate(v, env_file) for k, v in env.items()}
        with pytest.MonkeyPatch.context() as mp:
            for k, v in values.items():
                mp.setenv(k, v)
            s = load_settings()
        # every address points at a service of the stack
        for url in (
            s.effective_postgres_dsn(),
            s.effective_typesense_url(),
            s.effective_s3_endpoint(),
        ):
            host = re.sub(r"^\w+://(?:[^@/]*@)?", "", url).split(":")[0].split("/")[0]
            assert host in hosts, f"compose.yml {name}: {url} names no service"
        for broker in s.effective_kafka_bootstrap().split(","):
            assert broker.split(":")[0] in hosts, f"compose.yml {name}: broker {broker}"


def test_compose_defines_every_expected_service() -> None:
    services = compose()["services"]
    for needed in ("kafka", "postgres", "minio", "typesense", "api", "prometheus", "scheduler"):
        assert needed in services, f"compose.yml: no {needed} service"
    assert "timescale" in services["postgres"]["image"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    workers = {worker_dataset(list(s.get("command") or [])): n for n, s in services.items()}
    for dataset in streaming_contracts():
        assert dataset in workers, f"compose.yml: no worker service runs {dataset}"
    commands = {n: s.get("command") for n, s in lakesmith_services(compose()).items()}
    assert commands["api"][0] == "serve" and commands["scheduler"] == ["schedule"]
    assert commands["shipper"][:2] == ["ship", "music"]


def test_compose_commands_parse_as_cli_commands() -> None:
    env_file = dotenv(DEPLOY / ".env.example")
    for name, service in lakesmith_services(compose()).items():
        args = [interpolate(str(a), env_file) for a in service.get("command") or []]
        try:
            command_context(args)
        except click.ClickException as exc:
            raise AssertionError(f"compose.yml {name}: lakesmith {args}: {exc}") from None


def test_compose_dependencies_and_healthchecks() -> None:
    services = compose()["services"]
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        if not one_shot:
            assert "healthcheck" in service, f"compose.yml {name}: long-running, no healthcheck"
        deps = service.get("depends_on") or {}
        assert isinstance(deps, dict), f"compose.yml {name}: depends_on without conditions"
        for target, cond in deps.items():
            assert target in services, f"compose.yml {name}: depends on unknown {target}"
            condition = cond["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health"
            elif condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is not a one-shot job"
            else:
                raise AssertionError(f"compose.yml {name}: condition {condition} on {target}")


def test_compose_workers_scale_and_expose_metrics() -> None:
    services = compose()["services"]
    for name, service in services.items():
        dataset = worker_dataset(list(service.get("command") or []))
        if dataset is None:
            continue
        assert "container_name" not in service, f"{name}: container_name prevents --scale"
        assert not service.get("ports"), f"{name}: host ports prevent --scale"
        args = service["command"]
        assert args[args.index("--metrics-port") + 1] == METRICS_PORT, name
        assert f"127.0.0.1:{METRICS_PORT}/metrics" in str(service["healthcheck"]["test"]), name
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    scraped = {
        (n, str(sd["port"]))
        for job in prometheus["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for n in sd["names"]
    }
    workers = {n for n, s in services.items() if worker_dataset(list(s.get("command") or []))}
    assert scraped >= {(w, METRICS_PORT) for w in workers}, "prometheus.yml misses a worker"


def test_compose_init_jobs_create_the_contracts_topics_and_buckets() -> None:
    services = compose()["services"]
    script = "\n".join(services["kafka-init"]["command"])
    created = {
        m["topic"]: (int(m["n"]), int(m["ms"]))
        for m in re.finditer(
            r"--create .*--topic (?P<topic>\S+) --partitions (?P<n>\d+).*retention\.ms=(?P<ms>\d+)",
            script,
        )
    }
    kafka = {c.source.topic: c for c in builtin_contracts().values() if c.source.kind == "kafka"}  # type: ignore[attr-defined]
    assert set(created) == set(kafka), "kafka-init creates other topics than the contracts'"
    for topic, (partitions, retention_ms) in created.items():
        spec = kafka[topic].source
        assert partitions >= 3 and partitions == spec.partitions, topic  # type: ignore[attr-defined]
        assert retention_ms == spec.retention_hours * 3_600_000, topic  # type: ignore[attr-defined]
    buckets = set(
        re.findall(
            r"mc mb --ignore-existing stack/(\S+)", "\n".join(services["minio-init"]["command"])
        )
    )
    landing = {c.source.bucket for c in builtin_contracts().values() if c.source.kind == "s3"}  # type: ignore[attr-defined]
    warehouse = environment(services["api"])["LAKESMITH__LAKE__WAREHOUSE"]
    lake = warehouse.removeprefix("s3://").split("/")[0]
    assert buckets >= {*landing, lake}, f"minio-init creates {buckets}"


# --- Kubernetes ------------------------------------------------------------------------------


def test_k8s_manifests_parse_and_kinds_present() -> None:
    docs = manifests(K8S_BASE)
    kinds = {d["kind"] for d in docs}
    needed = {"ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler"}
    assert kinds >= needed | {"CronJob", "PodDisruptionBudget", "NetworkPolicy"}, f"kinds: {kinds}"
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert len(names) == len(docs), "two manifests with the same kind and name"
    deployments = {d["metadata"]["name"]: d for d in by_kind(docs, "Deployment")}
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        wanted = pdb["spec"]["selector"]["matchLabels"].items()
        assert any(
            wanted <= d["spec"]["template"]["metadata"]["labels"].items()
            for d in deployments.values()
        ), f"PodDisruptionBudget {pdb['metadata']['name']} selects no pod"
    for svc in by_kind(docs, "Service"):
        wanted = svc["spec"]["selector"].items()
        assert any(
            wanted <= d["spec"]["template"]["metadata"]["labels"].items()
            for d in deployments.values()
        ), f"Service {svc['metadata']['name']} selects no pod"


def test_k8s_variables_are_settings_and_load() -> None:
    docs = manifests(K8S_BASE)
    (config,) = by_kind(docs, "ConfigMap")
    (secret,) = by_kind(docs, "Secret")
    env = {**config["data"], **secret["stringData"]}
    assert check_variables(list(env), "k8s base") == len(env)
    overlay = yaml.safe_load((K8S_OVERLAY / "kustomization.yaml").read_text())
    literals = [
        lit.split("=", 1)[0] for g in overlay["configMapGenerator"] for lit in g["literals"]
    ]
    check_variables(literals, "k8s overlay configMapGenerator")
    check_variables(list(dotenv(K8S_OVERLAY / "secrets.env.example")), "k8s overlay secrets")
    assert set(dotenv(K8S_OVERLAY / "secrets.env.example")) == set(secret["stringData"])
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, str(v))
        load_settings()
    refs = {
        ref[key]["name"]
        for d in docs
        if d["kind"] in ("Deployment", "CronJob")
        for c in pod_spec(d)["containers"]
        for ref in c.get("envFrom", [])
        for key in ("configMapRef", "secretRef")
        if key in ref
    }
    assert refs == {config["metadata"]["name"], secret["metadata"]["name"]}


def test_k8s_workers_limits_replicas_and_probes() -> None:
    docs = manifests(K8S_BASE)
    streaming = streaming_contracts()
    seen: set[str] = set()
    for d in by_kind(docs, "Deployment") + by_kind(docs, "CronJob"):
        for c in pod_spec(d)["containers"]:
            args = [str(a) for a in c["args"]]
            try:
                command_context(args)
            except click.ClickException as exc:
                raise AssertionError(f"{d['metadata']['name']}: lakesmith {args}: {exc}") from None
            res = c["resources"]
            assert res["requests"]["cpu"] and res["requests"]["memory"], d["metadata"]["name"]
            dataset = worker_dataset(args) if d["kind"] == "Deployment" else None
            if d["kind"] == "Deployment":
                assert "livenessProbe" in c, f"{d['metadata']['name']}: no liveness probe"
            if dataset is None:
                continue
            name = d["metadata"]["name"]
            seen.add(dataset)
            assert res["limits"]["memory"] == "4Gi", f"{name}: memory limit"
            contract = builtin_contracts()[dataset]
            most = kafka_partitions(contract) if contract.source.kind == "kafka" else 1
            assert 1 <= d["spec"]["replicas"] <= most, f"{name}: replicas > {most} partitions"
    assert seen == set(streaming), f"k8s workers for {seen}, streaming datasets {set(streaming)}"


def test_k8s_cronjobs_compact_and_rebuild_gold() -> None:
    jobs = by_kind(manifests(K8S_BASE), "CronJob")
    commands = {pod_spec(j)["containers"][0]["args"][0] for j in jobs}
    assert {"compact", "reprocess"} <= commands
    compacted = {
        pod_spec(j)["containers"][0]["args"][1]
        for j in jobs
        if pod_spec(j)["containers"][0]["args"][0] == "compact"
    }
    assert compacted == set(streaming_contracts()), "a streaming dataset is never compacted"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
@pytest.mark.parametrize("folder", [K8S_BASE, K8S_OVERLAY], ids=["base", "overlay"])
def test_k8s_kustomize_renders(folder: Path) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert len([d for d in yaml.safe_load_all(out.stdout) if d]) >= 10


# --- Terraform -------------------------------------------------------------------------------


def test_terraform_variables_are_settings() -> None:
    names = [
        m
        for tf in sorted(TERRAFORM.glob("*.tf"))
        for m in re.findall(r"^\s*(LAKESMITH\w*)\s*=", tf.read_text(), re.MULTILINE)
    ]
    assert check_variables(names, "terraform") >= 10


def test_terraform_workers_match_the_contracts() -> None:
    text = (TERRAFORM / "variables.tf").read_text()
    workers = re.findall(
        r'dataset = "(?P<d>[^"]+)", source = "(?P<s>\w+)", partitions = (?P<p>\d+), '
        r"desired_count = (?P<n>\d+)",
        text,
    )
    assert {d for d, *_ in workers} == set(streaming_contracts()), "terraform workers"
    for dataset, source, partitions, count in workers:
        contract = builtin_contracts()[dataset]
        assert source == contract.source.kind, dataset
        if source == "kafka":
            assert int(partitions) == kafka_partitions(contract), dataset
        assert 1 <= int(count) <= int(partitions), dataset
    memory = re.search(r'variable "task_memory_mb" \{.*?default\s*=\s*(\d+)', text, re.DOTALL)
    assert memory is not None and memory.group(1) == "4096"
    ecs = (TERRAFORM / "ecs.tf").read_text()
    commands = re.findall(r"^\s*command\s*=\s*(\[.*\])\s*$", ecs, re.MULTILINE)
    assert len(commands) == 3, "ecs.tf: a command for the workers, the API and the scheduler"
    for raw in commands:
        for dataset, *_ in workers:
            args = json.loads(raw.replace("w.dataset", json.dumps(dataset)))
            try:
                command_context(args)
            except click.ClickException as exc:
                raise AssertionError(f"ecs.tf: lakesmith {args}: {exc}") from None
            if args[0] == "run":
                assert worker_dataset(args) == dataset and METRICS_PORT in args


def test_terraform_references_resolve() -> None:
    """What ``terraform validate`` would catch first, without the providers: every
    resource, data source, variable and local referred to is declared, every variable used."""
    code = "\n".join(
        re.sub(r"#.*", "", tf.read_text()) for tf in sorted(TERRAFORM.glob("*.tf"))
    )  # no "#" inside a string in these files
    resources = set(re.findall(r'^resource "(\w+)" "(\w+)"', code, re.MULTILINE))
    data = set(re.findall(r'^data "(\w+)" "(\w+)"', code, re.MULTILINE))
    variables = set(re.findall(r'^variable "(\w+)"', code, re.MULTILINE))
    blocks = re.findall(r"^locals \{\n(.*?)^\}", code, re.MULTILINE | re.DOTALL)
    locals_ = {n for b in blocks for n in re.findall(r"^  (\w+)\s*=", b, re.MULTILINE)}
    used_resources = set(re.findall(r"(?<![\w.])((?:aws|random)_\w+)\.(\w+)", code))
    assert used_resources <= resources, f"undeclared: {used_resources - resources}"
    used_data = set(re.findall(r"\bdata\.(\w+)\.(\w+)", code))
    assert used_data <= data, f"undeclared data sources: {used_data - data}"
    used_vars = set(re.findall(r"\bvar\.(\w+)", code))
    assert used_vars == variables, (
        f"undeclared: {used_vars - variables}, unused: {variables - used_vars}"
    )
    used_locals = set(re.findall(r"\blocal\.(\w+)", code))
    assert used_locals <= locals_, f"undeclared locals: {used_locals - locals_}"


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")
def test_terraform_fmt() -> None:
    out = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-list=true", str(DEPLOY / "terraform")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, f"terraform fmt would change: {out.stdout}{out.stderr}"


# --- image -----------------------------------------------------------------------------------


def test_dockerfile_multi_stage_uv_non_root() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) >= 2, "not multi-stage"
    syncs = re.findall(r"uv sync [^\n]*", text)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), syncs
    final = stages[-1]
    user = re.findall(r"^USER (\S+)", final, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("0", "root"), "final stage runs as root"
    assert "uv " not in final and "COPY src" not in final, "final stage builds or copies src"
    assert re.search(r'^ENTRYPOINT \["lakesmith"\]', final, re.MULTILINE)
    ignore = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip()]
    patterns = [line for line in ignore if not line.startswith("#")]
    assert patterns[0] == "**", ".dockerignore: not deny-all first (the context would hold .venv)"
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE)
    allowed = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    for line in copied:
        for src in line.split():
            assert src.rstrip("/") in allowed, f"Dockerfile copies {src}, .dockerignore drops it"
