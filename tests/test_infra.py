"""The wiring every later layer relies on: a real PostgreSQL database per test."""

from sqlalchemy import create_engine, text


def test_postgres_database_is_real_and_isolated(postgres_database: str) -> None:
    engine = create_engine(postgres_database)
    with engine.begin() as conn:
        conn.execute(text("create table probe (id int primary key, note text not null)"))
        conn.execute(text("insert into probe values (1, 'written')"))
    with engine.connect() as conn:
        assert conn.execute(text("select note from probe where id = 1")).scalar_one() == "written"
        assert conn.execute(text("select current_database()")).scalar_one() == engine.url.database
        assert conn.execute(text("show server_version_num")).scalar_one() >= "150000"
    engine.dispose()
