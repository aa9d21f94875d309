"""durable-rules' sharp edges, handled: defaults, one definition per process, identical facts,
threads, memoised batches, and random facts that must always get a decision."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from durable.lang import m, post, ruleset, when_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import load_pricebook
from rules import AlertFacts, ChargeFacts, DisputeFacts, PolicyEngine, ReferralFacts, TopUpFacts
from rules.durable import DecisionTable, Region, Rule, Ruleset, defined
from rules.rulesets import rulesets_for
from tests.support.paths import IN_V2, US_V1
from tests.support.races import start_and_join

IST = ZoneInfo("Asia/Kolkata")
IN_PB, US_PB = load_pricebook(IN_V2), load_pricebook(US_V1)


def test_a_posted_event_is_consumed_by_one_rule_which_is_why_facts_are_asserted() -> None:
    """The reason the layer asserts facts: an *event* only reaches the first matching rule."""
    seen: list[str] = []
    name = f"edge_events_{id(seen)}"
    with ruleset(name):
        when_all(m.units <= 500)(lambda c: seen.append("first"))
        when_all(m.units <= 1000)(lambda c: seen.append("second"))
    post(name, {"id": 1, "units": 100})
    assert seen == ["first"]
    name_facts = f"edge_facts_{id(seen)}"
    both = defined(
        name_facts, lambda: Ruleset(name_facts, [Rule("first", m.units <= 500), Rule("second", m.units <= 1000)])
    )
    assert both.matches({"units": 100}) == ("first", "second")
    assert both.matches({"units": 2000}) == ()  # no rule: the catch-all answers, no exception


def test_rulesets_are_defined_once_per_content_and_shared() -> None:
    first, again = rulesets_for(IN_PB), rulesets_for(load_pricebook(IN_V2))
    assert {k: v.name for k, v in first.items()} == {k: v.name for k, v in again.items()}
    assert all(first[k] is again[k] for k in first)
    assert first["topup"].name.startswith("creditbook_topup_" + IN_PB.semantic_hash[:24])
    assert PolicyEngine.of(IN_PB) is PolicyEngine.of(IN_PB)


def test_identical_facts_decide_identically_every_time() -> None:
    facts = TopUpFacts(clinic_id="c", paid_credits=10_000, at=datetime(2026, 6, 1, tzinfo=IST))
    engine = PolicyEngine.of(IN_PB)
    decisions = {engine.topup(facts) for _ in range(50)}
    assert len(decisions) == 1


def test_a_ruleset_with_no_rows_still_decides() -> None:
    us = PolicyEngine.of(US_PB)  # the US pricebook has no referral programme
    decision = us.referral(
        ReferralFacts(
            referrer_id="a",
            referred_id="b",
            paid_credits=10**7,
            at=datetime(2026, 1, 1, tzinfo=UTC),
            first_paid_topup=True,
        )
    )
    assert not decision.rewarded and decision.reason == "no referral programme applies"


def test_the_facade_is_safe_from_many_threads() -> None:
    engine = PolicyEngine.of(IN_PB)
    base = datetime(2026, 11, 1, tzinfo=IST)
    cases = [
        (paid, code, base + timedelta(days=day))
        for paid in (999, 5000, 9999, 10_000, 60_000)
        for code in (None, "DOUBLE5K", "EXTRA2K")
        for day in (0, 30, 70)
    ]
    expected = {
        case: engine.topup(
            TopUpFacts(clinic_id="c", paid_credits=case[0], promo_code=case[1], at=case[2])
        ).bonus_credits
        for case in cases
    }
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        barrier.wait()
        try:
            for index in rng.integers(0, len(cases), 300):
                case = cases[int(index)]
                got = engine.topup(
                    TopUpFacts(clinic_id=f"c{seed}", paid_credits=case[0], promo_code=case[1], at=case[2])
                )
                assert got.bonus_credits == expected[case]
                assert engine.overdraft(ChargeFacts(segment="standard", balance=100, amount=int(index))).approved == (
                    int(index) <= 100
                )
        except BaseException as exc:  # collected: a thread's assertion must fail the test
            errors.append(exc)

    start_and_join(threading.Thread(target=work, args=(seed,)) for seed in range(8))
    assert errors == []


FACTS = st.one_of(
    st.builds(
        TopUpFacts,
        clinic_id=st.text(min_size=1, max_size=5),
        paid_credits=st.integers(1, 10**9),
        at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
        promo_code=st.one_of(st.none(), st.sampled_from(["DOUBLE5K", "extra2k", " ", "x"]), st.text(max_size=8)),
        clinic_uses=st.dictionaries(
            st.sampled_from(["IN-DOUBLE5K", "IN-EXTRA2K", "IN-BONUS20", "junk"]), st.integers(0, 5), max_size=3
        ),
    ),
    st.builds(
        ReferralFacts,
        referrer_id=st.sampled_from(["a", "b"]),
        referred_id=st.sampled_from(["a", "b", "c"]),
        paid_credits=st.integers(1, 10**7),
        at=st.datetimes(timezones=st.just(UTC)),
        first_paid_topup=st.booleans(),
        already_rewarded=st.booleans(),
        referrer_rewards=st.integers(0, 20),
    ),
    st.builds(
        ChargeFacts,
        segment=st.sampled_from(["standard", "preferred"]),
        balance=st.integers(-(10**9), 10**9),
        amount=st.integers(0, 10**9),
    ),
    st.builds(
        DisputeFacts,
        reason=st.one_of(st.sampled_from(["duplicate", "invalid", "not_reachable"]), st.text()),
        product=st.sampled_from(["lead_chat", "lead_call", "sms", "voice", "fax"]),
        charged_at=st.datetimes(timezones=st.just(UTC)),
        opened_at=st.datetimes(timezones=st.just(UTC)),
        previous_charge_at=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    ),
    st.builds(
        AlertFacts,
        balance=st.integers(-(10**9), 10**9),
        trailing_daily_credits=st.decimals(min_value=0, max_value=10**6, places=2),
        expiring_credits=st.integers(0, 10**7),
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FACTS, st.sampled_from(["IN", "US"]))
def test_random_facts_always_get_a_decision(facts: object, market: str) -> None:
    engine = PolicyEngine.of(IN_PB if market == "IN" else US_PB)
    method = {
        TopUpFacts: engine.topup,
        ReferralFacts: engine.referral,
        ChargeFacts: engine.overdraft,
        DisputeFacts: engine.dispute,
        AlertFacts: engine.alerts,
    }[type(facts)]
    decision = method(facts)  # type: ignore[operator]
    assert decision is not None and hasattr(decision, "rule_ids")
    if isinstance(facts, ChargeFacts):
        assert decision.approved == (
            facts.amount == 0 or facts.balance - facts.amount >= -engine.overdraft_limit(facts.segment)
        )


def test_durable_rules_needs_no_running_host() -> None:
    """No background process or server: a ruleset is usable as soon as it is defined."""
    table = defined(
        "edge_standalone",
        lambda: DecisionTable("edge_standalone", [Region(("big",), m.units > 10), Region((), m.units <= 10)]),
    )
    assert table.matches({"units": 11}) == ("big",)
    assert table.matches({"units": 11, "id": "ignored: the layer sets its own ids"}) == ("big",)
