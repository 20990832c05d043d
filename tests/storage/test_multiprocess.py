"""Several processes on one database: no lost update, no duplicate number, no 'database is locked'."""

from __future__ import annotations

import asyncio
import sys
import textwrap

from storage.lifecycle import CaseStatus
from storage.models import Case, CaseEvent
from tests.support.builders import make_case, make_world

WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from storage import db
    from storage.cases import CaseService, NewCase
    from storage.errors import Conflict, NotAllowed
    from storage.lifecycle import Action, Actor, Role
    from storage.models import Channel

    async def main(url, contested_id, n):
        await db.init(url)
        service = CaseService()
        operator = Actor(roles=frozenset({Role.OPERATOR}))
        dispatcher = Actor(roles=frozenset({Role.DISPATCHER}))
        numbers, won = [], 0
        for i in range(n):
            case = await service.submit(NewCase(text=f"多进程诉求{i}", channel=Channel.PHONE), operator)
            numbers.append(case.number)
            try:
                await service.apply(contested_id, Action.NOTE, dispatcher, {"note": f"note {i}"})
                won += 1
            except (Conflict, NotAllowed):
                pass
        await db.close()
        print(" ".join(numbers), won)

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
    """
)


async def test_three_processes_submit_and_act_on_one_case(database_url: str) -> None:
    world = await make_world()
    contested = await make_case(world, CaseStatus.IN_PROGRESS)
    n = 25
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, database_url, str(contested.id), str(n),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outputs = [await p.communicate() for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    numbers = [num for out, _ in outputs for num in out.decode().split()[:-1]]
    notes = sum(int(out.decode().split()[-1]) for out, _ in outputs)
    assert len(numbers) == len(set(numbers)) == 3 * n
    assert await Case.filter(number__in=numbers).count() == 3 * n
    stored = await Case.get(id=contested.id)
    # Every note that succeeded bumped the version exactly once and left exactly one event.
    assert notes == 3 * n
    assert stored.version == contested.version + notes
    assert await CaseEvent.filter(case_id=contested.id).count() == notes
