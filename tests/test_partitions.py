"""broadsheet.partitions: calendar periods in the source's timezone, bounded, deterministic."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from broadsheet import site
from broadsheet.catalog import CatalogEntry
from broadsheet.partitions import plan_for_settings, plan_partitions

TEHRAN = "Asia/Tehran"
PLUS_0330 = timezone(timedelta(hours=3, minutes=30))


def entry(when: datetime, n: int = 0) -> CatalogEntry:
    url = f"{when:%Y}/{when:%m}/article-{when:%d%H%M%S}-{n}.html"
    return CatalogEntry(path=url.replace(".html", ".md"), url=url, save_as=url, slug=url, title=url, date=when,
                        signature=None, source_id=None, tags=(), facets={}, outlet=None, related_json=None,
                        digest=f"{n:064x}")


def names(plan) -> list[str]:
    return [p.name for p in plan]


def test_31_december_and_1_january_fall_in_their_own_years():
    eve = entry(datetime(2016, 12, 31, 23, 59, 59, tzinfo=PLUS_0330))
    new_year = entry(datetime(2017, 1, 1, 0, 0, 0, tzinfo=PLUS_0330))
    plan = plan_partitions([new_year, eve], max_articles=10, timezone=TEHRAN)
    assert [(p.name, p.period, p.entries) for p in plan] == [("2016", "year", (eve,)), ("2017", "year", (new_year,))]


def test_days_are_the_source_timezone_days_the_period_pages_count():
    # 21:00 UTC on 31 December is half past midnight on 1 January in Tehran
    utc_eve = entry(datetime(2016, 12, 31, 21, 0, tzinfo=timezone.utc))
    tehran_eve = entry(datetime(2016, 12, 31, 23, 0, tzinfo=PLUS_0330))
    plan = plan_partitions([utc_eve, tehran_eve], max_articles=10, timezone=TEHRAN)
    assert [(p.name, p.entries) for p in plan] == [("2016", (tehran_eve,)), ("2017", (utc_eve,))]


def test_a_dense_year_is_split_by_month_and_a_dense_month_by_day():
    sparse = [entry(datetime(2015, m, 1, 12, tzinfo=PLUS_0330), m) for m in (1, 6, 12)]
    dense_march = [entry(datetime(2016, 3, d, h, tzinfo=PLUS_0330), h) for d in (1, 2, 31) for h in range(2)]
    dense = [*dense_march, entry(datetime(2016, 4, 1, 9, tzinfo=PLUS_0330)),
             entry(datetime(2016, 12, 31, 23, tzinfo=PLUS_0330))]
    plan = plan_partitions([*dense, *sparse], max_articles=3, timezone=TEHRAN)
    assert [(p.name, p.period, len(p.entries)) for p in plan] == [
        ("2015", "year", 3),
        ("2016-03-01", "day", 2), ("2016-03-02", "day", 2), ("2016-03-31", "day", 2),
        ("2016-04", "month", 1), ("2016-12", "month", 1),
    ]
    assert [str(plan[i].start) for i in (0, 1, 4)] == ["2015-01-01", "2016-03-01", "2016-04-01"]


def test_a_day_with_more_articles_than_a_partition_holds_is_cut_into_equal_runs_in_order():
    day = [entry(datetime(2016, 3, 20, 10, 0, s, tzinfo=PLUS_0330), s) for s in range(11)]
    plan = plan_partitions(reversed(day), max_articles=4, timezone=TEHRAN)
    assert names(plan) == ["2016-03-20.1-of-3", "2016-03-20.2-of-3", "2016-03-20.3-of-3"]
    assert [len(p.entries) for p in plan] == [4, 4, 3]
    assert [e for p in plan for e in p.entries] == day


def test_articles_at_the_same_second_are_ordered_by_url():
    same = [entry(datetime(2016, 3, 20, 10, tzinfo=PLUS_0330), n) for n in (3, 1, 2)]
    plan = plan_partitions(same, max_articles=2, timezone=TEHRAN)
    assert [e.url for p in plan for e in p.entries] == sorted(e.url for e in same)


moments = st.datetimes(min_value=datetime(2015, 12, 25), max_value=datetime(2017, 1, 5),
                       timezones=st.sampled_from([PLUS_0330, timezone.utc]))


@settings(max_examples=60, deadline=None)
@given(when=st.lists(moments, min_size=1, max_size=60), limit=st.integers(1, 8), data=st.data())
def test_the_plan_is_bounded_complete_and_the_same_in_any_input_order(when, limit, data):
    entries = [entry(w, n) for n, w in enumerate(when)]
    plan = plan_partitions(entries, max_articles=limit, timezone=TEHRAN)
    shuffled = data.draw(st.permutations(entries))
    assert plan_partitions(shuffled, max_articles=limit, timezone=TEHRAN) == plan
    assert all(0 < len(p.entries) <= limit for p in plan)
    flat = [e for p in plan for e in p.entries]
    assert flat == sorted(entries, key=lambda e: (e.date, e.url))  # each once, in time order
    assert len(set(names(plan))) == len(plan)


def test_the_limit_and_the_timezone_are_read_from_the_settings():
    settings = site.load_settings("local")
    assert settings["PARTITION_MAX_ARTICLES"] >= 1
    one = [entry(datetime(2016, 3, 20, 10, tzinfo=PLUS_0330))]
    assert names(plan_for_settings(one, settings)) == ["2016"]
    with pytest.raises(ValueError, match="at least one article"):
        plan_partitions(one, max_articles=0, timezone=TEHRAN)
