#!/usr/bin/env python3
"""Static checks of deploy/docker-compose.yml and deploy/Dockerfile for machines without a Docker engine or the
compose plugin: YAML parses (anchors and merge keys resolved), every service has an image or build and a health
check (except the one-shot init), every depends_on target and named volume exists, bookies keep journal, entry logs
and index on three distinct volumes, bookies and brokers start from the mounted conf/bookie.json and conf/broker.json
(--config) and those files parse (// comments and trailing commas removed) and hold the directories and metadata URL,
published ports do not clash, and the Dockerfile is a two-stage sdk:10.0 -> aspnet:10.0 build that copies every
project file of src/. Exit status 0 when all hold."""
import json
import re
import sys
from pathlib import Path

import yaml

here = Path(__file__).resolve().parent
errors = []
compose = yaml.safe_load((here / "docker-compose.yml").read_text())
services = compose["services"]
declared_volumes = set((compose.get("volumes") or {}).keys())

for name, svc in services.items():
    if "image" not in svc and "build" not in svc:
        errors.append(f"{name}: neither image nor build")
    if name != "init" and "healthcheck" not in svc:
        errors.append(f"{name}: no healthcheck")
    deps = svc.get("depends_on") or {}
    for dep in deps:
        if dep not in services:
            errors.append(f"{name}: depends on unknown service {dep}")
    for vol in svc.get("volumes") or []:
        source = vol.split(":")[0]
        if not source.startswith(("/", ".")) and source not in declared_volumes:
            errors.append(f"{name}: volume {source} not declared")

bookies = [n for n in services if n.startswith("bookie-")]
if len(bookies) != 3:
    errors.append(f"expected 3 bookies, found {bookies}")


def load_conf(name):
    """A conf/*.json the way the .NET JSON provider reads it: // comments and trailing commas allowed."""
    text = (here / "conf" / name).read_text()
    text = re.sub(r'^\s*//.*$', '', text, flags=re.M)
    text = re.sub(r'(?<=[,{\[\]}"\d])\s*//[^"\n]*$', '', text, flags=re.M)
    text = re.sub(r',(\s*[}\]])', r'\1', text)
    return json.loads(text)


def check_config(name, svc, conf):
    mounts = [v for v in svc.get("volumes") or [] if v.split(":")[1] == f"/etc/pulsarish/{conf}"]
    if mounts != [f"./conf/{conf}:/etc/pulsarish/{conf}:ro"]:
        errors.append(f"{name}: conf/{conf} not mounted read-only at /etc/pulsarish/{conf}")
    command = " ".join(svc["command"])
    if f"--config /etc/pulsarish/{conf}" not in command and f"--config=/etc/pulsarish/{conf}" not in command:
        errors.append(f"{name}: command lacks '--config /etc/pulsarish/{conf}'")


try:
    bookie_conf = load_conf("bookie.json")
    broker_conf = load_conf("broker.json")
except (OSError, ValueError) as e:
    errors.append(f"conf: {e}")
    bookie_conf, broker_conf = {}, {}
for key, value in [("JournalDir", "/pulsarish/journal"), ("LedgersDir", "/pulsarish/ledgers"), ("IndexDir", "/pulsarish/index")]:
    if bookie_conf.get("Bookie", {}).get(key) != value:
        errors.append(f"conf/bookie.json: Bookie:{key} must be {value}")
for conf_name, conf in [("bookie.json", bookie_conf), ("broker.json", broker_conf)]:
    if conf.get("Metadata", {}).get("Url") != "zk:zookeeper:2181":
        errors.append(f"conf/{conf_name}: Metadata:Url must be zk:zookeeper:2181")

for name in bookies:
    check_config(name, services[name], "bookie.json")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"] if not v.split(":")[1].startswith("/etc/pulsarish/")}
    wanted = ["/pulsarish/journal", "/pulsarish/ledgers", "/pulsarish/index"]
    if sorted(mounts) != sorted(wanted) or len(set(mounts.values())) != 3:
        errors.append(f"{name}: journal, ledgers and index must be three separate volumes, got {mounts}")
    command = " ".join(services[name]["command"])
    for flag in [f"--bookie-id {name}"]:
        if flag not in command:
            errors.append(f"{name}: command lacks '{flag}'")

brokers = [n for n in services if n.startswith("broker-")]
if len(brokers) != 2:
    errors.append(f"expected 2 brokers, found {brokers}")
for name in brokers:
    check_config(name, services[name], "broker.json")
published = []
for name, svc in services.items():
    for port in svc.get("ports") or []:
        published.append(str(port).split(":")[0])
if len(published) != len(set(published)):
    errors.append(f"published host ports clash: {published}")
if services["zookeeper"]["image"] != "zookeeper:3.8":
    errors.append("zookeeper must use the official zookeeper:3.8 image")
if services["init"].get("restart") != "no":
    errors.append("init must be one-shot (restart: \"no\")")

dockerfile = (here / "Dockerfile").read_text()
stages = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
if stages != ["mcr.microsoft.com/dotnet/sdk:10.0", "mcr.microsoft.com/dotnet/aspnet:10.0"]:
    errors.append(f"Dockerfile stages are {stages}")
root = here.parent
for src in re.findall(r"^COPY\s+(?!--from)(.+?)\s+\S+$", dockerfile, re.M):
    for path in src.split():
        if not (root / path).exists():
            errors.append(f"Dockerfile copies missing {path}")

for csproj in sorted((root / "src").glob("*/*.csproj")):
    relative = csproj.relative_to(root).as_posix()
    if not re.search(rf"^COPY\s+{re.escape(relative)}\s", dockerfile, re.M):
        errors.append(f"Dockerfile restore layer lacks {relative}")

for e in errors:
    print("error:", e)
print(f"services: {', '.join(services)}; volumes: {len(declared_volumes)}; {'OK' if not errors else f'{len(errors)} errors'}")
sys.exit(1 if errors else 0)
