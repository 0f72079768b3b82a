"""Checks the deployment files (deploy/, Dockerfile, docs/runbook.md) against the project.

Every manifest must parse; the ports, paths, image, metric names and probe endpoints they name
must be the ones the project (and the built binary, DRIFTWATCH_BIN) actually has; the
PrometheusRule must carry exactly the rules of deploy/prometheus/driftwatch-rules.yml; every
alert must link to a runbook section that exists. Needs /usr/bin/python3 with python3-yaml,
promtool (prometheus package) and, when installed, systemd-analyze.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import yaml

SOURCE_DIR = os.environ.get(
    "DRIFTWATCH_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
DEPLOY = os.path.join(SOURCE_DIR, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
RULES = os.path.join(DEPLOY, "prometheus", "driftwatch-rules.yml")
DASHBOARD = os.path.join(DEPLOY, "grafana", "driftwatch-dashboard.json")
RUNBOOK = os.path.join(SOURCE_DIR, "docs", "runbook.md")
FIXTURE_VERSIONS = os.path.join(SOURCE_DIR, "tests", "fixtures", "warehouse", "versions")

PORT = 9731
CONFIG_PATH = "/etc/driftwatch/driftwatch.toml"
STATE_DIR = "/var/lib/driftwatch"
# DESIGN.md "Metrics": the only series rules and dashboards may use (plus Prometheus' `up`).
DESIGN_METRICS = {
    "driftwatch_build_info",
    "driftwatch_target_up",
    "driftwatch_drift_detected",
    "driftwatch_findings",
    "driftwatch_findings_by_risk",
    "driftwatch_revision_at_head",
    "driftwatch_revision_behind",
    "driftwatch_revision_state",
    "driftwatch_revision_info",
    "driftwatch_migration_heads",
    "driftwatch_last_check_timestamp_seconds",
    "driftwatch_last_success_timestamp_seconds",
    "driftwatch_check_duration_seconds",
    "driftwatch_checks_total",
    "driftwatch_check_errors_total",
    "driftwatch_config_reload_success",
    "driftwatch_config_last_reload_success_timestamp_seconds",
    "driftwatch_shard_info",
    "driftwatch_alert_notifications_total",
    "driftwatch_alert_undelivered",
    "driftwatch_last_result_age_seconds",
    "driftwatch_migrations_up",
    # Companions (issue 12/13): the reason a migrations source is down; findings that may only
    # be pending migrations (compared with head, not the target's own revision).
    "driftwatch_migrations_problem",
    "driftwatch_findings_possibly_pending",
    "driftwatch_drift_cause",
    "driftwatch_migrating_since_timestamp_seconds",
}
# Prometheus' own series: `up`, and ALERTS (a firing alert keeps firing through a migration).
ALLOWED_METRICS = DESIGN_METRICS | {"up", "ALERTS"}
REVISION_STATES = {
    "at_head", "behind", "unknown_revision", "multiple_heads_in_db", "no_version_table",
    "empty_version_table", "migrating",
}
RISKS = {
    "not_null_violation", "undefined_column", "undefined_table", "undefined_object",
    "type_mismatch", "unique_violation", "none",
}
PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}


def read(path):
    with open(path) as f:
        return f.read()


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def project_version():
    cmake = read(os.path.join(SOURCE_DIR, "CMakeLists.txt"))
    m = re.search(r"project\(driftwatch VERSION ([0-9.]+)", cmake)
    assert m, "no project VERSION in CMakeLists.txt"
    return m.group(1)


def metric_names(expr):
    """Metric names a PromQL expression selects: identifiers that are not functions, keywords,
    label names (inside {} or by/on/... lists) or parts of strings and durations."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS or word.startswith("$"):
            continue
        if m.start() > 0 and e[m.start() - 1] == "$":
            continue  # Grafana variable such as $__rate_interval
        names.add(word)
    return names


def rules():
    return [r for g in yaml.safe_load(read(RULES))["groups"] for r in g["rules"]]


def dashboard_exprs():
    exprs = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                exprs.append(t["expr"])
            walk(p.get("panels", []))

    dash = json.loads(read(DASHBOARD))
    walk(dash["panels"])
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.match(r"label_values\((\w+)", q)
            if m:
                exprs.append(m.group(1))
    return exprs


def grafana_to_promql(expr):
    return expr.replace("$__rate_interval", "5m").replace("$target", ".*")


def markdown_anchors(text):
    """GitHub-style anchors of the Markdown headings."""
    anchors = set()
    for line in text.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            title = m.group(1).strip().lower()
            title = re.sub(r"[^\w\- ]", "", title)
            anchors.add(title.replace(" ", "-"))
    return anchors


def k8s(kind):
    found = []
    for name in sorted(os.listdir(K8S)):
        if name.endswith((".yaml", ".yml")):
            for doc in load_yaml_docs(os.path.join(K8S, name)):
                if doc.get("kind") == kind:
                    found.append(doc)
    return found


def configmap_toml():
    (cm,) = k8s("ConfigMap")
    return cm["data"]["driftwatch.toml"]


def driftwatch_bin():
    path = os.environ.get("DRIFTWATCH_BIN")
    if not path:
        raise unittest.SkipTest("DRIFTWATCH_BIN is not set")
    return path


class ManifestsTest(unittest.TestCase):
    def test_every_manifest_parses(self):
        count = 0
        for root, _, files in os.walk(DEPLOY):
            for name in files:
                path = os.path.join(root, name)
                if name.endswith((".yaml", ".yml")):
                    docs = load_yaml_docs(path)
                    self.assertTrue(docs, path + " is empty")
                    count += 1
                elif name.endswith(".json"):
                    json.loads(read(path))
                    count += 1
        self.assertGreaterEqual(count, 10)

    def test_kustomization_lists_every_manifest_but_the_example_secret(self):
        kustomization = yaml.safe_load(read(os.path.join(K8S, "kustomization.yaml")))
        listed = set(kustomization["resources"])
        present = {
            n for n in os.listdir(K8S) if n.endswith(".yaml") and n != "kustomization.yaml"
        }
        self.assertEqual(listed, present - {"secret.example.yaml"})
        self.assertNotIn("secret.example.yaml", listed)
        if shutil.which("kubectl"):
            out = subprocess.run(
                ["kubectl", "kustomize", K8S], capture_output=True, text=True, timeout=60
            )
            self.assertEqual(out.returncode, 0, out.stderr)
            kinds = sorted(d["kind"] for d in yaml.safe_load_all(out.stdout) if d)
            self.assertEqual(
                kinds,
                sorted(["Namespace", "ServiceAccount", "ConfigMap", "StatefulSet", "Service",
                        "NetworkPolicy", "PodMonitor", "PrometheusRule"]),
            )

    def test_statefulset_matches_image_port_probes_and_config(self):
        (sts,) = k8s("StatefulSet")
        spec = sts["spec"]
        self.assertEqual(spec["replicas"], 1)
        pod = spec["template"]["spec"]
        (c,) = pod["containers"]
        self.assertEqual(c["image"], "driftwatch:" + project_version())
        # The image's ENTRYPOINT is `driftwatch serve`; `command` replaces it, so the process
        # runs exactly `driftwatch serve --config CONFIG_PATH` (not `serve serve`).
        argv = c.get("command", ["driftwatch", "serve"]) + c.get("args", [])
        self.assertEqual(argv, ["driftwatch", "serve", "--config", CONFIG_PATH])
        self.assertEqual(c["ports"], [{"name": "http", "containerPort": PORT, "protocol": "TCP"}])
        self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "http"})
        self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "http"})
        for kind in ("requests", "limits"):
            self.assertIn("memory", c["resources"][kind])
            self.assertIn("cpu", c["resources"][kind])
        sc = c["securityContext"]
        self.assertTrue(sc["runAsNonRoot"])
        self.assertEqual(sc["runAsUser"], 10001)
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertEqual(sc["seccompProfile"]["type"], "RuntimeDefault")
        self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
        # The config file is the ConfigMap's driftwatch.toml key under its mount.
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        config_volume = [n for n, v in volumes.items()
                         if v.get("configMap", {}).get("name") == "driftwatch-config"]
        self.assertEqual(len(config_volume), 1)
        self.assertEqual(mounts[config_volume[0]] + "/driftwatch.toml", CONFIG_PATH)
        # The state directory is a persistent volume.
        claims = {t["metadata"]["name"] for t in spec["volumeClaimTemplates"]}
        self.assertIn(STATE_DIR, [mounts[n] for n in claims])
        # shard_index = "auto" derives the shard from the pod name.
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name")
        # Above the drain timeout of the ConfigMap's config.
        drain = re.search(r'drain_timeout\s*=\s*"(\d+)s"', configmap_toml())
        self.assertLess(int(drain.group(1)), pod["terminationGracePeriodSeconds"])

    def test_configmap_config_is_valid_and_fits_the_pod(self):
        toml = configmap_toml()
        self.assertRegex(toml, r'listen\s*=\s*"0\.0\.0\.0:%d"' % PORT)
        self.assertRegex(toml, r'state_dir\s*=\s*"%s"' % STATE_DIR)
        self.assertRegex(toml, r'shard_index\s*=\s*"auto"')
        (sts,) = k8s("StatefulSet")
        (c,) = sts["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in c["env"]}
        # Every url_env the config names is set from the `driftwatch` Secret, whose example
        # documents the same keys.
        url_envs = re.findall(r'url_env\s*=\s*"(\w+)"', toml)
        self.assertTrue(url_envs)
        (example,) = load_yaml_docs(os.path.join(K8S, "secret.example.yaml"))
        for name in url_envs:
            self.assertIn(name, env, "url_env %s is not set in the StatefulSet" % name)
            ref = env[name]["valueFrom"]["secretKeyRef"]
            self.assertEqual(ref["name"], example["metadata"]["name"])
            self.assertIn(ref["key"], example["stringData"])
        # Paths the config reads are mounted.
        mounts = [m["mountPath"] for m in c["volumeMounts"]]
        for path in re.findall(r'(?:versions|snapshots|admin_token_file)\s*=\s*\[?"([^"]+)"', toml):
            self.assertTrue(any(path == m or path.startswith(m + "/") for m in mounts), path)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "driftwatch.toml")
            with open(path, "w") as f:
                f.write(toml)
            out = subprocess.run(
                [driftwatch_bin(), "validate-config", "--config", path, "--offline"],
                capture_output=True, text=True, timeout=60,
            )
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_default_port_is_the_projects(self):
        self.assertIn('listen = "127.0.0.1:%d"' % PORT,
                      read(os.path.join(SOURCE_DIR, "config", "driftwatch.example.toml")))
        self.assertIn('"127.0.0.1:%d"' % PORT,
                      read(os.path.join(SOURCE_DIR, "include", "driftwatch", "config.hpp")))

    def test_service_podmonitor_and_networkpolicy_use_the_http_port(self):
        (svc,) = k8s("Service")
        self.assertEqual([(p["name"], p["port"]) for p in svc["spec"]["ports"]], [("http", PORT)])
        (sts,) = k8s("StatefulSet")
        self.assertEqual(sts["spec"]["serviceName"], svc["metadata"]["name"])
        labels = sts["spec"]["template"]["metadata"]["labels"]
        for sel in (svc["spec"]["selector"], sts["spec"]["selector"]["matchLabels"]):
            self.assertLessEqual(sel.items(), labels.items())
        (pm,) = k8s("PodMonitor")
        self.assertLessEqual(pm["spec"]["selector"]["matchLabels"].items(), labels.items())
        self.assertEqual([(e["port"], e["path"]) for e in pm["spec"]["podMetricsEndpoints"]],
                         [("http", "/metrics")])
        (np,) = k8s("NetworkPolicy")
        self.assertLessEqual(np["spec"]["podSelector"]["matchLabels"].items(), labels.items())
        self.assertEqual(sorted(np["spec"]["policyTypes"]), ["Egress", "Ingress"])
        (ingress,) = np["spec"]["ingress"]
        self.assertEqual(ingress["ports"], [{"protocol": "TCP", "port": PORT}])
        self.assertEqual(
            ingress["from"][0]["namespaceSelector"]["matchLabels"],
            {"kubernetes.io/metadata.name": "monitoring"},
        )
        egress_ports = {
            (p["protocol"], p["port"]) for r in np["spec"]["egress"] for p in r["ports"]
        }
        self.assertEqual(egress_ports, {("TCP", 5432), ("UDP", 53), ("TCP", 53)})


class RulesTest(unittest.TestCase):
    def test_prometheusrule_carries_the_rule_file(self):
        (pr,) = k8s("PrometheusRule")
        self.assertEqual(pr["spec"]["groups"], yaml.safe_load(read(RULES))["groups"])
        # And is exactly what the render script writes now.
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "prometheusrule.yaml")
            subprocess.run([os.path.join(K8S, "render-prometheusrule.sh"), out], check=True,
                           timeout=60)
            self.assertEqual(read(out), read(os.path.join(K8S, "prometheusrule.yaml")),
                             "run deploy/kubernetes/render-prometheusrule.sh")

    def test_rules_are_complete_and_link_to_existing_runbook_sections(self):
        anchors = markdown_anchors(read(RUNBOOK))
        names = set()
        for r in rules():
            name = r["alert"]
            names.add(name)
            self.assertIn("for", r, name)
            self.assertIn(r["labels"]["severity"], {"critical", "warning"}, name)
            for key in ("summary", "description", "runbook_url"):
                self.assertTrue(r["annotations"].get(key), "%s: %s" % (name, key))
            page, _, anchor = r["annotations"]["runbook_url"].partition("#")
            self.assertEqual(page, "docs/runbook.md", name)
            self.assertIn(anchor, anchors, name)
        # DESIGN.md's alert names are all there.
        self.assertLessEqual(
            {"DriftwatchSchemaDrift", "DriftwatchRevisionBehind", "DriftwatchUnknownRevision",
             "DriftwatchMultipleHeads", "DriftwatchTargetDown"},
            names,
        )
        self.assertEqual(
            {r["labels"]["severity"] for r in rules() if r["alert"] == "DriftwatchSchemaDrift"},
            {"critical", "warning"},
        )

    def test_schema_and_revision_rules_are_silent_while_migrating(self):
        for r in rules():
            expr = r["expr"]
            if re.search(r"driftwatch_(findings|revision_behind|revision_state|drift_detected)",
                         expr):
                # Either form: silent while migrating, or (drift rules) silent unless it
                # already fires.
                self.assertRegex(expr, r'unless on \(target\) \(\s*max by \(target\) '
                                 r'\(driftwatch_revision_state\{state="migrating"\}\) == 1',
                                 r["alert"])

    def test_per_target_rules_aggregate_over_replicas(self):
        for r in rules():
            if "{{ $labels.target }}" in r["annotations"]["summary"]:
                self.assertRegex(r["expr"], r"^\s*(time\(\) - )?max by \(target", r["alert"])

    def test_label_values_exist(self):
        text = read(RULES) + read(DASHBOARD)
        for state in re.findall(r'\bstate\s*=~?\s*\\?"([^"\\]+)', text):
            self.assertLessEqual(set(state.split("|")), REVISION_STATES, state)
        for risk in re.findall(r'risk\s*!?=~?\s*\\?"([^"\\]+)', text):
            self.assertLessEqual(set(risk.split("|")), RISKS, risk)


class MetricNamesTest(unittest.TestCase):
    def test_extractor_finds_names(self):
        self.assertEqual(
            metric_names('time() - max by (target) (driftwatch_a{x="y"}) > 1 unless on (target) '
                         '(sum(rate(driftwatch_b[5m])) == 0) and up{job=~"d.*"}'),
            {"driftwatch_a", "driftwatch_b", "up"},
        )

    def test_rules_and_dashboard_use_only_design_metrics(self):
        used = set()
        for r in rules():
            used |= metric_names(r["expr"])
        for e in dashboard_exprs():
            used |= metric_names(grafana_to_promql(e))
        self.assertLessEqual(used, ALLOWED_METRICS)
        # Enough of them to be the real thing.
        self.assertGreaterEqual(len(used & DESIGN_METRICS), 12)

    def test_dashboard_queries_are_valid_promql(self):
        # promtool has no expression checker; a rule file of recording rules is one.
        group = {"name": "dashboard", "rules": [
            {"record": "dashboard:q%d" % i, "expr": grafana_to_promql(e)}
            for i, e in enumerate(dashboard_exprs())
        ]}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "dashboard-queries.yml")
            with open(path, "w") as f:
                yaml.safe_dump({"groups": [group]}, f)
            out = subprocess.run(["promtool", "check", "rules", path], capture_output=True,
                                 text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_dashboard_has_a_target_variable_used_by_its_panels(self):
        dash = json.loads(read(DASHBOARD))
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        self.assertIn("target", variables)
        self.assertTrue(variables["target"]["includeAll"])
        self.assertGreaterEqual(sum('$target' in e for e in dashboard_exprs()), 5)


class ServeTest(unittest.TestCase):
    """The binary answers the probe paths the manifests use and exports the metrics used."""

    def test_probe_paths_and_metric_families(self):
        toml = configmap_toml()
        toml = re.sub(r'listen\s*=\s*"[^"]*"', 'listen = "127.0.0.1:0"', toml)
        versions = "versions = [%s]" % json.dumps(FIXTURE_VERSIONS)
        toml = re.sub(r"versions\s*=\s*\[[^\]]*\]", versions, toml)
        toml = re.sub(r'(?m)^(snapshots|admin_token_file|state_dir)\s*=.*$', "", toml)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "driftwatch.toml")
            with open(path, "w") as f:
                f.write(toml)
            log_path = os.path.join(tmp, "serve.log")
            with open(log_path, "w") as log:
                proc = subprocess.Popen([driftwatch_bin(), "serve", "--config", path],
                                        stdout=subprocess.DEVNULL, stderr=log)
            try:
                addr = None
                deadline = time.time() + 20
                while addr is None and time.time() < deadline and proc.poll() is None:
                    m = re.search(r"listening on ([0-9.]+:[0-9]+)", read(log_path))
                    addr = m.group(1) if m else None
                    time.sleep(0.1)
                self.assertIsNotNone(addr, read(log_path))

                def get(p):
                    try:
                        with urllib.request.urlopen("http://%s%s" % (addr, p), timeout=10) as r:
                            return r.status, r.read().decode()
                    except urllib.error.HTTPError as e:
                        return e.code, e.read().decode()

                self.assertEqual(get("/healthz")[0], 200)
                self.assertIn(get("/readyz")[0], (200, 503))  # routed, not 404
                self.assertEqual(get("/no-such-path")[0], 404)  # the check above can fail
                status, body = get("/metrics")
                self.assertEqual(status, 200)
                exported = set(re.findall(r"(?m)^# TYPE (\S+) ", body))
                used = set()
                for r in rules():
                    used |= metric_names(r["expr"])
                for e in dashboard_exprs():
                    used |= metric_names(grafana_to_promql(e))
                self.assertLessEqual(used - {"up", "ALERTS"}, exported)
            finally:
                proc.terminate()
                proc.wait(timeout=60)


class DockerfileTest(unittest.TestCase):
    def setUp(self):
        # Instructions only: a script named in a comment is not a script that runs.
        self.text = re.sub(r"(?m)^\s*#.*\n", "", read(os.path.join(SOURCE_DIR, "Dockerfile")))
        stages = re.split(r"(?m)^FROM ", self.text)
        self.assertEqual(len(stages), 3, "two stages")
        self.build, self.runtime = stages[1], stages[2]

    def test_build_stage_uses_the_project_scripts_and_runs_unit_tests(self):
        for script in ("scripts/install-deps.sh", "scripts/build.sh"):
            self.assertIn(script, self.build)
            self.assertTrue(os.access(os.path.join(SOURCE_DIR, script), os.X_OK), script)
        self.assertRegex(self.build, r"ctest .*-L unit")
        self.assertNotIn("apt-get", self.build)  # install-deps.sh's job

    def test_runtime_stage(self):
        self.assertIn("AS build", self.build.splitlines()[0])
        self.assertNotRegex(self.runtime, r"-dev\b")
        self.assertIn("USER 10001:10001", self.runtime)
        self.assertIn("EXPOSE %d" % PORT, self.runtime)
        self.assertIn("http://127.0.0.1:%d/healthz" % PORT, self.runtime)
        self.assertRegex(self.runtime, r"(?m)^RUN .*\n(.*\n)*.* curl")
        self.assertIn('ENTRYPOINT ["driftwatch", "serve"]', self.runtime)
        self.assertIn('CMD ["--config", "%s"]' % CONFIG_PATH, self.runtime)
        self.assertIn("COPY --from=build", self.runtime)
        self.assertIn("org.opencontainers.image.version", self.runtime)
        self.assertIn("install -d -o 10001 -g 10001 -m 0700 %s" % STATE_DIR, self.runtime)
        for path in re.findall(r"(?m)^COPY (?!--from)(.*) \S+$", self.runtime):
            for src in path.split():
                self.assertTrue(os.path.exists(os.path.join(SOURCE_DIR, src)), src)

    def test_dockerignore_keeps_build_dirs_out(self):
        ignore = read(os.path.join(SOURCE_DIR, ".dockerignore")).split()
        for pattern in (".git", "build", "build-*"):
            self.assertIn(pattern, ignore)
        for needed in ("scripts", "daemon", "include", "CMakeLists.txt"):
            self.assertNotIn(needed, ignore)


class SystemdTest(unittest.TestCase):
    UNIT = os.path.join(DEPLOY, "systemd", "driftwatch.service")

    def directives(self):
        out = {}
        for line in read(self.UNIT).splitlines():
            if "=" in line and not line.startswith(("#", ";")):
                key, value = line.split("=", 1)
                out.setdefault(key.strip(), []).append(value.strip())
        return out

    def test_unit_directives(self):
        d = self.directives()
        self.assertEqual(d["ExecStart"], ["/usr/bin/driftwatch serve --config %s" % CONFIG_PATH])
        self.assertEqual(d["ExecReload"], ["/bin/kill -HUP $MAINPID"])
        self.assertEqual(d["Restart"], ["on-failure"])
        self.assertEqual(d["StateDirectory"], ["driftwatch"])  # = /var/lib/driftwatch
        self.assertEqual(d["DynamicUser"], ["yes"])
        self.assertEqual(d["RestrictAddressFamilies"], ["AF_INET AF_INET6 AF_UNIX"])
        self.assertEqual(d["CapabilityBoundingSet"], [""])
        self.assertIn("@system-service", d["SystemCallFilter"])
        for key in ("ProtectSystem", "ProtectHome", "NoNewPrivileges", "PrivateTmp",
                    "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules",
                    "ProtectControlGroups", "LockPersonality", "MemoryDenyWriteExecute"):
            self.assertIn(d[key][0], ("yes", "strict"), key)
        # systemd must not SIGKILL a process still draining (default drain_timeout 20s).
        stop = int(re.match(r"(\d+)s$", d["TimeoutStopSec"][0]).group(1))
        self.assertGreater(stop, 20)

    def test_systemd_analyze_verify_is_clean(self):
        if not shutil.which("systemd-analyze"):
            raise unittest.SkipTest("systemd-analyze is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            unit = os.path.join(tmp, "driftwatch.service")
            # verify checks that ExecStart's program exists: use the built binary.
            with open(unit, "w") as f:
                f.write(read(self.UNIT).replace("/usr/bin/driftwatch", driftwatch_bin()))
            out = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                                 text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            problems = [l for l in out.stderr.splitlines() if "driftwatch.service" in l]
            self.assertEqual(problems, [], out.stderr)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
