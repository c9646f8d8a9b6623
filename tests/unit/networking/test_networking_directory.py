"""The directory: a projection of registration snapshots, searched and paged."""

from __future__ import annotations

from networking import domain


async def names(world, caller: str = "viewer", **query) -> list[str]:
    page = await world.net.directory(world.who(caller), domain.DirectoryQuery(**query))
    return [p["name"] for p in page["items"]]


async def test_only_people_who_opted_in_are_listed(world) -> None:
    await world.person("a1", "Amina Odhiambo")
    await world.person("a2", "Bruno Costa", listed=False)
    assert await names(world) == ["Amina Odhiambo"]
    entry = await world.net.directory_entry(world.who("viewer"), "a1")
    assert entry["organisation"] == "KICTANet" and "email" not in entry
    missing = await world.refused(world.net.directory_entry(world.who("viewer"), "a2"))
    assert missing.status == 404
    own = await world.net.directory_entry(world.who("a2"), "me")
    assert own["listed"] is False and own["name"] == "Bruno Costa"


async def test_search_by_name_organisation_country_stakeholder_type_and_interests(world) -> None:
    await world.person("a1", "Ángela Müller", organisation="Swiss Digital Forum", country="CH", region="B",
                       stakeholder_type="government", interests={"action_lines": ["C1", "C7"], "sdgs": [4]})
    await world.person("a2", "Kwame Mensah", organisation="Ghana Tech Hub", country="GH", region="D",
                       stakeholder_type="private-sector", interests={"action_lines": ["C3"], "sdgs": [9]},
                       roles=["attendee", "speaker"])
    await world.person("a3", "Mei Chen", organisation="Tsinghua University", country="CN", region="E",
                       stakeholder_type="academia", interests={"action_lines": ["C7"], "sdgs": [4, 9]})
    assert await names(world, q="angela") == ["Ángela Müller"]  # accents and case do not matter
    assert await names(world, q="MULLER swiss") == ["Ángela Müller"]  # every word must match
    assert await names(world, q="tech hub") == ["Kwame Mensah"]
    assert await names(world, country="gh") == ["Kwame Mensah"]
    assert await names(world, stakeholder_type="academia") == ["Mei Chen"]
    assert await names(world, action_line="c7") == ["Ángela Müller", "Mei Chen"]  # by folded name
    assert await names(world, sdg=9) == ["Kwame Mensah", "Mei Chen"]
    assert await names(world, sdg=4, country="CN") == ["Mei Chen"]
    assert await names(world, role="speaker") == ["Kwame Mensah"]
    assert await names(world, q="nobody") == []
    assert await names(world, q="a.*") == []  # the query is text, not a pattern


async def test_pages_give_everyone_once_in_name_order(world) -> None:
    for n in range(23):
        await world.person(f"p{n:02d}", f"Person {n % 7} {n:02d}")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await world.net.directory(world.who("viewer"), domain.DirectoryQuery(limit=5, cursor=cursor))
        seen.extend(p["id"] for p in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5 and len(seen) == 23 and len(set(seen)) == 23
    people = {p: await world.repo.person(p) for p in seen}
    assert [people[p]["sort_name"] for p in seen] == sorted(people[p]["sort_name"] for p in seen)
    bad = await world.refused(world.net.directory(world.who("viewer"), domain.DirectoryQuery(cursor="nonsense")))
    assert bad.status == 400


async def test_opting_out_cancelling_and_erasure_leave_the_directory(world) -> None:
    await world.people("a1", "a2", "a3")
    await world.person("a1", "Person a1", listed=False, updated=True)
    await world.cancel("a2")
    await world.erase("a3")
    assert await names(world) == []
    erased = await world.repo.person("a3")
    assert erased["status"] == "erased" and "name" not in erased and "organisation" not in erased


async def test_redelivered_and_late_events_change_nothing(world) -> None:
    await world.person("a1", "First Name", times=2)
    await world.person("a1", "Second Name", updated=True)
    # an older snapshot delivered again after the newer one does not win
    older = await world.repo.person("a1")
    world.clock.advance(seconds=-10)
    await world.person("a1", "Stale Name", updated=True)
    assert (await world.repo.person("a1"))["name"] == "Second Name" == older["name"]
    await world.erase("a1", times=2)
    world.clock.advance(seconds=60)
    await world.person("a1", "Back Again")  # a registration replayed after erasure does not bring the person back
    assert await names(world) == []
    # an update after cancelling does not re-activate the person
    await world.person("b1", "Bea")
    await world.cancel("b1")
    await world.person("b1", "Bea", updated=True)
    assert await names(world) == []
