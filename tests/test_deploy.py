"""deploy/compose.yaml against the settings the app reads: every PILOTQA_* variable is a `Config` field with a
value of the right type, the replicas listen beyond loopback only with the API token (compose itself refuses to
start without it), and nginx sends traffic to the port the app listens on."""
from __future__ import annotations

import re
from dataclasses import fields

import pytest

from rag.config import ROOT, Config
from rag.serve.server import MAX_BODY, ServeError, check_binding, is_loopback

yaml = pytest.importorskip("yaml")

COMPOSE = ROOT / "deploy" / "compose.yaml"
NGINX = ROOT / "deploy" / "nginx.conf"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class Unset(Exception):
    pass


def interpolate(value: str, env: dict) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`."""

    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        v = env.get(name)
        empty = v is None or (op is not None and op.startswith(":") and v == "")
        if op and op.endswith("?") and empty:
            raise Unset(f"{name}: {arg}")
        if op and op.endswith("-") and empty:
            return arg
        return v or ""

    return _VAR.sub(one, str(value))


def _environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _pilotqa_services(compose) -> dict:
    return {name: s for name, s in compose["services"].items()
            if any(k.startswith("PILOTQA_") for k in _environment(s))}


def test_every_pilotqa_variable_is_a_config_field(compose):
    names = {f.name for f in fields(Config)}
    services = _pilotqa_services(compose)
    assert {"app", "indexer"} <= set(services)
    for name, service in services.items():
        env = {k: interpolate(v, {"PILOTQA_API_TOKEN": "t"}) for k, v in _environment(service).items()}
        for key in env:
            if key.startswith("PILOTQA_"):
                assert key[len("PILOTQA_"):].lower() in names, f"{name}: {key} is not a Config field"
        cfg = Config.from_env(env)  # every value coerces to its field's type
        assert cfg.store == env.get("PILOTQA_STORE", cfg.store)


def test_replicas_bound_beyond_loopback_need_the_token(compose):
    app = compose["services"]["app"]
    assert "serve" in app["command"] and app["deploy"]["replicas"] >= 2
    raw = _environment(app)
    cfg = Config.from_env({k: interpolate(v, {"PILOTQA_API_TOKEN": "t"}) for k, v in raw.items()})
    assert not is_loopback(cfg.host)
    check_binding(cfg)  # accepted with the token
    with pytest.raises(Unset):  # compose refuses to start without it: it is required, with no default
        interpolate(raw["PILOTQA_API_TOKEN"], {})
    with pytest.raises(ServeError):  # and the app itself would refuse too
        check_binding(cfg.with_overrides(api_token=""))


def test_replicas_share_milvus_and_the_llm_and_probe_readiness(compose):
    app = compose["services"]["app"]
    env = _environment(app)
    assert env["PILOTQA_STORE"] == "milvus" and env["PILOTQA_MILVUS_URI"].startswith("http://milvus:")
    assert env["PILOTQA_LLM_BASE_URL"].startswith("http://vllm:") and "vllm" in compose["services"]
    assert "/readyz" in " ".join(app["healthcheck"]["test"])
    assert app["depends_on"]["indexer"]["condition"] == "service_completed_successfully"


def test_nginx_points_at_the_app_port_and_limits_bodies(compose):
    port = Config.from_env(_environment(compose["services"]["app"]) | {"PILOTQA_API_TOKEN": "t"}).port
    conf = NGINX.read_text(encoding="utf-8")
    upstreams = re.findall(r"server\s+app:(\d+)", conf)
    assert upstreams and all(int(p) == port for p in upstreams)
    size = re.search(r"client_max_body_size\s+(\d+)k;", conf)
    assert size and int(size.group(1)) * 1024 <= MAX_BODY
    proxy = compose["services"]["proxy"]
    assert any("nginx.conf" in v for v in proxy["volumes"])
