"""The lean session answers exactly as SQLAlchemy's own path, and takes its own only where that is safe."""

from __future__ import annotations

import gc
import itertools

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    bindparam,
    event,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from gridlink.runtime import lean_session, metrics
from gridlink.runtime.db import make_engine
from gridlink.runtime.lean_session import LeanSession

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), unique=True, nullable=False),
    Column("doc", JSON),
)
made = itertools.count()
flags = Table(
    "flags",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("doc", JSON),
    Column("on", Boolean, nullable=False),
    Column("kind", String(20), nullable=False, default="plain"),  # a scalar default: the same every time
)
stamps = Table(
    "stamps",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("made", String(20), nullable=False, default=lambda: str(next(made))),  # computed per row
)
ADD_FLAG = insert(flags)
LIVE_FLAGS = select(flags.c.name, flags.c.doc, flags.c.kind).where(
    flags.c.name.in_(["a", "b", "c"]), flags.c.on.is_(True), flags.c.kind == "plain"
)
FLIP = update(flags).where(flags.c.name == bindparam("_name")).values(on=bindparam("on"), doc=bindparam("doc"))
CONSTANT = text("SELECT :a AS a, :b AS b").bindparams(bindparam("a", value=1))

ADD = text("INSERT INTO things (name) VALUES (:name)")
BY_NAME = text("SELECT id, name FROM things WHERE name = :name")
RENAME = text("UPDATE things SET name = :new WHERE name LIKE :old")


@pytest.fixture
def engine(databases):
    engine = make_engine(databases("lean", "postgresql"))
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def lean(engine, monkeypatch):
    # Plans are kept per process; each test starts from none, as a service process does.
    monkeypatch.setattr(lean_session, "_PLANS", {})
    monkeypatch.setattr(lean_session, "_WATCHES", {})
    return sessionmaker(engine, class_=LeanSession, expire_on_commit=False)


@pytest.fixture
def direct(monkeypatch):
    """Counts the executions that went straight to the driver."""
    calls = []
    original = LeanSession._direct

    def counted(self, plan, params):
        calls.append(plan.sql)
        return original(self, plan, params)

    monkeypatch.setattr(LeanSession, "_direct", counted)
    return calls


def answers(session_factory) -> list:
    with session_factory() as session:
        session.execute(ADD, {"name": "lamp"})
        session.execute(ADD, {"name": "drain"})
        found = [
            session.execute(BY_NAME, {"name": "lamp"}).one().name,
            # (ids come from a sequence a rollback does not rewind, so they differ between the two runs)
            [{**row, "id": None} for row in session.execute(BY_NAME, {"name": "drain"}).mappings().all()],
            session.execute(BY_NAME, {"name": "none"}).first(),
            session.execute(RENAME, {"new": "lamp post", "old": "lamp%"}).rowcount,
            session.execute(RENAME, {"new": "drain cover", "old": "dr%"}).rowcount,
            session.execute(RENAME, {"new": "x", "old": "nothing%"}).rowcount,
            session.execute(BY_NAME, {"name": "lamp post"}).scalar_one() > 0,
            [row.name for row in session.execute(BY_NAME, {"name": "drain cover"})],
        ]
        session.rollback()
    return found


def test_a_statement_seen_once_goes_straight_to_the_driver_with_the_same_answers(engine, lean, direct):
    assert answers(lean) == answers(sessionmaker(engine, class_=Session))
    # Learnt on the first execution of each statement; the rest went direct.
    assert [sql.split()[0] for sql in direct] == ["INSERT"] + ["SELECT"] * 2 + ["UPDATE"] * 2 + ["SELECT"] * 2


def test_work_sent_directly_commits_and_rolls_back_with_the_session(lean, direct):
    with lean() as session:
        session.execute(ADD, {"name": "warm"})
        session.execute(ADD, {"name": "kept"})
        session.commit()
    with lean() as session:
        session.execute(ADD, {"name": "dropped"})
        session.rollback()
    with lean() as session:
        names = {session.execute(BY_NAME, {"name": n}).scalar_one_or_none() is not None for n in ("kept", "dropped")}
        assert session.execute(BY_NAME, {"name": "kept"}).one().name == "kept"
        assert session.execute(BY_NAME, {"name": "dropped"}).first() is None
    assert names == {True, False}
    assert len(direct) >= 3


def test_a_driver_error_on_the_direct_path_is_sqlalchemys_error(lean, direct):
    with lean() as session:
        session.execute(ADD, {"name": "once"})
        with pytest.raises(IntegrityError):
            session.execute(ADD, {"name": "once"})
        session.rollback()
    assert direct, "the second INSERT went direct"


def test_a_lost_connection_on_the_direct_path_invalidates_it_and_the_next_session_works(engine, lean, direct):
    with lean() as session:
        session.execute(BY_NAME, {"name": "warm"}).first()
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(OperationalError) as raised:
            session.execute(BY_NAME, {"name": "warm"}).first()
        assert raised.value.connection_invalidated
    with lean() as session:
        assert session.execute(BY_NAME, {"name": "warm"}).first() is None
    assert len(direct) == 2


def test_a_call_without_a_parameter_gets_sqlalchemys_error(lean, direct):
    with lean() as session:
        session.execute(BY_NAME, {"name": "x"})
        with pytest.raises(StatementError):
            session.execute(BY_NAME, {})
    assert direct == []


def converted_and_constant(session_factory) -> list:
    """Statements whose values SQLAlchemy converts (JSON, booleans) or takes from the statement itself."""
    with session_factory() as session:
        for name, on in (("a", True), ("b", False), ("c", True), ("d", True)):
            session.execute(ADD_FLAG, {"name": name, "doc": {"name": name, "n": [1, None]}, "on": on})
        found = [sorted(map(tuple, session.execute(LIVE_FLAGS, {}).all()))]
        session.execute(FLIP, {"_name": "a", "on": False, "doc": None})
        session.execute(FLIP, {"_name": "b", "on": True, "doc": {"b": "é"}})
        found.append(sorted(map(tuple, session.execute(LIVE_FLAGS, {}).all())))
        found += [session.execute(CONSTANT, {"b": n}).one() for n in ("x", 2)]
        session.rollback()
    return found


def test_values_converted_by_the_statements_types_or_held_by_it_go_direct_with_the_same_answers(engine, lean, direct):
    assert converted_and_constant(lean) == converted_and_constant(sessionmaker(engine, class_=Session))
    assert converted_and_constant(lean)[1] == [
        ("b", {"b": "é"}, "plain"),
        ("c", {"name": "c", "n": [1, None]}, "plain"),
    ]
    # The second run learns nothing again: every execution after each statement's first went direct.
    assert [sql.split()[0] for sql in direct].count("INSERT") == 3 + 4
    assert {sql.split()[0] for sql in direct} == {"INSERT", "SELECT", "UPDATE"}


def test_values_computed_per_call_stay_on_sqlalchemys_path(lean, direct):
    returning_key = insert(things)  # SQLAlchemy reads back the new id for `inserted_primary_key`
    stamped = insert(stamps)  # `made` is computed for each row
    with lean() as session:
        for n in range(3):
            assert returning_key_of(session.execute(returning_key, {"name": f"n{n}"})) > 0
            session.execute(stamped, {"name": f"s{n}"})
        made = session.execute(select(stamps.c.made)).scalars().all()
    assert direct == []
    assert len(set(made)) == 3


def returning_key_of(result) -> int:
    return result.inserted_primary_key[0]


# The caller's lists: names, and booleans (each element through the type's processor); a constant list beside them.
LISTED = select(flags.c.name).where(
    flags.c.name.in_(bindparam("names", expanding=True)),
    flags.c.on.in_(bindparam("ons", expanding=True)),
    flags.c.kind.in_(["plain", "odd"]),
)
LISTS = [
    (["a", "b"], [True]),
    (["a", "c", "d"], [True, False]),
    (["b", "c"], [False]),  # the first call's lengths again: direct
    ([], [True]),  # SQLAlchemy writes an empty list as a condition no row meets
    (["d", "a", "b"], [False, True]),  # the second call's lengths: direct
    (["a", "b", "c", "d"], [True]),
    ((), [True]),  # a tuple of the fourth call's length: direct
]


def listed(session_factory) -> list:
    with session_factory() as session:
        for name, on in (("a", True), ("b", False), ("c", True), ("d", False)):
            session.execute(ADD_FLAG, {"name": name, "on": on})
        found = [sorted(session.execute(LISTED, {"names": n, "ons": o}).scalars()) for n, o in LISTS]
        session.rollback()
    return found


def test_the_callers_in_lists_go_direct_once_their_lengths_were_seen_with_the_same_answers(engine, lean, direct):
    assert listed(lean) == listed(sessionmaker(engine, class_=Session))
    assert listed(lean) == [["a"], ["a", "c", "d"], ["b"], [], ["a", "b", "d"], ["a", "c"], []]
    selects = [sql for sql in direct if sql.startswith("SELECT")]
    # First run: the 3rd, 5th and 7th calls repeat lengths seen before; the second run: all seven.
    assert len(selects) == 3 + 7
    assert any("IN (%(names_1)s, %(names_2)s, %(names_3)s)" in sql for sql in selects)


def test_a_value_other_than_a_list_where_the_statement_expands_one_takes_sqlalchemys_path(lean, direct):
    with lean() as session:
        session.execute(ADD_FLAG, {"name": "a", "on": True})
        session.execute(ADD_FLAG, {"name": "b", "on": True})
        found = [session.execute(LISTED, {"names": names, "ons": [True]}).scalars().all() for names in (["a"], ["b"])]
        found.append(sorted(session.execute(LISTED, {"names": "ab", "ons": [True]}).scalars()))  # SQLAlchemy's way
        session.rollback()
    assert found == [["a"], ["b"], ["a", "b"]]
    assert [sql.split()[0] for sql in direct] == ["INSERT", "SELECT"]


class Upper(TypeDecorator):
    """A type that converts what it binds, for each element of a list too."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.upper()


def test_a_lists_elements_go_through_its_types_processor_and_tuples_stay_on_sqlalchemys_path(lean, direct):
    upper = select(flags.c.name).where(flags.c.kind.in_(bindparam("kinds", expanding=True, type_=Upper())))
    pairs = select(flags.c.name).where(tuple_(flags.c.name, flags.c.on).in_(bindparam("pairs", expanding=True)))
    with lean() as session:
        for name, kind in (("a", "ODD"), ("b", "EVEN"), ("c", "odd")):
            session.execute(ADD_FLAG, {"name": name, "on": True, "kind": kind})
        found = [session.execute(upper, {"kinds": [k, "none"]}).scalars().all() for k in ("odd", "even")]
        found += [session.execute(pairs, {"pairs": [(n, True), ("x", False)]}).scalars().all() for n in "ab"]
        session.rollback()
    assert found == [["a"], ["b"], ["a"], ["b"]]
    assert [sql.split()[0] for sql in direct] == ["INSERT", "INSERT", "SELECT"]


def test_each_set_of_parameter_names_has_its_own_plan(lean, direct):
    add = insert(flags)  # SQLAlchemy names the INSERT's columns after the parameters given
    with lean() as session:
        session.execute(add, {"name": "a", "on": True})
        session.execute(add, {"name": "b", "on": True, "doc": {"kept": True}})
        session.execute(add, {"name": "c", "on": True})
        session.execute(add, {"name": "d", "on": False, "doc": {"kept": "too"}})
        docs = dict(session.execute(select(flags.c.name, flags.c.doc)).all())
        ons = dict(session.execute(select(flags.c.name, flags.c.on)).all())
    assert docs == {"a": None, "b": {"kept": True}, "c": None, "d": {"kept": "too"}}
    assert ons == {"a": True, "b": True, "c": True, "d": False}
    assert [sql.split()[0] for sql in direct] == ["INSERT", "INSERT"]  # the third, named as the first; the fourth


def test_a_statement_keeps_a_bounded_number_of_plans(lean, direct, monkeypatch):
    monkeypatch.setattr(lean_session, "MAX_VARIANTS", 2)
    changes = ({"on": True}, {"doc": {"n": 1}}, {"kind": "odd"})  # the third set of names is not learnt
    flip = update(flags).where(flags.c.name == bindparam("_name"))
    with lean() as session:
        session.execute(ADD_FLAG, {"name": "a", "on": False})
        session.execute(ADD_FLAG, {"name": "b", "on": False})
        for name in "ab":
            for changed in changes:
                session.execute(flip, {"_name": name, **changed})
        rows = session.execute(select(flags.c.on, flags.c.doc, flags.c.kind).order_by(flags.c.name)).all()
    assert [tuple(row) for row in rows] == [(True, {"n": 1}, "odd")] * 2
    assert [sql.split()[0] for sql in direct] == ["INSERT", "UPDATE", "UPDATE"]


def test_a_listener_on_the_engine_keeps_every_statement_on_sqlalchemys_path(engine, lean, direct):
    seen = []
    event.listen(engine, "after_execute", lambda *args: seen.append(args[1]))
    with lean() as session:
        for _ in range(3):
            session.execute(BY_NAME, {"name": "x"})
    assert direct == []
    assert len(seen) == 3


def test_a_direct_statement_is_counted_on_metrics(lean, direct):
    with lean() as session:
        session.execute(BY_NAME, {"name": "x"})
        before = metrics.DB_STATEMENTS._value.get()
        session.execute(BY_NAME, {"name": "x"})
        assert metrics.DB_STATEMENTS._value.get() == before + 1
    assert len(direct) == 1


def test_a_statement_built_per_call_leaves_no_plan_behind(engine, lean):
    with lean() as session:
        for n in range(50):
            session.execute(text(f"SELECT {n} AS n WHERE :x = :x"), {"x": 1})
    assert len(lean_session._PLANS) == 50
    # SQLAlchemy's compiled cache (bounded) holds the statements; once it lets them go, their plans go too.
    engine.clear_compiled_cache()
    gc.collect()
    assert lean_session._PLANS == {}
    assert lean_session._WATCHES == {}


def test_a_bulk_write_of_one_row_goes_direct_like_a_single_one(lean, direct):
    with lean() as session:
        session.execute(ADD, [{"name": "a"}])
        session.execute(ADD, [{"name": "b"}])
        session.execute(ADD, [{"name": "c"}, {"name": "d"}])  # several rows: SQLAlchemy's executemany
        names = [session.execute(BY_NAME, {"name": n}).scalar_one_or_none() is not None for n in "abcd"]
    assert names == [True] * 4
    assert [sql.split()[0] for sql in direct] == ["INSERT", "SELECT", "SELECT", "SELECT"]
