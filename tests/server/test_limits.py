"""``--web.max-requests`` counts the probes that start CHAOS work, not those that wait for a
call already in flight (SPEC 9, "waiting is not working"). Timing-free: a gated simulator
holds the call until every probe of the test has arrived."""

from __future__ import annotations

import asyncio

from aaisp_multi_exporter.simulator import Fault, Simulator
from tests.conftest import ExporterFactory, samples
from tests.probe.test_run_refresh import until

REFUSED = 'aaisp_exporter_probe_requests_rejected_total{reason="too_many_requests"}'


async def test_a_cold_start_answers_every_probe_waiting_for_the_first_fetch(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """30 probes of 30 lines arrive while the first fetch of the account runs: with a limit of
    2 none is refused, and all answer 200 with the one reply."""
    exporter = await make_exporter(max_requests=2)
    queries = [f"target={10000 + i}&module=line" for i in range(30)]
    gate = asyncio.Event()
    simulator.add_fault(Fault("gate", gate=gate, count=1))
    slots = exporter.state.services.slots
    tasks = [asyncio.create_task(exporter.probe(query)) for query in queries]
    await until(lambda: slots.in_flight == 30 or any(task.done() for task in tasks))
    assert not any(task.done() for task in tasks)
    assert (slots.working, slots.waiting) == (1, 29)
    assert (await exporter.self_metrics())["aaisp_exporter_probes_in_flight"] == 30
    gate.set()
    answers = await asyncio.gather(*tasks)
    assert [status for status, _ in answers] == [200] * 30
    assert [samples(text)["probe_success"] for _, text in answers] == [1] * 30
    assert simulator.total_calls == 1
    metrics = await exporter.self_metrics()
    assert metrics.get(REFUSED, 0) == 0
    assert metrics["aaisp_exporter_probes_in_flight"] == 0


async def test_a_probe_that_would_start_a_fetch_beyond_the_limit_is_refused(
    make_exporter: ExporterFactory, simulator: Simulator
) -> None:
    """Line scope, a limit of 1: probes of the line being fetched wait; a probe of another
    line would start a second call, and gets 503 at once, without reaching CHAOS."""
    exporter = await make_exporter(max_requests=1, scope='"line"')
    gate = asyncio.Event()
    simulator.add_fault(Fault("gate", gate=gate))
    slots = exporter.state.services.slots
    waiting = [asyncio.create_task(exporter.probe("target=10000&module=line")) for _ in range(5)]
    await until(lambda: slots.in_flight == 5 or any(task.done() for task in waiting))
    assert (slots.working, slots.waiting) == (1, 4)
    status, text = await exporter.probe("target=10001&module=line")
    assert (status, text) == (503, "too many probes in flight (limit 1); retry later\n")
    # Two modules, one joining the call in flight and one starting a new one: refused too.
    status, _ = await exporter.probe("target=10000&module=line&module=quota")
    assert status == 503
    assert simulator.total_calls == 1
    gate.set()
    assert [status for status, _ in await asyncio.gather(*waiting)] == [200] * 5
    assert (await exporter.samples("target=10001&module=line"))["probe_success"] == 1
    assert (await exporter.self_metrics())[REFUSED] == 2
