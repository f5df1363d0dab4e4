"""The account manager's rating per manager: the answers to the questions that give the metric
``account_manager_rating`` (survey catalogue ``metric``), grouped by the client's account
manager (``erp_clients.account_manager``). Findings on the rating go to account management
(``owners.yaml`` ``by_metric``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import pandas as pd
from sqlalchemy import Connection, select

from cx_tasks.analyze.satisfaction import read_answers
from cx_tasks.surveys.catalogue import SurveyCatalogue, survey_catalogue
from cx_tasks.warehouse.schema import STAGING

RATING_METRIC = "account_manager_rating"
NO_MANAGER = "(none)"
"""``account_manager`` of the clients the ERP names no manager for."""
MANAGER_COLUMNS = ["account_manager", "rating", "answers", "clients", "roles"]


def rating_questions(catalogue: SurveyCatalogue, metric: str = RATING_METRIC) -> list[str]:
    """The ids of the questions whose answers give ``metric``."""
    return sorted(q for q, question in catalogue.questions.items() if question.metric == metric)


def ratings_by_manager(answers: pd.DataFrame, managers: Mapping[str, str | None],
                       questions: list[str]) -> pd.DataFrame:
    """Per account manager: rating = mean of the answers to ``questions`` by contacts of the
    manager's clients, with the number of answers, of clients and the roles that answered.

    ``answers``: client_id, role, question_id, score; ``managers``: client_id -> manager (a
    client without one is under ``NO_MANAGER``). Lowest rating first.
    """
    rated = answers[answers["question_id"].isin(questions)]
    rated = rated.assign(account_manager=rated["client_id"].map(managers).fillna(NO_MANAGER))
    if rated.empty:
        return pd.DataFrame(columns=MANAGER_COLUMNS)
    grouped = rated.groupby("account_manager").agg(
        rating=("score", "mean"), answers=("score", "size"), clients=("client_id", "nunique"),
        roles=("role", lambda roles: ", ".join(sorted(set(roles)))))
    return (grouped.reset_index().sort_values(["rating", "account_manager"], kind="stable")
            .reset_index(drop=True)[MANAGER_COLUMNS])


def read_managers(conn: Connection) -> dict[str, str | None]:
    """Each client's account manager (``stg_erp_clients``)."""
    clients = STAGING["erp_clients"]
    return dict(conn.execute(select(clients.c.client_id, clients.c.account_manager)).all())


def manager_ratings(conn: Connection, start: date, end: date | datetime,
                    catalogue: SurveyCatalogue | None = None) -> pd.DataFrame:
    """``ratings_by_manager`` over the answers given in ``[start, end)``."""
    catalogue = catalogue or survey_catalogue()
    return ratings_by_manager(read_answers(conn, start, end, catalogue), read_managers(conn),
                              rating_questions(catalogue))
