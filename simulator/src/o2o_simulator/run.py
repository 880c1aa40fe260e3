"""One simulated day against a running platform: the chain set up, then the day."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from o2o_simulator.day import Day
from o2o_simulator.journal import Journal
from o2o_simulator.plan import Plan
from o2o_simulator.progress import Progress
from o2o_simulator.targets import Targets
from o2o_simulator.world import Builder, Clients, World


async def simulate(plan: Plan, targets: Targets, journal: Journal, progress: Progress | None = None) -> World:
    """Sets the chain up and runs its day; the world built, for whoever reads the results. The
    caller closes `world.clients`."""
    shown = progress or Progress()
    clients = Clients.of(targets)
    shown.say(f"setting up a chain of {plan.stores} stores and {plan.shoppers} shoppers")
    world = await Builder(plan, targets, clients, journal).build()
    shown.say(f"the day runs for {plan.minutes:g} minutes")
    async with httpx.AsyncClient(base_url=targets.gateway_url, timeout=30) as gateway:
        await Day(world, gateway, journal, shown).run()
    return world


@dataclass
class Done:
    """A day run against a local platform: what it sent, the files written, and a store
    manager's sign-in for the console."""

    journal: Journal
    written: list[Path]
    sign_in: str


async def day_with_outputs(plan: Plan, data_dir: Path, out: Path, console: Console) -> Done:
    """A day against the platform `o2o up` runs from data_dir, with a progress display, and what
    a store manager would look at written under out."""
    from o2o_simulator.outputs import collect, save

    journal = Journal()
    with Progress(console) as progress:
        world = await simulate(plan, Targets.local(data_dir), journal, progress)
    try:
        files = await collect(world, journal)
    finally:
        await world.clients.close()
    manager = world.stores[0].manager
    return Done(journal, save(out, files), f"{manager.login} / {world.passwords[manager.login]}")


async def simulate_locally(plan: Plan, data_dir: Path, out: Path) -> int:
    """`o2o simulate`: a day against the running platform."""
    console = Console()
    done = await day_with_outputs(plan, data_dir, out, console)
    journal = done.journal
    console.print(f"{len(journal.sales)} sales, {journal.observations} observations, {len(journal.offers)} offers seen")
    for path in done.written:
        console.print(f"  {path}")
    return 0
