"""prefect.yaml deployed to a real Prefect server: `prefect deploy --all` as a user runs it, then the
stored deployments, their schedules, the runs the server's scheduler creates, and one run by a
process worker started outside the project directory.

The server, the CLI and the worker are subprocesses with an environment of their own (a temporary
PREFECT_HOME and a fresh SQLite database). The pytest process's environment and the session's
Prefect test harness are left untouched.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prefect.server.schemas.schedules import CronSchedule

from tests.prefect_server import POOL, PREFECT, ROOT, deploy_all, prefect_server, stop

pytestmark = pytest.mark.prefect  # deselected with the other Prefect tests by `-m "not prefect"`

SHANGHAI = ZoneInfo("Asia/Shanghai")
SET_WORKING_DIRECTORY = "prefect.deployments.steps.set_working_directory"
CHINESE = re.compile(r"[\u4e00-\u9fff]")

DEPLOYMENTS = {  # deployment name: (flow name, entrypoint)
    "sweep-reminders": ("sweep-reminders", "flows/reminders.py:sweep_flow"),
    "fetch-replies": ("fetch-replies", "flows/replies.py:fetch_replies_flow"),
    "deliver-outbox": ("deliver-outbox", "flows/delivery.py:deliver_outbox_flow"),
    "open-cycle": ("open-cycle", "flows/cycle.py:open_cycle_flow"),
    "file-report": ("file-report", "flows/filing.py:file_report_flow"),
    "publish-report": ("publish-report", "flows/filing.py:publish_report_flow"),
}
SCHEDULED = ("sweep-reminders", "fetch-replies", "deliver-outbox")  # the others are started by hand
BY_HAND = {  # deployment: (its parameters in order, the required ones)
    "open-cycle": (["year", "changes", "actor"], ["year"]),
    "file-report": (["ref", "actor"], ["ref"]),
    "publish-report": (["ref", "url", "actor"], ["ref", "url"]),
}
SCHEDULER_TIMEOUT = 30  # the scheduler looks at recently changed deployments every 5 s
RUN_TIMEOUT = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-server")
    # Schedule 400 days ahead (default 100) so that the December–March sweep has runs whatever day the
    # test runs on.
    with prefect_server(home, f"sqlite+aiosqlite:///{home / 'prefect.db'}",
                        PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME="P400D") as started:
        yield started


@pytest.fixture(scope="module")
def deployed(server) -> dict[str, dict]:
    return deploy_all(server)


def schedule_of(deployment: dict) -> tuple[dict, CronSchedule]:
    """The deployment's one stored schedule, and the server's own schedule object built from it."""
    assert len(deployment["schedules"]) == 1, deployment["schedules"]
    stored = deployment["schedules"][0]
    assert stored["active"] is True
    return stored, CronSchedule.model_validate(stored["schedule"])


def dates(schedule: CronSchedule, n: int, start: datetime) -> list[datetime]:
    """The next n run times the server computes from this schedule, in Beijing time."""
    return [d.astimezone(SHANGHAI) for d in asyncio.run(schedule.get_dates(n, start=start))]


def test_deploy_all_creates_the_deployments_in_the_pool(deployed):
    assert sorted(deployed) == sorted(DEPLOYMENTS)
    for name, (flow_name, entrypoint) in DEPLOYMENTS.items():
        d = deployed[name]
        assert (d["flow_name"], d["entrypoint"], d["work_pool_name"]) == (flow_name, entrypoint, POOL)
        assert d["paused"] is False
        assert d["job_variables"] == {}  # settings come from the worker's environment and .env
        # `prefect deploy` recorded the project root: runs start there, wherever the worker was started.
        assert d["pull_steps"] == [{SET_WORKING_DIRECTORY: {"directory": str(ROOT)}}]
    assert list(deployed["sweep-reminders"]["parameter_openapi_schema"]["properties"]) == ["now"]


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_deployments_started_by_hand_have_no_schedule_and_described_parameters(deployed, name):
    """What an operator sees in Prefect's "Custom run" form: every parameter named and described in
    Chinese, the required ones marked, the recorded actor prefilled."""
    d = deployed[name]
    assert d["schedules"] == []
    schema = d["parameter_openapi_schema"]
    names, required = BY_HAND[name]
    assert list(schema["properties"]) == names
    assert sorted(schema.get("required", [])) == sorted(required)
    for parameter, spec in schema["properties"].items():
        assert CHINESE.search(spec.get("description", "")), (name, parameter, spec)
    assert d["parameters"] == {"actor": "Prefect 界面"}


def test_sweep_runs_daily_at_nine_beijing_time_from_december_to_march(deployed):
    stored, schedule = schedule_of(deployed["sweep-reminders"])
    assert stored["schedule"]["cron"] == "0 9 * 12,1-3 *"
    assert stored["schedule"]["timezone"] == "Asia/Shanghai"

    season = 31 + 31 + 28 + 31  # December 2026 to March 2027
    runs = dates(schedule, season + 1, start=datetime(2026, 11, 21, tzinfo=SHANGHAI))
    assert runs[0] == datetime(2026, 12, 1, 9, tzinfo=SHANGHAI)
    assert all((r.hour, r.minute, r.second) == (9, 0, 0) for r in runs)
    days = [r.date() for r in runs]
    assert days[:season] == [date(2026, 12, 1) + timedelta(days=i) for i in range(season)]  # every day
    assert date(2026, 12, 31) in days and date(2027, 1, 1) in days
    assert days[season - 1] == date(2027, 3, 31)
    assert days[season] == date(2027, 12, 1)  # nothing from April to November
    assert {r.month for r in runs} == {12, 1, 2, 3}


@pytest.mark.parametrize(("name", "cron", "minute"), [("fetch-replies", "1-59/5 * * * *", 1),
                                                      ("deliver-outbox", "3-59/5 * * * *", 3)])
def test_mail_flows_run_every_five_minutes_one_at_a_time(deployed, name, cron, minute):
    d = deployed[name]
    stored, schedule = schedule_of(d)
    assert (stored["schedule"]["cron"], stored["schedule"]["timezone"]) == (cron, "Asia/Shanghai")
    runs = dates(schedule, 24, start=datetime(2026, 12, 1, 8, 55, tzinfo=SHANGHAI))
    assert runs[0] == datetime(2026, 12, 1, 8, 55 + minute, tzinfo=SHANGHAI)
    assert all(b - a == timedelta(minutes=5) for a, b in zip(runs, runs[1:], strict=False))
    assert all(r.minute % 5 == minute for r in runs)  # never together with the sweep or each other
    assert d["global_concurrency_limit"]["limit"] == 1
    assert d["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"


def test_the_server_schedules_runs_from_the_stored_schedules(server, deployed):
    deployed = {name: deployed[name] for name in SCHEDULED}
    ids = {d["id"]: name for name, d in deployed.items()}
    deadline = time.monotonic() + SCHEDULER_TIMEOUT
    while True:
        found = server.post("/flow_runs/filter", {
            "flow_runs": {"deployment_id": {"any_": list(ids)}, "state": {"type": {"any_": ["SCHEDULED"]}}},
            "sort": "EXPECTED_START_TIME_ASC", "limit": 200, "offset": 0})
        runs = {name: [] for name in deployed}
        for run in found:
            runs[ids[run["deployment_id"]]].append(run)
        if all(runs.values()):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"no scheduled runs after {SCHEDULER_TIMEOUT} s: "
                        f"{ {name: len(r) for name, r in runs.items()} }\n{server.log.read_text(errors='replace')}")
        time.sleep(1)

    for name, made in runs.items():
        _, schedule = schedule_of(deployed[name])
        times = [datetime.fromisoformat(run["expected_start_time"]).astimezone(SHANGHAI) for run in made]
        # the runs the server made are the schedule's own dates, in order, none skipped …
        assert times == dates(schedule, len(times), start=times[0]), name
        # … from the first date after the scheduler made them (a few seconds of slack for its clock)
        created = min(datetime.fromisoformat(run["created"]) for run in made)
        assert dates(schedule, 1, start=created - timedelta(seconds=5)) <= times[:1], name
        assert times[:1] <= dates(schedule, 1, start=created), name
        assert all(run["auto_scheduled"] for run in made), name
    assert {t.month for t in (datetime.fromisoformat(r["expected_start_time"]).astimezone(SHANGHAI)
                              for r in runs["sweep-reminders"])} <= {12, 1, 2, 3}


def test_a_worker_started_elsewhere_runs_the_flow_in_the_project(server, deployed, tmp_path):
    """The pull step at work: a process worker started in an unrelated directory runs deliver-outbox,
    whose entrypoint is relative to the project root. Its settings come from the environment."""
    from models.db import get_engine, upgrade_database

    database_url = f"sqlite:///{tmp_path / 'reportchain.db'}"
    upgrade_database(database_url)
    get_engine(database_url).dispose()
    run = server.post(f"/deployments/{deployed['deliver-outbox']['id']}/create_flow_run",
                      {"work_queue_name": "probe"})  # a queue of its own: the scheduled runs stay put

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = server.env(REPORTCHAIN_DATABASE_URL=database_url, REPORTCHAIN_MAIL_FOLDER=str(tmp_path / "mail"),
                     REPORTCHAIN_INBOX_FOLDER=str(tmp_path / "inbox"))
    worker = subprocess.Popen([str(PREFECT), "worker", "start", "--pool", POOL, "--work-queue", "probe", "--run-once"],
                              cwd=elsewhere, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = worker.communicate(timeout=RUN_TIMEOUT)  # --run-once: returns when the run has ended
    except subprocess.TimeoutExpired:
        stop(worker)  # SIGTERM, then SIGKILL, to the process group the worker leads
        output, _ = worker.communicate()
    state = server.get(f"/flow_runs/{run['id']}")["state"]
    assert state["type"] == "COMPLETED", f"{state}\n--- worker output\n{output}"


def test_doctor_finds_the_server_and_its_work_pool(server, deployed, tmp_path):
    from models.db import get_engine, upgrade_database

    database_url = f"sqlite:///{tmp_path / 'reportchain.db'}"
    upgrade_database(database_url)
    get_engine(database_url).dispose()
    env = server.env(REPORTCHAIN_DATABASE_URL=database_url, COLUMNS="300")
    done = subprocess.run([str(PREFECT.with_name("reportchain")), "doctor"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"✓ Prefect 服务器：{server.api_url} 正常，工作池 {POOL} 已建立" in done.stdout
