"""Checks against the expected schema of each target's own revision (issue 12), real Alembic.

- targets at three older revisions (one a branch tip) are `behind` with no findings;
- each diagnosis is produced by doing the thing: `alembic stamp`, half a migration by hand,
  a migration removed from the versions directory after it ran, a manual ALTER;
- `serve` with [migrations.NAME.replay] builds a missing revision on demand, and the check
  after it is clean.
"""
import json
import os
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from replay_history_test import snapshot_args  # noqa: E402


class ReplayCheckTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workspace("dw_rchk")
        cls.tmp = cls.work.tmp
        cls.history = os.path.join(cls.tmp.path, "history")
        build = e2e.run_driftwatch(snapshot_args(cls.history), timeout=600)
        if build.returncode != 0:
            raise AssertionError("history build failed: " + build.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.work.cleanup()

    def config(self, name, targets, snapshots=None, versions=None):
        sections = [e2e.migrations_section(versions=versions, snapshots=snapshots or self.history)]
        sections += [e2e.target_section(t, url=u) for t, u in targets.items()]
        return e2e.write_config(self.tmp.path, sections, name=name)

    def serve_replay_config(self, name, command, state_dir=None, timeout="5m"):
        """A `serve` config: target `staging` at 0010_movements, snapshots of head only, so its
        revision is built by [migrations.warehouse.replay] running `command`."""
        snapshots = os.path.join(self.tmp.path, name + "-snapshots")
        os.makedirs(snapshots, exist_ok=True)
        shutil.copy(os.path.join(self.history, "0011_invoices.json"), snapshots)
        text = '[server]\nlisten = "127.0.0.1:0"\n\n[check]\ninterval = "1h"\ntimeout = "20s"\n\n'
        if state_dir:
            text += "[alerts]\nstate_dir = %s\n\n" % e2e.toml_string(state_dir)
        text += e2e.migrations_section(snapshots=snapshots)
        text += "[migrations.warehouse.replay]\nscratch_url = %s\n" % e2e.toml_string(
            e2e.cluster_url())
        text += "command = %s\ntimeout = %s\n\n" % (json.dumps(command), e2e.toml_string(timeout))
        text += e2e.target_section("staging", url=self.work.database_at("0010_movements"))
        return e2e.write_file(self.tmp.path, name + ".toml", text)

    def sleeping_command(self, name):
        """(script, pid file): a shell script that runs `sleep 600` in the background, writes the
        sleep's pid to the file and waits for it, i.e. a command that would run for minutes."""
        pid_file = os.path.join(self.tmp.path, name + "-sleep-pid")
        return ("sleep 600 & echo $! > %s.tmp; mv %s.tmp %s; wait" % (pid_file, pid_file, pid_file),
                pid_file)

    def wait_for_pid_file(self, process, path):
        """The pid in `path` once `process` (an e2e.Process) has had it written."""
        deadline = time.time() + 60
        while not os.path.exists(path):
            if process.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("no %s:\n%s" % (path, process.output()))
            time.sleep(0.1)
        with open(path) as f:
            pid = int(f.read())
        # Killed after the test in any case, so that a failing run leaves no `sleep 600` behind.
        self.addCleanup(lambda: e2e.process_alive(pid) and os.kill(pid, signal.SIGKILL))
        return pid

    def serve_during_replay(self, name, script, marker, **config):
        """`serve` whose replay command is the shell `script`; returned once the script has
        created the file `marker`."""
        daemon = e2e.Daemon(self.serve_replay_config(name, ["/bin/sh", "-c", script], **config))
        try:
            daemon.wait_until(lambda: os.path.exists(marker), timeout=60, what="replay start")
        except BaseException:
            daemon.stop()
            raise
        return daemon

    def test_older_revisions_are_behind_without_findings(self):
        targets = {r: self.work.database_at(r) for r in ("0004_orders", "0005b_middleman",
                                                    "0009_reporting")}
        run = e2e.run_check(self.config("older.toml", targets))
        self.assertEqual(run.returncode, 1, run.describe())
        for revision in targets:
            result = run.target(revision)
            self.assertEqual(result["revision"]["state"], "behind", result)
            self.assertEqual(result["findings"], [], result)
            self.assertIsNone(result["diagnosis"])
            self.assertIn("(the target's revision)", result["compared_against"])
        # pending in the order Alembic applies it
        self.assertEqual(run.target("0009_reporting")["revision"]["pending"],
                         ["0010_movements", "0011_invoices"])

    def test_diagnosis_of_what_was_done(self):
        stamped = self.work.database_at("0009_reporting")
        e2e.alembic(stamped, "stamp", "0010_movements")
        partial = self.work.database_at("0010_movements")
        # Half of 0011_invoices by hand (its sequence, not its table), then recorded as applied.
        e2e.execute(partial, "CREATE SEQUENCE public.invoice_number_seq AS bigint START WITH 10000")
        e2e.alembic(partial, "stamp", "0011_invoices")
        manual = self.work.database_at("0011_invoices")
        e2e.execute(manual, "ALTER TABLE public.orders ADD COLUMN approved_by text NOT NULL")
        # A migration applied, then removed from the versions directory.
        removed = self.work.database_at("0011_invoices")
        e2e.execute(removed, "CREATE TABLE public.feature_flags (name text PRIMARY KEY)",
                    "UPDATE alembic_version SET version_num = '0012_feature_flags'")
        run = e2e.run_check(self.config("diagnosis.toml", {
            "stamped": stamped, "partial": partial, "manual": manual, "removed": removed}))
        self.assertEqual(run.returncode, 1, run.describe())

        d = run.target("stamped")["diagnosis"]
        self.assertEqual(d["cause"], "stamped_not_migrated", run.describe())
        self.assertEqual(d["matches_revision"], "0009_reporting")

        d = run.target("partial")["diagnosis"]
        self.assertEqual(d["cause"], "partially_applied", run.describe())
        self.assertIn("applied: sequence public.invoice_number_seq", d["evidence"])
        self.assertIn("not applied: table public.invoice", d["evidence"])

        d = run.target("manual")["diagnosis"]
        self.assertEqual(d["cause"], "manual_change", run.describe())
        self.assertIsNone(d["matches_revision"])

        removed_result = run.target("removed")
        self.assertEqual(removed_result["revision"]["state"], "unknown_revision")
        d = removed_result["diagnosis"]
        self.assertEqual(d["cause"], "removed_migration", run.describe())
        self.assertEqual(d["matches_revision"], "0011_invoices")
        self.assertIn("extra: table public.feature_flags", d["evidence"])
        # Compared with head, not its own revision: possibly pending, never critical.
        for finding in removed_result["findings"]:
            self.assertTrue(finding.get("possibly_pending"), finding)
            self.assertNotEqual(finding["severity"], "critical")

    def test_serve_replays_a_missing_revision_on_demand(self):
        state_dir = os.path.join(self.tmp.path, "state")
        config = self.serve_replay_config(
            "replay", [e2e.PYTHON, "-m", "alembic", "-c", e2e.WAREHOUSE_INI, "upgrade",
                       "{revision}"], state_dir=state_dir)
        daemon = e2e.Daemon(config)
        try:
            daemon.wait_until(lambda: daemon.get("/readyz")[0] == 200, timeout=60,
                              what="first round")
            # The first check compares with head (capped), then the replay re-checks the target.
            daemon.wait_until(
                lambda: "(the target's revision)" in daemon.json(
                    "/api/v1/targets/staging").get("compared_against", ""),
                timeout=90, what="a check against the replayed revision")
            result = daemon.json("/api/v1/targets/staging")
            self.assertEqual(result["revision"]["state"], "behind", result)
            self.assertEqual(result["findings"], [], result)
            self.assertTrue(os.path.exists(
                os.path.join(state_dir, "replay", "warehouse", "0010_movements.json.gz")))
            metrics = daemon.get("/metrics")[2]
            self.assertIn('driftwatch_findings{target="staging",severity="critical"} 0', metrics)
            self.assertIn('driftwatch_migrations_up{migrations="warehouse"} 1', metrics)
            self.assertIn("built by replay", daemon.process.output())
            self.assertNotIn(e2e.cluster_password(), daemon.process.output())
        finally:
            daemon.stop()

    def test_a_failed_replay_stays_a_source_problem_while_other_targets_are_fine(self):
        # staging's revision can only be had by a replay, which fails; prod (at head, which has a
        # snapshot) checks fine every second. The source's problem must stay visible: it used to
        # be one value per source that each successful check of any target cleared, so
        # driftwatch_migrations_up flapped and DriftwatchMigrationsBroken's `for:` never ran out.
        config = self.serve_replay_config("failing", ["/bin/sh", "-c", "echo boom >&2; exit 1"])
        with open(config) as f:
            text = f.read().replace('interval = "1h"', 'interval = "1s"')
        text += "\n" + e2e.target_section("prod", url=self.work.database_at("0011_invoices"))
        with open(config, "w") as f:
            f.write(text)
        daemon = e2e.Daemon(config)
        try:
            problem = ('driftwatch_migrations_problem{migrations="warehouse",'
                       'reason="replay_failed"} 1')
            daemon.wait_until(lambda: problem in daemon.get("/metrics")[2], timeout=60,
                              what="the failed replay on the metric")
            checks = daemon.json("/api/v1/targets/prod")["checked_at"]
            samples = []
            deadline = time.time() + 6
            while time.time() < deadline:
                samples.append(daemon.get("/metrics")[2])
                time.sleep(0.2)
            self.assertNotEqual(daemon.json("/api/v1/targets/prod")["checked_at"], checks,
                                "prod was not checked again meanwhile")
            self.assertEqual(daemon.json("/api/v1/targets/prod")["status"], "ok")
            flapped = [i for i, m in enumerate(samples)
                       if problem not in m
                       or 'driftwatch_migrations_up{migrations="warehouse"} 0' not in m]
            self.assertEqual(flapped, [], "samples (of %d) without the problem" % len(samples))
        finally:
            daemon.stop()

    def test_a_reload_does_not_wait_for_a_running_replay(self):
        # A replay command that blocks until the test opens its gate: the engine a reload
        # replaces must not wait for it (the old engine hands the build to its detached thread).
        started = os.path.join(self.tmp.path, "replay-started")
        gate = os.path.join(self.tmp.path, "replay-gate")
        daemon = self.serve_during_replay(
            "replay-reload", "touch %s; while [ ! -f %s ]; do sleep 0.1; done; exit 1"
            % (started, gate), started)
        try:
            for reloads in (1, 2):
                daemon.signal(signal.SIGHUP)
                daemon.wait_until(
                    lambda: daemon.process.output().count("configuration reloaded") >= reloads,
                    timeout=30, what="reload %d while the replay runs" % reloads)
            self.assertFalse(os.path.exists(gate))
            self.assertEqual(daemon.get("/readyz")[0], 200)
        finally:
            e2e.write_file(self.tmp.path, "replay-gate", "")
            daemon.stop()

    def test_shutdown_stops_a_running_replay(self):
        # A replay command that would run for minutes (its own timeout is 10 min): SIGTERM must
        # kill it with its process group, drop the scratch database and leave no snapshot file.
        state_dir = os.path.join(self.tmp.path, "state-shutdown")
        script, pid_file = self.sleeping_command("replay-shutdown")
        daemon = self.serve_during_replay("replay-shutdown", script, pid_file,
                                          state_dir=state_dir, timeout="10m")
        try:
            with open(pid_file) as f:
                sleep_pid = int(f.read())
            self.assertTrue(e2e.scratch_databases(daemon.process.proc.pid))
            daemon.signal(signal.SIGTERM)
            self.assertEqual(daemon.wait_exit(timeout=30), 0, daemon.process.output())
        finally:
            daemon.stop()
        self.assertFalse(e2e.process_alive(sleep_pid), "the replay command's child survived")
        self.assertEqual(e2e.scratch_databases(daemon.process.proc.pid), [])
        replay_dir = os.path.join(state_dir, "replay", "warehouse")
        left = os.listdir(replay_dir) if os.path.isdir(replay_dir) else []
        self.assertEqual(left, [])

    def test_check_interrupted_during_a_replay_stops_it(self):
        # `check` waits for the replay in the foreground. Ctrl-C (SIGINT to the process group, as a
        # terminal sends it) or SIGTERM must kill the replay command (a process group of its own,
        # which the terminal's signal does not reach), drop the scratch database, write no
        # snapshot and print no report: exit 3 (the target was not checked).
        # `fix-forward` runs the same check first, so the same holds for it.
        for command, how in (("check", "SIGINT to the group"), ("check", "SIGTERM"),
                             ("fix-forward", "SIGINT to the group")):
            name = command + "-interrupt-" + how.split()[0].lower()
            how = command + ", " + how
            state_dir = os.path.join(self.tmp.path, name + "-state")
            script, pid_file = self.sleeping_command(name)
            config = self.serve_replay_config(name, ["/bin/sh", "-c", script],
                                              state_dir=state_dir, timeout="10m")
            args = ["--format", "json"] if command == "check" else [
                "--target", "staging", "--out-dir", os.path.join(self.tmp.path, name + "-out")]
            check = e2e.Process([e2e.driftwatch_bin(), command, "--config", config] + args,
                                new_session=True)
            try:
                sleep_pid = self.wait_for_pid_file(check, pid_file)
                self.assertTrue(e2e.scratch_databases(check.proc.pid), how)
                if how.endswith("SIGTERM"):
                    check.proc.send_signal(signal.SIGTERM)
                else:
                    os.killpg(check.proc.pid, signal.SIGINT)
                self.assertEqual(check.proc.wait(timeout=30), 3, how + ":\n" + check.output())
            finally:
                check.stop()
                if check.proc.returncode != 3:  # the old behaviour: clean up after it
                    for n in e2e.scratch_databases(check.proc.pid):
                        e2e.drop_database(n)
            self.assertFalse(e2e.process_alive(sleep_pid), how + ": the replay command survived")
            self.assertEqual(e2e.scratch_databases(check.proc.pid), [], how)
            replay_dir = os.path.join(state_dir, "replay", "warehouse")
            self.assertEqual(os.listdir(replay_dir) if os.path.isdir(replay_dir) else [], [], how)
            self.assertIn("interrupted", check.output(), how)
            self.assertNotIn('"targets"', check.output(), how)

    def test_a_second_stop_signal_still_kills_the_commands(self):
        # A second SIGTERM exits at once, without waiting for the drain: the commands driftwatch
        # started run in process groups of their own and must be killed before it goes, not left
        # running. A target's url_command is still running then (the drain waits for its check);
        # the replay command is usually killed by the first signal already, unless the second
        # comes within the 100 ms the replay takes to notice the first.
        replay_script, replay_pid_file = self.sleeping_command("second-signal-replay")
        url_script, url_pid_file = self.sleeping_command("second-signal-url")
        config = self.serve_replay_config("second-signal", ["/bin/sh", "-c", replay_script],
                                          timeout="10m")
        with open(config, "a") as f:
            f.write('\n[[targets]]\nname = "slow_credentials"\nmigrations = "warehouse"\n'
                    "url_command = %s\n" % json.dumps(["/bin/sh", "-c", url_script]))
        daemon = e2e.Daemon(config)
        try:
            replay_sleep = self.wait_for_pid_file(daemon.process, replay_pid_file)
            url_sleep = self.wait_for_pid_file(daemon.process, url_pid_file)
            daemon.signal(signal.SIGTERM)
            # Sent at once, the two would merge into one pending signal.
            daemon.wait_until(lambda: "draining" in daemon.process.output(), timeout=30,
                              what="the first signal")
            daemon.signal(signal.SIGTERM)
            self.assertEqual(daemon.wait_exit(timeout=30), 1, daemon.process.output())
        finally:
            daemon.stop()
            # The immediate exit leaves the scratch database (documented); not this test's point.
            for n in e2e.scratch_databases(daemon.process.proc.pid):
                e2e.drop_database(n)
        self.assertIn("second stop signal", daemon.process.output())
        self.assertFalse(e2e.process_alive(replay_sleep), "the replay command survived")
        self.assertFalse(e2e.process_alive(url_sleep), "the url_command survived")


if __name__ == "__main__":
    e2e.main()
