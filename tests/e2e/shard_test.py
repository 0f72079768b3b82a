"""Sharding end to end: three `driftwatch serve` processes with one config, shards 0..2.

Twelve targets point at three databases of the test cluster (at head, drifted, one revision
behind); the interval is an hour, so one round is one check per target. Together the three
daemons must check every target exactly once, each one the target the documented rendezvous hash
gives it (recomputed here independently), report driftwatch_shard_info with their resolved index,
and answer 421 with the owner for a target another shard owns. Shard indexes come from the
command line and from shard_index = "auto" with a StatefulSet-like POD_NAME.
"""
import contextlib
import json
import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from serve_test import Daemon  # noqa: E402

TOKEN = "e2e-shard-token-9d2e"
SHARDS = 3
TARGETS = ["tenant-%02d" % i for i in range(12)]
MASK = (1 << 64) - 1


# The hash documented in include/driftwatch/sharding.hpp, written again from the documentation
# so that the daemons' choice is checked against the contract, not against itself.
def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def splitmix64_mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def owner(name, count):
    weights = [splitmix64_mix(fnv1a64(name) ^ (((s + 1) * 0x9E3779B97F4A7C15) & MASK))
               for s in range(count)]
    return weights.index(max(weights))  # first index wins a tie, as in the daemon


@contextlib.contextmanager
def environment(**values):
    """Sets (or with None removes) environment variables while a daemon is started."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def metric_values(text, name):
    """{labels text: value} of every sample of metric `name`."""
    out = {}
    for line in text.splitlines():
        match = re.match(r"%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
        if match:
            out[match.group(1) or ""] = float(match.group(2))
    return out


class ShardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_shard_ref")
        cls.tmp = e2e.TempDir()
        cls.token_file = e2e.write_file(cls.tmp.path, "token", TOKEN + "\n", mode=0o600)
        cls.databases = []
        name, clean_url = cls.reference.copy(prefix="dw_shard_clean")
        cls.databases.append(name)
        name, drift_url = cls.reference.copy(prefix="dw_shard_drift")
        cls.databases.append(name)
        e2e.execute(drift_url, "ALTER TABLE public.customer ADD COLUMN shard_extra integer")
        name, behind_url = cls.reference.copy(prefix="dw_shard_behind")
        cls.databases.append(name)
        e2e.alembic(behind_url, "downgrade", "-1")
        cls.urls = [clean_url, drift_url, behind_url]
        cls.expected_status = {}
        sections = []
        for i, target in enumerate(TARGETS):
            sections.append(e2e.target_section(target, url=cls.urls[i % 3]))
            cls.expected_status[target] = ["ok", "drift", "drift"][i % 3]
        text = (
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_token_file = %s\n"
            "shard_index = \"auto\"\nshard_count = %d\n\n"
            "[check]\ninterval = \"1h\"\ntimeout = \"30s\"\nconcurrency = 2\n\n"
            % (e2e.toml_string(cls.token_file), SHARDS)
        )
        text += e2e.migrations_section(reference_url=cls.reference.url) + "\n"
        text += "\n".join(sections)
        cls.config = e2e.write_file(cls.tmp.path, "shards.toml", text)

    @classmethod
    def tearDownClass(cls):
        for name in cls.databases:
            e2e.drop_database(name)
        cls.reference.drop()
        cls.tmp.cleanup()

    def setUp(self):
        self.daemons = []

    def tearDown(self):
        for daemon in self.daemons:
            daemon.stop()

    def start(self, extra_args=(), **env):
        with environment(**env):
            daemon = Daemon(self.config, extra_args)
        self.daemons.append(daemon)
        return daemon

    def test_three_shards_check_every_target_exactly_once(self):
        # Shard 0 and 2 resolve "auto" from the pod name; shard 1 from the flag, which wins over
        # the config's "auto" (its POD_NAME says 0 and must be ignored).
        shards = [
            self.start(POD_NAME="driftwatch-0"),
            self.start(["--shard-index", "1"], POD_NAME="driftwatch-0"),
            self.start(POD_NAME=None, HOSTNAME="driftwatch-2"),
        ]
        for daemon in shards:
            daemon.wait_until(lambda d=daemon: d.get("/readyz")[0] == 200, timeout=120,
                              what="first round done")

        owned = {}  # target -> shard index that lists it
        for index, daemon in enumerate(shards):
            for target in daemon.json("/api/v1/targets")["targets"]:
                self.assertNotIn(target["name"], owned, "listed by two shards")
                owned[target["name"]] = index
        self.assertEqual(sorted(owned), TARGETS)
        for target, index in owned.items():
            self.assertEqual(index, owner(target, SHARDS), target)
        self.assertEqual(sorted(set(owned.values())), [0, 1, 2], "every shard owns something")

        for index, daemon in enumerate(shards):
            for target in daemon.json("/api/v1/targets")["targets"]:
                self.assertEqual(target["summary"]["checks_total"], 1, target)
                self.assertEqual(target["status"], self.expected_status[target["name"]], target)

            metrics = daemon.get("/metrics")[2]
            self.assertEqual(metric_values(metrics, "driftwatch_shard_info"),
                             {'{shard="%d",shards="%d"}' % (index, SHARDS): 1.0})
            checks = metric_values(metrics, "driftwatch_checks_total")
            expected = {'{target="%s"}' % t: 1.0 for t, i in owned.items() if i == index}
            self.assertEqual(checks, expected)

        # Targets owned elsewhere: 421 with the owner on GET, the page and POST.
        for index, daemon in enumerate(shards):
            for target, other in owned.items():
                if other == index:
                    continue
                for path, method, headers in [
                    ("/api/v1/targets/" + target, "GET", {}),
                    ("/targets/" + target, "GET", {}),
                    ("/api/v1/targets/%s/check" % target, "POST",
                     {"Authorization": "Bearer " + TOKEN}),
                ]:
                    status, _, body = daemon.get(path, method=method, headers=headers)
                    self.assertEqual(status, 421, (path, body))
                    answer = json.loads(body)
                    self.assertEqual(answer["owner_shard"], other, answer)
                    self.assertEqual(answer["shards"], SHARDS, answer)
                    self.assertIn(target, answer["error"])
            status, _, body = daemon.get("/api/v1/targets/not-configured")
            self.assertEqual(status, 404, body)

        # An on-demand check on the owner runs there and nowhere else.
        target = TARGETS[0]
        status, _, body = shards[owned[target]].get(
            "/api/v1/targets/%s/check" % target, method="POST",
            headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 200, body)
        self.assertEqual(
            shards[owned[target]].json("/api/v1/targets/" + target)["summary"]["checks_total"], 2)

        # Still one scheduled check per target: nothing is checked again within the round (the
        # first checks are spread over at most 10 s; all daemons are past that by now).
        for index, daemon in enumerate(shards):
            for t in daemon.json("/api/v1/targets")["targets"]:
                self.assertEqual(t["summary"]["checks_total"], 2 if t["name"] == target else 1)

        for daemon in shards:
            log = daemon.process.output()
            self.assertRegex(log, r"shard \d of 3 \((POD_NAME|HOSTNAME)=driftwatch-\d|"
                                  r"shard 1 of 3 \(--shard-index\)")
            self.assertNotIn(e2e.cluster_password(), log)
            self.assertEqual(daemon.stop(), 0)

    def test_shard_resolution_errors_exit_2(self):
        cases = [
            ({"POD_NAME": "laptop"}, [], "laptop"),
            ({"POD_NAME": "driftwatch-3"}, [], "out of range"),
            ({"POD_NAME": "driftwatch-0"}, ["--shard-count", "0"], "--shard-count"),
            ({"POD_NAME": "driftwatch-0"}, ["--shard-index", "x"], "--shard-index"),
        ]
        for env, args, message in cases:
            with self.subTest(env=env, args=args):
                proc = e2e.run_driftwatch(["serve", "--config", self.config] + args, timeout=30,
                                          env=env)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(message, proc.stderr)

    def test_reload_reshards_and_rejects_an_impossible_shard(self):
        with open(self.config) as f:
            original = f.read()
        config = e2e.write_file(self.tmp.path, "reload.toml", original)
        with environment(POD_NAME="driftwatch-1"):
            daemon = Daemon(config)
        self.daemons.append(daemon)

        def names():
            return sorted(t["name"] for t in daemon.json("/api/v1/targets")["targets"])

        before = sorted(t for t in TARGETS if owner(t, 3) == 1)
        self.assertEqual(names(), before)
        # Scale down to two shards: this replica (ordinal 1) now owns owner(name, 2) == 1.
        expected = sorted(t for t in TARGETS if owner(t, 2) == 1)
        self.assertNotEqual(expected, before)  # the test needs a reload that changes something
        e2e.write_file(self.tmp.path, "reload.toml",
                       original.replace("shard_count = 3", "shard_count = 2"))
        daemon.signal(signal.SIGHUP)
        daemon.wait_until(lambda: names() == expected, what="targets of shard 1 of 2")
        self.assertIn('driftwatch_shard_info{shard="1",shards="2"} 1', daemon.get("/metrics")[2])
        # One shard only: ordinal 1 is out of range; the reload is rejected, shard 1 of 2 stays.
        e2e.write_file(self.tmp.path, "reload.toml",
                       original.replace("shard_count = 3", "shard_count = 1"))
        daemon.signal(signal.SIGHUP)
        daemon.wait_until(
            lambda: "driftwatch_config_reload_success 0" in daemon.get("/metrics")[2],
            what="reload rejected")
        self.assertEqual(names(), expected)
        self.assertIn('driftwatch_shard_info{shard="1",shards="2"} 1', daemon.get("/metrics")[2])
        self.assertIn("out of range", daemon.process.output())

    def test_one_shard_of_one_owns_everything(self):
        daemon = self.start(["--shard-index", "0", "--shard-count", "1"])
        daemon.wait_until(lambda: daemon.get("/readyz")[0] == 200, timeout=120,
                          what="first round done")
        names = sorted(t["name"] for t in daemon.json("/api/v1/targets")["targets"])
        self.assertEqual(names, TARGETS)
        metrics = daemon.get("/metrics")[2]
        self.assertEqual(metric_values(metrics, "driftwatch_shard_info"),
                         {'{shard="0",shards="1"}': 1.0})


if __name__ == "__main__":
    e2e.main()
